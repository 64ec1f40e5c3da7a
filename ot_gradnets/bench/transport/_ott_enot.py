r"""OTT-JAX's expectile-regularised neural OT (ENOT) as a fit/transform estimator, for comparisons.

:class:`OTTExpectileMap` wraps ``ott.neural.methods.expectile_neural_dual.ExpectileNeuralDual``
(Buzun et al., NeurIPS 2024, as shipped in OTT-JAX 0.6) with OTT's own defaults: two 4 x 128
ELU MLP potentials, Adam at :math:`3\cdot 10^{-4}` with :math:`\beta = (0.9, 0.9)`, expectile
:math:`\tau = 0.99`, 20,000 iterations. The estimated map is OTT's Brenier map of the learned
potential, :math:`\hat T(x) = x - \tfrac12\nabla f(x)` for the cost :math:`|x - y|^2`.

It is a peer to run side by side with :class:`~ot_gradnets.transport.BrenierMap` on the same
pairs, samples, scorer and thread count (``ot-gradnets bench transport --methods ott-enot``), not
a part of the library: it needs the optional ``compare`` extra (``pip install
"ot-gradnets[compare]"``: ``ott-jax``, CPU ``jax``, ``flax``, ``optax``), and it is written by
hand only because OTT's solver takes iterators rather than an estimator's ``fit(X, Y)``.

JAX fixes its CPU thread count when it starts, from ``XLA_FLAGS``; :meth:`OTTExpectileMap.fit`
sets one thread (``threads=1``) before importing JAX, and warns if JAX was already started with
other flags.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator

__all__ = ["OTTExpectileMap", "ott_available"]

_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def ott_available() -> bool:
    """Whether ``ott-jax`` (and so JAX) can be imported, without importing it."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("ott", "jax", "flax", "optax"))


class _TimeUp(Exception):
    """Raised by the batch iterators once the time limit has passed (stops OTT's loop)."""


def _batches(
    data: Any, batch_size: int, rng: np.random.Generator, deadline: float | None
) -> Iterator[np.ndarray]:
    """Float32 batches: fresh draws from a sampler ``n -> samples``, else rows drawn with
    replacement from an array."""
    array = None if callable(data) else np.asarray(data, dtype=np.float32)
    while True:
        if deadline is not None and time.perf_counter() > deadline:
            raise _TimeUp
        if array is None:
            yield np.asarray(torch.as_tensor(data(batch_size)).detach().cpu(), dtype=np.float32)
        else:
            yield array[rng.integers(len(array), size=batch_size)]


class OTTExpectileMap(BaseEstimator):
    r"""OTT-JAX's ``ExpectileNeuralDual`` (ENOT) with its defaults, as ``fit(X, Y)`` / ``transform``.

    Args:
        num_train_iters: OTT's iteration count (its default, 20,000).
        batch_size: samples per side and iteration (1,024, the benchmark's).
        time_limit: seconds after which training stops (``None``: run every iteration); JAX's
            compilation counts, as it does for a user.
        random_state: seeds the networks' initialisation and the batch draws.
        threads: JAX's CPU threads; only 1 (or ``"auto"``, read as 1) is supported, set through
            ``XLA_FLAGS`` before JAX starts.

    Attributes:
        n_iter_: iterations made.
        fit_time_: seconds spent in :meth:`fit`.

    Example (needs the ``compare`` extra):
        >>> est = OTTExpectileMap(num_train_iters=10).fit(np.random.randn(64, 2), np.random.randn(64, 2))  # doctest: +SKIP
    """

    def __init__(
        self,
        num_train_iters: int = 20_000,
        batch_size: int = 1024,
        time_limit: float | None = None,
        random_state: int = 0,
        threads: int | str = 1,
    ) -> None:
        self.num_train_iters = num_train_iters
        self.batch_size = batch_size
        self.time_limit = time_limit
        self.random_state = random_state
        self.threads = threads

    def _start_jax(self) -> Any:
        if self.threads not in (1, "auto"):
            raise ValueError(f"OTTExpectileMap runs JAX on one thread, got threads={self.threads}.")
        if not ott_available():
            raise ImportError('OTTExpectileMap needs OTT-JAX: pip install "ot-gradnets[compare]".')
        # XLA reads its flags when its first backend starts (POT imports JAX, but starts none)
        from jax._src import xla_bridge

        if _ONE_THREAD not in os.environ.get("XLA_FLAGS", ""):
            if xla_bridge.backends_are_initialized():
                warnings.warn(
                    "JAX's CPU backend started before OTTExpectileMap could limit it to one "
                    "thread; its timings may use every core.", RuntimeWarning, stacklevel=3,
                )  # fmt: skip
            else:
                flags = os.environ.get("XLA_FLAGS", "")
                os.environ["XLA_FLAGS"] = (flags + " " + _ONE_THREAD).strip()
        import jax

        return jax

    def fit(self, X: Any, Y: Any) -> OTTExpectileMap:
        """Train ENOT on ``X`` (source) and ``Y`` (target): arrays ``(n, d)``, or samplers
        ``n -> (n, d)`` for fresh samples at every iteration."""
        jax = self._start_jax()
        with warnings.catch_warnings():  # OTT imports the unmaintained jaxopt, which says so
            warnings.filterwarnings("ignore", "JAXopt is no longer maintained", DeprecationWarning)
            from ott.neural.methods.expectile_neural_dual import ExpectileNeuralDual

        probe = X(2) if callable(X) else X
        dim = int(np.asarray(torch.as_tensor(probe).detach().cpu()).shape[1])
        start = time.perf_counter()
        deadline = None if self.time_limit is None else start + self.time_limit
        rng = np.random.default_rng(self.random_state)
        solver = ExpectileNeuralDual(
            dim, num_train_iters=self.num_train_iters, rng=jax.random.key(self.random_state)
        )
        source = _batches(X, self.batch_size, rng, deadline)
        target = _batches(Y, self.batch_size, rng, deadline)
        with _quiet_tqdm():
            try:
                solver.train_fn(source, target, source, target)
            except _TimeUp:
                pass
        self.n_iter_ = int(solver.state_f.step)  # flax counts the updates; one per iteration
        self.potentials_ = solver.to_dual_potentials()
        self._transport = jax.jit(self.potentials_.transport)
        self.fit_time_ = time.perf_counter() - start
        return self

    def transform(self, x: Any) -> np.ndarray:
        """The estimated Brenier map at ``x`` ``(n, d)``, as a float32 array."""
        points = np.asarray(torch.as_tensor(x).detach().cpu(), dtype=np.float32)
        out = [
            np.asarray(self._transport(points[i : i + 8192])) for i in range(0, len(points), 8192)
        ]
        return np.concatenate(out) if out else points.copy()


class _quiet_tqdm:  # noqa: N801  (a context manager, named as used)
    """OTT's loop draws a tqdm bar per fit (``from tqdm.auto import tqdm`` at each call); the
    benchmark has its own progress, so the bar is switched off for the call."""

    def __enter__(self) -> None:
        import functools

        import tqdm.auto

        self._old = tqdm.auto.tqdm
        tqdm.auto.tqdm = functools.partial(self._old, disable=True)

    def __exit__(self, *exc: object) -> None:
        import tqdm.auto

        tqdm.auto.tqdm = self._old

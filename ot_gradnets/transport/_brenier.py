r"""The :class:`BrenierMap` estimator: optimal transport maps learned from samples.

By Brenier's theorem the optimal transport map between an absolutely continuous source
:math:`P` and a target :math:`Q` for the squared cost :math:`|x-y|^2` is the gradient
:math:`T = \nabla F` of a convex potential, and the only convex gradient pushing :math:`P` onto
:math:`Q`. :class:`BrenierMap` fits a monotone gradient network (an mGradNet, whose potential is
convex by construction) so that its pushforward of the source matches the target, with one of the
losses of :data:`~ot_gradnets.transport.LOSSES`.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted
from torch import Tensor, nn

from ot_gradnets._io import check_output_path
from ot_gradnets._threads import resolve_threads, thread_limit
from ot_gradnets.core import StandardizedGradient, TrainingLoop
from ot_gradnets.transport._brenier_setup import (
    NETWORKS,
    check_params,
    make_generator,
    make_sources_and_loss,
)
from ot_gradnets.transport._fitted import _FittedMap, feature_names
from ot_gradnets.transport._gaussian import gaussian_map
from ot_gradnets.transport._guard import ended_worse, health_check
from ot_gradnets.transport._network import build_network, init_linear, resolve_depth
from ot_gradnets.transport._persistence import (
    data_digest,
    load_map,
    read_checkpoint,
    save_config,
    save_map,
    write_checkpoint,
)
from ot_gradnets.transport._samples import SampleSource
from ot_gradnets.transport._standardize import Standardization
from ot_gradnets.transport._streams import fit_standardization

__all__ = ["NETWORKS", "BrenierMap", "gaussian_map"]

_WARMUP_STEPS = 50
_MIN_LR_RATIO = 0.01  # the cosine schedule decays to lr / 100
_AUTO_LR = 3e-2
_FEW_SAMPLES_MU = 0.1  # strong convexity of a named network fitted on fewer samples than dims
_MAX_HELD_OUT = 4096  # held-out samples per side (validation_fraction)
_PROBE_SAMPLES = 1024  # source samples whose images are checked against the target's scale
_MAX_RECOVERIES = 3  # divergences a fit recovers from before it stops
_SNAPSHOT_EVERY = 100  # steps between snapshots of healthy weights
# settings a fit may change when it resumes from a checkpoint
_RESUMABLE = ("checkpoint", "checkpoint_every", "verbose", "threads", "callback", "time_limit")


class BrenierMap(_FittedMap, OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    r"""Optimal transport (Brenier) map between two distributions, learned from samples.

    Fits a monotone gradient network :math:`T = \nabla F` (:math:`F` convex) so that
    :math:`T_\# P = Q`; by Brenier's theorem it is then the optimal map for the cost
    :math:`|x - y|^2`. The default recipe is the Kantorovich semi-dual (``loss="dual"``)

    .. math::

        \min_F\; \mathbb{E}_{x\sim P}[F(x)] + \mathbb{E}_{y\sim Q}[F^*(y)],

    with the conjugates :math:`F^*` solved by Newton's method with the network's closed-form
    Hessian, on an mGradNet-M plus a PSD quadratic term that starts at the linear (Gaussian)
    optimal map between the samples (:func:`gaussian_map`). Other losses: ``"w2"`` (exact
    minibatch OT, POT), ``"sinkhorn"`` (debiased Sinkhorn divergence, GeomLoss),
    ``"monge-ampere"`` (log-densities instead of target samples). Training uses Adam with a cosine
    learning-rate decay over the budget (``max_iter`` steps or ``time_limit`` seconds, whichever
    ends first).

    Follows scikit-learn's estimator conventions: hyperparameters are stored by ``__init__``,
    :meth:`fit` returns ``self``, fitted state ends in ``_``; ``get_params``, ``clone`` and
    ``fit_transform(X, Y)`` work.

    Args:
        dim: dimension :math:`d`; ``None`` infers it from the data.
        network: ``"mgradnet-m"`` or ``"mgradnet-c"`` (see :data:`NETWORKS`), or a monotone
            gradient network instance (the core interface: ``forward``, ``potential``,
            ``jacobian``), which is copied, never modified.
        width: hidden width of a named network.
        depth: modules (mGradNet-M) or layers (mGradNet-C) of a named network; ``"auto"``:
            8 modules up to 8 fitted dimensions, where they cost little and lower the error on
            hard pairs (``benchmarks/RESULTS.md``, "Hard pairs"), else 4; mGradNet-C always 4
            layers.
        linear_term: add a PSD quadratic potential (:class:`~ot_gradnets.core.QuadraticGradient`)
            and start the map at the linear Gaussian map between the samples.
        loss: a name in :data:`~ot_gradnets.transport.LOSSES`.
        loss_options: extra keyword arguments of the loss (e.g. ``{"tol": 1e-6}`` for
            ``"dual"``, ``{"scaling": 0.8}`` for ``"sinkhorn"``).
        batch_size: samples of each distribution per step.
        max_iter: the most optimisation steps.
        lr: Adam's learning rate; ``"auto"`` is :math:`0.03\min(1, \sqrt{8/d})`.
        lr_schedule: ``"cosine"`` (decay to ``lr / 100`` over the budget) or ``"constant"``;
            either way the first 50 steps (at most a tenth of ``max_iter``) warm up linearly.
        time_limit: wall-clock budget of :meth:`fit` in seconds (``None``: no limit).
        blur: GeomLoss blur (``loss="sinkhorn"``), :math:`\varepsilon = \text{blur}^2`.
        strong_convexity: :math:`\mu \ge 0` added as :math:`\mu x` to a named network.
        random_state: seed (int) or ``torch.Generator`` for initialisation and minibatches (a
            generator on another device seeds a CPU one, on which minibatches are drawn).
        verbose: show a tqdm progress bar.
        device: device to train on; ``None`` follows ``X``.
        dtype: dtype to train in; ``None`` follows ``X`` (float64 arrays train in float64).
        callback: called as ``callback(estimator, step, loss)`` after each step, with the
            network in ``estimator.network_``; returning ``True`` stops training.
        validation_fraction: hold out this share of ``X`` and of ``Y``, at most 4,096 samples
            of each (a sampler: a fresh held-out draw of ``max(batch_size, 1000)``, capped
            likewise), score the loss on them (the loss's ``evaluate``; for ``"dual"`` the
            held-out semi-dual objective) before training and every ``validation_interval``
            steps, and keep the weights that scored best. The
            initial (linear Gaussian) map is a candidate too, so a map that would only fit the
            sampling noise of a small sample falls back towards it. ``None``: no hold-out.
        n_iter_no_change: with ``validation_fraction``, also stop training after this many
            evaluations without a better held-out score (``None``: run the whole budget; the
            cosine schedule often improves the map most at its end, so stopping early can cost
            accuracy on large samples).
        validation_interval: steps between held-out evaluations.
        standardize: fit on standardised data: each sample centred, both divided by one common
            scale, and only the directions the samples vary in (constant or collinear columns,
            or :math:`d > n`, leave the others out; the map is the identity shift there). The
            fitted map is composed back, so it is the same whatever the data's location and
            scale. Not applied with ``loss="monge-ampere"``, whose log-densities are in the
            data's coordinates.
        threads: CPU threads for fitting and for each transform: an int, or ``"auto"`` (one
            thread for small steps, where more only wait on each other and collapse on a busy
            machine; one per idle core for large ones), see :func:`ot_gradnets.resolve_threads`.
        checkpoint: a file to write the training state to every ``checkpoint_every`` steps
            and at the end (atomically: a temporary file renamed over it), so that
            ``fit(..., resume=True)`` continues a fit that was killed. It holds the network,
            the optimiser, the schedule's step, the random generator, the best weights so far
            and the loss's own state (the semi-dual's conjugate warm starts).
        checkpoint_every: steps between checkpoints.

    Attributes:
        network_: the fitted gradient network, :math:`T = \nabla F`; with ``standardize`` a
            :class:`~ot_gradnets.core.StandardizedGradient` around the trained network (its
            ``inner``), which works on the standardised data.
        n_features_in_: the dimension :math:`d`.
        feature_names_in_: the column names of ``X`` when it has string column names (a
            DataFrame); the map's outputs have the same names
            (``get_feature_names_out``, which ``set_output`` uses).
        history_: ``{"loss": [...], "time": [...]}``, per step (seconds since the start; the
            loss in standardised units with ``standardize``), with ``validation_fraction``
            also ``"val_step"`` and ``"val_score"`` (the shared
            :class:`~ot_gradnets.core.TrainingLoop`'s history).
        stop_reason_: why training stopped: ``"max_iter"``, ``"time_limit"``, ``"callback"``,
            ``"n_iter_no_change"``, ``"diverged"`` (see :meth:`fit`) or ``"interrupted"``
            (Ctrl-C: the step under way finishes and the fit returns with the map it has; a
            second Ctrl-C aborts).
        recoveries_: the divergences training recovered from, one line each (step and cause).
        strong_convexity_: the strong convexity of the trained network: ``strong_convexity``,
            or 0.1 for a named network fitted on fewer samples than dimensions with
            ``strong_convexity=0`` (the map would otherwise degenerate and lose its inverse).
        n_iter_: steps taken.
        fit_time_: seconds spent in :meth:`fit`.
        loss_fn_: the loss object (its state, e.g. Newton iteration counts for ``"dual"``).
        validation_scores_: held-out loss at each evaluation (with ``validation_fraction``; the
            steps are in ``history_["val_step"]``).
        best_validation_score_, best_iter_: the best held-out loss and the step of the weights
            kept (with ``validation_fraction``; ``best_iter_ = 0`` is the initial map).

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(500, 2, generator=g, dtype=torch.float64)
        >>> y = x @ torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64) + 1.0
        >>> tmap = BrenierMap(max_iter=20, random_state=0).fit(x, y)
        >>> tmap.transform(x).shape
        torch.Size([500, 2])
        >>> bool(tmap.inverse_transform(tmap.transform(x[:3])).allclose(x[:3]))
        True
    """

    def __init__(
        self,
        dim: int | None = None,
        *,
        network: str | nn.Module = "mgradnet-m",
        width: int = 64,
        depth: int | str = "auto",
        linear_term: bool = True,
        loss: str = "dual",
        loss_options: dict[str, Any] | None = None,
        batch_size: int = 512,
        max_iter: int = 3000,
        lr: float | str = "auto",
        lr_schedule: str = "cosine",
        time_limit: float | None = None,
        blur: float = 0.05,
        strong_convexity: float = 0.0,
        random_state: int | torch.Generator | None = None,
        verbose: bool = False,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        callback: Callable[..., Any] | None = None,
        validation_fraction: float | None = None,
        n_iter_no_change: int | None = None,
        validation_interval: int = 100,
        standardize: bool = True,
        threads: int | str = "auto",
        checkpoint: str | Path | None = None,
        checkpoint_every: int = 100,
    ) -> None:
        self.dim = dim
        self.network = network
        self.width = width
        self.depth = depth
        self.linear_term = linear_term
        self.loss = loss
        self.loss_options = loss_options
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.time_limit = time_limit
        self.blur = blur
        self.strong_convexity = strong_convexity
        self.random_state = random_state
        self.verbose = verbose
        self.device = device
        self.dtype = dtype
        self.callback = callback
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.validation_interval = validation_interval
        self.standardize = standardize
        self.threads = threads
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every

    # ------------------------------------------------------------------------------------------
    # construction (ot_gradnets/transport/_network.py)
    # ------------------------------------------------------------------------------------------
    def _build_network(
        self, dim: int, dtype: torch.dtype, device: torch.device, mu: float | None = None
    ) -> nn.Module:
        """The network to train on ``dim`` dimensions (``mu``: its strong convexity, default
        ``strong_convexity``)."""
        return build_network(
            self.network,
            dim,
            width=self.width,
            depth=self.depth,
            strong_convexity=float(self.strong_convexity) if mu is None else mu,
            linear_term=self.linear_term,
            dtype=dtype,
            device=device,
        )

    # ------------------------------------------------------------------------------------------
    # fitting
    # ------------------------------------------------------------------------------------------
    def fit(
        self,
        X: Any,
        Y: Any = None,
        *,
        source_log_density: Callable[[Tensor], Tensor] | None = None,
        target_log_density: Callable[[Tensor], Tensor] | None = None,
        resume: bool = False,
    ) -> BrenierMap:
        r"""Fit the map from source samples ``X`` to target samples ``Y``.

        With ``standardize=True`` (the default) the network is fitted on centred data in one
        common unit, in the directions the samples span (see :attr:`network_`); the
        ``time_limit`` counts from the call, set-up included.

        Training is guarded: a non-finite loss or gradient, map outputs that grow far beyond
        the target's scale, or conjugate solves that stop converging count as a divergence.
        The fit then goes back to the last healthy weights and halves the learning rate; after
        ``3`` such recoveries it stops with those weights, sets ``stop_reason_ = "diverged"``
        and raises a :class:`~sklearn.exceptions.ConvergenceWarning` that says what happened.
        A fit that ends with a clearly higher loss than it started with (mean of the last 100
        steps against the first 100, by three standard errors; slow damage the guard cannot
        see, e.g. a semi-dual whose unsolved conjugates lowered the computed loss while the map
        worsened) is a divergence too: the weights it started from are kept.

        Args:
            X: source samples ``(n, d)`` (array, tensor or nested list), or a sampler: a callable
                ``n -> (n, d)`` drawing fresh samples (unlimited data).
            Y: target samples ``(m, d)`` or a sampler; not used by ``loss="monge-ampere"``.
            source_log_density: :math:`\log p`, a callable ``(n, d) -> (n,)``
                (``loss="monge-ampere"``).
            target_log_density: :math:`\log q`, a callable ``(n, d) -> (n,)``, differentiable
                (``loss="monge-ampere"``).
            resume: continue from the ``checkpoint`` file if it exists (else start afresh).
                With the same data, settings and seed, the resumed fit ends with the weights of
                an uninterrupted one (for arrays and without a ``time_limit``, whose schedule
                follows the clock; a sampler's own random stream is the caller's). The
                checkpoint must come from the same settings and data.

        Returns:
            ``self``, fitted.

        Raises:
            ValueError: on an invalid hyperparameter, or if ``X``/``Y`` are not 2-D, are empty,
                have fewer than 2 samples, non-finite values, or dimensions that differ from each
                other or from ``dim``; if ``Y`` or a log-density is missing for the chosen loss.
        """
        start = time.perf_counter()
        check_params(self)
        with thread_limit(1):  # set-up: validation, moments, initialisation
            net, loss_fn, gen, held_out, probe = self._prepare(
                X, Y, source_log_density, target_log_density
            )
        threads = resolve_threads(self.threads, self._step_work(probe[0].shape[1]))
        with thread_limit(threads):
            self._fit_loop(net, loss_fn, gen, start, held_out, probe, resume)
        self.fit_time_ = time.perf_counter() - start
        return self

    def _prepare(
        self,
        X: Any,
        Y: Any,
        source_log_density: Callable[[Tensor], Tensor] | None,
        target_log_density: Callable[[Tensor], Tensor] | None,
    ) -> tuple[nn.Module, Any, torch.Generator, Any, tuple[Tensor, float]]:
        """Validate the data into sources, standardise them, hold samples out, build and
        initialise the network and start the loss, in that order. Each source (samples,
        sampler or stream) does each step its own way, with its reference sample."""
        # validation: the sources with their reference samples, and the loss
        source, x_ref, target, y_ref, loss_fn = make_sources_and_loss(
            self, X, Y, source_log_density, target_log_density
        )
        dim, dtype, device = source.dim, source.dtype, source.device
        gen = make_generator(self.random_state)
        for side in (source, target):
            if side is not None:
                side.seed_from(gen)  # a stream's own draws of fresh rows

        # standardisation; the log-densities of "monge-ampere" live in the data's coordinates
        std: Standardization | None = None
        self.strong_convexity_ = float(self.strong_convexity)
        if self.standardize and self.loss != "monge-ampere":
            assert target is not None and y_ref is not None
            reduce = not isinstance(self.network, nn.Module)
            std = fit_standardization(source, x_ref, target, y_ref, reduce=reduce)
            few = self._few_samples(std, source, target, dim)
            self.strong_convexity_ = self._auto_strong_convexity(few)
            source, x_ref = source.standardized(x_ref, std, "source")
            target, y_ref = target.standardized(y_ref, std, "target")
        fit_dim = dim if std is None else std.dim

        # held-out samples
        held_out: tuple[Tensor, Tensor | None] | None = None
        for name in ("validation_scores_", "best_validation_score_", "best_iter_"):
            self.__dict__.pop(name, None)  # an earlier fit's, with other settings
        if self.validation_fraction is not None:
            # capped: exact OT (loss="w2") and dense Sinkhorn on the held-out set grow as n_val^2
            held = (float(self.validation_fraction), _MAX_HELD_OUT, max(self.batch_size, 1000))
            source, x_ref, x_val = source.hold_out(x_ref, *held, gen)
            y_val = None
            if target is not None:
                assert y_ref is not None
                target, y_ref, y_val = target.hold_out(y_ref, *held, gen)
            held_out = (x_val, y_val)

        # the network, initialised from random_state: built on the CPU from the CPU generator
        # only (torch.manual_seed would also reseed, and leave changed, the global CUDA
        # generators), so the same seed gives the same initial network on every device
        with torch.random.fork_rng(devices=[]), torch.device("cpu"):
            torch.default_generator.manual_seed(int(torch.randint(2**62, (), generator=gen)))
            net = self._build_network(fit_dim, dtype, device, self.strong_convexity_)
        # the linear start: the Gaussian map between the two sides
        if self.linear_term and target is not None:
            assert y_ref is not None
            init_linear(net, source, x_ref, target, y_ref)
        self.network_ = net
        if std is not None:
            self.network_ = StandardizedGradient(
                net, std.source_mean, std.target_mean, std.scale, std.basis
            )
        self.n_features_in_ = dim
        names = feature_names(X)
        if names is None:
            self.__dict__.pop("feature_names_in_", None)  # an earlier fit's
        else:
            self.feature_names_in_ = names

        # the loss's start (e.g. the semi-dual's pool and warm starts)
        self.loss_fn_ = loss_fn
        loss_fn.start(net, source, target, gen)
        # the guard's yardstick: source samples, whose images should have the target's scale
        scale_ref = y_ref if y_ref is not None else x_ref
        reference = float((scale_ref[:_PROBE_SAMPLES] ** 2).sum(-1).mean())
        return net, loss_fn, gen, held_out, (x_ref[:_PROBE_SAMPLES], reference)

    def _few_samples(
        self, std: Standardization, source: SampleSource, target: SampleSource | None, dim: int
    ) -> bool:
        """Warn when there are fewer samples than dimensions; say whether there are."""
        sizes = [s.size for s in (source, target) if s is not None and s.size is not None]
        if not (std.dim < dim and sizes and min(sizes) < dim):
            return False
        floor = ""
        if self._auto_strong_convexity(True) != float(self.strong_convexity):
            floor = (
                f" The network gets strong_convexity={_FEW_SAMPLES_MU} so that the map stays "
                "invertible (fitted on so few points it otherwise degenerates); pass "
                "strong_convexity to choose."
            )
        warnings.warn(
            f"{min(sizes)} samples in {dim} dimensions: the map is fitted in the "
            f"{std.dim}-dimensional span of the samples and is the identity shift in the "
            "other directions. With fewer samples than dimensions the optimal map is barely "
            "determined by the data; more samples, or fewer features (e.g. PCA), help." + floor,
            UserWarning,
            stacklevel=4,
        )
        return True

    def _auto_strong_convexity(self, few_samples: bool) -> float:
        """The strong convexity a named network gets: ``strong_convexity``, or with fewer samples
        than dimensions and ``strong_convexity=0``, ``_FEW_SAMPLES_MU``."""
        mu = float(self.strong_convexity)
        if few_samples and mu == 0 and isinstance(self.network, str):
            return _FEW_SAMPLES_MU
        return mu

    def _depth(self, dim: int) -> int:
        """``depth`` with ``"auto"`` resolved for ``dim`` fitted dimensions."""
        return resolve_depth(self.network, self.depth, dim)

    def _step_work(self, dim: int) -> float:
        """A rough operation count of one training step, for ``threads="auto"``."""
        width = self.width * self._depth(dim)
        work = self.batch_size * dim * (width + dim)
        if self.loss in ("dual", "monge-ampere"):  # per-sample Jacobians and factorisations
            work *= dim
        return float(work)

    def _fit_loop(
        self,
        net: nn.Module,
        loss_fn: Any,
        gen: torch.Generator,
        start: float,
        held_out: tuple[Tensor, Tensor | None] | None,
        probe: tuple[Tensor, float],
        resume: bool = False,
    ) -> None:
        x_probe, reference = probe

        health = health_check(net, loss_fn, x_probe, reference)

        def callback(model: nn.Module, step: int, value: float) -> bool:
            return bool(self.callback is not None and self.callback(self, step, value))

        loop = TrainingLoop(
            net,
            lambda step: loss_fn.step(net, self.batch_size, gen),
            max_iter=self.max_iter,
            lr=self._lr(x_probe.shape[1]),
            schedule=self.lr_schedule,
            warmup_steps=max(1, min(_WARMUP_STEPS, self.max_iter // 10)),
            min_lr_ratio=_MIN_LR_RATIO,
            time_limit=self.time_limit,
            start_time=start,
            evaluate=None if held_out is None else (lambda _: loss_fn.evaluate(net, *held_out)),
            validation_interval=self.validation_interval,
            eval_at_start=True,
            keep_best=True,
            n_iter_no_change=self.n_iter_no_change,
            health=health,
            check_gradients=True,
            max_recoveries=_MAX_RECOVERIES,
            snapshot_every=_SNAPSHOT_EVERY,
            callback=callback,
            progress=f"BrenierMap[{self.loss}]" if self.verbose else None,
        )
        if self.checkpoint is not None:
            fingerprint = self._fingerprint(loss_fn, x_probe)
            path = Path(self.checkpoint)
            check_output_path(path)  # now, not at the first checkpoint after minutes of work
            loop.checkpoint = lambda lp: write_checkpoint(path, lp, gen, loss_fn, fingerprint)
            loop.checkpoint_every = self.checkpoint_every
            if resume and path.exists():
                read_checkpoint(path, loop, gen, loss_fn, fingerprint)
        self.history_ = loop.history
        self.recoveries_ = loop.recoveries
        initial = copy.deepcopy(net.state_dict()) if loop.step == 0 else None
        loop.run()
        self.n_iter_ = loop.step
        self.stop_reason_ = loop.stop_reason
        hint = (
            f"Try a smaller lr (it was {self._lr(x_probe.shape[1]):.3g}), more samples, another "
            "random_state, or standardize=True if it was off."
        )
        loop.warn_recoveries("BrenierMap", hint, ConvergenceWarning, stacklevel=3)
        worse = (
            ended_worse(loop.history["loss"]) if initial is not None and held_out is None else None
        )
        if worse is not None:
            # training raised its own loss: the weights it started from score better, so keep
            # them, and say so
            net.load_state_dict(initial)
            self.stop_reason_ = "diverged"
            warnings.warn(
                f"BrenierMap diverged: training ended with a worse loss than it started with "
                f"({worse}), so the weights it started from are kept. {hint}",
                ConvergenceWarning,
                stacklevel=3,
            )
        if held_out is not None:
            self.validation_scores_ = list(loop.history["val_score"])
            self.best_validation_score_, self.best_iter_ = loop.best_score, loop.best_step

    def _fingerprint(self, loss_fn: Any, x_probe: Tensor) -> dict[str, Any]:
        """What a checkpoint must share with this fit: the settings that shape training and
        a digest of the (standardised) data."""
        config = {k: v for k, v in save_config(self).items() if k not in _RESUMABLE}
        sources = [s for s in (loss_fn.source, loss_fn.target) if s is not None]
        # samples in memory first, then moments: the order of the checkpoints written so far
        data = [
            t for s in sorted(sources, key=lambda s: s.needs_moments) for t in s.fingerprint_data()
        ]
        return {"config": repr(sorted(config.items())), "data": data_digest(data, x_probe)}

    def _lr(self, dim: int) -> float:
        """Adam moves every weight by about ``lr`` per step, so a matrix changes by about
        ``lr * sqrt(dim)`` in norm: ``"auto"`` keeps that constant, ``3e-2`` at ``dim = 8``."""
        if self.lr == "auto":
            return _AUTO_LR * min(1.0, math.sqrt(8.0 / dim))
        return float(self.lr)

    # ------------------------------------------------------------------------------------------
    # persistence (ot_gradnets/transport/_persistence.py)
    # ------------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Save the fitted map: weights, configuration and library version, as plain data.

        Written with ``torch.save`` of a dict of tensors, numbers and strings (no pickled code),
        so :meth:`load` reads it with ``weights_only=True``; written to a temporary file in the
        same folder and renamed over ``path``, so a crash never leaves half a file. A network
        passed as an instance is not recorded: pass the same architecture to :meth:`load`.
        """
        check_is_fitted(self, "network_")
        save_map(self, path)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        network: nn.Module | None = None,
        device: str | torch.device | None = None,
    ) -> BrenierMap:
        """Load a map written by :meth:`save` (``torch.load(..., weights_only=True)``).

        Args:
            path: the file.
            network: the architecture, for a map fitted with a network instance.
            device: where to put the network (default CPU).

        Raises:
            ValueError: if the file is not a saved BrenierMap, or ``network`` is needed.
        """
        return load_map(cls, path, network=network, device=device)

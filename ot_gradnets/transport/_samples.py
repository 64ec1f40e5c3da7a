"""What :class:`~ot_gradnets.transport.BrenierMap` is given to learn from: samples or samplers.

:class:`SampleSource` gives the training losses one way to draw minibatches from a stored
``(n, dim)`` tensor (rows by index, so that per-sample state such as the semi-dual's warm starts
can follow them) or from a sampler ``n -> (n, dim)`` (fresh samples every call). It also answers
what a fit needs from the whole sample (its moments, the sample in standardised coordinates, a
held-out split, the mean of a function over it, what a checkpoint's digest covers); streamed
samples (:class:`~ot_gradnets.transport._streams.StreamedSource`) answer the same methods in
bounded memory, so that a fit asks its sources and never their types. ``as_source`` turns
the estimator's inputs into sources.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ot_gradnets._distributed import broadcast_object, share_of_draw
from ot_gradnets._validation import as_samples

if TYPE_CHECKING:
    from ot_gradnets.transport._standardize import Standardization

__all__ = ["CHUNK_ROWS", "Moments", "SampleSource", "as_source", "is_sampler", "output_like"]

#: Rows a function is evaluated on at once by the passes over a whole sample.
CHUNK_ROWS = 1 << 16


@dataclass
class Moments:
    """Count, mean ``(d,)`` and unbiased covariance ``(d, d)`` of a sample, in float64."""

    n: int
    mean: Tensor
    cov: Tensor

    def affine(self, weight: Tensor, shift: Tensor) -> Moments:
        """The moments of ``x @ weight + shift``."""
        return Moments(self.n, self.mean @ weight + shift, weight.T @ self.cov @ weight)


class SampleSource:
    """Uniform access to samples given as a tensor or as a sampler ``n -> (n, dim)``.

    Args:
        data: a ``(n, dim)`` tensor, or a callable returning a ``(n, dim)`` tensor.
        dim: the dimension; batches from a sampler are checked against it.
        dtype, device: what sampler batches are converted to.
        name: the argument's name, for error messages.

    What a fit needs from the whole sample comes from the reference sample that goes with the
    source (``as_source``: the samples themselves, or a sampler's draw of 4,096): every
    method that takes ``ref`` is given it.
    """

    def __init__(
        self,
        data: Tensor | Callable[[int], Any],
        dim: int,
        dtype: torch.dtype,
        device: torch.device,
        name: str,
    ) -> None:
        self.data = data
        self.dim = dim
        self.dtype = dtype
        self.device = device
        self.name = name

    @property
    def stored(self) -> bool:
        """Whether the samples are a tensor in memory (rows by index, per-sample state)."""
        return isinstance(self.data, Tensor)

    @property
    def size(self) -> int | None:
        """The number of stored samples, or ``None`` for a sampler."""
        return self.data.shape[0] if isinstance(self.data, Tensor) else None

    def draw(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Return ``(batch, index)``: ``n`` samples and their rows (``None`` from a sampler)."""
        if isinstance(self.data, Tensor):
            idx = share_of_draw(self.data.shape[0], n, generator)
            idx = idx.to(self.data.device)
            return self.data[idx], idx
        return self.sample(n), None

    def sample(self, n: int) -> Tensor:
        """Call the sampler and check what it returns (shape, finiteness)."""
        out = self.data(n)  # type: ignore[operator]
        batch = as_samples(out, f"the batch returned by {self.name}", dim=self.dim)
        if batch.shape[0] != n:
            raise ValueError(
                f"{self.name}({n}) returned {batch.shape[0]} samples; a sampler must return "
                "exactly n samples of shape (n, dim)."
            )
        return batch.to(dtype=self.dtype, device=self.device)

    # -- what a fit needs from the whole sample ----------------------------------------------

    @property
    def needs_moments(self) -> bool:
        """Whether statistics of the whole sample must come from :meth:`moments` rather than
        from the reference sample: ``False`` here (``ref`` is all the stored samples, or the
        sampler's draw), ``True`` for a stream (whose reference sample is its first rows)."""
        return False

    def moments(self, ref: Tensor) -> Moments:
        """Mean and covariance of the reference sample ``ref`` (stored data: all of it)."""
        x64 = ref.double().cpu()
        return Moments(x64.shape[0], x64.mean(0), torch.cov(x64.T).reshape(x64.shape[1], -1))

    def standardized(
        self, ref: Tensor, std: Standardization, side: str
    ) -> tuple[SampleSource, Tensor]:
        """The source and its reference sample in the standardised coordinates of ``side``
        (``"source"`` or ``"target"``)."""
        return _mapped(self, ref, std.dim, std.source if side == "source" else std.target)

    def hold_out(
        self, ref: Tensor, fraction: float, cap: int, n_fresh: int, gen: torch.Generator
    ) -> tuple[SampleSource, Tensor, Tensor]:
        """Split off held-out samples: ``(training source, its reference sample, held-out)``.

        Stored samples lose a random ``fraction`` of their rows (at most ``cap``), drawn with
        ``gen``; a sampler keeps drawing, and its held-out set is a fresh draw of
        ``min(cap, n_fresh)``.
        """
        if self.size is None:
            return self, ref, self.sample(min(cap, n_fresh))
        n = self.size
        n_val = min(cap, max(1, round(fraction * n)))
        if n - n_val < 2:
            raise ValueError(
                f"{self.name} has {n} samples: too few to hold out validation_fraction={fraction} "
                "and keep 2 for training."
            )
        perm = torch.randperm(n, generator=gen).to(ref.device)
        train, val = ref[perm[n_val:]], ref[perm[:n_val]]
        return SampleSource(train, self.dim, self.dtype, self.device, self.name), train, val

    @torch.no_grad()
    def mean_output(self, fn: Callable[[Tensor], Tensor], ref: Tensor) -> Tensor:
        """The mean of ``fn`` over the reference sample (stored data: all of it), in chunks of
        ``CHUNK_ROWS`` when it is long."""
        if ref.shape[0] <= CHUNK_ROWS:
            return fn(ref).mean(0)
        # in chunks: the network's activations on 10^7 rows at once would take gigabytes
        return sum(fn(chunk).sum(0) for chunk in ref.split(CHUNK_ROWS)) / ref.shape[0]

    def seed_from(self, generator: torch.Generator) -> None:
        """Seed the source's own random draws from the fit's generator: none here (a sampler's
        random stream is the caller's); see the streamed source."""

    def fingerprint_data(self) -> list[Tensor]:
        """What a checkpoint's data digest covers: the stored samples (a sampler: nothing)."""
        return [self.data] if self.stored else []  # type: ignore[list-item]


def is_sampler(data: Any) -> bool:
    """Whether ``data`` is a sampler ``n -> (n, dim)`` rather than an array of samples."""
    return callable(data) and not isinstance(data, (Tensor, np.ndarray))


def as_source(
    data: Any, name: str, dim: int | None, dtype: torch.dtype | None, device: Any
) -> tuple[SampleSource, Tensor]:
    """Validate ``data`` (samples or a sampler; an iterable dataset is read as a sampler) and
    return a source plus a reference sample (the samples themselves, or 4,096 drawn from the
    sampler). Streamed data have their own source (:mod:`ot_gradnets.transport._streams`)."""
    if isinstance(data, torch.utils.data.IterableDataset):
        data = _iterable_sampler(data, name)
    if is_sampler(data):
        if dim is None:
            probe = as_samples(data(2), f"the batch returned by {name}")
            dim = probe.shape[1]
        probe = as_samples(data(4096), f"the batch returned by {name}", dim=dim)
        probe = broadcast_object(probe)  # one standardisation for all ranks: rank 0's draw
        dtype = dtype or probe.dtype
        device = device or probe.device
        src = SampleSource(data, dim, dtype, torch.device(device), name)
        return src, probe.to(dtype=dtype, device=device)
    t = as_samples(data, name, dim=dim, min_samples=2, dtype=dtype, device=device)
    return SampleSource(t, t.shape[1], t.dtype, t.device, name), t


def _iterable_sampler(data: Any, name: str) -> Callable[[int], Tensor]:
    """A sampler that takes the next ``n`` items of an iterable dataset, in its order (started
    again when it runs out): for data that can only be read in sequence."""
    state: dict[str, Any] = {"it": iter(data)}

    def sampler(n: int) -> Tensor:
        rows = []
        while len(rows) < n:
            try:
                rows.append(torch.as_tensor(np.asarray(next(state["it"]))))
            except StopIteration:
                if not rows and state.get("empty"):
                    raise ValueError(f"{name} yields no samples.") from None
                state["it"], state["empty"] = iter(data), not rows
        return torch.stack(rows)

    return sampler


def _mapped(
    src: SampleSource, ref: Tensor, dim: int, fn: Callable[[Tensor], Tensor]
) -> tuple[SampleSource, Tensor]:
    """``src`` and its reference sample with ``fn`` applied to every sample (new dim ``dim``)."""
    if src.size is None:
        draw = src.sample
        out = SampleSource(lambda n: fn(draw(n)), dim, src.dtype, src.device, src.name)
        return out, fn(ref)
    data = fn(src.data)  # type: ignore[arg-type]
    return SampleSource(data, dim, src.dtype, src.device, src.name), data


def output_like(out: Tensor, ref: Any) -> Any:
    """Return ``out`` as the caller's type: a tensor on its device/dtype, else a numpy array."""
    if isinstance(ref, Tensor):
        return out.to(device=ref.device, dtype=ref.dtype if ref.is_floating_point() else out.dtype)
    return out.detach().cpu().numpy()

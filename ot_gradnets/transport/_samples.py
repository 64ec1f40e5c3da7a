"""What :class:`~ot_gradnets.transport.BrenierMap` is given to learn from: samples or samplers.

:class:`SampleSource` gives the training losses one way to draw minibatches from a stored
``(n, dim)`` tensor (rows by index, so that per-sample state such as the semi-dual's warm starts
can follow them) or from a sampler ``n -> (n, dim)`` (fresh samples every call). The functions
below turn the estimator's inputs into sources, apply the standardisation to them, and split off
held-out samples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ot_gradnets._distributed import broadcast_object, share_of_draw
from ot_gradnets._validation import as_samples

__all__ = ["SampleSource", "as_source", "hold_out", "is_sampler", "mapped", "output_like"]


class SampleSource:
    """Uniform access to samples given as a tensor or as a sampler ``n -> (n, dim)``.

    Args:
        data: a ``(n, dim)`` tensor, or a callable returning a ``(n, dim)`` tensor.
        dim: the dimension; batches from a sampler are checked against it.
        dtype, device: what sampler batches are converted to.
        name: the argument's name, for error messages.
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


def mapped(
    src: SampleSource, ref: Tensor, dim: int, fn: Callable[[Tensor], Tensor]
) -> tuple[SampleSource, Tensor]:
    """``src`` and its reference sample with ``fn`` applied to every sample (new dim ``dim``)."""
    if src.size is None:
        draw = src.sample
        out = SampleSource(lambda n: fn(draw(n)), dim, src.dtype, src.device, src.name)
        return out, fn(ref)
    data = fn(src.data)  # type: ignore[arg-type]
    return SampleSource(data, dim, src.dtype, src.device, src.name), data


def hold_out(
    src: SampleSource, ref: Tensor, fraction: float, cap: int, n_fresh: int, gen: torch.Generator
) -> tuple[SampleSource, Tensor, Tensor]:
    """Split off held-out samples: ``(training source, its reference sample, held-out)``.

    Stored samples lose a random ``fraction`` of their rows (at most ``cap``); a sampler keeps
    drawing, and its held-out set is a fresh draw of ``min(cap, n_fresh)``.
    """
    if src.size is None:
        return src, ref, src.sample(min(cap, n_fresh))
    n = src.size
    n_val = min(cap, max(1, round(fraction * n)))
    if n - n_val < 2:
        raise ValueError(
            f"{src.name} has {n} samples: too few to hold out validation_fraction={fraction} "
            "and keep 2 for training."
        )
    perm = torch.randperm(n, generator=gen).to(ref.device)
    train, val = ref[perm[n_val:]], ref[perm[:n_val]]
    return SampleSource(train, src.dim, src.dtype, src.device, src.name), train, val


def output_like(out: Tensor, ref: Any) -> Any:
    """Return ``out`` as the caller's type: a tensor on its device/dtype, else a numpy array."""
    if isinstance(ref, Tensor):
        return out.to(device=ref.device, dtype=ref.dtype if ref.is_floating_point() else out.dtype)
    return out.detach().cpu().numpy()

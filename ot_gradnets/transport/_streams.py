r"""Samples that stay where they are: memory-mapped ``.npy`` files and datasets, streamed.

A :class:`StreamedSource` reads only the rows a step asks for, by random index, from an array it
never loads: a memory-mapped ``.npy`` file (a path, or ``np.load(path, mmap_mode="r")``) or a
map-style :class:`torch.utils.data.Dataset`. What a fit needs from the whole sample is computed
in bounded memory:

- the moments (mean and covariance, in float64) by one pass over chunks of rows, which also
  checks every row (finite, numeric); the standardisation and the linear (Bures) start are built
  from them;
- the standardisation itself is affine, :math:`z = (x - m)\,U/s`, so the source keeps it as a
  matrix and a shift applied to each batch as it is read, and transforms its moments exactly;
- a held-out set is a random set of at most a few thousand rows, skipped by the training draws
  (the :math:`k`-th training row is found by a binary search over the held-out rows, so no
  permutation of all :math:`n` rows is ever made);
- per-sample state (the semi-dual's conjugate warm starts) is kept for at most ``pool_size``
  rows (see :class:`~ot_gradnets.transport.LOSSES`' ``"dual"``).

The batches drawn are those the same array would give in memory (same generator, same indices),
so a streamed fit is the in-memory fit up to the rounding of the moments (tested), except that a
held-out set (``validation_fraction``) is a different random choice of rows.

A stream answers the methods of :class:`~ot_gradnets.transport._samples.SampleSource` (moments,
standardisation, hold-out, mean output, seeding, checkpoint digest) with its own behaviour, so the
fit never asks which kind of source it has; :func:`fit_standardization` and
:func:`linear_start_moments` decide, for any two sources, whether the reference samples or the
moments are used.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ot_gradnets._distributed import share_of_draw
from ot_gradnets.transport._samples import CHUNK_ROWS, Moments, SampleSource
from ot_gradnets.transport._standardize import (
    Standardization,
    standardization,
    standardization_from_moments,
)

__all__ = [
    "Moments",
    "StreamedSource",
    "fit_standardization",
    "is_streamed",
    "linear_start_moments",
    "open_stream",
]

#: Rows a stream's reference sample holds (probes of the map's scale, the first rows).
REFERENCE_ROWS = 4096
#: Rows over which the initial network's mean output is taken on a long stream.
MEAN_ROWS = 1 << 16


def is_streamed(data: Any) -> bool:
    """Whether ``data`` is streamed rather than loaded: a memory-mapped array, a path to a
    ``.npy`` file, or a map-style ``torch.utils.data.Dataset``."""
    if isinstance(data, np.memmap | str | Path):
        return True
    return isinstance(data, torch.utils.data.Dataset) and hasattr(data, "__len__")


def open_stream(
    data: Any, name: str, dim: int | None, dtype: torch.dtype | None, device: Any
) -> StreamedSource:
    """A :class:`StreamedSource` over ``data`` (see :func:`is_streamed`), checked: 2-D, real,
    numeric, ``dim`` columns, at least 2 rows, every row finite (one pass over the data).

    Raises:
        ValueError: on a path that is not a ``.npy`` file, or data that fail a check.
        FileNotFoundError, IsADirectoryError: on a path that is not a file.
    """
    if isinstance(data, str | Path):
        path = Path(data)
        if path.is_dir():
            raise IsADirectoryError(f"{name}={str(path)!r} is a directory, not a .npy file.")
        if path.suffix != ".npy":
            raise ValueError(
                f"{name}={str(path)!r}: only .npy files are streamed from a path; load other "
                "formats yourself, or save them with numpy.save."
            )
        if not path.exists():
            raise FileNotFoundError(f"{name}={str(path)!r}: no such file.")
        try:
            data = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as err:
            raise ValueError(f"{name}={str(path)!r} is not a readable .npy file: {err}") from None
    if isinstance(data, np.ndarray):
        rows, n, width, kind = _array_rows(data, name)
    else:
        rows, n, width, kind = _dataset_rows(data, name)
    if dim is not None and width != dim:
        raise ValueError(f"{name} must have {dim} columns (dim={dim}), got {width}.")
    if n < 2:
        raise ValueError(f"{name} has {n} sample(s), at least 2 are needed.")
    if dtype is None:
        dtype = kind if kind in (torch.float32, torch.float64) else torch.get_default_dtype()
    source = StreamedSource(rows, n, width, dtype, torch.device(device or "cpu"), name)
    source.moments()  # checks every row, once
    return source


def _array_rows(arr: np.ndarray, name: str) -> tuple[Callable, int, int, torch.dtype]:
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} is complex: transport maps act on real samples.")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}.")
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, dim), got shape {arr.shape}."
        )
    kind = torch.from_numpy(np.zeros(0, dtype=arr.dtype)).dtype
    return (lambda idx: torch.from_numpy(np.asarray(arr[idx]))), arr.shape[0], arr.shape[1], kind


def _dataset_rows(ds: Any, name: str) -> tuple[Callable, int, int, torch.dtype]:
    n = len(ds)
    if n == 0:
        raise ValueError(f"{name} is empty: expected at least 2 samples.")
    first = torch.as_tensor(np.asarray(ds[0]))
    if first.ndim != 1 or first.is_complex() or first.dtype == torch.bool:
        raise ValueError(
            f"{name}: each item of a dataset must be one real sample of shape (dim,), got "
            f"{tuple(first.shape)} of {first.dtype}."
        )

    def rows(idx: np.ndarray) -> Tensor:
        return torch.stack([torch.as_tensor(np.asarray(ds[int(i)])) for i in idx])

    return rows, n, first.shape[0], first.dtype


class StreamedSource(SampleSource):
    """Samples read by row index from an array that is never loaded whole.

    Args:
        rows: ``rows(index)`` returns the raw rows ``index`` (a 1-D integer array) as a tensor.
        n: the number of rows.
        dim: the number of columns of the raw rows.
        dtype, device: what batches are converted to.
        name: the argument's name, for error messages.

    Batches are ``raw @ weight + shift`` (the affine map set by :meth:`mapped`; none at first),
    read from the rows not held out (:meth:`hold_out`). Its reference sample (what the methods
    taking ``ref`` are given, and return) is its first :data:`REFERENCE_ROWS` training rows;
    what a fit needs from the whole sample is computed from every row instead.
    """

    def __init__(
        self,
        rows: Callable[[np.ndarray], Tensor],
        n: int,
        dim: int,
        dtype: torch.dtype,
        device: torch.device,
        name: str,
    ) -> None:
        super().__init__(None, dim, dtype, device, name)  # type: ignore[arg-type]
        self.rows = rows
        self.n = n
        self.raw_dim = dim
        self.weight: Tensor | None = None
        self.shift: Tensor | None = None
        self.skip = torch.zeros(0, dtype=torch.long)  # held-out rows, sorted
        self.generator = torch.Generator().manual_seed(0)  # fresh rows (sample); see seed_from
        self._moments: Moments | None = None

    @property
    def stored(self) -> bool:
        return False

    @property
    def size(self) -> int:
        """The number of training rows (held-out ones excluded)."""
        return self.n - self.skip.numel()

    def _row_of(self, k: Tensor) -> Tensor:
        """The ``k``-th training rows: ``k`` plus the held-out rows at or before them."""
        if not self.skip.numel():
            return k
        shifted = self.skip - torch.arange(self.skip.numel())
        return k + torch.searchsorted(shifted, k, right=True)

    def _read(self, rows: Tensor) -> Tensor:
        raw = self.rows(rows.cpu().numpy()).to(dtype=self.dtype, device=self.device)
        if self.weight is None:
            return raw
        return raw @ self.weight.to(raw) + self.shift.to(raw)  # type: ignore[union-attr]

    def draw(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """``n`` training rows drawn uniformly by index, as the in-memory array would give them;
        no row index is returned (per-sample state is not kept for a stream)."""
        k = share_of_draw(self.size, n, generator)
        return self._read(self._row_of(k)), None

    def sample(self, n: int) -> Tensor:
        """``n`` training rows drawn with the source's own generator (fresh rows for a pool; the
        same rows on every rank of a process group)."""
        return self._read(self._row_of(torch.randint(self.size, (n,), generator=self.generator)))

    def head(self, n: int) -> Tensor:
        """The first ``n`` training rows."""
        return self._read(self._row_of(torch.arange(min(n, self.size))))

    def all(self) -> Tensor:
        """Every training row, in order (for small streams only)."""
        return self.head(self.size)

    def chunks(self) -> Any:
        """The training rows in chunks of :data:`CHUNK_ROWS`, in order."""
        for start in range(0, self.size, CHUNK_ROWS):
            k = torch.arange(start, min(start + CHUNK_ROWS, self.size))
            yield self._read(self._row_of(k))

    @property
    def needs_moments(self) -> bool:
        """``True``: the reference sample is only the first rows; see :meth:`moments`."""
        return True

    def moments(self, ref: Tensor | None = None) -> Moments:
        """Mean and covariance of all ``n`` rows (held-out ones included), mapped like the
        batches, whatever ``ref``; the first call reads the stream once and checks every row."""
        if self._moments is None:
            self._moments = self._raw_moments()
        if self.weight is None:
            return self._moments
        return self._moments.affine(self.weight.double().cpu(), self.shift.double().cpu())  # type: ignore[union-attr]

    def _raw_moments(self) -> Moments:
        d = self.raw_dim
        total = torch.zeros(d, dtype=torch.float64)
        for start in range(0, self.n, CHUNK_ROWS):  # the mean first: a centred second pass
            rows = self.rows(np.arange(start, min(start + CHUNK_ROWS, self.n))).double()
            bad = ~torch.isfinite(rows).all(dim=1)
            if bad.any():
                row = start + int(bad.nonzero()[0])
                raise ValueError(f"{self.name} contains non-finite values (NaN or inf), row {row}.")
            total += rows.sum(0)
        mean = total / self.n
        scatter = torch.zeros(d, d, dtype=torch.float64)
        for start in range(0, self.n, CHUNK_ROWS):
            rows = self.rows(np.arange(start, min(start + CHUNK_ROWS, self.n))).double() - mean
            scatter += rows.T @ rows
        return Moments(self.n, mean, scatter / max(self.n - 1, 1))

    def mapped(self, dim: int, weight: Tensor, shift: Tensor) -> StreamedSource:
        """The same stream with every row ``x`` read as ``x @ weight + shift`` (``dim`` columns),
        after any map already set."""
        out = StreamedSource(self.rows, self.n, self.raw_dim, self.dtype, self.device, self.name)
        out.skip, out.generator, out._moments = self.skip, self.generator, self._moments
        w64, s64 = weight.double().cpu(), shift.double().cpu()
        if self.weight is not None:
            s64 = self.shift.double().cpu() @ w64 + s64  # type: ignore[union-attr]
            w64 = self.weight.double().cpu() @ w64
        out.weight, out.shift, out.dim = w64.to(self.dtype), s64.to(self.dtype), dim
        return out

    def standardized(
        self, ref: Tensor, std: Standardization, side: str
    ) -> tuple[StreamedSource, Tensor]:
        """The stream read in the standardised coordinates of ``side`` (the standardisation's
        affine map applied to each batch as it is read), with its reference sample."""
        out = self.mapped(std.dim, *std.affine(side))
        return out, out.head(REFERENCE_ROWS)

    def hold_out(
        self, ref: Tensor, fraction: float, cap: int, n_fresh: int, gen: torch.Generator
    ) -> tuple[StreamedSource, Tensor, Tensor]:
        """Hold out ``min(cap, fraction * n)`` random rows (:meth:`hold_out_rows`) and keep
        streaming the others: ``(this stream, its reference sample, held-out rows)``."""
        val = self.hold_out_rows(min(cap, max(1, round(fraction * self.size))), gen)
        return self, self.head(REFERENCE_ROWS), val

    def hold_out_rows(self, n_val: int, generator: torch.Generator) -> Tensor:
        """Hold out ``n_val`` distinct random rows (skipped by later draws); returns them."""
        if self.size - n_val < 2:
            raise ValueError(
                f"{self.name} has {self.size} samples: too few to hold out {n_val} and keep 2."
            )
        chosen: set[int] = set()
        while len(chosen) < n_val:  # n_val << n: a few rounds of rejection
            draw = torch.randint(self.n, (2 * (n_val - len(chosen)),), generator=generator)
            for row in draw.tolist():
                if len(chosen) < n_val:
                    chosen.add(row)
        rows = torch.tensor(sorted(chosen), dtype=torch.long)
        held = self._read(rows)
        self.skip = rows
        return held

    def seed_from(self, generator: torch.Generator) -> None:
        """Seed the source's own generator (fresh rows for a pool) from the fit's seed and the
        source's name, without drawing from the fit's generator (whose stream the batches
        follow, as they would in memory)."""
        self.generator.manual_seed(generator.initial_seed() ^ zlib.crc32(self.name.encode()))

    @torch.no_grad()
    def mean_output(self, fn: Callable[[Tensor], Tensor], ref: Tensor) -> Tensor:
        """The mean of ``fn`` over the training rows, chunk by chunk, on a stream of at most
        :data:`MEAN_ROWS` rows; else over :data:`MEAN_ROWS` rows drawn from it."""
        if self.size > MEAN_ROWS:
            return fn(self.sample(MEAN_ROWS)).mean(0)
        total = sum(fn(chunk).sum(0) for chunk in self.chunks())
        return total / self.size  # type: ignore[operator]

    def fingerprint_data(self) -> list[Tensor]:
        """What a checkpoint's data digest covers: the stream's (mapped) moments."""
        m = self.moments()
        return [m.mean, m.cov]


# ---------------------------------------------------------------------------------------------
# what a fit computes from whole samples, for any two sources: from the reference samples when
# both are in memory (held samples or samplers), from the moments when a side needs them
# ---------------------------------------------------------------------------------------------


def _any_needs_moments(*sources: SampleSource | None) -> bool:
    return any(s is not None and s.needs_moments for s in sources)


def fit_standardization(
    source: SampleSource,
    x_ref: Tensor,
    target: SampleSource | None,
    y_ref: Tensor | None,
    *,
    reduce: bool,
) -> Standardization:
    """The standardisation of the data: from the reference samples when both sides are in
    memory, else from the sources' moments (:attr:`SampleSource.needs_moments`)."""
    if not _any_needs_moments(source, target):
        return standardization(x_ref, y_ref, reduce=reduce)
    mx = source.moments(x_ref)
    my = None if target is None or y_ref is None else target.moments(y_ref)
    return standardization_from_moments(
        mx.mean, mx.cov, None if my is None else my.mean, None if my is None else my.cov,
        reduce=reduce, dtype=x_ref.dtype, device=x_ref.device,
    )  # fmt: skip


def linear_start_moments(
    source: SampleSource, x_ref: Tensor, target: SampleSource, y_ref: Tensor
) -> tuple[Moments, Moments] | None:
    """The two sides' moments when a side needs them (``None``: the reference samples serve,
    both sides being in memory)."""
    if not _any_needs_moments(source, target):
        return None
    return source.moments(x_ref), target.moments(y_ref)

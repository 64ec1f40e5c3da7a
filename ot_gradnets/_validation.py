"""Input checks shared by every public entry point.

Checks that depend on *values* (finiteness, sample counts) live here and are called by fitting
functions and estimators, never by ``forward``: the networks must stay composable with
``torch.func`` transforms (vmap, jacrev, grad), under which data-dependent Python control flow is
not allowed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` as an int, raising ``ValueError`` unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def check_nonnegative_float(value: Any, name: str) -> float:
    """Return ``value`` as a float, raising ``ValueError`` unless it is finite and >= 0."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a non-negative number, got {value!r}.") from None
    if not np.isfinite(out) or out < 0:
        raise ValueError(f"{name} must be a finite non-negative number, got {value!r}.")
    return out


def check_last_dim(x: Tensor, dim: int, name: str = "x") -> None:
    """Raise ``ValueError`` unless ``x`` has shape ``(*, dim)`` (shape-only, vmap-safe)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if x.ndim == 0 or x.shape[-1] != dim:
        raise ValueError(
            f"{name} must have shape (*, {dim}) (last dimension = the network's dim), "
            f"got shape {tuple(x.shape)}."
        )


def _check_kind(is_complex: bool, is_bool: bool, name: str) -> None:
    """Refuse complex and boolean samples before any work is done on them."""
    if is_complex:
        raise ValueError(
            f"{name} is complex: transport maps act on real samples; pass its real part, or its "
            "real and imaginary parts as separate columns."
        )
    if is_bool:
        raise ValueError(f"{name} is boolean: samples must be real numbers (cast to float).")


def as_samples(
    x: Any,
    name: str,
    dim: int | None = None,
    min_samples: int = 1,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Convert ``x`` (array-like or tensor) to a finite 2-D tensor of shape ``(n, dim)``.

    Args:
        x: samples, a numpy array, a tensor or a nested list.
        name: the argument's name, used in error messages.
        dim: expected number of columns, or ``None`` to accept any.
        min_samples: the least number of rows accepted.
        dtype: dtype of the result; by default a tensor keeps its floating dtype and anything else
            becomes ``torch.get_default_dtype()``.
        device: device of the result; by default a tensor keeps its device.

    Raises:
        ValueError: if ``x`` is not 2-D, is empty, has too few rows, the wrong number of columns,
            or non-finite entries.
    """
    if (isinstance(x, Tensor) and x.layout != torch.strided) or (
        hasattr(x, "toarray") and hasattr(x, "nnz")  # scipy.sparse
    ):
        raise ValueError(
            f"{name} is a sparse matrix: sparse input is not supported; call .toarray() "
            "(scipy) or .to_dense() (torch) first."
        )
    if isinstance(x, Tensor):
        t = x.detach()
        _check_kind(t.is_complex(), t.dtype == torch.bool, name)
        if not t.is_floating_point():
            t = t.to(torch.get_default_dtype())
    else:
        try:
            arr = np.asarray(x)
        except Exception as err:  # noqa: BLE001 - anything unconvertible is a user error
            raise ValueError(f"{name} could not be converted to an array: {err}") from err
        _check_kind(np.iscomplexobj(arr), arr.dtype == np.bool_, name)
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"{name} must be numeric, got an array of dtype {arr.dtype}.")
        if not arr.flags.writeable:  # a read-only (memory-mapped) array: copy what is used
            arr = np.array(arr)
        t = torch.as_tensor(arr)
        if not t.is_floating_point():
            t = t.to(torch.get_default_dtype())
        elif dtype is None and t.dtype not in (torch.float32, torch.float64):
            t = t.to(torch.get_default_dtype())
    if t.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, dim), got shape {tuple(t.shape)}."
            + (" Reshape a single sample with x.reshape(1, -1)." if t.ndim == 1 else "")
        )
    if t.shape[0] == 0:
        raise ValueError(f"{name} is empty: expected at least {min_samples} sample(s).")
    if t.shape[0] < min_samples:
        raise ValueError(f"{name} has {t.shape[0]} sample(s), at least {min_samples} are needed.")
    if dim is not None and t.shape[1] != dim:
        raise ValueError(f"{name} must have {dim} columns (dim={dim}), got {t.shape[1]}.")
    if not torch.isfinite(t).all():
        bad = int((~torch.isfinite(t)).any(dim=1).sum())
        raise ValueError(f"{name} contains non-finite values (NaN or inf) in {bad} row(s).")
    if dtype is not None or device is not None:
        t = t.to(dtype=dtype or t.dtype, device=device or t.device)
    return t

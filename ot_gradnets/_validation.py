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

from ot_gradnets._distributed import broadcast_object


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


def _on(generator: torch.Generator, device: torch.device) -> bool:
    """Whether ``generator`` draws on ``device`` (a device without an index matches any)."""
    here = generator.device
    return here.type == device.type and (device.index is None or here.index in (None, device.index))


def make_generator(random_state: Any, device: torch.device | str = "cpu") -> torch.Generator:
    """The generator a fit draws from, on ``device``, from a ``random_state`` argument.

    ``random_state`` is a ``torch.Generator`` on ``device`` (returned itself, so the caller's
    generator advances), a generator on another device (one draw of it seeds a new one on
    ``device``), an int (``torch.Generator(device).manual_seed(random_state)``: on the CPU
    exactly ``torch.Generator().manual_seed(random_state)``) or ``None`` (a freshly seeded one;
    in a process group every rank gets rank 0's seed).

    Raises:
        ValueError: for anything else (a bool or a float included).

    Example:
        >>> a, b = make_generator(3), torch.Generator().manual_seed(3)
        >>> torch.equal(torch.rand(2, generator=a), torch.rand(2, generator=b))
        True
        >>> make_generator(b) is b
        True
    """
    dev = torch.device(device)
    if isinstance(random_state, torch.Generator):
        if _on(random_state, dev):
            return random_state
        src = random_state
        seed = int(torch.randint(2**62, (), generator=src, device=src.device))
        return torch.Generator(device=dev).manual_seed(seed)
    gen = torch.Generator(device=dev)
    if random_state is None:  # in a process group, rank 0's seed for every rank
        gen.manual_seed(int(broadcast_object(gen.seed())))
    elif isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        gen.manual_seed(int(random_state))
    else:
        raise ValueError(
            f"random_state must be an int, a torch.Generator or None, got {random_state!r}."
        )
    return gen


def make_seed(random_state: Any) -> int:
    """An int seed from a ``random_state`` argument, for work seeded more than once with the
    same seed (``torch.manual_seed`` and a data generator, say): an int is itself, a
    ``torch.Generator`` gives one draw, ``None`` a fresh seed (rank 0's in a process group).

    Example:
        >>> make_seed(7), make_seed(torch.Generator().manual_seed(0)) == make_seed(
        ...     torch.Generator().manual_seed(0))
        (7, True)
    """
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return int(random_state)
    gen = make_generator(random_state)
    return int(torch.randint(2**62, (), generator=gen))


def check_last_dim(x: Tensor, dim: int, name: str = "x") -> None:
    """Raise ``ValueError`` unless ``x`` has shape ``(*, dim)`` (shape-only, vmap-safe)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if x.ndim == 0 or x.shape[-1] != dim:
        raise ValueError(
            f"{name} must have shape (*, {dim}) (last dimension = the network's dim), "
            f"got shape {tuple(x.shape)}."
        )


class _NotNumeric(ValueError, TypeError):
    """Samples that hold something other than numbers: a ``ValueError`` like every bad input
    here (one line and exit 2 on the command line), and the ``TypeError`` numpy and
    scikit-learn raise for it."""


def _check_kind(is_complex: bool, is_bool: bool, name: str) -> None:
    """Refuse complex and boolean samples before any work is done on them."""
    if is_complex:
        raise ValueError(
            f"Complex data not supported: {name} is complex, and transport maps act on real "
            "samples; pass its real part, or its real and imaginary parts as separate columns."
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
        if arr.dtype == object:  # numbers held as Python objects are numbers all the same
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError) as err:
                raise _NotNumeric(
                    f"{name} must be numeric, got an array of dtype object ({err})."
                ) from None
        if not np.issubdtype(arr.dtype, np.number):
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
            + (
                " Reshape your data: x.reshape(1, -1) for a single sample, x.reshape(-1, 1) for "
                "samples of one dimension."
                if t.ndim == 1
                else ""
            )
        )
    if t.shape[1] == 0:
        raise ValueError(
            f"{name} has 0 feature(s) (shape={tuple(t.shape)}) while a minimum of 1 is required."
        )
    if t.shape[0] == 0:
        raise ValueError(f"{name} is empty: expected at least {min_samples} sample(s).")
    if t.shape[0] < min_samples:
        raise ValueError(f"{name} has {t.shape[0]} sample(s), at least {min_samples} are needed.")
    if dim is not None and t.shape[1] != dim:
        raise ValueError(
            f"{name} must have {dim} columns (dim={dim}), got {t.shape[1]}: {name} has "
            f"{t.shape[1]} features, but it is expecting {dim} features as input."
        )
    if not torch.isfinite(t).all():
        bad = int((~torch.isfinite(t)).any(dim=1).sum())
        raise ValueError(f"{name} contains non-finite values (NaN or inf) in {bad} row(s).")
    if dtype is not None or device is not None:
        t = t.to(dtype=dtype or t.dtype, device=device or t.device)
    return t

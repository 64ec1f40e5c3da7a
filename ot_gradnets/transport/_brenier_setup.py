"""Set-up of a :class:`~ot_gradnets.transport.BrenierMap` fit, before any training.

:func:`check_params` says why a hyperparameter cannot work before any data are touched,
:func:`make_generator` (shared with the other trainers, from :mod:`ot_gradnets._validation`)
turns ``random_state`` into the CPU generator a fit draws from, and
:func:`make_sources_and_loss` validates the data into sample sources and builds the loss. The
estimator's own module keeps what depends on the fit's state (standardisation, the network, the
training loop).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from ot_gradnets._threads import resolve_threads
from ot_gradnets._validation import check_nonnegative_float, check_positive_int, make_generator
from ot_gradnets.core import MGradNetC, MGradNetM
from ot_gradnets.transport._losses import LOSSES, TransportLoss, make_loss
from ot_gradnets.transport._samples import SampleSource, as_source
from ot_gradnets.transport._streams import REFERENCE_ROWS, is_streamed, open_stream

if TYPE_CHECKING:
    from ot_gradnets.transport._brenier import BrenierMap

__all__ = ["NETWORKS", "check_params", "make_generator", "make_sources_and_loss"]

#: Networks :class:`BrenierMap` builds by name: name -> constructor ``(dim, width, depth, mu)``.
NETWORKS: dict[str, Callable[[int, int, int, float], nn.Module]] = {
    "mgradnet-m": lambda d, w, k, mu: MGradNetM(d, width=w, num_modules=k, strong_convexity=mu),
    "mgradnet-c": lambda d, w, k, mu: MGradNetC(d, width=w, depth=k, strong_convexity=mu),
}

_LR_SCHEDULES = ("cosine", "constant")


def check_params(est: BrenierMap) -> None:
    """Raise ``ValueError`` on the first hyperparameter of ``est`` that cannot work."""
    if est.dim is not None:
        check_positive_int(est.dim, "dim")
    if isinstance(est.network, str):
        if est.network not in NETWORKS:
            raise ValueError(
                f"network must be one of {sorted(NETWORKS)} or a gradient network instance, "
                f"got {est.network!r}."
            )
        check_positive_int(est.width, "width")
        if est.depth != "auto":
            check_positive_int(est.depth, "depth")
    elif not isinstance(est.network, nn.Module):
        raise ValueError(
            f"network must be a name in {sorted(NETWORKS)} or an nn.Module implementing the "
            f"gradient network interface, got {type(est.network).__name__}."
        )
    if est.loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {est.loss!r}.")
    if est.loss_options is not None and not isinstance(est.loss_options, dict):
        raise ValueError(f"loss_options must be a dict or None, got {est.loss_options!r}.")
    check_positive_int(est.batch_size, "batch_size")
    if est.loss == "w2" and est.batch_size < 2:
        raise ValueError("batch_size must be at least 2 for loss='w2'.")
    check_positive_int(est.max_iter, "max_iter")
    if est.lr != "auto" and check_nonnegative_float(est.lr, "lr") == 0:
        raise ValueError("lr must be positive or 'auto', got 0.")
    if est.lr_schedule not in _LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {_LR_SCHEDULES}, got {est.lr_schedule!r}.")
    if est.time_limit is not None and check_nonnegative_float(est.time_limit, "time_limit") == 0:
        raise ValueError("time_limit must be positive or None, got 0.")
    if check_nonnegative_float(est.blur, "blur") == 0:
        raise ValueError("blur must be positive, got 0.")
    check_nonnegative_float(est.strong_convexity, "strong_convexity")
    resolve_threads(est.threads)  # raises on a bad value
    if est.callback is not None and not callable(est.callback):
        raise ValueError(f"callback must be callable or None, got {est.callback!r}.")
    if est.validation_fraction is not None:
        frac = check_nonnegative_float(est.validation_fraction, "validation_fraction")
        if not 0.0 < frac < 1.0:
            raise ValueError(
                f"validation_fraction must be in (0, 1) or None, got {est.validation_fraction!r}."
            )
        check_positive_int(est.validation_interval, "validation_interval")
    check_positive_int(est.checkpoint_every, "checkpoint_every")
    _check_device_and_dtype(est.device, est.dtype)
    if est.n_iter_no_change is not None:
        check_positive_int(est.n_iter_no_change, "n_iter_no_change")
        if est.validation_fraction is None:
            raise ValueError("n_iter_no_change needs validation_fraction (a held-out set).")


def _check_device_and_dtype(device: Any, dtype: Any) -> None:
    """Say before any work why a ``device`` or ``dtype`` cannot work."""
    if dtype is not None and dtype not in (torch.float32, torch.float64):
        raise ValueError(
            f"dtype must be torch.float32, torch.float64 or None (follow X), got "
            f"{dtype!r}: lower precisions cannot carry the Newton solves of the conjugates."
        )
    if device is None:
        return
    try:
        torch_device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device={device!r} is not a device: {err}") from None
    available = {
        "cuda": torch.cuda.is_available,
        "mps": lambda: torch.backends.mps.is_available(),
    }.get(torch_device.type, lambda: True)
    if not available():
        raise ValueError(
            f"device={device!r} was asked for, but this machine has no {torch_device.type} "
            "device available to PyTorch; use device=None (follow X) or 'cpu'."
        )


def _source(
    data: Any, name: str, dim: int | None, dtype: torch.dtype | None, device: Any
) -> tuple[SampleSource, Tensor]:
    """A source for ``data`` with its reference sample: streamed (memory-mapped ``.npy``, a path,
    a dataset; the reference is its first rows) or held (samples, samplers). Half-precision
    tensors (float16, bfloat16) train in float32: the Newton solves of the conjugates need it,
    and CPU linear algebra has no half-precision kernels; the fitted map still returns the
    caller's dtype."""
    if dtype is None and isinstance(data, Tensor) and data.dtype in (torch.float16, torch.bfloat16):
        dtype = torch.float32
    if is_streamed(data):
        stream = open_stream(data, name, dim, dtype, device)
        return stream, stream.head(REFERENCE_ROWS)
    return as_source(data, name, dim, dtype, device)


def make_sources_and_loss(
    est: BrenierMap,
    X: Any,
    Y: Any,
    source_log_density: Callable[[Tensor], Tensor] | None,
    target_log_density: Callable[[Tensor], Tensor] | None,
) -> tuple[SampleSource, Tensor, SampleSource | None, Tensor | None, TransportLoss]:
    """Validate ``X`` and ``Y`` into sample sources and build ``est``'s loss.

    Returns:
        ``(source, x_ref, target, y_ref, loss)``: the sources with their reference samples
        (:func:`~ot_gradnets.transport._samples.as_source`; ``target`` and ``y_ref`` are
        ``None`` for ``loss="monge-ampere"`` without ``Y``) and the loss, built with
        ``loss_options``, the log-densities (``"monge-ampere"``) or the default ``blur``
        (``"sinkhorn"``).

    Raises:
        ValueError: if ``Y`` or a log-density is missing for the chosen loss, or the data are
            invalid.
    """
    dim = None if est.dim is None else int(est.dim)
    device = None if est.device is None else torch.device(est.device)
    source, x_ref = _source(X, "X", dim, est.dtype, device)
    dim, dtype, device = source.dim, source.dtype, source.device
    options = dict(est.loss_options or {})
    target: SampleSource | None = None
    y_ref: Tensor | None = None
    if est.loss == "monge-ampere":
        for name, fn in (
            ("source_log_density", source_log_density),
            ("target_log_density", target_log_density),
        ):
            if fn is None or not callable(fn):
                raise ValueError(
                    f"loss='monge-ampere' needs {name}, a callable (n, dim) -> (n,); got {fn!r}."
                )
        options.update(source_log_density=source_log_density, target_log_density=target_log_density)
        if Y is not None:
            target, y_ref = _source(Y, "Y", dim, dtype, device)
    else:
        if Y is None:
            raise ValueError(
                f"Y (target samples or a sampler) is required for loss={est.loss!r}; only "
                "loss='monge-ampere' works from log-densities."
            )
        target, y_ref = _source(Y, "Y", dim, dtype, device)
        if est.loss == "sinkhorn":
            options.setdefault("blur", float(est.blur))
    return source, x_ref, target, y_ref, make_loss(est.loss, **options)

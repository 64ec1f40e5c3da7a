r"""Errors of a learned gradient field against the true one.

The unit of the GradNet paper is the decibel of the mean squared Euclidean error,

.. math::
    \mathrm{dB}(N, \nabla F) = 10\log_{10}\Big(\frac1n\sum_{i=1}^n
        \|N(x_i) - \nabla F(x_i)\|_2^2\Big),

summed over the :math:`d` output coordinates and averaged over the :math:`n` points, not
normalised. ``torch.nn.MSELoss`` averages over the coordinates as well, so
``error_db = 10 log10(MSELoss) + 10 log10(d)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["error_db", "error_map", "field_error_db", "squared_error"]


def _check_pair(pred: Tensor, true: Tensor) -> None:
    if not isinstance(pred, Tensor) or not isinstance(true, Tensor):
        raise TypeError(
            f"pred and true must be tensors, got {type(pred).__name__} and {type(true).__name__}."
        )
    if pred.shape != true.shape or pred.ndim == 0:
        raise ValueError(
            f"pred and true must have the same shape (*, dim), got {tuple(pred.shape)} and "
            f"{tuple(true.shape)}."
        )
    if pred.numel() == 0:
        raise ValueError("pred and true are empty: need at least one point.")


def squared_error(pred: Tensor, true: Tensor) -> Tensor:
    r"""Mean over points of the squared Euclidean error, :math:`\frac1n\sum_i\|p_i - t_i\|^2`.

    The squared error is **summed** over the last (output) dimension and averaged over all the
    others; it is ``d`` times ``torch.nn.MSELoss()(pred, true)``.

    Args:
        pred: predicted field, shape ``(*, d)``.
        true: true field, same shape.

    Returns:
        A 0-dim tensor (differentiable in ``pred``), dtype and device of the inputs.

    Example:
        >>> squared_error(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]]))
        tensor(5.)
    """
    _check_pair(pred, true)
    return (pred - true).square().sum(dim=-1).mean()


def error_db(pred: Tensor, true: Tensor) -> float:
    r"""The GradNet paper's error in decibels, :math:`10\log_{10}\frac1n\sum_i\|p_i - t_i\|_2^2`.

    Summed over the :math:`d` output coordinates, averaged over points, not normalised; it is
    ``10 log10(torch.nn.MSELoss()(pred, true)) + 10 log10(d)``.

    Args:
        pred: predicted field :math:`N(x_i)`, shape ``(*, d)``.
        true: true field :math:`\nabla F(x_i)`, same shape.

    Returns:
        The error in dB (``-inf`` for a perfect prediction).

    Example:
        >>> pred = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
        >>> round(error_db(pred, torch.zeros(2, 2)), 4)  # 10 log10((1 + 0) / 2)
        -3.0103
    """
    _check_pair(pred, true)
    err = float(squared_error(pred.detach(), true.detach()))
    return 10.0 * math.log10(err) if err > 0 else -math.inf


@torch.no_grad()
def _predict(model: Callable[[Tensor], Tensor], x: Tensor, batch_size: int) -> Tensor:
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)])


def field_error_db(
    model: Callable[[Tensor], Tensor],
    target: Callable[[Tensor], Tensor],
    x: Tensor,
    batch_size: int = 4096,
) -> float:
    r"""Error in dB of ``model`` against ``target`` at the points ``x`` (see :func:`error_db`).

    Args:
        model: the learned field :math:`N`, called on ``(b, d)`` batches.
        target: the true field :math:`\nabla F` (e.g. a :class:`Target`).
        x: evaluation points, shape ``(n, d)``.
        batch_size: points per forward call (memory only; the result does not depend on it).

    Returns:
        :math:`10\log_{10}\frac1n\sum_i\|N(x_i) - \nabla F(x_i)\|^2`.

    Example:
        >>> from ot_gradnets.core.fields import PolyMax
        >>> t = PolyMax(4)
        >>> x = t.sample(10, torch.Generator().manual_seed(0))
        >>> field_error_db(t, t, x)
        -inf
    """
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"x must have shape (n, dim) with n >= 1, got {tuple(x.shape)}.")
    pred = _predict(model, x, batch_size)
    true = _predict(target, x, batch_size)
    return error_db(pred, true)


def error_map(
    model: Callable[[Tensor], Tensor],
    target: Callable[[Tensor], Tensor],
    x: Tensor,
    batch_size: int = 4096,
) -> Tensor:
    r"""Pointwise Euclidean error :math:`\|N(x_i) - \nabla F(x_i)\|_2`, shape ``(n,)``.

    On a target's ``grid(n)`` the result reshapes to an ``(n, n)`` image (the paper's heat maps
    average it over trials).

    Args:
        model: the learned field :math:`N`.
        target: the true field :math:`\nabla F`.
        x: points, shape ``(n, d)``.
        batch_size: points per forward call.

    Example:
        >>> from ot_gradnets.core.fields import ConvexPolynomial2D
        >>> t = ConvexPolynomial2D()
        >>> error_map(lambda x: torch.zeros_like(x), t, torch.zeros(1, 2))
        tensor([0.])
    """
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"x must have shape (n, dim) with n >= 1, got {tuple(x.shape)}.")
    diff = _predict(model, x, batch_size) - _predict(target, x, batch_size)
    return torch.linalg.vector_norm(diff, dim=-1)

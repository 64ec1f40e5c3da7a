r"""Errors of a learned gradient field against the true one.

The unit of the GradNet paper is the decibel of the mean squared Euclidean error,

.. math::
    \mathrm{dB}(N, \nabla F) = 10\log_{10}\Big(\frac1n\sum_{i=1}^n
        \|N(x_i) - \nabla F(x_i)\|_2^2\Big),

summed over the :math:`d` output coordinates and averaged over the :math:`n` points, not
normalised. ``torch.nn.MSELoss`` averages over the coordinates as well, so
``error_db = 10 log10(MSELoss) + 10 log10(d)``. :func:`error_db` and :func:`squared_error` are
defined once for the library in ``ot_gradnets/core/_metrics.py`` (the Hamiltonian
``derivative_error_db`` is the same function): a perfect prediction scores ``-inf`` dB, a NaN
prediction NaN.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ot_gradnets.core._metrics import error_db, squared_error

__all__ = ["error_db", "error_map", "field_error_db", "squared_error"]


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

r"""The one dB error of the library, shared by the field and Hamiltonian benchmarks.

The error of a predicted vector field against a reference is the decibel of the mean squared
Euclidean error,

.. math::
    \mathrm{dB}(p, t) = 10\log_{10}\Big(\frac1n\sum_{i=1}^n \|p_i - t_i\|_2^2\Big),

summed over the last (output) dimension, averaged over the points, and not normalised by the
reference: predicting zero scores :math:`10\log_{10}\frac1n\sum_i\|t_i\|^2`.
``torch.nn.MSELoss`` averages over the coordinates as well, so
``dB = 10 log10(MSELoss) + 10 log10(d)``.

**Zero error** is ``-inf`` dB, the limit of :math:`10\log_{10} e` as :math:`e \to 0^+`, and
not a finite floor: a floor such as -3000 dB reads as a measurement and enters means and plots
as one, while ``-inf`` compares below every finite error (so selections by the lowest error
still pick a perfect fit) and shows at once in a table. It only arises when the prediction
equals the reference in floating point (a zero reference with a zero prediction, or a target
scored against itself). **A NaN error** (non-finite predictions) stays NaN, never ``-inf``.
"""

from __future__ import annotations

import math

import torch  # noqa: F401 - the doctests use it
from torch import Tensor

__all__ = ["error_db", "power_db", "squared_error"]


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


def power_db(value: float) -> float:
    r"""A mean squared error in decibels, :math:`10\log_{10}` ``value``.

    ``0`` gives ``-inf`` and NaN gives NaN (see the module's note on zero error).

    Raises:
        ValueError: if ``value`` is negative.

    Example:
        >>> power_db(0.01), power_db(0.0)
        (-20.0, -inf)
    """
    value = float(value)
    if value < 0:
        raise ValueError(f"a squared error cannot be negative, got {value!r}.")
    if value == 0:
        return -math.inf
    return 10.0 * math.log10(value)  # NaN stays NaN, inf stays inf


def squared_error(pred: Tensor, true: Tensor) -> Tensor:
    r"""Mean over points of the squared Euclidean error, :math:`\frac1n\sum_i\|p_i - t_i\|^2`.

    The squared error is **summed** over the last (output) dimension and averaged over all the
    others; it is ``d`` times ``torch.nn.MSELoss()(pred, true)``.

    Args:
        pred: predicted field, shape ``(*, d)``.
        true: reference field, same shape.

    Returns:
        A 0-dim tensor (differentiable in ``pred``), dtype and device of the inputs.

    Example:
        >>> squared_error(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]]))
        tensor(5.)
    """
    _check_pair(pred, true)
    return (pred - true).square().sum(dim=-1).mean()


def error_db(pred: Tensor, true: Tensor) -> float:
    r"""The error in decibels, :math:`10\log_{10}\frac1n\sum_i\|p_i - t_i\|_2^2`.

    Summed over the :math:`d` output coordinates, averaged over points, not normalised; it is
    ``10 log10(torch.nn.MSELoss()(pred, true)) + 10 log10(d)``.

    Args:
        pred: predicted field :math:`N(x_i)`, shape ``(*, d)``.
        true: reference field :math:`\nabla F(x_i)`, same shape.

    Returns:
        The error in dB: ``-inf`` when ``pred`` equals ``true`` exactly, NaN when ``pred`` holds
        NaN.

    Raises:
        TypeError: if an input is not a tensor.
        ValueError: on a shape mismatch or an empty input.

    Example:
        >>> pred = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
        >>> round(error_db(pred, torch.zeros(2, 2)), 4)  # 10 log10((1 + 0) / 2)
        -3.0103
        >>> error_db(torch.zeros(2, 2), torch.zeros(2, 2))
        -inf
    """
    _check_pair(pred, true)
    return power_db(squared_error(pred.detach(), true.detach()))

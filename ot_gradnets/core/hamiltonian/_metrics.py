r"""Metrics for learned Hamiltonian dynamics.

Two conventions for the derivative error coexist in the literature; both are offered and every
result says which:

- **dB** (this library): :math:`10\log_{10}\big(\tfrac1N\sum_n \|\hat f(s_n) - f(s_n)\|_2^2\big)`,
  the squared error *summed over the state's coordinates*, averaged over points. It is the
  library's one dB error (:func:`ot_gradnets.core.fields.error_db`), with the same handling of
  a zero error (``-inf`` dB).
- **per-coordinate MSE** (HNN, ``torch.nn.MSELoss``): the same squared error *averaged* over the
  :math:`2n` coordinates, so ``dB = 10 log10(2n * mse)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch  # noqa: F401 - the doctests use it
from torch import Tensor

from ot_gradnets.core._metrics import error_db, power_db

__all__ = [
    "derivative_error_db",
    "derivative_mse",
    "mse_to_db",
    "energy_mse",
    "relative_energy_drift",
    "trajectory_error",
]


def _check_pair(pred: Tensor, target: Tensor, names: tuple[str, str]) -> None:
    if pred.shape != target.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape, got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}."
        )
    if pred.ndim == 0 or pred.numel() == 0:
        raise ValueError(f"{names[0]} must be a non-empty tensor of shape (*, dim).")


def derivative_error_db(pred: Tensor, target: Tensor) -> float:
    r"""Derivative error in dB: :math:`10\log_{10}\operatorname{mean}_n\|\hat f_n - f_n\|_2^2`.

    The squared error is summed over the last (state) dimension and averaged over all others;
    it is not normalised, so predicting zero scores :math:`10\log_{10} E\|f\|^2`. This is
    :func:`ot_gradnets.core.fields.error_db` under the names of this subpackage: an exact
    prediction scores ``-inf`` dB, a NaN prediction NaN.

    Example:
        >>> round(derivative_error_db(torch.zeros(4, 2), torch.full((4, 2), 0.1)), 4)
        -16.9897
    """
    return error_db(pred, target)


def derivative_mse(pred: Tensor, target: Tensor) -> float:
    r"""HNN's derivative MSE: squared error averaged over points *and* coordinates.

    Equals :math:`10^{\mathrm{dB}/10} / \mathrm{dim}`.

    Example:
        >>> round(derivative_mse(torch.zeros(4, 2), torch.full((4, 2), 0.1)), 6)
        0.01
    """
    _check_pair(pred, target, ("pred", "target"))
    return float(((pred - target) ** 2).mean())


def mse_to_db(mse: float, dim: int) -> float:
    """Convert a per-coordinate MSE to the summed-error dB of a ``dim``-D state.

    A zero MSE gives ``-inf``, as in :func:`derivative_error_db`.

    Example:
        >>> round(mse_to_db(2.82e-6, 8), 2)  # HNN's published two-body number
        -46.47
    """
    return power_db(dim * mse)


def energy_mse(hamiltonian: Callable[[Tensor], Tensor], rollout: Tensor, truth: Tensor) -> float:
    r"""HNN's energy MSE: :math:`\operatorname{mean}_{b,t}\big(H(\hat s_{b,t}) - H(s_{b,t})\big)^2`.

    The *true* energy is evaluated along the model's rollout and along the ground truth.

    Args:
        hamiltonian: the true :math:`H`, ``(*, dim) -> (*,)``.
        rollout: ``(B, T, dim)`` predicted trajectories.
        truth: ``(B, T, dim)`` ground truth from the same initial states.
    """
    _check_pair(rollout, truth, ("rollout", "truth"))
    return float(((hamiltonian(rollout) - hamiltonian(truth)) ** 2).mean())


def relative_energy_drift(hamiltonian: Callable[[Tensor], Tensor], rollout: Tensor) -> Tensor:
    r"""Relative energy drift :math:`|H(s_t) - H(s_0)| / |H(s_0)|` along each trajectory.

    Args:
        hamiltonian: an energy, ``(*, dim) -> (*,)``.
        rollout: ``(*, T, dim)`` trajectories, time on the second-to-last axis.

    Returns:
        ``(*, T)`` drifts (zero at ``t = 0``).

    Example:
        >>> traj = torch.tensor([[[1.0, 0.0], [0.0, 1.1]]])
        >>> relative_energy_drift(lambda s: (s * s).sum(-1), traj)
        tensor([[0.0000, 0.2100]])
    """
    if rollout.ndim < 2:
        raise ValueError(f"rollout must have shape (*, T, dim), got {tuple(rollout.shape)}.")
    energy = hamiltonian(rollout)
    e0 = energy[..., :1]
    return (energy - e0).abs() / e0.abs()


def trajectory_error(rollout: Tensor, truth: Tensor) -> Tensor:
    r"""Squared state error summed over coordinates and averaged over trajectories, per time.

    Args:
        rollout, truth: ``(B, T, dim)``.

    Returns:
        ``(T,)``: :math:`\operatorname{mean}_b \|\hat s_{b,t} - s_{b,t}\|_2^2`.
    """
    _check_pair(rollout, truth, ("rollout", "truth"))
    if rollout.ndim != 3:
        raise ValueError(f"rollout must have shape (B, T, dim), got {tuple(rollout.shape)}.")
    return ((rollout - truth) ** 2).sum(-1).mean(0)

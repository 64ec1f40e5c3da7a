r"""The linear (Gaussian, Bures) optimal map and the PSD matrix square root it is built on.

Used by the benchmark pairs (the Bures map of :class:`~ot_gradnets.transport.GaussianPair`), by
:class:`~ot_gradnets.transport.BrenierMap` (its linear start) and by the semi-dual loss (warm
starts of the conjugates), so it lives below all of them.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["gaussian_map", "gaussian_map_from_moments", "sqrtm_psd"]


def sqrtm_psd(a: Tensor) -> Tensor:
    """Symmetric square root of a symmetric PSD matrix (eigendecomposition; negative eigenvalues
    from rounding are clipped at 0)."""
    evals, evecs = torch.linalg.eigh(0.5 * (a + a.T))
    return (evecs * evals.clamp(min=0).sqrt()) @ evecs.T


def gaussian_map(x: Tensor, y: Tensor, reg: float = 1e-6) -> tuple[Tensor, Tensor]:
    r"""The linear (Gaussian, Bures) optimal map between the empirical moments of ``x`` and ``y``.

    With means :math:`m_x, m_y` and covariances :math:`\Sigma_x, \Sigma_y`,

    .. math::

        T(x) = m_y + A(x - m_x), \qquad
        A = \Sigma_x^{-1/2}\big(\Sigma_x^{1/2}\Sigma_y\Sigma_x^{1/2}\big)^{1/2}\Sigma_x^{-1/2},

    the optimal map between the two Gaussians with these moments (the same as POT's
    ``ot.gaussian.empirical_bures_wasserstein_mapping``), computed in float64. :math:`A` is
    symmetric positive definite, so :math:`T` is the gradient of a convex quadratic.

    Args:
        x: source samples ``(n, d)``.
        y: target samples ``(m, d)``.
        reg: ridge added to :math:`\Sigma_x` and :math:`\Sigma_y`, relative to each one's mean
            eigenvalue (a shrinkage towards isotropy that keeps :math:`A` invertible when a
            sample spans fewer directions than :math:`d`).

    Returns:
        ``(A, b)`` with :math:`T(x)` = ``x @ A + b`` (``A`` symmetric), in ``x``'s dtype.

    Example:
        >>> import torch
        >>> x = torch.randn(1000, 2, dtype=torch.float64)
        >>> A, b = gaussian_map(x, 3 * x + 1)
        >>> torch.allclose(A, 3 * torch.eye(2, dtype=torch.float64), atol=1e-4)
        True
    """
    x64, y64 = x.double(), y.double()
    mx, my = x64.mean(0), y64.mean(0)
    cx = torch.cov(x64.T).reshape(x.shape[1], x.shape[1])
    cy = torch.cov(y64.T).reshape(y.shape[1], y.shape[1])
    a, b = gaussian_map_from_moments(mx, cx, my, cy, reg)
    return a.to(x.dtype), b.to(x.dtype)


def gaussian_map_from_moments(
    mx: Tensor, cx: Tensor, my: Tensor, cy: Tensor, reg: float = 1e-6
) -> tuple[Tensor, Tensor]:
    r""":func:`gaussian_map` from the means and covariances themselves (for samples that are
    streamed rather than held in memory); ``(A, b)`` in the moments' dtype.

    Example:
        >>> import torch
        >>> eye, zero = torch.eye(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
        >>> A, b = gaussian_map_from_moments(zero, eye, zero + 1, 4 * eye, reg=0)
        >>> A.diagonal().tolist(), b.tolist()
        ([2.0, 2.0], [1.0, 1.0])
    """
    d = cx.shape[0]
    eye = torch.eye(d, dtype=cx.dtype, device=cx.device)
    cx = cx + reg * float(cx.trace()) / d * eye
    cy = cy + reg * float(cy.trace()) / d * eye
    evals, evecs = torch.linalg.eigh(cx)
    s = (evecs * evals.sqrt()) @ evecs.T
    s_inv = (evecs / evals.sqrt()) @ evecs.T
    a = s_inv @ sqrtm_psd(s @ cy @ s) @ s_inv
    a = 0.5 * (a + a.T)
    b = my - mx @ a
    return a, b

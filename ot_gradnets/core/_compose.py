r"""Building blocks that compose gradient networks: quadratic potentials and sums.

Sums of gradients are gradients of sums, and sums of convex potentials are convex, so
:class:`GradientSum` keeps both properties; :class:`QuadraticGradient` is the affine map
:math:`x \mapsto Ax + b` with :math:`A` PSD, the linear (Gaussian) part of a Brenier map.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ot_gradnets._validation import check_positive_int
from ot_gradnets.core._base import GradientNetwork


class QuadraticGradient(GradientNetwork):
    r"""Affine monotone map :math:`N(x) = Ax + b` with :math:`A = L^T L \succeq 0`.

    Potential :math:`F(x) = \tfrac12 x^T A x + b\cdot x`; Jacobian :math:`A` (constant).

    Args:
        dim: dimension :math:`d`.
        rank: rows of :math:`L` (``None``: ``dim``, a full-rank :math:`A`).

    Example:
        >>> q = QuadraticGradient(2)
        >>> q.set_affine(torch.tensor([[2.0, 1.0], [1.0, 2.0]]), torch.zeros(2))
        >>> q(torch.tensor([1.0, 0.0]))
        tensor([2.0000, 1.0000], grad_fn=<AddBackward0>)
    """

    is_monotone = True

    def __init__(self, dim: int, rank: int | None = None) -> None:
        super().__init__(dim)
        self.rank = self.dim if rank is None else check_positive_int(rank, "rank")
        self.L = nn.Parameter(torch.empty(self.rank, self.dim))
        self.b = nn.Parameter(torch.empty(self.dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Start at the identity map (:math:`A = I`, :math:`b = 0`) when full rank."""
        with torch.no_grad():
            self.L.zero_()
            k = min(self.rank, self.dim)
            self.L[:k, :k] = torch.eye(k)
            self.b.zero_()

    @torch.no_grad()
    def set_affine(self, A: Tensor, b: Tensor) -> None:
        """Set :math:`A` (symmetric PSD, ``(dim, dim)``) and :math:`b` (``(dim,)``).

        :math:`L` becomes the symmetric square root of :math:`A` (eigenvalues clipped at 0), so
        ``rank`` must equal ``dim``.
        """
        if self.rank != self.dim:
            raise ValueError(f"set_affine needs rank == dim, got rank={self.rank}, dim={self.dim}.")
        A = torch.as_tensor(A, dtype=self.L.dtype, device=self.L.device)
        if A.shape != (self.dim, self.dim):
            raise ValueError(f"A must have shape ({self.dim}, {self.dim}), got {tuple(A.shape)}.")
        evals, evecs = torch.linalg.eigh(0.5 * (A + A.T))
        self.L.copy_((evecs * evals.clamp(min=0).sqrt()) @ evecs.T)
        self.b.copy_(torch.as_tensor(b, dtype=self.b.dtype, device=self.b.device).reshape(self.dim))

    def matrix(self) -> Tensor:
        """:math:`A = L^T L`."""
        return self.L.T @ self.L

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return (x @ self.L.T) @ self.L + self.b

    def potential(self, x: Tensor) -> Tensor:
        self._check(x)
        lx = x @ self.L.T
        return 0.5 * (lx * lx).sum(-1) + x @ self.b

    def jacobian(self, x: Tensor) -> Tensor:
        self._check(x)
        return self.matrix().expand(*x.shape[:-1], self.dim, self.dim)

    def jvp(self, x: Tensor, v: Tensor) -> Tensor:
        return (v @ self.L.T) @ self.L

    def extra_repr(self) -> str:
        return f"dim={self.dim}, rank={self.rank}"


class GradientSum(GradientNetwork):
    r"""The sum :math:`N = \sum_j N_j` of gradient networks on the same dimension.

    Its potential is :math:`\sum_j F_j`, its Jacobian :math:`\sum_j J_j`; it is monotone when every
    term is, with strong convexity the sum of the terms'.

    Example:
        >>> from ot_gradnets.core import MGradNetM
        >>> net = GradientSum(MGradNetM(3, width=8), QuadraticGradient(3))
        >>> net.is_monotone, net(torch.randn(2, 3)).shape
        (True, torch.Size([2, 3]))
    """

    def __init__(self, *terms: GradientNetwork) -> None:
        if not terms:
            raise ValueError("GradientSum needs at least one network.")
        dims = {getattr(t, "dim", None) for t in terms}
        if len(dims) != 1 or None in dims:
            raise ValueError(
                f"GradientSum terms must share one dim, got dims {sorted(map(str, dims))}."
            )
        if not all(getattr(t, "is_gradient", False) for t in terms):
            raise ValueError("GradientSum terms must all be gradient networks (is_gradient=True).")
        self.is_monotone = all(t.is_monotone for t in terms)
        super().__init__(dims.pop())
        self.terms = nn.ModuleList(terms)
        # The terms already carry their own mu; this one reports the total for solvers.
        self.strong_convexity = float(sum(getattr(t, "strong_convexity", 0.0) for t in terms))

    def forward(self, x: Tensor) -> Tensor:
        return sum(t(x) for t in self.terms)  # type: ignore[return-value]

    def potential(self, x: Tensor) -> Tensor:
        return sum(t.potential(x) for t in self.terms)  # type: ignore[return-value]

    def jacobian(self, x: Tensor) -> Tensor:
        return sum(t.jacobian(x) for t in self.terms)  # type: ignore[return-value]

    def jvp(self, x: Tensor, v: Tensor) -> Tensor:
        return sum(t.jvp(x, v) for t in self.terms)  # type: ignore[return-value]

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class StandardizedGradient(GradientNetwork):
    r"""A gradient network fitted in standardised coordinates, read in the data's own.

    With source and target means :math:`m_x, m_y`, a common scale :math:`s > 0` and an
    orthonormal basis :math:`U \in \mathbb{R}^{d\times r}` of the directions in which the data
    vary (:math:`P_\perp = I - UU^T` projects onto the others), the inner network
    :math:`N'` on :math:`\mathbb{R}^r` defines

    .. math::

        N(x) = m_y + s\,U N'\big(U^T(x - m_x)/s\big) + P_\perp (x - m_x),

    the gradient of
    :math:`F(x) = s^2 F'\big(U^T(x - m_x)/s\big) + \tfrac12|P_\perp(x - m_x)|^2 + m_y\cdot x`,
    with Jacobian :math:`J_N(x) = U J_{N'}(z) U^T + P_\perp`. Translations of either distribution
    and a common scaling leave quadratic-cost optimal transport equivariant, so this is how
    :class:`~ot_gradnets.transport.BrenierMap` fits on unit-scale data whatever the data's scale,
    and maps the directions in which neither sample varies (constant or collinear columns,
    :math:`d > n`) by the identity shift. ``N`` is monotone when ``N'`` is; it is strongly
    convex when ``N'`` is (with :math:`\min(\mu', 1)` if :math:`r < d`).

    Args:
        inner: the gradient network :math:`N'` on :math:`\mathbb{R}^r`.
        source_mean, target_mean: :math:`m_x, m_y`, shape ``(d,)``.
        scale: :math:`s`.
        basis: :math:`U`, shape ``(d, r)`` with orthonormal columns; ``None``: :math:`U = I`
            (:math:`r = d`).

    Example:
        >>> inner = QuadraticGradient(1)
        >>> basis = torch.tensor([[1.0], [0.0]])  # the data vary along the first axis only
        >>> net = StandardizedGradient(inner, torch.zeros(2), torch.tensor([0.0, 5.0]), 2.0, basis)
        >>> net(torch.tensor([3.0, 1.0]))  # identity map on the first axis, shift on the second
        tensor([3., 6.], grad_fn=<AddBackward0>)
    """

    def __init__(
        self,
        inner: GradientNetwork,
        source_mean: Tensor,
        target_mean: Tensor,
        scale: float,
        basis: Tensor | None = None,
    ) -> None:
        dim = int(source_mean.shape[-1])
        inner_dim = dim if basis is None else int(basis.shape[1])
        if getattr(inner, "dim", None) != inner_dim:
            raise ValueError(
                f"inner network has dim={getattr(inner, 'dim', None)}, expected {inner_dim} "
                "(the number of basis columns)."
            )
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale!r}.")
        self.is_monotone = bool(getattr(inner, "is_monotone", False))
        super().__init__(dim)
        self.inner = inner
        ref = torch.as_tensor(source_mean)
        self.register_buffer("source_mean", ref.detach().clone())
        self.register_buffer("target_mean", torch.as_tensor(target_mean).detach().clone().to(ref))
        self.register_buffer("scale", torch.tensor(float(scale), dtype=ref.dtype))
        self.register_buffer("basis", None if basis is None else basis.detach().clone().to(ref))
        mu = float(getattr(inner, "strong_convexity", 0.0))
        self.strong_convexity = mu if basis is None or inner_dim == dim else min(mu, 1.0)

    def to_inner(self, x: Tensor) -> Tensor:
        r"""Source points in the inner network's coordinates, :math:`z = U^T(x - m_x)/s`."""
        z = (x - self.source_mean) / self.scale
        return z if self.basis is None else z @ self.basis

    def target_to_inner(self, y: Tensor) -> Tensor:
        r"""Target points in the inner coordinates, :math:`U^T(y - m_y)/s`."""
        z = (y - self.target_mean) / self.scale
        return z if self.basis is None else z @ self.basis

    def _lift(self, v: Tensor) -> Tensor:
        return v if self.basis is None else v @ self.basis.T

    def _perp(self, v: Tensor) -> Tensor:
        """:math:`P_\\perp v` (zero when :math:`U` spans everything)."""
        if self.basis is None or self.basis.shape[1] == self.dim:
            return torch.zeros_like(v)
        return v - (v @ self.basis) @ self.basis.T

    def from_inner(self, z: Tensor, y: Tensor) -> Tensor:
        r"""The source point with inner coordinates ``z`` whose complement part maps to ``y``'s:
        :math:`m_x + sUz + P_\perp(y - m_y)` (how an inverse is lifted back)."""
        return self.source_mean + self.scale * self._lift(z) + self._perp(y - self.target_mean)

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        centred = x - self.source_mean
        out = self.target_mean + self.scale * self._lift(self.inner(self.to_inner(x)))
        return out + self._perp(centred)

    def potential(self, x: Tensor) -> Tensor:
        self._check(x)
        perp = self._perp(x - self.source_mean)
        out = self.scale**2 * self.inner.potential(self.to_inner(x))
        return out + 0.5 * (perp * perp).sum(-1) + x @ self.target_mean

    def jacobian(self, x: Tensor) -> Tensor:
        self._check(x)
        jac = self.inner.jacobian(self.to_inner(x))
        if self.basis is None:
            return jac
        eye = torch.eye(self.dim, dtype=x.dtype, device=x.device)
        proj = self.basis @ self.basis.T
        return self.basis @ jac @ self.basis.T + (eye - proj)

    def jvp(self, x: Tensor, v: Tensor) -> Tensor:
        inner_v = v if self.basis is None else v @ self.basis
        return self._lift(self.inner.jvp(self.to_inner(x), inner_v)) + self._perp(v)

    def logdet_jacobian(self, x: Tensor) -> Tensor:
        # J = U J' U^T + P_perp is block diagonal in the basis [U, U_perp]: log det J = log det J'
        self._check(x)
        return self.inner.logdet_jacobian(self.to_inner(x))

    def extra_repr(self) -> str:
        rank = self.dim if self.basis is None else self.basis.shape[1]
        return f"dim={self.dim}, inner_dim={rank}, scale={float(self.scale):.4g}"

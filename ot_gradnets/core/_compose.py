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

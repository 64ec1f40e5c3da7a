"""The interface every network of :mod:`ot_gradnets.core` implements."""

from __future__ import annotations

import abc

import torch
from torch import Tensor, nn

from ot_gradnets._validation import check_last_dim, check_nonnegative_float, check_positive_int


class GradientNetwork(nn.Module, abc.ABC):
    r"""Abstract base: a map :math:`N:\mathbb{R}^d\to\mathbb{R}^d` with :math:`N = \nabla F`.

    Subclasses implement :meth:`forward` (the gradient :math:`N(x) = \nabla F(x)`),
    :meth:`potential` (:math:`F(x)`) and :meth:`jacobian` (:math:`J_N(x) = \nabla^2 F(x)`), all
    on inputs of shape ``(*, dim)``. Monotone networks (``is_monotone = True``) have a convex
    potential and a positive semidefinite Jacobian, and also offer :meth:`logdet_jacobian`.

    Attributes:
        dim: input and output dimension :math:`d`.
        is_monotone: whether the Jacobian is PSD by construction (:math:`F` convex).
        is_gradient: whether the network is the gradient of :meth:`potential` (always true for
            gradient networks; false for the :class:`MLPField` baseline).
        strong_convexity: :math:`\mu\ge 0`; monotone networks add :math:`\mu x` to the output,
            :math:`\mu|x|^2/2` to the potential and :math:`\mu I` to the Jacobian.
    """

    is_monotone: bool = False
    is_gradient: bool = True

    def __init__(self, dim: int, strong_convexity: float = 0.0) -> None:
        super().__init__()
        self.dim = check_positive_int(dim, "dim")
        mu = check_nonnegative_float(strong_convexity, "strong_convexity")
        if mu > 0 and not self.is_monotone:
            raise ValueError(
                f"strong_convexity={strong_convexity!r} needs a monotone network; "
                f"{type(self).__name__} is not monotone."
            )
        self.strong_convexity = mu

    # -- interface ---------------------------------------------------------------------------
    @abc.abstractmethod
    def forward(self, x: Tensor) -> Tensor:
        """The gradient field :math:`N(x) = \\nabla F(x)`, shape ``(*, dim)``."""

    @abc.abstractmethod
    def potential(self, x: Tensor) -> Tensor:
        """The potential :math:`F(x)`, shape ``(*,)``, with :math:`\\nabla F = N`."""

    @abc.abstractmethod
    def jacobian(self, x: Tensor) -> Tensor:
        """The Jacobian :math:`J_N(x)`, shape ``(*, dim, dim)``."""

    def jvp(self, x: Tensor, v: Tensor) -> Tensor:
        r"""Jacobian-vector product :math:`J_N(x) v` (symmetric, so also :math:`v^T J_N(x)`).

        The default builds the Jacobian; subclasses override it with a matrix-free closed form.

        Shape:
            x, v: ``(*, dim)``; output ``(*, dim)``.
        """
        return (self.jacobian(x) @ v.unsqueeze(-1)).squeeze(-1)

    def logdet_jacobian(self, x: Tensor) -> Tensor:
        r""":math:`\log\det J_N(x)`, shape ``(*,)`` (monotone networks only).

        The default is a Cholesky factorisation of the closed-form Jacobian (PSD by construction;
        a tiny jitter relative to its trace keeps singular Jacobians finite only when
        ``strong_convexity == 0``). It is ``-inf``-free only where :math:`J_N(x)` is positive
        definite.
        """
        if not self.is_monotone:
            raise NotImplementedError(
                f"{type(self).__name__} is not monotone: its Jacobian may be indefinite, so "
                "log det J is not defined. Use torch.linalg.slogdet(net.jacobian(x))."
            )
        return torch.linalg.slogdet(self.jacobian(x))[1]

    # -- helpers -----------------------------------------------------------------------------
    def _check(self, x: Tensor) -> None:
        check_last_dim(x, self.dim)

    def _strong(self, x: Tensor, out: Tensor) -> Tensor:
        """Add :math:`\\mu x` to a field (no-op, and no graph node, when :math:`\\mu = 0`)."""
        return out + self.strong_convexity * x if self.strong_convexity else out

    def _strong_potential(self, x: Tensor, out: Tensor) -> Tensor:
        if not self.strong_convexity:
            return out
        return out + 0.5 * self.strong_convexity * (x * x).sum(-1)

    def _strong_jacobian(self, jac: Tensor) -> Tensor:
        if not self.strong_convexity:
            return jac
        eye = torch.eye(self.dim, dtype=jac.dtype, device=jac.device)
        return jac + self.strong_convexity * eye

    def extra_repr(self) -> str:
        s = f"dim={self.dim}"
        if self.strong_convexity:
            s += f", strong_convexity={self.strong_convexity}"
        return s

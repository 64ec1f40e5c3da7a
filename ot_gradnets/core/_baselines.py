r"""Baselines with the gradient networks' interface: ICNN, MLP potential, MLP field.

Here only the *potential* (ICNN, :class:`PotentialMLP`) or only the *field* (:class:`MLPField`) is
a network; everything else comes from automatic differentiation:

=================  =====================  =========================  ======================
model              ``potential``          ``forward``                ``jacobian``
=================  =====================  =========================  ======================
ICNN               exact (the network)    autograd (exact)           autograd Hessian
PotentialMLP       exact (the network)    autograd (exact)           autograd Hessian
MLPField           none (a VectorField)   exact (the network)        autograd Jacobian
=================  =====================  =========================  ======================

Gradients are taken with :func:`torch.func.grad`, which composes with ``vmap``/``jacrev`` and with
ordinary ``backward`` to the parameters (the double backward pass that gradient networks avoid).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ot_gradnets._registry import check_choice
from ot_gradnets._validation import check_positive_int
from ot_gradnets.core._base import GradientNetwork, VectorField

_FIELD_ACTIVATIONS = {"tanh": torch.tanh, "softplus": F.softplus, "relu": F.relu, "silu": F.silu}


def _activation(name: str) -> str:
    return check_choice(name, _FIELD_ACTIVATIONS, "activation")


class _AutogradPotential(GradientNetwork):
    """A network that defines F; the field and the Hessian come from torch.func."""

    def _potential(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def potential(self, x: Tensor) -> Tensor:
        self._check(x)
        return self._potential(x)

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        # F(x) sums over the batch in grad's eyes: samples do not interact, so its gradient
        # with respect to the batch is the batch of gradients.
        return torch.func.grad(lambda y: self._potential(y).sum())(x)

    def jacobian(self, x: Tensor) -> Tensor:
        self._check(x)
        flat = x.reshape(-1, self.dim)
        hess = torch.func.vmap(torch.func.hessian(self._potential))(flat)
        return hess.reshape(*x.shape, self.dim)


class ICNN(_AutogradPotential):
    r"""Input-convex neural network potential (Amos, Xu, Kolter 2017); field by autograd.

    .. math::

        z_1 = \mathrm{sp}(A_0 x + b_0),\quad
        z_{l+1} = \mathrm{sp}(W_l^{+} z_l + A_l x + b_l),\quad
        F(x) = w^{+}\cdot z_L + a\cdot x + \tfrac{\mu}{2}|x|^2,

    with non-negative :math:`W_l^+ = \mathrm{sp}(\tilde W_l)`, :math:`w^+ = \mathrm{sp}(\tilde w)` and
    the convex non-decreasing softplus, so :math:`F` is convex.

    Args:
        dim: input dimension.
        width: hidden width.
        depth: number of hidden layers.
        strong_convexity: :math:`\mu \ge 0`.

    References:
        Amos, Xu, Kolter, "Input convex neural networks", ICML 2017, arXiv:1609.07152.

    Example:
        >>> net = ICNN(2, width=8, depth=2)
        >>> net(torch.randn(3, 2)).shape
        torch.Size([3, 2])
    """

    is_monotone = True

    def __init__(
        self, dim: int, width: int = 64, depth: int = 2, strong_convexity: float = 0.0
    ) -> None:
        super().__init__(dim, strong_convexity)
        self.width = check_positive_int(width, "width")
        self.depth = check_positive_int(depth, "depth")
        self.A = nn.ModuleList(nn.Linear(self.dim, self.width) for _ in range(self.depth))
        self.Wz = nn.ParameterList(
            nn.Parameter(torch.empty(self.width, self.width)) for _ in range(self.depth - 1)
        )
        self.w = nn.Parameter(torch.empty(self.width))
        self.a = nn.Parameter(torch.empty(self.dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            for lin in self.A:
                lin.reset_parameters()
            # sp(raw) ~ 1/width keeps the hidden activations of order one through the depth.
            raw = math.log(math.expm1(1.0 / self.width))
            for wz in self.Wz:
                wz.normal_(raw, 0.1)
            self.w.normal_(raw, 0.1)
            self.a.zero_()

    def _potential(self, x: Tensor) -> Tensor:
        z = F.softplus(self.A[0](x))
        for layer in range(1, self.depth):
            z = F.softplus(z @ F.softplus(self.Wz[layer - 1]).T + self.A[layer](x))
        return self._strong_potential(x, z @ F.softplus(self.w) + x @ self.a)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, width={self.width}, depth={self.depth}"


class PotentialMLP(_AutogradPotential):
    r"""Unconstrained MLP potential :math:`F:\mathbb{R}^d\to\mathbb{R}`; field by autograd (HNN idea).

    Args:
        dim: input dimension.
        width: hidden width.
        depth: number of hidden layers.
        activation: ``"tanh"`` (default), ``"softplus"``, ``"relu"`` or ``"silu"``.

    References:
        Greydanus, Dzamba, Yosinski, "Hamiltonian neural networks", NeurIPS 2019, arXiv:1906.01563.

    Example:
        >>> net = PotentialMLP(4, width=16, depth=2)
        >>> net.potential(torch.randn(3, 4)).shape
        torch.Size([3])
    """

    def __init__(self, dim: int, width: int = 64, depth: int = 2, activation: str = "tanh") -> None:
        super().__init__(dim)
        self.width = check_positive_int(width, "width")
        self.depth = check_positive_int(depth, "depth")
        self.activation = _activation(activation)
        sizes = [self.dim] + [self.width] * self.depth
        self.hidden = nn.ModuleList(
            nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.out = nn.Linear(self.width, 1, bias=False)  # a constant in F carries no gradient

    def _potential(self, x: Tensor) -> Tensor:
        act = _FIELD_ACTIVATIONS[self.activation]
        for lin in self.hidden:
            x = act(lin(x))
        return self.out(x)[..., 0]

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, width={self.width}, depth={self.depth}, "
            f"activation={self.activation!r}"
        )


class MLPField(VectorField):
    r"""Unconstrained MLP field :math:`\mathbb{R}^d\to\mathbb{R}^d` (not a gradient: no potential).

    A :class:`~ot_gradnets.core.VectorField` but not a
    :class:`~ot_gradnets.core.GradientNetwork`: it has no ``potential``, ``is_gradient`` is
    false, and its Jacobian (by autograd) is in general not symmetric.

    Args:
        dim: input and output dimension.
        width: hidden width.
        depth: number of hidden layers.
        activation: ``"tanh"`` (default), ``"softplus"``, ``"relu"`` or ``"silu"``.

    Example:
        >>> MLPField(3, width=8)(torch.randn(2, 3)).shape
        torch.Size([2, 3])
    """

    def __init__(self, dim: int, width: int = 64, depth: int = 2, activation: str = "tanh") -> None:
        super().__init__(dim)
        self.width = check_positive_int(width, "width")
        self.depth = check_positive_int(depth, "depth")
        self.activation = _activation(activation)
        sizes = [self.dim] + [self.width] * self.depth
        self.hidden = nn.ModuleList(
            nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.out = nn.Linear(self.width, self.dim)

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        act = _FIELD_ACTIVATIONS[self.activation]
        for lin in self.hidden:
            x = act(lin(x))
        return self.out(x)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, width={self.width}, depth={self.depth}, "
            f"activation={self.activation!r}"
        )

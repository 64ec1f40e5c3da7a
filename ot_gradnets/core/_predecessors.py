r"""The ICASSP 2023 monotone gradient networks, C-MGN and M-MGN (Chaudhari, Pranav, Moura).

Both add a PSD linear term :math:`V^T V x` to a sandwiched nonlinearity; they are the predecessors
of mGradNet-C and mGradNet-M and are offered as variants and baselines.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ot_gradnets._validation import check_positive_int
from ot_gradnets.core._activations import Activation, log_cosh, make_activation
from ot_gradnets.core._base import GradientNetwork, sandwich
from ot_gradnets.core._cascaded import ridge_quadrature


class CMGN(GradientNetwork):
    r"""Cascaded monotone gradient network (C-MGN, ICASSP 2023).

    .. math::

        z_0 = Wx + b_0,\quad z_l = Wx + \sigma_l(z_{l-1}) + b_l,\quad
        N(x) = W^T\sigma_L(z_{L-1}) + V^T V x + b_L,

    with monotone elementwise :math:`\sigma_l` (shared :math:`W`), so
    :math:`J_N = W^T\mathrm{diag}(D)W + V^TV` with :math:`\Delta_0 = 1`,
    :math:`\Delta_l = 1 + \sigma_l'(z_{l-1})\Delta_{l-1}`, :math:`D = \sigma_L'(z_{L-1})\Delta_{L-1}`.
    The potential is :math:`\tfrac12|Vx|^2 + b_L\cdot x + \sum_i\int_0^{w_i\cdot x} g_i`, by
    Gauss-Legendre quadrature as for :class:`MGradNetC`.

    Args:
        dim: dimension :math:`d`.
        width: rows of :math:`W`.
        depth: number of activations :math:`L`.
        activation: monotone elementwise activation name or instance.
        rank: rows of :math:`V` (default ``dim``).

    References:
        Chaudhari, Pranav, Moura, "Learning gradients of convex functions with monotone gradient
        networks", ICASSP 2023, arXiv:2301.10862.

    Example:
        >>> net = CMGN(3, width=6, depth=2)
        >>> net(torch.randn(4, 3)).shape
        torch.Size([4, 3])
    """

    is_monotone = True

    def __init__(
        self,
        dim: int,
        width: int = 64,
        depth: int = 3,
        activation: str | Activation = "tanh",
        rank: int | None = None,
    ) -> None:
        super().__init__(dim)
        self.width = check_positive_int(width, "width")
        self.depth = check_positive_int(depth, "depth")
        self.rank = self.dim if rank is None else check_positive_int(rank, "rank")
        self.activation_name = activation if isinstance(activation, str) else "custom"
        self.activations = nn.ModuleList(
            make_activation(activation, (self.width,), True, elementwise=True)
            for _ in range(self.depth)
        )
        self.W = nn.Parameter(torch.empty(self.width, self.dim))
        self.b = nn.Parameter(torch.empty(self.depth, self.width))
        self.V = nn.Parameter(torch.empty(self.rank, self.dim))
        self.c = nn.Parameter(torch.empty(self.dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.dim)
        with torch.no_grad():
            nn.init.uniform_(self.W, -bound, bound)
            nn.init.uniform_(self.b, -1.0, 1.0)
            nn.init.uniform_(self.V, -bound, bound)
            self.c.zero_()

    def _g(self, u: Tensor) -> Tensor:
        z = u + self.b[0]
        for layer in range(1, self.depth):
            z = u + self.activations[layer - 1](z) + self.b[layer]
        return self.activations[-1](z)

    def _sharpness(self) -> float:
        bound = 1.0  # |dz_l/du| <= 1 + sup|s'| * bound, z_0 = u + b_0
        for act in self.activations[:-1]:
            bound = 1.0 + float(torch.as_tensor(act.derivative_bound()).amax()) * bound
        return bound

    def _diag(self, u: Tensor) -> Tensor:
        z = u + self.b[0]
        delta = torch.ones_like(z)
        for layer in range(1, self.depth):
            act = self.activations[layer - 1]
            delta = 1.0 + act.derivative(z) * delta
            z = u + act(z) + self.b[layer]
        return self.activations[-1].derivative(z) * delta

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return self._g(x @ self.W.T) @ self.W + (x @ self.V.T) @ self.V + self.c

    def potential(self, x: Tensor) -> Tensor:
        self._check(x)
        u = x @ self.W.T
        nodes, weights = ridge_quadrature(u, self._sharpness())
        g = self._g(u.unsqueeze(-2) * nodes.unsqueeze(-1))
        ridge = (u * (weights.unsqueeze(-1) * g).sum(-2)).sum(-1)
        vx = x @ self.V.T
        return ridge + 0.5 * (vx * vx).sum(-1) + x @ self.c

    def jacobian(self, x: Tensor) -> Tensor:
        self._check(x)
        return sandwich(self.W, self._diag(x @ self.W.T)) + self.V.T @ self.V

    def jvp(self, x: Tensor, v: Tensor) -> Tensor:
        self._check(x)
        return (self._diag(x @ self.W.T) * (v @ self.W.T)) @ self.W + (v @ self.V.T) @ self.V

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, width={self.width}, depth={self.depth}, rank={self.rank}, "
            f"activation={self.activation_name!r}"
        )


class MMGN(GradientNetwork):
    r"""Modular monotone gradient network (M-MGN, ICASSP 2023).

    .. math::

        N(x) = a + V^TVx + \sum_k s(z_k)\,W_k^T\nabla s(z_k),\qquad z_k = W_k x + b_k,

    with the convex, non-negative :math:`s(z) = \sum_j \log\cosh z_j` (so :math:`\nabla s = \tanh`).
    It is the gradient of :math:`F(x) = a\cdot x + \tfrac12|Vx|^2 + \tfrac12\sum_k s(z_k)^2`, whose
    Hessian :math:`V^TV + \sum_k W_k^T(\nabla s\nabla s^T + s\,\nabla^2 s)W_k` is PSD.

    Args:
        dim: dimension :math:`d`.
        width: rows of each :math:`W_k`.
        num_modules: number of modules.
        rank: rows of :math:`V` (default ``dim``).

    Example:
        >>> net = MMGN(3, width=4, num_modules=2)
        >>> net.jacobian(torch.randn(5, 3)).shape
        torch.Size([5, 3, 3])
    """

    is_monotone = True

    def __init__(
        self, dim: int, width: int = 64, num_modules: int = 4, rank: int | None = None
    ) -> None:
        super().__init__(dim)
        self.width = check_positive_int(width, "width")
        self.num_modules = check_positive_int(num_modules, "num_modules")
        self.rank = self.dim if rank is None else check_positive_int(rank, "rank")
        self.W = nn.Parameter(torch.empty(self.num_modules, self.width, self.dim))
        self.b = nn.Parameter(torch.empty(self.num_modules, self.width))
        self.V = nn.Parameter(torch.empty(self.rank, self.dim))
        self.a = nn.Parameter(torch.empty(self.dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.dim)
        with torch.no_grad():
            # Small W_k: s(z) grows quadratically in W, and N cubically.
            nn.init.uniform_(self.W, -bound / math.sqrt(self.width), bound / math.sqrt(self.width))
            nn.init.uniform_(self.b, -bound, bound)
            nn.init.uniform_(self.V, -bound, bound)
            self.a.zero_()

    def _z(self, x: Tensor) -> Tensor:
        return torch.einsum("...d,kmd->...km", x, self.W) + self.b

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        z = self._z(x)
        s = log_cosh(z).sum(-1, keepdim=True)
        field = torch.einsum("...km,kmd->...d", s * torch.tanh(z), self.W)
        return self.a + (x @ self.V.T) @ self.V + field

    def potential(self, x: Tensor) -> Tensor:
        self._check(x)
        s = log_cosh(self._z(x)).sum(-1)
        vx = x @ self.V.T
        return x @ self.a + 0.5 * (vx * vx).sum(-1) + 0.5 * (s * s).sum(-1)

    def jacobian(self, x: Tensor) -> Tensor:
        self._check(x)
        z = self._z(x)
        t = torch.tanh(z)
        s = log_cosh(z).sum(-1, keepdim=True)
        diag = (s * (1.0 - t * t)).flatten(-2)
        wt = torch.einsum("...km,kmd->...kd", t, self.W)
        jac = sandwich(self.W.reshape(-1, self.dim), diag)
        jac = jac + torch.einsum("...ki,...kj->...ij", wt, wt)
        return jac + self.V.T @ self.V

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, width={self.width}, num_modules={self.num_modules}, rank={self.rank}"
        )

r"""Activations that know their own potentials.

Every activation :math:`\sigma` offered here is the gradient of a known function, so that a network
built from it has an *exact* potential:

* **elementwise** activations :math:`\sigma:\mathbb{R}\to\mathbb{R}` know their derivative
  :math:`\sigma'` and an antiderivative :math:`S` with :math:`S' = \sigma`; as vector maps their
  potential is :math:`\psi(z) = \sum_j S(z_j)` and their Jacobian is :math:`\mathrm{diag}\,\sigma'(z)`;
* **vector** activations :math:`\sigma = \nabla\psi` (softmax is the gradient of log-sum-exp) know
  :math:`\psi` and a Jacobian of the form *diagonal plus a few rank-one terms*.

Both kinds expose :meth:`Activation.jacobian_factors`, which returns that structure,
``(diag, [(coef, u), ...])`` with :math:`J_\sigma(z) = \mathrm{diag}(diag) + \sum_r coef_r\,u_r u_r^T`,
so that the networks build :math:`W^T J_\sigma W` with matrix products instead of autograd.

A *monotone* activation (non-decreasing elementwise, convex :math:`\psi` for vector ones) keeps
every Jacobian PSD; learnable weights of the monotone versions pass through softplus.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ot_gradnets._registry import lookup
from ot_gradnets.core._quadrature import gauss_legendre

Factors = tuple[Tensor, list[tuple[Tensor, Tensor]]]


def log_cosh(z: Tensor) -> Tensor:
    r"""Numerically stable :math:`\log\cosh z = |z| + \log(1 + e^{-2|z|}) - \log 2`."""
    a = z.abs()
    return a + torch.log1p(torch.exp(-2.0 * a)) - math.log(2.0)


_PI2_12 = math.pi**2 / 12.0


def softplus_integral(z: Tensor) -> Tensor:
    r"""Antiderivative of softplus, :math:`S(z) = \int_0^z \log(1 + e^t)\,dt = -\mathrm{Li}_2(-e^z) - \pi^2/12`.

    PyTorch has no dilogarithm, so we split :math:`\mathrm{softplus}(t) = \max(t, 0) +
    \log(1 + e^{-|t|})` and integrate the second part, :math:`\Phi(a) = \int_0^a \log(1 + e^{-t})dt`,
    by 20-point Gauss-Legendre for :math:`a \le 2` (integrand analytic in a wide strip: error far
    below float64 epsilon) and by the alternating series :math:`\pi^2/12 - \sum_k (-1)^{k+1}
    e^{-ka}/k^2` (30 terms, remainder below :math:`e^{-60}`) for :math:`a > 2`.
    """
    a = z.abs()
    small = a.clamp(max=2.0)
    nodes, weights = gauss_legendre(20, dtype=z.dtype, device=z.device)
    t = small.unsqueeze(-1) * nodes
    phi_small = small * (torch.log1p(torch.exp(-t)) * weights).sum(-1)
    big = a.clamp(min=2.0)
    k = torch.arange(1, 31, dtype=z.dtype, device=z.device)
    signs = 1.0 - 2.0 * ((k - 1) % 2)
    phi_big = _PI2_12 - (signs * torch.exp(-big.unsqueeze(-1) * k) / (k * k)).sum(-1)
    phi = torch.where(a <= 2.0, phi_small, phi_big)
    return 0.5 * F.relu(z) ** 2 + torch.sign(z) * phi


def _positive(raw: Tensor, monotone: bool) -> Tensor:
    return F.softplus(raw) if monotone else raw


class Activation(nn.Module):
    """Base class: an activation :math:`\\sigma = \\nabla\\psi` with its potential and Jacobian."""

    elementwise: bool = True
    #: True when the activation is monotone for every value of its parameters.
    is_monotone: bool = True
    #: True when :math:`\psi` depends on :math:`|z|` only (a bump around :math:`z = 0`).
    radial: bool = False

    def potential(self, z: Tensor) -> Tensor:
        """:math:`\\psi(z)`, summed over the last dimension: shape ``z.shape[:-1]``."""
        return self.antiderivative(z).sum(-1)

    def jacobian_factors(self, z: Tensor) -> Factors:
        """``(diag, [(coef, u), ...])`` with :math:`J = diag(diag) + \\sum coef\\, u u^T`."""
        return self.derivative(z), []

    def derivative(self, z: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} is not elementwise.")

    def derivative_bound(self) -> Tensor | float:
        r"""An upper bound on :math:`|\sigma'|` (elementwise activations; sizes quadratures)."""
        return 1.0

    def antiderivative(self, z: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} is not elementwise.")


class Tanh(Activation):
    r""":math:`\tanh z`; derivative :math:`1 - \tanh^2 z`; antiderivative :math:`\log\cosh z`."""

    def forward(self, z: Tensor) -> Tensor:
        return torch.tanh(z)

    def derivative(self, z: Tensor) -> Tensor:
        return 1.0 - torch.tanh(z) ** 2

    def antiderivative(self, z: Tensor) -> Tensor:
        return log_cosh(z)


class Softplus(Activation):
    r""":math:`\log(1 + e^z)`; derivative the sigmoid; antiderivative :func:`!softplus_integral`."""

    def forward(self, z: Tensor) -> Tensor:
        return F.softplus(z)

    def derivative(self, z: Tensor) -> Tensor:
        return torch.sigmoid(z)

    def antiderivative(self, z: Tensor) -> Tensor:
        return softplus_integral(z)


class Sigmoid(Activation):
    r""":math:`1/(1 + e^{-z})`; derivative :math:`\sigma(1-\sigma)`; antiderivative softplus."""

    def forward(self, z: Tensor) -> Tensor:
        return torch.sigmoid(z)

    def derivative(self, z: Tensor) -> Tensor:
        s = torch.sigmoid(z)
        return s * (1.0 - s)

    def antiderivative(self, z: Tensor) -> Tensor:
        return F.softplus(z)

    def derivative_bound(self) -> float:
        return 0.25


class Sin(Activation):
    r""":math:`\sin z` (not monotone: for GradNets only); antiderivative :math:`-\cos z`."""

    is_monotone = False

    def forward(self, z: Tensor) -> Tensor:
        return torch.sin(z)

    def derivative(self, z: Tensor) -> Tensor:
        return torch.cos(z)

    def antiderivative(self, z: Tensor) -> Tensor:
        return -torch.cos(z)


class WeightedTanh(Activation):
    r"""Learnable :math:`a\tanh z + b\,(z - \tanh z)` (tanh plus tanhshrink; Chaudhari et al.).

    The monotone version uses :math:`a = \mathrm{sp}(\tilde a), b = \mathrm{sp}(\tilde b)`, so the
    derivative :math:`a(1 - \tanh^2 z) + b\tanh^2 z` is non-negative; the signed version uses the
    raw weights. Antiderivative :math:`a\log\cosh z + b(z^2/2 - \log\cosh z)`.

    Args:
        shape: shape of the weights (broadcast against the pre-activations).
        monotone: pass the weights through softplus.
    """

    def __init__(self, shape: Sequence[int] = (), monotone: bool = True) -> None:
        super().__init__()
        self.monotone = monotone
        self.is_monotone = monotone
        self.a = nn.Parameter(torch.empty(tuple(shape)))
        self.b = nn.Parameter(torch.empty(tuple(shape)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Start at tanh(z) + 0.1 tanhshrink(z): saturating, yet with a linear tail.
        with torch.no_grad():
            if self.monotone:
                self.a.fill_(math.log(math.e - 1.0))  # sp^-1(1)
                self.b.fill_(math.log(math.exp(0.1) - 1.0))  # sp^-1(0.1)
            else:
                self.a.fill_(1.0)
                self.b.fill_(0.1)

    def _weights(self) -> tuple[Tensor, Tensor]:
        return _positive(self.a, self.monotone), _positive(self.b, self.monotone)

    def forward(self, z: Tensor) -> Tensor:
        a, b = self._weights()
        t = torch.tanh(z)
        return a * t + b * (z - t)

    def derivative(self, z: Tensor) -> Tensor:
        a, b = self._weights()
        t2 = torch.tanh(z) ** 2
        return a * (1.0 - t2) + b * t2

    def antiderivative(self, z: Tensor) -> Tensor:
        a, b = self._weights()
        lc = log_cosh(z)
        return a * lc + b * (0.5 * z * z - lc)

    def derivative_bound(self) -> Tensor:
        a, b = self._weights()
        return torch.maximum(a.abs(), b.abs()).detach()

    def extra_repr(self) -> str:
        return f"shape={tuple(self.a.shape)}, monotone={self.monotone}"


class Softmax(Activation):
    r""":math:`\mathrm{softmax}(z) = \nabla\,\mathrm{LSE}(z)`; Jacobian :math:`\mathrm{diag}(p) - pp^T`."""

    elementwise = False

    def forward(self, z: Tensor) -> Tensor:
        return torch.softmax(z, dim=-1)

    def potential(self, z: Tensor) -> Tensor:
        return torch.logsumexp(z, dim=-1)

    def jacobian_factors(self, z: Tensor) -> Factors:
        p = torch.softmax(z, dim=-1)
        return p, [(-torch.ones_like(p[..., :1]), p)]


class WeightedSoftmax(Activation):
    r"""Learnable :math:`a\,\mathrm{softmax}(z) - b\,\mathrm{softmin}(z)` (Chaudhari et al.).

    The gradient of :math:`\psi(z) = a\,\mathrm{LSE}(z) + b\,\mathrm{LSE}(-z)`, convex when
    :math:`a, b \ge 0` (monotone version: softplus of raw weights). With :math:`p =
    \mathrm{softmax}(z)` and :math:`q = \mathrm{softmax}(-z)` the Jacobian is
    :math:`a(\mathrm{diag}\,p - pp^T) + b(\mathrm{diag}\,q - qq^T)`.

    Args:
        shape: shape of the weights, e.g. ``(num_modules, 1)`` to give each module its own pair.
        monotone: pass the weights through softplus.
    """

    elementwise = False

    def __init__(self, shape: Sequence[int] = (), monotone: bool = True) -> None:
        super().__init__()
        self.monotone = monotone
        self.is_monotone = monotone
        self.a = nn.Parameter(torch.empty(tuple(shape)))
        self.b = nn.Parameter(torch.empty(tuple(shape)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            if self.monotone:
                self.a.fill_(math.log(math.e - 1.0))
                self.b.fill_(math.log(math.e - 1.0))
            else:
                self.a.fill_(1.0)
                self.b.fill_(1.0)

    def _weights(self) -> tuple[Tensor, Tensor]:
        return _positive(self.a, self.monotone), _positive(self.b, self.monotone)

    def forward(self, z: Tensor) -> Tensor:
        a, b = self._weights()
        return a * torch.softmax(z, dim=-1) - b * torch.softmax(-z, dim=-1)

    def potential(self, z: Tensor) -> Tensor:
        a, b = self._weights()
        lse = torch.logsumexp(z, dim=-1, keepdim=True)
        lse_neg = torch.logsumexp(-z, dim=-1, keepdim=True)
        return (a * lse + b * lse_neg)[..., 0]

    def jacobian_factors(self, z: Tensor) -> Factors:
        a, b = self._weights()
        p = torch.softmax(z, dim=-1)
        q = torch.softmax(-z, dim=-1)
        ones = torch.ones_like(p[..., :1])
        return a * p + b * q, [(-a * ones, p), (-b * ones, q)]

    def extra_repr(self) -> str:
        return f"shape={tuple(self.a.shape)}, monotone={self.monotone}"


class InverseMultiquadric(Activation):
    r"""The radial :math:`\sigma(z) = z\,(1 + |z|^2)^{-3/2} = \nabla\psi(z)`, :math:`\psi(z) = -(1 + |z|^2)^{-1/2}`.

    :math:`-\psi` is the inverse multiquadric of radial-basis-function interpolation and the
    Plummer-softened Coulomb potential: in a module :math:`(\alpha/\beta)\,\psi(\beta(Wx + b))`
    it is a bump of width :math:`1/\beta` around the points where :math:`Wx + b = 0`, and it
    tends to :math:`-\alpha/(\beta^2|Wx + b|)` far from them, so a few modules of small width
    express singular attractions (gravity, electrostatics) and a sum of many of them is a
    radial-basis-function expansion of the potential. Not monotone: the radial curvature
    :math:`(1 - 2|z|^2)(1 + |z|^2)^{-5/2}` is negative beyond :math:`|z| = 1/\sqrt 2` (GradNets
    only). The Jacobian is :math:`(1 + |z|^2)^{-3/2} I - 3(1 + |z|^2)^{-5/2} zz^T`.
    ``GradNetM.init_from_data`` centres such modules on the samples.

    Example:
        >>> act = InverseMultiquadric()
        >>> z = torch.tensor([[3.0, 4.0]])
        >>> act.potential(z), act(z)
        (tensor([-0.1961]), tensor([[0.0226, 0.0302]]))
    """

    elementwise = False
    is_monotone = False
    radial = True

    @staticmethod
    def _shell(z: Tensor) -> Tensor:
        return 1.0 + (z * z).sum(-1, keepdim=True)

    def forward(self, z: Tensor) -> Tensor:
        return z * self._shell(z) ** -1.5

    def potential(self, z: Tensor) -> Tensor:
        return -self._shell(z)[..., 0].rsqrt()

    def jacobian_factors(self, z: Tensor) -> Factors:
        shell = self._shell(z)
        return (shell**-1.5).expand_as(z), [(-3.0 * shell**-2.5, z)]


def _plain(cls: type[Activation]) -> Callable[[Sequence[int], bool], Activation]:
    return lambda shape, monotone: cls()


#: Registry of activation names: ``name -> factory(shape, monotone)``.
ACTIVATIONS: dict[str, Callable[[Sequence[int], bool], Activation]] = {
    "tanh": _plain(Tanh),
    "softplus": _plain(Softplus),
    "sigmoid": _plain(Sigmoid),
    "sin": _plain(Sin),
    "weighted-tanh": lambda shape, monotone: WeightedTanh(shape, monotone),
    "softmax": _plain(Softmax),
    "weighted-softmax": lambda shape, monotone: WeightedSoftmax(shape, monotone),
    "inverse-multiquadric": _plain(InverseMultiquadric),
}


def make_activation(
    name: str | Activation, shape: Sequence[int], monotone: bool, elementwise: bool = False
) -> Activation:
    """Build the activation called ``name`` (or check an instance) for a network.

    Raises:
        ValueError: on an unknown name, a non-monotone activation in a monotone network, or a
            vector activation where an elementwise one is required.
    """
    if isinstance(name, Activation):
        act = name
    else:
        act = lookup(ACTIVATIONS, name, "activation", " or an Activation instance")(shape, monotone)
    if monotone and not act.is_monotone:
        raise ValueError(
            f"activation {name!r} is not monotone, so it cannot be used in a monotone network; "
            f"choose one of {sorted(k for k, f in ACTIVATIONS.items() if f((), True).is_monotone)}."
        )
    if elementwise and not act.elementwise:
        raise ValueError(
            f"activation {name!r} is a vector activation; cascaded networks need an elementwise "
            "one such as 'tanh', 'softplus', 'sigmoid' or 'weighted-tanh'."
        )
    return act

r"""Modular gradient networks: GradNet-M and mGradNet-M (Chaudhari, Pranav, Moura 2025).

:math:`M` modules, each a vector activation :math:`\sigma_k = \nabla\psi_k` sandwiched between
:math:`W_k` and :math:`W_k^T`:

.. math::

    N(x) = c + \sum_k \alpha_k W_k^T \sigma_k\big(\beta_k (W_k x + b_k)\big),\qquad
    F(x) = c\cdot x + \sum_k \frac{\alpha_k}{\beta_k}\,\psi_k\big(\beta_k(W_k x + b_k)\big),

.. math::

    J_N(x) = \sum_k \alpha_k\beta_k\, W_k^T J_{\sigma_k}\big(\beta_k(W_k x + b_k)\big) W_k,

with :math:`\beta_k = \mathrm{sp}(\tilde\beta_k) > 0` an inverse temperature. mGradNet-M takes
:math:`\alpha_k = \mathrm{sp}(\tilde\alpha_k) \ge 0` and convex :math:`\psi_k` (softmax, the gradient
of log-sum-exp, by default), so :math:`F` is convex; GradNet-M takes signed :math:`\alpha_k`, which
makes it a universal approximator of gradients of smooth functions (differences of convex ones).
The potential is exact, in closed form.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ot_gradnets._validation import as_samples, check_nonnegative_float, check_positive_int
from ot_gradnets.core._activations import Activation, make_activation
from ot_gradnets.core._base import GradientNetwork, sandwich


def _draw_indices(n: int, k: int, generator: torch.Generator | None) -> Tensor:
    """``k`` row indices of ``n``: without replacement when ``n >= k``, else with replacement."""
    device = generator.device if generator is not None else torch.device("cpu")
    if n >= k:
        return torch.randperm(n, generator=generator, device=device)[:k]
    return torch.randint(n, (k,), generator=generator, device=device)


class _Modular(GradientNetwork):
    """Shared machinery of the modular networks (private; the public classes are final)."""

    def __init__(
        self,
        dim: int,
        width: int,
        num_modules: int,
        activation: str | Activation,
        strong_convexity: float,
    ) -> None:
        super().__init__(dim, strong_convexity)
        self.width = check_positive_int(width, "width")
        self.num_modules = check_positive_int(num_modules, "num_modules")
        self.activation = make_activation(activation, (self.num_modules, 1), self.is_monotone)
        self.activation_name = activation if isinstance(activation, str) else "custom"
        self.W = nn.Parameter(torch.empty(self.num_modules, self.width, self.dim))
        self.b = nn.Parameter(torch.empty(self.num_modules, self.width))
        self.alpha = nn.Parameter(torch.empty(self.num_modules))
        self.beta = nn.Parameter(torch.empty(self.num_modules))
        self.c = nn.Parameter(torch.empty(self.dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform :math:`W_k, b_k` like ``nn.Linear``; unit temperatures and weights."""
        bound = 1.0 / math.sqrt(self.dim)
        with torch.no_grad():
            nn.init.uniform_(self.W, -bound, bound)
            nn.init.uniform_(self.b, -bound, bound)
            one = math.log(math.e - 1.0)  # sp^-1(1)
            self.beta.fill_(one)
            self.alpha.fill_(one if self.is_monotone else 1.0)
            if not self.is_monotone:  # signed weights: start as a difference of convex parts
                self.alpha.uniform_(-1.0, 1.0)
            self.c.zero_()
        if hasattr(self.activation, "reset_parameters"):
            self.activation.reset_parameters()

    @torch.no_grad()
    def init_from_data(
        self,
        x: Tensor,
        temperature: float | None = None,
        generator: torch.Generator | None = None,
    ) -> _Modular:
        r"""Place every unit on the data: the *tangent-plane* initialisation (in place).

        With the samples standardised, :math:`\tilde x = (x - \bar x)/s` (:math:`s` the root
        mean per-coordinate standard deviation), module :math:`k` draws ``width`` centres
        :math:`p_{kj}` among the rows of :math:`\tilde x` and sets
        :math:`W_k = P_k / s`, :math:`b_{kj} = -p_{kj}\cdot\bar x / s - |p_{kj}|^2/2` and
        :math:`\beta_k = 1/\tau`, so that

        .. math::

            z_{kj} = \beta_k (W_k x + b_k)_j = \frac{|\tilde x|^2 - |\tilde x - p_{kj}|^2}{2\tau}.

        The softmax of module :math:`k` is then the soft nearest-centre assignment of
        :math:`\tilde x` (Gaussian responsibilities of variance :math:`\tau`), and its potential
        :math:`\tau\,\mathrm{LSE}(z_k)` is a smoothed maximum of the tangent planes of
        :math:`|\tilde x|^2/2` at the centres. Each unit leads on the Voronoi cell of its centre,
        so none starts unused (:meth:`reset_parameters` ignores the data: on the 2-D benchmark's
        [0,1]^2, 2.3 of a module's 7 units lead anywhere, on average). The squared distances
        between standardised points grow like :math:`d`, and their differences like
        :math:`\sqrt d`, so the default :math:`\tau = \sqrt{d/2}` keeps the assignment about
        as soft in any dimension as at :math:`\tau = 1` in the plane. The weights
        :math:`\alpha_k`, the bias :math:`c` and the activation's own parameters are left as they
        are. It is designed for the softmax family (``"softmax"``, ``"weighted-softmax"``).

        With a *radial* activation (``"inverse-multiquadric"``, whose potential is a bump around
        :math:`z = 0`) each module is instead centred on one sample :math:`x_k` (drawn without
        replacement when ``n >= num_modules``): the rows of :math:`W_k` keep their random
        directions, projected onto the span of the centred samples (so that a module is
        constant along directions in which the data never vary), at length :math:`1/s`,
        :math:`b_k = -W_k x_k` and :math:`\beta_k = 1/\tau`
        (default :math:`\tau = 1`), so module :math:`k` is a bump of about the data's spread
        around :math:`x_k`, as the centres of a radial-basis-function network are placed; the
        signed weights are divided by :math:`\sqrt M`, which keeps the sum of :math:`M` bumps
        at the scale of one.

        Args:
            x: samples of the inputs, ``(n, dim)``; ``n >= width`` draws the centres of a module
                without replacement.
            temperature: :math:`\tau > 0`; default :math:`\sqrt{d/2}` (radial activations: 1).
            generator: source of randomness for the choice of centres.

        Returns:
            The network itself.

        Example:
            >>> net = MGradNetM(2, width=7, num_modules=4)
            >>> x = torch.rand(1000, 2)
            >>> _ = net.init_from_data(x, generator=torch.Generator().manual_seed(0))
            >>> z = torch.einsum("nd,kmd->nkm", x, net.W) + net.b  # W_k x + b_k: (1000, 4, 7)
            >>> [len(z[:, k].argmax(-1).unique()) for k in range(4)]  # units that lead somewhere
            [7, 7, 7, 7]
        """
        x = as_samples(x, "x", dim=self.dim, dtype=self.W.dtype, device=self.W.device)
        radial = getattr(self.activation, "radial", False)
        default = 1.0 if radial else math.sqrt(self.dim / 2)
        tau = check_nonnegative_float(
            default if temperature is None else temperature, "temperature"
        )
        if tau == 0:
            raise ValueError("temperature must be positive.")
        mean = x.mean(0)
        scale = float(x.var(0, correction=0).mean().sqrt()) if len(x) > 1 else 1.0
        scale = scale if scale > 0 else 1.0
        n = len(x)
        if radial:
            self._centre_radial_modules(x, scale, generator)
            self._set_temperature(tau)
            return self
        xs = (x - mean) / scale
        for k in range(self.num_modules):
            p = xs[_draw_indices(n, self.width, generator).to(xs.device)]
            self.W[k] = p / scale
            self.b[k] = -(p @ mean) / scale - 0.5 * (p * p).sum(-1)
        self._set_temperature(tau)
        return self

    def _set_temperature(self, tau: float) -> None:
        # beta = sp(raw) = 1 / tau: raw = y + log(1 - e^-y), stable for any y > 0
        y = 1.0 / tau
        self.beta.fill_(y + math.log(-math.expm1(-y)))

    def _centre_radial_modules(
        self, x: Tensor, scale: float, generator: torch.Generator | None
    ) -> None:
        """Radial modules: bump ``k`` around a sample, rows of length ``1/scale``, weights /sqrt(M)."""
        m = self.num_modules
        centres = x[_draw_indices(len(x), m, generator).to(x.device)]  # (M, d)
        # Directions in which the samples never vary carry no information about the target: the
        # rows start inside the samples' span, so each bump starts constant along the others.
        # (On two-body, whose orbits fill a 4-D subspace of R^8, this is what keeps the learned
        # rollouts on that subspace: benchmarks/hamiltonian_two_body_drift.py.)
        xc = (x - x.mean(0)).double()
        evals, evecs = torch.linalg.eigh(xc.T @ xc)
        span = evecs[:, evals > 1e-8 * evals.max()] if bool(evals.max() > 0) else evecs
        span = span.to(self.W.dtype)
        rows = self.W @ span @ span.T
        rows = rows / rows.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(rows.dtype).tiny)
        self.W.copy_(rows / scale)
        self.b.copy_(-torch.einsum("kwd,kd->kw", self.W, centres))
        self.alpha.div_(math.sqrt(m))  # radial activations are signed: GradNet-M only

    def _scales(self) -> tuple[Tensor, Tensor]:
        alpha = F.softplus(self.alpha) if self.is_monotone else self.alpha
        return alpha, F.softplus(self.beta)

    def _fold(self, x: Tensor) -> bool:
        """Whether to fold the scales into ``W`` (cheaper when the batch is larger than ``d``)."""
        return x[..., 0].numel() >= self.dim

    def _preactivation(self, x: Tensor) -> Tensor:
        """:math:`z_k = \\beta_k (W_k x + b_k)`, shape ``(*, M, width)``."""
        _, beta = self._scales()
        if self._fold(x):  # one matrix product with beta_k folded into the weights and bias
            w = (beta.view(-1, 1, 1) * self.W).reshape(-1, self.dim)
            bias = (beta.unsqueeze(-1) * self.b).reshape(-1)
            return F.linear(x, w, bias).unflatten(-1, self.b.shape)
        u = F.linear(x, self.W.reshape(-1, self.dim), self.b.reshape(-1)).unflatten(
            -1, self.b.shape
        )
        return beta.unsqueeze(-1) * u

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        alpha, _ = self._scales()
        s = self.activation(self._preactivation(x))
        if self._fold(x):
            w_out = (alpha.view(-1, 1, 1) * self.W).reshape(-1, self.dim)
        else:
            s, w_out = alpha.unsqueeze(-1) * s, self.W.reshape(-1, self.dim)
        return self._strong(x, s.flatten(-2) @ w_out + self.c)

    def potential(self, x: Tensor) -> Tensor:
        r"""Closed form :math:`c\cdot x + \sum_k (\alpha_k/\beta_k)\psi_k(z_k)` (+ :math:`\mu|x|^2/2`)."""
        self._check(x)
        alpha, beta = self._scales()
        psi = self.activation.potential(self._preactivation(x))  # (*, M)
        return self._strong_potential(x, (psi * (alpha / beta)).sum(-1) + x @ self.c)

    def _factors(self, x: Tensor) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        """Jacobian factors scaled by :math:`\\alpha_k\\beta_k`, rank-one vectors mapped by W^T."""
        alpha, beta = self._scales()
        scale = alpha * beta  # (M,)
        diag, rank_one = self.activation.jacobian_factors(self._preactivation(x))
        diag = diag * scale.unsqueeze(-1)
        terms = []
        for coef, u in rank_one:
            coef = torch.broadcast_to(coef, u.shape[:-1] + (1,))[..., 0] * scale  # (*, M)
            terms.append((coef, torch.einsum("...km,kmd->...kd", u, self.W)))
        return diag, terms

    def jacobian(self, x: Tensor) -> Tensor:
        r""":math:`\sum_k \alpha_k\beta_k W_k^T J_{\sigma_k} W_k` (+ :math:`\mu I`), by matrix products."""
        self._check(x)
        diag, terms = self._factors(x)
        jac = sandwich(self.W.reshape(-1, self.dim), diag.flatten(-2))
        for coef, v in terms:
            jac = jac + torch.einsum("...k,...ki,...kj->...ij", coef, v, v)
        return self._strong_jacobian(jac)

    def jvp(self, x: Tensor, v: Tensor) -> Tensor:
        """Matrix-free :math:`J_N(x) v` (+ :math:`\\mu v`)."""
        self._check(x)
        diag, terms = self._factors(x)
        w = self.W.reshape(-1, self.dim)
        wv = (v @ w.T).unflatten(-1, self.b.shape)
        out = (diag * wv).flatten(-2) @ w
        for coef, u in terms:
            out = out + torch.einsum("...k,...kd->...d", coef * (u * v.unsqueeze(-2)).sum(-1), u)
        return out + self.strong_convexity * v if self.strong_convexity else out

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, width={self.width}, num_modules={self.num_modules}, "
            f"activation={self.activation_name!r}"
        )


class MGradNetM(_Modular):
    r"""Monotone modular gradient network (mGradNet-M): the gradient of a convex function.

    .. math::

        N(x) = c + \mu x + \sum_k \alpha_k W_k^T \sigma_k\big(\beta_k(W_k x + b_k)\big),\qquad
        F(x) = c\cdot x + \frac{\mu}{2}|x|^2 + \sum_k \frac{\alpha_k}{\beta_k}\psi_k\big(\beta_k(W_k x + b_k)\big),

    with :math:`\alpha_k = \mathrm{sp}(\tilde\alpha_k)`, :math:`\beta_k = \mathrm{sp}(\tilde\beta_k)` and
    convex :math:`\psi_k` (``"softmax"``: :math:`\psi = \mathrm{LSE}`), so :math:`J_N \succeq \mu I`.

    Args:
        dim: input/output dimension :math:`d`.
        width: rows :math:`m` of each :math:`W_k`.
        num_modules: number of modules :math:`M`.
        activation: ``"softmax"`` (default), ``"weighted-softmax"``, any monotone elementwise
            name, or an :class:`Activation`.
        strong_convexity: :math:`\mu \ge 0`.

    Shape:
        input ``(*, dim)``; ``forward`` ``(*, dim)``; ``potential`` ``(*,)``; ``jacobian``
        ``(*, dim, dim)``.

    References:
        Chaudhari, Pranav, Moura, "Gradient Networks", IEEE TSP 73 (2025), arXiv:2404.07361.

    Example:
        >>> net = MGradNetM(2, width=7, num_modules=4)
        >>> sum(p.numel() for p in net.parameters())
        94
        >>> x = torch.randn(5, 2)
        >>> bool((torch.linalg.eigvalsh(net.jacobian(x)) > -1e-6).all())
        True
    """

    is_monotone = True

    def __init__(
        self,
        dim: int,
        width: int = 64,
        num_modules: int = 4,
        activation: str | Activation = "softmax",
        strong_convexity: float = 0.0,
    ) -> None:
        super().__init__(dim, width, num_modules, activation, strong_convexity)


class GradNetM(_Modular):
    r"""Modular gradient network (GradNet-M): the gradient of a smooth, possibly non-convex function.

    The same modules as :class:`MGradNetM` with signed weights :math:`\alpha_k \in \mathbb{R}`, so
    :math:`F` is a difference of convex functions; activations may be non-monotone.

    Args:
        dim: input/output dimension.
        width: rows of each :math:`W_k`.
        num_modules: number of modules.
        activation: any activation name or instance (``"softmax"`` by default).

    Example:
        >>> net = GradNetM(3, width=5, num_modules=2)
        >>> x = torch.randn(4, 3, requires_grad=True)
        >>> g, = torch.autograd.grad(net.potential(x).sum(), x)
        >>> bool(torch.allclose(g, net(x), atol=1e-6))
        True
    """

    is_monotone = False

    def __init__(
        self,
        dim: int,
        width: int = 64,
        num_modules: int = 4,
        activation: str | Activation = "softmax",
    ) -> None:
        super().__init__(dim, width, num_modules, activation, 0.0)

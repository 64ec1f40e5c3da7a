r"""Benchmark pairs with a Gaussian-mixture source and a closed-form convex potential.

The source is a Gaussian mixture :math:`P` and the exact optimal map is the gradient of a random,
strongly convex potential :math:`\psi` known in closed form, so :math:`Q = \nabla\psi_\# P`:

* :func:`gmm_convex_pair`: a quadratic, a smoothed maximum of random convex quadratics and a
  random input-convex network;
* :func:`gmm_icnn_pair`: a random max-out input-convex network with quadratic skip connections,
  modelled on the ``Mix3toMix10`` pairs of Korotin et al. (2021).

:mod:`ot_gradnets.transport._pairs` holds the registry (:data:`PAIRS`, :func:`make_pair`) and
documents the families.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from ot_gradnets._validation import check_positive_int
from ot_gradnets.transport._pair_base import (
    TransportPair,
    _monte_carlo_variance,
    _random_covariance,
    _random_rotation,
)

__all__ = ["GMMConvexPair", "GMMICNNPair", "gmm_convex_pair", "gmm_icnn_pair"]


def _random_mixture(
    dim: int, n_components: int, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """Equal weights, means ~ N(0, I) and covariances with eigenvalues log-uniform in [1/4, 1]."""
    means = torch.randn(n_components, dim, generator=generator, dtype=torch.float64)
    covs = torch.stack([_random_covariance(dim, generator, 0.25, 1.0) for _ in range(n_components)])
    weights = torch.full((n_components,), 1.0 / n_components, dtype=torch.float64)
    return weights, means, covs


# ---------------------------------------------------------------------------------------------
# Gaussian mixture pushed through a random convex gradient
# ---------------------------------------------------------------------------------------------


def _icnn_parts(
    x: Tensor, w1: Tensor, b1: Tensor, u: Tensor, w2: Tensor, b2: Tensor, a: Tensor
) -> tuple[Tensor, Tensor]:
    """Potential and closed-form gradient of the two-layer softplus ICNN."""
    s1 = x @ w1.T + b1
    s2 = F.softplus(s1) @ u.T + x @ w2.T + b2
    g2 = a * torch.sigmoid(s2)  # d phi / d s2
    grad = g2 @ w2 + ((g2 @ u) * torch.sigmoid(s1)) @ w1
    return F.softplus(s2) @ a, grad


def _smoothmax_parts(
    x: Tensor, mats: Tensor, shifts: Tensor, temperature: float
) -> tuple[Tensor, Tensor]:
    """Potential and gradient of ``tau * LSE_k(q_k(x) / tau)``, ``q_k = x.A_k x / 2 + c_k.x``."""
    ax = torch.einsum("kij,...j->...ki", mats, x)  # A_k x, shape (*, K, d)
    q = 0.5 * (ax * x.unsqueeze(-2)).sum(-1) + x @ shifts.T  # (*, K)
    pot = temperature * torch.logsumexp(q / temperature, dim=-1)
    p = torch.softmax(q / temperature, dim=-1)
    grad = (p.unsqueeze(-1) * (ax + shifts)).sum(-2)
    return pot, grad


@dataclass(frozen=True, eq=False)
class _MixtureSourcePair(TransportPair):
    r"""Abstract base of the pairs whose source is a Gaussian mixture and whose map is the
    gradient of a closed-form potential :math:`\psi` (``_parts`` returns both).

    Attributes:
        weights, means, covs: mixture weights ``(K,)``, means ``(K, d)``, covariances
            ``(K, d, d)`` (float64, CPU).
        strong_convexity: :math:`\mu`, the quadratic part of :math:`\psi`.
    """

    weights: Tensor
    means: Tensor
    covs: Tensor
    strong_convexity: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "_chols", torch.linalg.cholesky(self.covs))
        object.__setattr__(self, "_target_variance", None)

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    def _sample_source64(self, n: int, generator: torch.Generator | None) -> Tensor:
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        x = torch.empty_like(z)
        for c in range(self.weights.shape[0]):  # one matrix product per component
            rows = k == c
            x[rows] = self.means[c] + z[rows] @ self._chols[c].T
        return x

    @abc.abstractmethod
    def _parts(self, x: Tensor) -> tuple[Tensor, Tensor]:
        r""":math:`(\psi(x), \nabla\psi(x))` in ``x``'s dtype and device."""

    def potential(self, x: Tensor) -> Tensor:
        r"""The convex potential :math:`\psi(x)`, shape ``(*,)``, dtype and device of ``x``."""
        return self._parts(x)[0]

    def transport(self, x: Tensor) -> Tensor:
        return self._parts(x)[1]

    def target_variance(self) -> float:
        """Monte Carlo estimate of the summed per-dimension target variance: 100,000 float64
        samples from a seed fixed by the pair (computed once, then cached); the relative standard
        error is below 1% for these targets."""
        if self._target_variance is None:
            object.__setattr__(self, "_target_variance", _monte_carlo_variance(self))
        return self._target_variance


@dataclass(frozen=True, eq=False)
class GMMConvexPair(_MixtureSourcePair):
    r"""Gaussian-mixture source pushed through the gradient of a known convex potential.

    Source: :math:`P = \sum_{k=1}^K \pi_k N(\mu_k, \Sigma_k)`. Potential, a sum of a quadratic and
    two random convex functions,

    .. math::

        \psi(x) = \frac{\mu}{2}|x|^2
                  + \tau \log\sum_{k=1}^{M} \exp\!\Big(\frac{q_k(x)}{\tau}\Big)
                  + a^\top \operatorname{sp}\!\big(U \operatorname{sp}(W_1 x + b_1)
                  + W_2 x + b_2\big),
        \qquad q_k(x) = \tfrac12 x^\top A_k x + c_k^\top x,

    a smoothed maximum of :math:`M` random convex quadratics (:math:`A_k \succeq 0`; convex
    because log-sum-exp is convex and non-decreasing in each argument) and a two-layer
    input-convex network (Amos et al., 2017) with softplus :math:`\operatorname{sp}`,
    :math:`U \ge 0`, :math:`a \ge 0`. :math:`\psi` is :math:`\mu`-strongly convex, so
    :math:`T^\star = \nabla\psi` is a bijection and the target :math:`Q = T^\star_\# P` has a
    density. The exact optimal map (Brenier) in closed form:

    .. math::

        T^\star(x) = \mu x + \sum_k p_k(x)\,(A_k x + c_k)
                     + W_2^\top g + W_1^\top\big(\sigma(W_1x + b_1) \odot U^\top g\big),

    with :math:`p(x) = \operatorname{softmax}(q(x)/\tau)`, :math:`g = a\odot\sigma(s_2)`,
    :math:`s_2` the ICNN's second pre-activation and :math:`\sigma` the logistic function.
    The smoothed maximum sends the regions where different quadratics dominate through different
    affine maps, which splits and shears the mixture components: the map is far from affine.

    Build one with :func:`gmm_convex_pair`.

    Attributes:
        weights, means, covs: mixture weights ``(K,)``, means ``(K, d)``, covariances
            ``(K, d, d)`` (float64, CPU).
        strong_convexity: :math:`\mu`.
        quad_mats, quad_shifts, temperature: :math:`A_k` ``(M, d, d)``, :math:`c_k` ``(M, d)``,
            :math:`\tau`.
        icnn: the ICNN's parameters ``(W1, b1, U, W2, b2, a)`` (float64, CPU).
    """

    quad_mats: Tensor
    quad_shifts: Tensor
    temperature: float
    icnn: tuple[Tensor, ...]
    sample_dtype: torch.dtype = torch.get_default_dtype()
    sample_device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    variance_seed: int = 0
    name: str = field(init=False, default="gmm-convex")

    def _parts(self, x: Tensor) -> tuple[Tensor, Tensor]:
        def cast(t: Tensor) -> Tensor:
            return t.to(dtype=x.dtype, device=x.device)

        pot = 0.5 * self.strong_convexity * (x * x).sum(-1)
        grad = self.strong_convexity * x
        p1, g1 = _smoothmax_parts(x, cast(self.quad_mats), cast(self.quad_shifts), self.temperature)
        p2, g2 = _icnn_parts(x, *(cast(t) for t in self.icnn))
        return pot + p1 + p2, grad + g1 + g2


def _random_icnn(
    dim: int, width: int, generator: torch.Generator, input_scale: float, gain: float
) -> tuple[Tensor, ...]:
    """Parameters of a random two-layer softplus ICNN (see :class:`GMMConvexPair`).

    Rows of ``W1``/``W2`` are uniform on the sphere of radius ``input_scale``, so the
    pre-activations of unit-variance inputs have variance about ``input_scale**2`` in any
    dimension; ``U >= 0`` averages ``width`` first-layer units; ``a >= 0`` sums to
    ``gain * dim / input_scale**2``, which keeps the Hessian of order ``gain`` in any dimension.
    """

    def sphere(rows: int) -> Tensor:
        w = torch.randn(rows, dim, generator=generator, dtype=torch.float64)
        return input_scale * w / w.norm(dim=1, keepdim=True)

    w1 = sphere(width)
    b1 = torch.randn(width, generator=generator, dtype=torch.float64)
    u = torch.rand(width, width, generator=generator, dtype=torch.float64) * (2.0 / width)
    w2 = sphere(width)
    b2 = torch.randn(width, generator=generator, dtype=torch.float64) - 1.0
    a = torch.rand(width, generator=generator, dtype=torch.float64)
    a = a * (gain * dim / (input_scale**2 * a.sum()))
    return (w1, b1, u, w2, b2, a)


def gmm_convex_pair(
    dim: int,
    n_components: int = 3,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> GMMConvexPair:
    r"""A Gaussian-mixture source and its image under a random convex gradient (exact map).

    Source: ``n_components`` equally weighted Gaussians with means :math:`\mu_k \sim N(0, I_d)`
    and covariances with eigenvalues log-uniform in :math:`[1/4, 1]` and Haar-random
    eigenvectors. Potential (see :class:`GMMConvexPair`): :math:`\mu = 0.2`; :math:`M = 8`
    quadratics with :math:`A_k` of eigenvalues log-uniform in :math:`[0.1, 2]`,
    :math:`c_k \sim N(0, 4 I_d)`, temperature :math:`\tau = 0.5\sqrt d` (the spread of
    :math:`q_k(x)` grows like :math:`\sqrt d`); an ICNN of width :math:`\max(2d, 32)` with unit
    first-layer rows and a Hessian of order 1.

    The map is far from affine yet well conditioned: the best Gaussian (affine) map fitted to
    large samples scores an L2-UVP of about 6% at :math:`d=2`, 10% at 8, 18% at 32 and 26% at
    64 and 128 (seed 0), and the Jacobian's eigenvalues stay within :math:`[0.4, 55]` with median
    about 1 (200 source points, seed 0, all benchmark dimensions).

    Args:
        dim: dimension :math:`d`.
        n_components: number of mixture components :math:`K`.
        generator: CPU ``torch.Generator`` the parameters are drawn from.
        dtype: dtype of drawn samples (default ``torch.get_default_dtype()``).
        device: device of drawn samples (default CPU).

    Example:
        >>> import torch
        >>> pair = gmm_convex_pair(2, generator=torch.Generator().manual_seed(0))
        >>> pair.sample_target(4, generator=torch.Generator().manual_seed(1)).shape
        torch.Size([4, 2])
    """
    dim = check_positive_int(dim, "dim")
    n_components = check_positive_int(n_components, "n_components")
    if generator is None:
        generator = torch.Generator().manual_seed(int(torch.randint(2**62, ()).item()))
    weights, means, covs = _random_mixture(dim, n_components, generator)
    n_quad = 8
    quad_mats = torch.stack([_random_covariance(dim, generator, 0.1, 2.0) for _ in range(n_quad)])
    quad_shifts = 2.0 * torch.randn(n_quad, dim, generator=generator, dtype=torch.float64)
    icnn = _random_icnn(dim, max(2 * dim, 32), generator, input_scale=1.0, gain=1.0)
    variance_seed = int(torch.randint(2**31 - 1, (), generator=generator).item())
    return GMMConvexPair(
        weights,
        means,
        covs,
        0.2,
        quad_mats,
        quad_shifts,
        0.5 * math.sqrt(dim),
        icnn,
        sample_dtype=dtype or torch.get_default_dtype(),
        sample_device=torch.device(device or "cpu"),
        variance_seed=variance_seed,
    )


# ---------------------------------------------------------------------------------------------
# Gaussian mixture pushed through a random max-out ICNN with quadratic skip connections
# ---------------------------------------------------------------------------------------------


def _maxout_icnn_parts(
    x: Tensor,
    w1: Tensor,
    b1: Tensor,
    u: Tensor,
    w2: Tensor,
    b2: Tensor,
    v: Tensor,
    c: Tensor,
    beta: Tensor,
    temperature: float,
) -> tuple[Tensor, Tensor]:
    """Potential and closed-form gradient of the max-out ICNN of :class:`GMMICNNPair`."""
    s1 = x @ w1.T + b1
    vx = x @ v.T + c
    s2 = F.softplus(s1) @ u.T + x @ w2.T + b2 + 0.5 * beta * vx * vx
    pot = temperature * torch.logsumexp(s2 / temperature, dim=-1)
    p = torch.softmax(s2 / temperature, dim=-1)  # d pot / d s2
    grad = p @ w2 + (p * beta * vx) @ v + ((p @ u) * torch.sigmoid(s1)) @ w1
    return pot, grad


@dataclass(frozen=True, eq=False)
class GMMICNNPair(_MixtureSourcePair):
    r"""Gaussian-mixture source pushed through the gradient of a random max-out ICNN.

    Source: :math:`P = \sum_{k=1}^K \pi_k N(\mu_k, \Sigma_k)`. Potential, a quadratic plus a
    two-layer input-convex network (Amos et al., 2017) whose second layer has rank-one quadratic
    skip connections (the ``ConvexQuadratic`` layers of Korotin et al.'s ``DenseICNN``) and whose
    output is a smooth maximum (max-out) of its units,

    .. math::

        \psi(x) = \frac{\mu}{2}|x|^2 + \tau \log\sum_{i=1}^{M} \exp\!\Big(\frac{s_i(x)}{\tau}\Big),
        \qquad
        s(x) = U \operatorname{sp}(W_1 x + b_1) + W_2 x + b_2
               + \tfrac12\,\beta \odot (V x + c)^{\odot 2},

    with softplus :math:`\operatorname{sp}`, :math:`U \ge 0` and :math:`\beta \ge 0`. Each
    :math:`s_i` is convex (a non-negative combination of convex functions), and log-sum-exp is
    convex and non-decreasing in each argument, so :math:`\psi` is :math:`\mu`-strongly convex and
    :math:`T^\star = \nabla\psi` is a bijection onto its image. The exact optimal map (Brenier)
    in closed form:

    .. math::

        T^\star(x) = \mu x + W_2^\top p + V^\top\big(p \odot \beta \odot (V x + c)\big)
                     + W_1^\top\big(\sigma(W_1 x + b_1) \odot U^\top p\big),
        \qquad p = \operatorname{softmax}(s(x)/\tau),

    :math:`\sigma` the logistic function. The max-out layer splits space into :math:`M` soft
    cells (a smoothed power diagram) and moves cell :math:`i` by about :math:`W_2^\top e_i`, a
    jump of order :math:`\sqrt d`, so the target is a mixture of tight clusters, as in Korotin et
    al.'s ``Mix3toMix10`` pairs; the first layer's ridges bend the map inside each cell. The
    more cells in mutually orthogonal directions, the less of the map is linear in :math:`x`:
    the best affine map explains most of it at :math:`d = 2` and little at :math:`d \ge 32`.

    Build one with :func:`gmm_icnn_pair`.

    Attributes:
        weights, means, covs: mixture weights ``(K,)``, means ``(K, d)``, covariances
            ``(K, d, d)`` (float64, CPU).
        strong_convexity: :math:`\mu`.
        icnn: the network's parameters ``(W1, b1, U, W2, b2, V, c, beta)`` (float64, CPU),
            shapes ``(m, d)``, ``(m,)``, ``(M, m)``, ``(M, d)``, ``(M,)``, ``(M, d)``, ``(M,)``,
            ``(M,)``.
        temperature: :math:`\tau`.
    """

    icnn: tuple[Tensor, ...]
    temperature: float
    sample_dtype: torch.dtype = torch.get_default_dtype()
    sample_device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    variance_seed: int = 0
    name: str = field(init=False, default="gmm-icnn")

    def _parts(self, x: Tensor) -> tuple[Tensor, Tensor]:
        params = tuple(t.to(dtype=x.dtype, device=x.device) for t in self.icnn)
        pot, grad = _maxout_icnn_parts(x, *params, self.temperature)
        mu = self.strong_convexity
        return pot + 0.5 * mu * (x * x).sum(-1), grad + mu * x


def _unit_rows(rows: int, dim: int, generator: torch.Generator) -> Tensor:
    """``rows`` independent directions uniform on the unit sphere of R^dim."""
    w = torch.randn(rows, dim, generator=generator, dtype=torch.float64)
    return w / w.norm(dim=1, keepdim=True)


def gmm_icnn_pair(
    dim: int,
    n_components: int = 3,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> GMMICNNPair:
    r"""A Gaussian-mixture source and its image under a random max-out ICNN gradient (hard).

    Source: as :func:`gmm_convex_pair` (``n_components`` equally weighted Gaussians, means
    :math:`\mu_k \sim N(0, I_d)`, covariance eigenvalues log-uniform in :math:`[1/4, 1]`).
    The network (see :class:`GMMICNNPair`) reads whitened inputs
    :math:`\tilde x = \Sigma_P^{-1/2}(x - m)`, :math:`\Sigma_P` the source's covariance (closed
    form) and :math:`m` the mean of one mixture component drawn at random, so every unit sees a
    projection of unit spread in any dimension and the cells' boundaries cut through the data
    (not only through the empty space between well-separated components). The whitening is
    folded into :math:`W_1`, :math:`W_2`, :math:`V` and the biases, so :math:`\psi` is an ICNN
    in :math:`x`.

    * :math:`\mu = 0.2`;
    * first layer, :math:`\max(d, 16)` softplus ridges :math:`\operatorname{sp}(4(r_j\cdot
      \tilde x - z_j))`, :math:`r_j` uniform on the unit sphere, :math:`z_j \sim N(0, 1)`: each
      bends the map across the data, over a quarter of its spread;
    * max-out layer, :math:`M = 2n` units, :math:`n = \min(d, \max(2, \min(\lfloor d/2\rfloor,
      16)))`:
      :math:`s_i = J\,\hat g_i\cdot\tilde x + \sum_j U_{ij}\operatorname{sp}(\cdot)_j
      + \tfrac12\beta_i(v_i\cdot\tilde x)^2` with :math:`J = \sqrt{d + 16}`. The
      :math:`\hat g_i` are the vertices :math:`\pm q_k` of a randomly rotated cross-polytope
      (:math:`q_k` the first :math:`n` rows of a Haar-random orthogonal matrix), so neighbouring
      cells are equally far apart in every dimension, and :math:`J \ge 4` keeps the target's
      clusters well apart even at :math:`d = 2`. The :math:`v_i` are uniform on the unit
      sphere and :math:`\beta_i` uniform in :math:`[0, 0.5]`. Each unit reads 3 random ridges,
      with weights :math:`0.7 J u / 12`, :math:`u` uniform in :math:`[0.5, 1.5]`;
    * temperature :math:`\tau = J / 4`, so the logits :math:`s(x)/\tau \approx 4\,\hat g_i\cdot
      \tilde x` have the same spread in any dimension.

    How hard (seed 0, L2-UVP of the best Gaussian/affine map fitted to 20,000 samples per side;
    table in ``datasets/README.md``): 17% at :math:`d = 2`, 24% at 4, 29% at 8, 43% at 16, 55%
    at 32, 61% at 64 and 62% at 128. Korotin et al.'s linear baseline scores 14, 15, 27, 42, 55
    and 64% at :math:`d = 2, \dots, 64`. The Jacobian's eigenvalues stay within
    :math:`[0.2, 56]` (200 source points, all benchmark dimensions). Documented contract
    (tested): the linear map scores at least 14% at :math:`d = 2` and at least 50% at
    :math:`d = 32`.

    Args:
        dim: dimension :math:`d`.
        n_components: number of mixture components :math:`K`.
        generator: CPU ``torch.Generator`` the parameters are drawn from.
        dtype: dtype of drawn samples (default ``torch.get_default_dtype()``).
        device: device of drawn samples (default CPU).

    Example:
        >>> import torch
        >>> pair = gmm_icnn_pair(2, generator=torch.Generator().manual_seed(0))
        >>> pair.sample_target(4, generator=torch.Generator().manual_seed(1)).shape
        torch.Size([4, 2])
        >>> x = pair.sample_source(3, generator=torch.Generator().manual_seed(2))
        >>> with torch.no_grad():
        ...     pair.transport(x).shape
        torch.Size([3, 2])
    """
    dim = check_positive_int(dim, "dim")
    n_components = check_positive_int(n_components, "n_components")
    if generator is None:
        generator = torch.Generator().manual_seed(int(torch.randint(2**62, ()).item()))
    weights, means, covs = _random_mixture(dim, n_components, generator)
    # whitening x~ = S (x - m), S = Sigma_P^{-1/2} from the source's closed-form covariance,
    # m the mean of a random component
    mean_p = weights @ means
    dm = means - mean_p
    cov_p = (weights[:, None, None] * (covs + dm[:, :, None] * dm[:, None, :])).sum(0)
    vals, vecs = torch.linalg.eigh((cov_p + cov_p.T) / 2)
    white = (vecs * vals.rsqrt()) @ vecs.T
    centre = means[int(torch.randint(n_components, (), generator=generator).item())]

    def on_whitened(rows: Tensor) -> tuple[Tensor, Tensor]:
        """Weights and bias of ``rows . x~`` as an affine function of ``x``."""
        w = rows @ white
        return w, -(w @ centre)

    # first layer: softplus ridges across the data
    width, sharpness = max(dim, 16), 4.0
    w1, b1 = on_whitened(sharpness * _unit_rows(width, dim, generator))
    b1 = b1 - sharpness * torch.randn(width, generator=generator, dtype=torch.float64)
    # max-out layer: cells at the vertices of a rotated cross-polytope of radius sqrt(d + 16)
    n_axes = min(dim, max(2, min(dim // 2, 16)))
    axes = _random_rotation(dim, generator)[:n_axes]
    n_cells, reads, jump = 2 * n_axes, 3, math.sqrt(dim + 16.0)
    w2, b2 = on_whitened(jump * torch.cat([axes, -axes]))
    v, c = on_whitened(_unit_rows(n_cells, dim, generator))
    beta = 0.5 * torch.rand(n_cells, generator=generator, dtype=torch.float64)
    picks = torch.rand(n_cells, width, generator=generator, dtype=torch.float64).argsort(dim=1)
    u_vals = 0.5 + torch.rand(n_cells, reads, generator=generator, dtype=torch.float64)
    u = torch.zeros(n_cells, width, dtype=torch.float64)
    u.scatter_(1, picks[:, :reads], u_vals * (0.7 * jump / reads / sharpness))
    variance_seed = int(torch.randint(2**31 - 1, (), generator=generator).item())
    return GMMICNNPair(
        weights,
        means,
        covs,
        0.2,
        (w1, b1, u, w2, b2, v, c, beta),
        jump / 4.0,
        sample_dtype=dtype or torch.get_default_dtype(),
        sample_device=torch.device(device or "cpu"),
        variance_seed=variance_seed,
    )

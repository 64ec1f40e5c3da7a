r"""Benchmark pairs of distributions whose optimal transport map is known exactly.

A *pair* is a source :math:`P` and a target :math:`Q = T^\star_\# P` together with the optimal
map :math:`T^\star` for the squared cost :math:`|x - y|^2`. By Brenier's theorem any gradient of a
convex function is the optimal map between :math:`P` and its own pushforward, so a pair is built
by choosing :math:`P` and a convex potential :math:`\psi` and setting :math:`T^\star = \nabla\psi`.

Three families are provided, for any dimension (the benchmark uses
:math:`d \in \{2, 4, 8, 16, 32, 64, 128\}`):

* :func:`gaussian_pair`: Gaussian to Gaussian, :math:`T^\star` the closed-form Bures map.
* :func:`gmm_convex_pair`: a Gaussian-mixture source pushed through the gradient of a random,
  strongly convex potential (a quadratic, a smoothed maximum of random convex quadratics and a
  random input-convex network), in the spirit of Korotin et al. (2021) but with a potential known
  in closed form instead of a pretrained one.
* :func:`gmm_icnn_pair`: the hard one. A Gaussian-mixture source pushed through the gradient of
  a random input-convex network with quadratic skip connections and a smooth max-out output
  layer, modelled on the ``Mix3toMix10`` pairs of Korotin et al. (2021): the target is a
  mixture of tight clusters, and the best linear map scores an L2-UVP of 17-62% (theirs: 14-64%).

Every pair is a frozen object; its parameters are drawn once from a ``torch.Generator`` in
float64, so ``make_pair(name, dim, seed)`` is reproducible across runs and machines. Samples
come out in the pair's ``dtype`` and ``device``; :meth:`transport` follows its input's.

References:
    A. Korotin, L. Li, A. Genevay, J. Solomon, A. Filippov, E. Burnaev, "Do Neural Optimal
    Transport Solvers Work? A Continuous Wasserstein-2 Benchmark", NeurIPS 2021, arXiv:2106.01954.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from ot_gradnets._validation import check_positive_int
from ot_gradnets.transport._gaussian import sqrtm_psd

__all__ = [
    "PAIRS",
    "GMMConvexPair",
    "GMMICNNPair",
    "GaussianPair",
    "TransportPair",
    "gaussian_pair",
    "gmm_convex_pair",
    "gmm_icnn_pair",
    "make_pair",
]


def _random_rotation(dim: int, generator: torch.Generator) -> Tensor:
    """A Haar-random orthogonal matrix (QR of a Gaussian matrix with the sign fix)."""
    q, r = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


def _random_covariance(dim: int, generator: torch.Generator, low: float, high: float) -> Tensor:
    """``Q diag(lambda) Q^T`` with a random rotation and log-uniform eigenvalues in [low, high]."""
    q = _random_rotation(dim, generator)
    u = torch.rand(dim, generator=generator, dtype=torch.float64)
    vals = torch.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    cov = (q * vals) @ q.T
    return (cov + cov.T) / 2


def _random_mixture(
    dim: int, n_components: int, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """Equal weights, means ~ N(0, I) and covariances with eigenvalues log-uniform in [1/4, 1]."""
    means = torch.randn(n_components, dim, generator=generator, dtype=torch.float64)
    covs = torch.stack([_random_covariance(dim, generator, 0.25, 1.0) for _ in range(n_components)])
    weights = torch.full((n_components,), 1.0 / n_components, dtype=torch.float64)
    return weights, means, covs


def _gaussian_log_density(x: Tensor, mean: Tensor, cov: Tensor) -> Tensor:
    r"""Log-density of :math:`N(m, \Sigma)` at ``x`` (``(*, d)`` -> ``(*,)``), in ``x``'s dtype."""
    # Cholesky in the stored (float64) precision, then torch.distributions in x's dtype/device
    scale_tril = torch.linalg.cholesky(cov).to(dtype=x.dtype, device=x.device)
    mvn = torch.distributions.MultivariateNormal(mean.to(x), scale_tril=scale_tril)
    return mvn.log_prob(x)


def _check_n(n: int) -> int:
    return check_positive_int(n, "n")


@dataclass(frozen=True, eq=False)
class TransportPair(abc.ABC):
    """Abstract base: a source, a target and the exact optimal map between them.

    Attributes:
        dim: dimension :math:`d`.
        dtype: floating dtype of the samples drawn by :meth:`sample_source` and
            :meth:`sample_target`.
        device: device of those samples.
    """

    name: str = field(init=False, default="pair")

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """Dimension :math:`d` of the source and target."""

    # Concrete pairs are frozen dataclasses with ``sample_dtype`` and ``sample_device`` fields
    # (not annotated here: base-class annotations would become dataclass fields).

    @property
    def dtype(self) -> torch.dtype:
        """Dtype of drawn samples."""
        return self.sample_dtype  # type: ignore[attr-defined]

    @property
    def device(self) -> torch.device:
        """Device of drawn samples."""
        return torch.device(self.sample_device)  # type: ignore[attr-defined]

    @abc.abstractmethod
    def _sample_source64(self, n: int, generator: torch.Generator | None) -> Tensor:
        """``n`` source samples in float64 on the CPU."""

    @abc.abstractmethod
    def transport(self, x: Tensor) -> Tensor:
        r"""The optimal map :math:`T^\star(x)`; shape ``(*, dim)``, dtype and device of ``x``."""

    @abc.abstractmethod
    def target_variance(self) -> float:
        r""":math:`\operatorname{Var}(Q) = \operatorname{tr}\operatorname{Cov}(Q)`, the sum of the
        per-dimension variances of the target (the denominator of L2-UVP)."""

    def sample_source(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` i.i.d. source samples, shape ``(n, dim)``, in the pair's dtype and device.

        Args:
            n: number of samples.
            generator: a CPU ``torch.Generator`` for reproducible draws (the samples are drawn on
                the CPU and then moved to ``device``).
        """
        x = self._sample_source64(_check_n(n), generator)
        return x.to(dtype=self.dtype, device=self.device)

    def sample_target(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        r"""Draw ``n`` i.i.d. target samples :math:`T^\star(x)`, :math:`x\sim P`, shape
        ``(n, dim)``, in the pair's dtype and device (computed in float64, then cast)."""
        y = self.transport(self._sample_source64(_check_n(n), generator))
        return y.to(dtype=self.dtype, device=self.device)


# ---------------------------------------------------------------------------------------------
# Gaussian to Gaussian
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GaussianPair(TransportPair):
    r"""Gaussian source :math:`N(m_0, \Sigma_0)` and target :math:`N(m_1, \Sigma_1)`.

    The optimal map for the cost :math:`|x-y|^2` is affine (the Bures map),

    .. math::

        T^\star(x) = m_1 + A (x - m_0), \qquad
        A = \Sigma_0^{-1/2}\big(\Sigma_0^{1/2}\Sigma_1\Sigma_0^{1/2}\big)^{1/2}\Sigma_0^{-1/2},

    :math:`A` symmetric positive definite, i.e. :math:`T^\star = \nabla\psi` with
    :math:`\psi(x) = \tfrac12 (x-m_0)^\top A (x-m_0) + m_1\cdot x`. This is what
    ``ot.gaussian.bures_wasserstein_mapping`` returns (``x @ A + b`` with ``b = m_1 - m_0 A``).
    The squared distance is
    :math:`W_2^2 = |m_0-m_1|^2 + \operatorname{tr}(\Sigma_0+\Sigma_1-2(\Sigma_0^{1/2}\Sigma_1
    \Sigma_0^{1/2})^{1/2})` (cost :math:`|x-y|^2`, no factor 1/2).

    Build one with :func:`gaussian_pair`.

    Attributes:
        mean_source, cov_source, mean_target, cov_target: the parameters (float64, CPU).
        map_matrix: :math:`A`; ``map_bias``: :math:`m_1 - A m_0` (float64, CPU).
    """

    mean_source: Tensor
    cov_source: Tensor
    mean_target: Tensor
    cov_target: Tensor
    sample_dtype: torch.dtype = torch.get_default_dtype()
    sample_device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    name: str = field(init=False, default="gaussian")

    def __post_init__(self) -> None:
        s0h = sqrtm_psd(self.cov_source)
        s0h_inv = torch.linalg.inv(s0h)
        a = s0h_inv @ sqrtm_psd(s0h @ self.cov_target @ s0h) @ s0h_inv
        a = (a + a.T) / 2
        object.__setattr__(self, "map_matrix", a)
        object.__setattr__(self, "map_bias", self.mean_target - a @ self.mean_source)
        object.__setattr__(self, "_chol_source", torch.linalg.cholesky(self.cov_source))

    @property
    def dim(self) -> int:
        return int(self.mean_source.shape[0])

    def _sample_source64(self, n: int, generator: torch.Generator | None) -> Tensor:
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return self.mean_source + z @ self._chol_source.T

    def transport(self, x: Tensor) -> Tensor:
        a = self.map_matrix.to(dtype=x.dtype, device=x.device)
        b = self.map_bias.to(dtype=x.dtype, device=x.device)
        return x @ a + b  # A is symmetric, so x @ A = (A x^T)^T

    def target_variance(self) -> float:
        return float(torch.trace(self.cov_target))

    def source_log_density(self, x: Tensor) -> Tensor:
        r""":math:`\log p(x)` of :math:`N(m_0, \Sigma_0)`, shape ``(*,)``, dtype and device of ``x``."""
        return _gaussian_log_density(x, self.mean_source, self.cov_source)

    def target_log_density(self, y: Tensor) -> Tensor:
        r""":math:`\log q(y)` of :math:`N(m_1, \Sigma_1)`, differentiable in ``y``."""
        return _gaussian_log_density(y, self.mean_target, self.cov_target)

    def w2_squared(self) -> float:
        r"""Exact :math:`W_2^2(P, Q)` for the cost :math:`|x-y|^2` (Bures-Wasserstein)."""
        s0h = sqrtm_psd(self.cov_source)
        cross = sqrtm_psd(s0h @ self.cov_target @ s0h)
        bures = torch.trace(self.cov_source + self.cov_target - 2 * cross)
        return float(((self.mean_source - self.mean_target) ** 2).sum() + bures)


def gaussian_pair(
    dim: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> GaussianPair:
    r"""A random Gaussian-to-Gaussian pair with its closed-form (Bures) optimal map.

    Means are drawn :math:`m_0, m_1 \sim N(0, I_d)`; covariances are
    :math:`Q\,\mathrm{diag}(\lambda)\,Q^\top` with :math:`Q` Haar-random and :math:`\lambda_i`
    log-uniform in :math:`[1/4, 2]` (source) and :math:`[1/4, 4]` (target), so that the map is
    well conditioned yet far from a translation. See :class:`GaussianPair` for :math:`T^\star`.

    Args:
        dim: dimension :math:`d`.
        generator: CPU ``torch.Generator`` the parameters are drawn from (reproducible pairs).
        dtype: dtype of drawn samples (default ``torch.get_default_dtype()``).
        device: device of drawn samples (default CPU).

    Example:
        >>> import torch
        >>> pair = gaussian_pair(2, generator=torch.Generator().manual_seed(0))
        >>> x = pair.sample_source(5, generator=torch.Generator().manual_seed(1))
        >>> pair.transport(x).shape
        torch.Size([5, 2])
    """
    dim = check_positive_int(dim, "dim")
    if generator is None:
        generator = torch.Generator().manual_seed(int(torch.randint(2**62, ()).item()))
    m0 = torch.randn(dim, generator=generator, dtype=torch.float64)
    m1 = torch.randn(dim, generator=generator, dtype=torch.float64)
    c0 = _random_covariance(dim, generator, 0.25, 2.0)
    c1 = _random_covariance(dim, generator, 0.25, 4.0)
    return GaussianPair(
        m0,
        c0,
        m1,
        c1,
        sample_dtype=dtype or torch.get_default_dtype(),
        sample_device=torch.device(device or "cpu"),
    )


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
            gen = torch.Generator().manual_seed(self.variance_seed)
            ys = [self.transport(self._sample_source64(10_000, gen)) for _ in range(10)]
            var = float(torch.cat(ys).var(dim=0).sum())
            object.__setattr__(self, "_target_variance", var)
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


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------

PAIRS: dict[str, Callable[..., TransportPair]] = {
    "gaussian": gaussian_pair,
    "gmm-convex": gmm_convex_pair,
    "gmm-icnn": gmm_icnn_pair,
}


def make_pair(
    name: str,
    dim: int,
    seed: int = 0,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> TransportPair:
    """Build the benchmark pair ``name`` in dimension ``dim``, deterministically from ``seed``.

    Args:
        name: one of :data:`PAIRS` (``"gaussian"``, ``"gmm-convex"``, ``"gmm-icnn"``).
        dim: dimension :math:`d`.
        seed: seed of the CPU generator the pair's parameters are drawn from.
        dtype: dtype of drawn samples.
        device: device of drawn samples.

    Raises:
        ValueError: if ``name`` is not a registered pair.

    Example:
        >>> pair = make_pair("gaussian", 3, seed=0)
        >>> pair.dim, pair.name
        (3, 'gaussian')
    """
    if name not in PAIRS:
        raise ValueError(f"name must be one of {sorted(PAIRS)}, got {name!r}.")
    gen = torch.Generator().manual_seed(int(seed))
    return PAIRS[name](dim, generator=gen, dtype=dtype, device=device)

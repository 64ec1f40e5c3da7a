r"""Benchmark pairs of distributions whose optimal transport map is known exactly.

A *pair* is a source :math:`P` and a target :math:`Q = T^\star_\# P` together with the optimal
map :math:`T^\star` for the squared cost :math:`|x - y|^2`. By Brenier's theorem any gradient of a
convex function is the optimal map between :math:`P` and its own pushforward, so a pair is built
by choosing :math:`P` and a convex potential :math:`\psi` and setting :math:`T^\star = \nabla\psi`.

Four families are provided, the first three for any dimension (the benchmark uses
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
* :func:`mix3to10_pair`: the field's kind. Built as Korotin et al. (2021) build their
  ``Mix3toMix10`` pairs: a 3-Gaussian mixture pushed through the sum of two dense ICNN
  gradients, each *trained* to send it onto 10 Gaussians, then frozen; the map splits each source component
  into several clusters. Its potentials ship as small files (``datasets/mix3to10``), one per
  :math:`d \in \{2, 4, \dots, 256\}`, so it exists for seed 0 only.

Every pair is a frozen object; its parameters are drawn once from a ``torch.Generator`` in
float64, so ``make_pair(name, dim, seed)`` is reproducible across runs and machines. Samples
come out in the pair's ``dtype`` and ``device``; :meth:`transport` follows its input's.

This module holds the Gaussian pair and the registry (:data:`PAIRS`, :func:`make_pair`), and
re-exports the rest: the base class :class:`TransportPair` lives in
:mod:`~ot_gradnets.transport._pair_base` and the two mixture families in
:mod:`~ot_gradnets.transport._mixture_pairs`, which import the base and not this module, so
there is no import cycle.

References:
    A. Korotin, L. Li, A. Genevay, J. Solomon, A. Filippov, E. Burnaev, "Do Neural Optimal
    Transport Solvers Work? A Continuous Wasserstein-2 Benchmark", NeurIPS 2021, arXiv:2106.01954.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ot_gradnets._validation import check_positive_int
from ot_gradnets.transport._gaussian import sqrtm_psd
from ot_gradnets.transport._mix3to10 import MIX3TO10_DIMS, DenseICNN, Mix3To10Pair, mix3to10_pair
from ot_gradnets.transport._mixture_pairs import (
    GMMConvexPair,
    GMMICNNPair,
    gmm_convex_pair,
    gmm_icnn_pair,
)
from ot_gradnets.transport._pair_base import (
    TransportPair,
    _gaussian_log_density,
    _random_covariance,
)

__all__ = [
    "PAIRS",
    "GMMConvexPair",
    "GMMICNNPair",
    "FROZEN_PAIRS",
    "MIX3TO10_DIMS",
    "DenseICNN",
    "GaussianPair",
    "Mix3To10Pair",
    "TransportPair",
    "gaussian_pair",
    "gmm_convex_pair",
    "gmm_icnn_pair",
    "make_pair",
    "mix3to10_pair",
]


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
# Registry
# ---------------------------------------------------------------------------------------------

PAIRS: dict[str, Callable[..., TransportPair]] = {
    "gaussian": gaussian_pair,
    "gmm-convex": gmm_convex_pair,
    "gmm-icnn": gmm_icnn_pair,
    "mix3to10": mix3to10_pair,
}
#: Pairs whose parameters are frozen files rather than draws from the seed: seed 0 only.
FROZEN_PAIRS = ("mix3to10",)


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
        name: one of :data:`PAIRS` (``"gaussian"``, ``"gmm-convex"``, ``"gmm-icnn"``,
            ``"mix3to10"``).
        dim: dimension :math:`d`.
        seed: seed of the CPU generator the pair's parameters are drawn from.
        dtype: dtype of drawn samples.
        device: device of drawn samples.

    Raises:
        ValueError: if ``name`` is not a registered pair, or ``seed`` is not 0 for a pair whose
            parameters are frozen files (``"mix3to10"``: one pair per dimension).

    Example:
        >>> pair = make_pair("gaussian", 3, seed=0)
        >>> pair.dim, pair.name
        (3, 'gaussian')
    """
    if name not in PAIRS:
        raise ValueError(f"name must be one of {sorted(PAIRS)}, got {name!r}.")
    if name in FROZEN_PAIRS and int(seed) != 0:
        raise ValueError(
            f"the {name!r} pair is one frozen potential per dimension (seed 0); got seed={seed}. "
            "Vary the samples' seeds instead, or use a drawn family such as 'gmm-icnn'."
        )
    gen = torch.Generator().manual_seed(int(seed))
    return PAIRS[name](dim, generator=gen, dtype=dtype, device=device)

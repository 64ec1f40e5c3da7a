"""Brenier (optimal transport) maps learned with monotone gradient networks.

===========================  ====================================================================
:class:`BrenierMap`          scikit-learn-style estimator of the optimal map between two samples
:data:`LOSSES`               its training losses: ``"dual"``, ``"w2"``, ``"sinkhorn"``,
                             ``"monge-ampere"`` (:func:`make_loss`, :class:`TransportLoss`,
                             drawing from a :class:`SampleSource`)
:func:`solve_conjugate`      convex conjugates / inverses of monotone networks by Newton's method
:func:`gaussian_map`         the linear (Gaussian, Bures) optimal map between two samples
:func:`gaussian_pair`,       benchmark pairs of distributions with a known optimal map
:func:`gmm_convex_pair`,
:func:`gmm_icnn_pair`,
:func:`mix3to10_pair`
:func:`l2_uvp`,              map-error metrics (L2-UVP, cosine of displacements)
:func:`cosine_similarity`
:data:`BASELINES`            classical maps: linear (Gaussian), entropic, barycentric projection
:func:`sample_demo`          built-in 2-D distributions (:data:`DEMO_DISTRIBUTIONS`) for demos
===========================  ====================================================================
"""

from ot_gradnets.transport._baselines import BASELINES, BarycentricMap, EntropicMap, LinearMap
from ot_gradnets.transport._brenier import NETWORKS, BrenierMap, gaussian_map
from ot_gradnets.transport._conjugate import ConjugateResult, solve_conjugate
from ot_gradnets.transport._demo import DEMO_DISTRIBUTIONS, sample_demo
from ot_gradnets.transport._losses import LOSSES, TransportLoss, make_loss
from ot_gradnets.transport._metrics import cosine_similarity, l2_uvp, target_variance
from ot_gradnets.transport._pairs import (
    MIX3TO10_DIMS,
    PAIRS,
    DenseICNN,
    GaussianPair,
    GMMConvexPair,
    GMMICNNPair,
    Mix3To10Pair,
    TransportPair,
    gaussian_pair,
    gmm_convex_pair,
    gmm_icnn_pair,
    make_pair,
    mix3to10_pair,
)
from ot_gradnets.transport._samples import SampleSource

__all__ = [
    "BASELINES",
    "DEMO_DISTRIBUTIONS",
    "LOSSES",
    "MIX3TO10_DIMS",
    "NETWORKS",
    "PAIRS",
    "BarycentricMap",
    "BrenierMap",
    "ConjugateResult",
    "DenseICNN",
    "EntropicMap",
    "GMMConvexPair",
    "GMMICNNPair",
    "GaussianPair",
    "LinearMap",
    "Mix3To10Pair",
    "SampleSource",
    "TransportLoss",
    "TransportPair",
    "cosine_similarity",
    "gaussian_map",
    "gaussian_pair",
    "gmm_convex_pair",
    "gmm_icnn_pair",
    "l2_uvp",
    "make_loss",
    "make_pair",
    "mix3to10_pair",
    "sample_demo",
    "solve_conjugate",
    "target_variance",
]

"""The network a :class:`~ot_gradnets.transport.BrenierMap` trains, from plain settings.

:func:`build_network` makes it from the estimator's settings (the same names as its
hyperparameters, so a saved configuration dict rebuilds it too), and :func:`init_linear` starts
its quadratic term at the linear Gaussian map between the samples.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import Tensor, nn

from ot_gradnets.core import GradientSum, QuadraticGradient
from ot_gradnets.transport._brenier_setup import NETWORKS
from ot_gradnets.transport._gaussian import gaussian_map, gaussian_map_from_moments
from ot_gradnets.transport._samples import SampleSource
from ot_gradnets.transport._streams import linear_start_moments

__all__ = ["build_network", "init_linear", "resolve_depth"]

_AUTO_DEEP_DIM = 8  # depth="auto": 8 modules up to this many fitted dimensions, 4 above


def resolve_depth(network: str | nn.Module, depth: int | str, dim: int) -> int:
    """``depth`` with ``"auto"`` resolved for a network on ``dim`` fitted dimensions: 8 modules
    of an mGradNet-M up to 8 dimensions, where they cost little and lower the error on hard
    pairs, else 4 (and 4 layers of an mGradNet-C)."""
    if depth != "auto":
        return int(depth)
    return 8 if network == "mgradnet-m" and dim <= _AUTO_DEEP_DIM else 4


def build_network(
    network: str | nn.Module,
    dim: int,
    *,
    width: int,
    depth: int | str,
    strong_convexity: float,
    linear_term: bool,
    dtype: torch.dtype,
    device: torch.device,
) -> nn.Module:
    """The network to train on ``dim`` dimensions: a named monotone network (a copy of an
    instance), plus a PSD quadratic term with ``linear_term``, in ``dtype`` on ``device``.

    Example:
        >>> net = build_network("mgradnet-m", 3, width=8, depth="auto", strong_convexity=0.0,
        ...                     linear_term=True, dtype=torch.float64, device=torch.device("cpu"))
        >>> type(net).__name__, net(torch.zeros(2, 3, dtype=torch.float64)).shape
        ('GradientSum', torch.Size([2, 3]))
    """
    if isinstance(network, nn.Module):
        net = copy.deepcopy(network)
        if getattr(net, "dim", dim) != dim:
            raise ValueError(
                f"network has dim={net.dim} but the data has {dim} columns."  # type: ignore[union-attr]
            )
        if not getattr(net, "is_monotone", False):
            warnings.warn(
                f"network {type(net).__name__} is not monotone: the fitted map need not be the "
                "optimal (Brenier) map, and inverse_transform may fail.",
                stacklevel=4,
            )
    else:
        net = NETWORKS[network](dim, width, resolve_depth(network, depth, dim), strong_convexity)
    if linear_term:
        net = GradientSum(net, QuadraticGradient(dim))
    return net.to(device=device, dtype=dtype)


def init_linear(
    net: GradientSum, source: SampleSource, x: Tensor, target: SampleSource, y: Tensor
) -> None:
    """Start near the linear Gaussian map: the quadratic term is the Bures map, shifted so
    that the mean of the whole map's output is the target's mean.

    The nonlinear term keeps its own initialisation: it is small (its weights scale as
    ``1/sqrt(dim)``), and shrinking it further (``alpha`` near 0) stalls the semi-dual in
    high dimension: the softplus of ``alpha`` saturates and the nonlinear term gets almost
    no gradient.
    """
    inner, quad = net.terms[0], net.terms[1]
    # covariances from few samples per direction are shrunk towards isotropy (ridge
    # (d/n)^2, negligible for n >> d), so that the start stays well conditioned
    moments = linear_start_moments(source, x, target, y)
    if moments is None:  # the samples in memory
        reg = 1e-6 + (x.shape[1] / min(x.shape[0], y.shape[0])) ** 2
        a, b = gaussian_map(x, y, reg=reg)
    else:  # a side is streamed: from its moments
        mx, my = moments
        reg = 1e-6 + (x.shape[1] / min(mx.n, my.n)) ** 2
        a, b = (t.to(x) for t in gaussian_map_from_moments(mx.mean, mx.cov, my.mean, my.cov, reg))
    quad.set_affine(a, b - source.mean_output(inner, x))

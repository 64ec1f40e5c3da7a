"""The abstract :class:`TransportPair` and the random draws the benchmark pairs share.

A pair's parameters are drawn from a CPU ``torch.Generator`` in float64 (see
:mod:`ot_gradnets.transport._pairs`); these helpers draw rotations and covariances, evaluate
Gaussian log-densities and hold the sampling interface every pair implements.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ot_gradnets._validation import check_positive_int

__all__ = ["TransportPair"]


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


def _gaussian_log_density(x: Tensor, mean: Tensor, cov: Tensor) -> Tensor:
    r"""Log-density of :math:`N(m, \Sigma)` at ``x`` (``(*, d)`` -> ``(*,)``), in ``x``'s dtype."""
    # Cholesky in the stored (float64) precision, then torch.distributions in x's dtype/device
    scale_tril = torch.linalg.cholesky(cov).to(dtype=x.dtype, device=x.device)
    mvn = torch.distributions.MultivariateNormal(mean.to(x), scale_tril=scale_tril)
    return mvn.log_prob(x)


def _monte_carlo_variance(pair: TransportPair) -> float:
    """Summed per-dimension variance of ``pair``'s target from 100,000 float64 samples drawn from
    ``pair.variance_seed`` (the estimate the pairs without a closed form cache)."""
    gen = torch.Generator().manual_seed(pair.variance_seed)  # type: ignore[attr-defined]
    with torch.no_grad():
        ys = [pair.transport(pair._sample_source64(10_000, gen)) for _ in range(10)]
    return float(torch.cat(ys).var(dim=0).sum())


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

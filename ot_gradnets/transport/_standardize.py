r"""Standardising transport data: centres, one common scale, and the directions the data span.

Quadratic-cost optimal transport is equivariant under a translation of either distribution and
a common scaling of both: if :math:`T'` is the optimal map from the law of
:math:`(x - m_x)/s` to the law of :math:`(y - m_y)/s`, then
:math:`T(x) = m_y + s\,T'\big((x - m_x)/s\big)` is the optimal map from :math:`P` to :math:`Q`.
(A separate scale per coordinate would change the cost, so the scale is one number.) Directions
in which neither sample varies (constant or collinear columns, or every direction beyond the
:math:`n + m - 2` that :math:`n + m` samples can span) carry no information: the map there is the
identity shift, and the network is fitted on the remaining :math:`r` coordinates only, which
also keeps :math:`d \gg n` problems small.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Standardization", "standardization", "standardization_from_moments"]

#: A direction is kept when its variance exceeds this fraction of the largest direction's.
RTOL = 1e-10


@dataclass
class Standardization:
    """Means, common scale and spanning basis of a source and a target sample.

    Attributes:
        source_mean, target_mean: :math:`m_x, m_y`, shape ``(d,)``.
        scale: :math:`s`, the root mean variance per kept direction of the two samples.
        basis: ``(d, r)`` orthonormal columns spanning the directions the samples vary in, or
            ``None`` when they vary in all ``d``.
    """

    source_mean: Tensor
    target_mean: Tensor
    scale: float
    basis: Tensor | None

    @property
    def dim(self) -> int:
        """The number of kept directions :math:`r`."""
        return self.source_mean.shape[0] if self.basis is None else self.basis.shape[1]

    def source(self, x: Tensor) -> Tensor:
        r""":math:`U^T(x - m_x)/s`."""
        z = (x - self.source_mean.to(x)) / self.scale
        return z if self.basis is None else z @ self.basis.to(x)

    def target(self, y: Tensor) -> Tensor:
        r""":math:`U^T(y - m_y)/s`."""
        z = (y - self.target_mean.to(y)) / self.scale
        return z if self.basis is None else z @ self.basis.to(y)

    def affine(self, side: str) -> tuple[Tensor, Tensor]:
        r"""The map of ``side`` (``"source"`` or ``"target"``) as ``z = x @ W + c``:
        :math:`W = U/s` and :math:`c = -m\,W` (for streams, which map each batch as it is read)."""
        mean = self.source_mean if side == "source" else self.target_mean
        d = mean.shape[0]
        basis = (
            torch.eye(d, dtype=mean.dtype, device=mean.device) if self.basis is None else self.basis
        )
        weight = basis / self.scale
        return weight, -(mean @ weight)


def standardization(
    x: Tensor, y: Tensor | None, rtol: float = RTOL, *, reduce: bool = True
) -> Standardization:
    r"""Centre each sample, find the directions they vary in and one common scale.

    The kept directions are the eigenvectors of :math:`\tfrac12(\hat\Sigma_x + \hat\Sigma_y)`
    whose eigenvalue exceeds ``rtol`` times the largest (from a thin SVD of the stacked centred
    samples when :math:`d` exceeds their count, so :math:`d \gg n` costs no :math:`d\times d`
    factorisation); :math:`s^2` is the mean of those eigenvalues. Computed in float64.

    Args:
        x: source samples ``(n, d)``.
        y: target samples ``(m, d)``, or ``None`` (only the source is used).
        rtol: relative variance below which a direction is dropped.
        reduce: keep only the directions the samples vary in; ``False`` keeps all ``d`` (for a
            network of fixed dimension), and :math:`s^2` is then the mean over all of them.

    Returns:
        A :class:`Standardization` in ``x``'s dtype and device.

    Raises:
        ValueError: if neither sample varies at all.

    Example:
        >>> x = torch.randn(100, 3, dtype=torch.float64)
        >>> x[:, 2] = 7.0  # a constant column
        >>> std = standardization(x, 2 * x)
        >>> std.dim, std.basis.shape
        (2, torch.Size([3, 2]))
    """
    x64 = x.double()
    mx = x64.mean(0)
    parts = [(x64 - mx) / max(x.shape[0] - 1, 1) ** 0.5]
    my = mx
    if y is not None:
        y64 = y.double()
        my = y64.mean(0)
        parts.append((y64 - my) / max(y.shape[0] - 1, 1) ** 0.5)
    stacked = torch.cat(parts) / len(parts) ** 0.5
    d = x.shape[1]
    if stacked.shape[0] < d:
        _, sv, vh = torch.linalg.svd(stacked, full_matrices=False)
        evals, evecs = sv**2, vh.T
    else:
        evals, evecs = torch.linalg.eigh(stacked.T @ stacked)
    top = float(evals.max()) if evals.numel() else 0.0
    if not top > 0:
        raise ValueError(
            "X and Y have no variance (every sample is the same point): the optimal map is the "
            "translation by mean(Y) - mean(X); there is nothing to fit."
        )
    keep = evals > rtol * top if reduce else torch.ones_like(evals, dtype=torch.bool)
    r = int(keep.sum())
    scale = float(evals[keep].sum().div(r if reduce else d).sqrt())
    basis = None if r == d else evecs[:, keep]
    if y is not None:
        xb = x64 - mx if basis is None else (x64 - mx) @ basis
        yb = y64 - my if basis is None else (y64 - my) @ basis
        cov = lambda z: z.T @ z / max(z.shape[0] - 1, 1)  # noqa: E731
        _check_spread(cov(xb), cov(yb), x.shape[0], rtol * top)
    like = {"dtype": x.dtype, "device": x.device}
    return Standardization(
        mx.to(**like), my.to(**like), scale, None if basis is None else basis.to(**like)
    )


def standardization_from_moments(
    mx: Tensor,
    cx: Tensor,
    my: Tensor | None,
    cy: Tensor | None,
    rtol: float = RTOL,
    *,
    reduce: bool = True,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Standardization:
    r""":func:`standardization` from the samples' means and (unbiased) covariances, for samples
    that are streamed rather than held in memory: the kept directions are the eigenvectors of
    :math:`\tfrac12(\hat\Sigma_x + \hat\Sigma_y)` (of :math:`\hat\Sigma_x` without a target),
    as there. The result is in ``dtype``, on ``device``.

    Example:
        >>> eye = torch.eye(3, dtype=torch.float64)
        >>> std = standardization_from_moments(torch.zeros(3, dtype=torch.float64), 4 * eye,
        ...                                    None, None)
        >>> std.scale, std.basis is None
        (2.0, True)
    """
    m = cx.double() if cy is None else 0.5 * (cx.double() + cy.double())
    evals, evecs = torch.linalg.eigh(m)
    top = float(evals.max()) if evals.numel() else 0.0
    if not top > 0:
        raise ValueError(
            "X and Y have no variance (every sample is the same point): the optimal map is the "
            "translation by mean(Y) - mean(X); there is nothing to fit."
        )
    d = m.shape[0]
    keep = evals > rtol * top if reduce else torch.ones_like(evals, dtype=torch.bool)
    r = int(keep.sum())
    scale = float(evals[keep].sum().div(r if reduce else d).sqrt())
    if cy is not None:
        b = evecs[:, keep]
        _check_spread(b.T @ cx.double() @ b, b.T @ cy.double() @ b, None, rtol * top)
    like = {"dtype": dtype, "device": device}
    basis = None if r == d else evecs[:, keep].to(**like)
    my = mx if my is None else my
    return Standardization(mx.to(**like), my.to(**like), scale, basis)


def _check_spread(cx: Tensor, cy: Tensor, n_x: int | None, floor: float) -> None:
    """Refuse a source that cannot be pushed onto the target: one that is a single point, or
    that is flat in a direction the two samples span together (a Brenier map needs a source
    with a density), and a single-point target, whose optimal map is known.

    ``cx``, ``cy``: the covariances of the source and the target in the kept directions;
    ``n_x``: the source's sample size (``None``: from moments, taken as large); ``floor``: the
    variance below which a direction is flat. A source of at most as many samples as kept
    directions always looks flat in some of them (e.g. ``d >> n``), so only its being a single
    point is tested then.
    """
    x_top = float(torch.linalg.eigvalsh(cx).max()) if cx.numel() else 0.0
    y_top = float(torch.linalg.eigvalsh(cy).max()) if cy.numel() else 0.0
    if not x_top > floor:
        raise ValueError(
            "X has no variance (every source sample is the same point) while Y has: no map sends "
            "one point onto a spread of points (a Brenier map needs a source with a density). "
            "The reverse map, from Y to that point, is the constant map."
        )
    if not y_top > floor:
        raise ValueError(
            "Y has no variance (every target sample is the same point): the optimal map sends "
            "every source point there, the constant map x -> Y[0]; there is nothing to fit."
        )
    r = cx.shape[0]
    if n_x is not None and n_x <= r:
        return
    flat = int((torch.linalg.eigvalsh(cx) <= floor).sum())
    if flat:
        raise ValueError(
            f"X is flat in {flat} of the {r} directions that X and Y span together (its samples "
            "lie on a subspace that Y's do not), so no map pushes it onto Y: a Brenier map needs "
            "a source with a density. Check X's columns (a copy of another, a constant one where "
            "Y's varies), or drop the directions Y spreads in and X does not."
        )

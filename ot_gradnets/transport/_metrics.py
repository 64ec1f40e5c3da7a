r"""Accuracy metrics for estimated transport maps against a known optimal map.

Both metrics follow the continuous Wasserstein-2 benchmark of Korotin et al. (2021):

* **L2-UVP** (unexplained variance percentage),
  :math:`100\,\mathbb{E}_P|\hat T(x) - T^\star(x)|^2 / \operatorname{Var}(Q)` with
  :math:`\operatorname{Var}(Q) = \operatorname{tr}\operatorname{Cov}(Q)` the sum of the target's
  per-dimension variances. The constant map at the target mean scores 100, the exact map 0.
* **cosine similarity** between displacements,
  :math:`\mathbb{E}\langle T^\star(x)-x, \hat T(x)-x\rangle /
  \sqrt{\mathbb{E}|T^\star(x)-x|^2\,\mathbb{E}|\hat T(x)-x|^2}`; 1 for the exact map.

Expectations are empirical means over the rows of the arguments. Both functions accept tensors
or numpy arrays and return Python floats (computed in float64).

References:
    A. Korotin, L. Li, A. Genevay, J. Solomon, A. Filippov, E. Burnaev, "Do Neural Optimal
    Transport Solvers Work? A Continuous Wasserstein-2 Benchmark", NeurIPS 2021, arXiv:2106.01954.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ot_gradnets._validation import as_samples

__all__ = ["cosine_similarity", "l2_uvp", "target_variance"]


def _as64(x: Any, name: str, dim: int | None = None) -> Tensor:
    return as_samples(x, name, dim=dim, dtype=torch.float64, device="cpu")


def target_variance(target: Any) -> float:
    r""":math:`\operatorname{tr}\operatorname{Cov}(Q)`, the sum of per-dimension (unbiased) sample
    variances of ``target`` samples, shape ``(n, d)`` with :math:`n \ge 2`.

    Example:
        >>> target_variance([[0.0, 0.0], [2.0, 0.0]])
        2.0
    """
    y = as_samples(target, "target", min_samples=2, dtype=torch.float64, device="cpu")
    return float(y.var(dim=0).sum())


def l2_uvp(pred: Any, true: Any, target: Any) -> float:
    r"""L2 unexplained variance percentage of an estimated map.

    .. math::

        \mathrm{L2\text{-}UVP}(\hat T) = 100\,
        \frac{\mathbb{E}_{x\sim P}\,|\hat T(x) - T^\star(x)|^2}{\operatorname{Var}(Q)},
        \qquad \operatorname{Var}(Q) = \sum_{i=1}^d \operatorname{Var}(y_i).

    Squared Euclidean errors are summed over dimensions and averaged over samples (no factor
    1/2). Predicting the target mean everywhere gives :math:`100\,(1 + o(1))`.

    Args:
        pred: :math:`\hat T(x_n)`, shape ``(n, d)``.
        true: :math:`T^\star(x_n)` for the same points, shape ``(n, d)``.
        target: either target samples ``(m, d)`` (their summed per-dimension variance is used)
            or a positive number, :math:`\operatorname{Var}(Q)` itself (e.g. from
            ``pair.target_variance()``).

    Returns:
        L2-UVP in percent (a float).

    Raises:
        ValueError: on shape mismatches, non-finite input or a non-positive variance.

    Example:
        >>> import torch
        >>> y = torch.tensor([[0.0, 0.0], [2.0, 0.0]])
        >>> l2_uvp(y.mean(0).expand(2, 2), y, target=y)  # constant map at the target mean
        50.0
    """
    p = _as64(pred, "pred")
    t = _as64(true, "true", dim=p.shape[1])
    if p.shape[0] != t.shape[0]:
        raise ValueError(
            f"pred and true must have the same number of rows, got {p.shape[0]} and {t.shape[0]}."
        )
    if isinstance(target, (int, float)) and not isinstance(target, bool):
        var = float(target)
        if not var > 0 or var == float("inf"):
            raise ValueError(f"target variance must be a positive finite number, got {target!r}.")
    else:
        y = as_samples(
            target, "target", dim=p.shape[1], min_samples=2, dtype=torch.float64, device="cpu"
        )
        var = float(y.var(dim=0).sum())
        if not var > 0:
            raise ValueError("target samples have zero variance; L2-UVP is undefined.")
    return float(100.0 * ((p - t) ** 2).sum(dim=1).mean() / var)


def cosine_similarity(x: Any, pred: Any, true: Any) -> float:
    r"""Cosine similarity between estimated and true displacements.

    .. math::

        \cos(\hat T, T^\star) = \frac{\mathbb{E}\,\langle T^\star(x) - x,\ \hat T(x) - x\rangle}
        {\sqrt{\mathbb{E}|T^\star(x) - x|^2\ \mathbb{E}|\hat T(x) - x|^2}} \in [-1, 1].

    Args:
        x: source points, shape ``(n, d)``.
        pred: :math:`\hat T(x)`, shape ``(n, d)``.
        true: :math:`T^\star(x)`, shape ``(n, d)``.

    Returns:
        The cosine (a float); 0 if either displacement field is identically zero.

    Example:
        >>> import torch
        >>> x = torch.zeros(3, 2)
        >>> true = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> cosine_similarity(x, 2 * true, true)
        1.0
    """
    x64 = _as64(x, "x")
    p = _as64(pred, "pred", dim=x64.shape[1])
    t = _as64(true, "true", dim=x64.shape[1])
    if not (x64.shape[0] == p.shape[0] == t.shape[0]):
        raise ValueError(
            "x, pred and true must have the same number of rows, got "
            f"{x64.shape[0]}, {p.shape[0]} and {t.shape[0]}."
        )
    dp, dt = p - x64, t - x64
    num = (dp * dt).sum(dim=1).mean()
    den = torch.sqrt((dp**2).sum(dim=1).mean() * (dt**2).sum(dim=1).mean())
    if den == 0:
        return 0.0
    return float((num / den).clamp(-1.0, 1.0))

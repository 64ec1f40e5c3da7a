"""Model registry and parameter budgets: compare models at equal parameter counts."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ot_gradnets._registry import lookup
from ot_gradnets._validation import check_positive_int
from ot_gradnets.core._base import VectorField
from ot_gradnets.core._baselines import ICNN, MLPField, PotentialMLP
from ot_gradnets.core._cascaded import GradNetC, MGradNetC
from ot_gradnets.core._modular import GradNetM, MGradNetM
from ot_gradnets.core._predecessors import CMGN, MMGN

#: Every model by name; all take ``(dim, width=..., **kwargs)``. All are vector fields
#: (:class:`~ot_gradnets.core.VectorField`); all but ``"mlp-field"`` are gradient networks.
MODELS: dict[str, type[VectorField]] = {
    "gradnet-c": GradNetC,
    "gradnet-m": GradNetM,
    "mgradnet-c": MGradNetC,
    "mgradnet-m": MGradNetM,
    "c-mgn": CMGN,
    "m-mgn": MMGN,
    "icnn": ICNN,
    "potential-mlp": PotentialMLP,
    "mlp-field": MLPField,
}


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters of ``model``.

    Example:
        >>> from ot_gradnets.core import MGradNetM
        >>> count_parameters(MGradNetM(2, width=7, num_modules=4))
        94
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def model_for_budget(
    name: str, dim: int, budget: int, grow: str = "width", **kwargs: Any
) -> VectorField:
    """The model ``name`` with the largest ``grow`` size whose parameter count is at most ``budget``.

    Other hyperparameters (``depth``, ``num_modules``, ``activation``, ...) are passed through.
    Candidate sizes are counted on the ``meta`` device, so no memory is spent on the search.

    Args:
        name: a name of :data:`MODELS`.
        dim: input dimension.
        budget: the most parameters allowed.
        grow: the integer size that is searched: ``"width"`` (default), or another size the
            model takes, such as ``"num_modules"`` (many small modules of a fixed ``width``) or
            ``"depth"``.
        **kwargs: the other constructor options, fixed.

    Raises:
        ValueError: if even size 1 exceeds the budget, on an unknown name, or when ``grow`` is
            also among ``kwargs``.

    Example:
        >>> net = model_for_budget("mgradnet-c", dim=2, budget=100, depth=4)
        >>> net.width, count_parameters(net)
        (7, 100)
        >>> net = model_for_budget("gradnet-m", dim=2, budget=100, grow="num_modules", width=2)
        >>> net.num_modules, count_parameters(net)
        (12, 98)
    """
    cls = lookup(MODELS, name, "model")
    dim = check_positive_int(dim, "dim")
    budget = check_positive_int(budget, "budget")
    if grow in kwargs:
        raise ValueError(f"{grow!r} is the size model_for_budget searches; do not also give it.")

    def size(value: int) -> int:
        with torch.device("meta"):
            return count_parameters(cls(dim, **{grow: value}, **kwargs))

    if size(1) > budget:
        raise ValueError(
            f"budget={budget} is too small for {name!r} at dim={dim}: {grow}=1 already has "
            f"{size(1)} parameters."
        )
    lo, hi = 1, 2
    while size(hi) <= budget:  # parameter counts grow with the size
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if size(mid) <= budget else (lo, mid)
    return cls(dim, **{grow: lo}, **kwargs)

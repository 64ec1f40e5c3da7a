"""Gradient-field regression: known target fields, fitting and the dB metric.

=============================  ================================================================
:data:`TARGETS`                registry of target fields (2-D paper functions, PolyMax, ridges)
:func:`fit_field`              fit a network to a target (fresh samples or a fixed training set)
:func:`refine_lbfgs`           polish a fitted network with full-batch L-BFGS on fixed points
:func:`select_lr`              pick the learning rate on a validation set
:func:`error_db`               the paper's error, 10 log10 mean ||N(x) - grad F(x)||^2
=============================  ================================================================

The suites of ``ot-gradnets bench fields`` (recipes, benchmark models, the runner) are in
:mod:`ot_gradnets.bench.fields`.

Example:
    >>> import torch
    >>> from ot_gradnets.core import MGradNetC
    >>> from ot_gradnets.core.fields import fit_field, make_target
    >>> target = make_target("convex-2d")
    >>> _ = torch.manual_seed(0)
    >>> res = fit_field(MGradNetC(2, width=7, depth=4), target, max_iter=100, lr=1e-2,
    ...                 n_val=500, random_state=0)
    >>> res.val_db < 5.0
    True
"""

from ot_gradnets.core.fields._fit import (
    PROTOCOLS,
    SCHEDULES,
    FieldLRSelection,
    FitResult,
    fit_affine,
    fit_field,
    refine_lbfgs,
    select_lr,
)
from ot_gradnets.core.fields._metrics import error_db, error_map, field_error_db, squared_error
from ot_gradnets.core.fields._targets import (
    TARGETS,
    ConvexPolynomial2D,
    NonConvex2D,
    PolyMax,
    RidgeConvex,
    RidgeNonConvex,
    Target,
    make_target,
)

__all__ = [
    "PROTOCOLS",
    "SCHEDULES",
    "TARGETS",
    "ConvexPolynomial2D",
    "FieldLRSelection",
    "FitResult",
    "NonConvex2D",
    "PolyMax",
    "RidgeConvex",
    "RidgeNonConvex",
    "Target",
    "error_db",
    "error_map",
    "field_error_db",
    "fit_affine",
    "fit_field",
    "make_target",
    "refine_lbfgs",
    "select_lr",
    "squared_error",
]

"""Gradient-field regression: known target fields, fitting, the dB metric and benchmarks.

=============================  ================================================================
:data:`TARGETS`                registry of target fields (2-D paper functions, PolyMax, ridges)
:func:`fit_field`              fit a network to a target (fresh samples or a fixed training set)
:func:`refine_lbfgs`           polish a fitted network with full-batch L-BFGS on fixed points
:func:`select_lr`              pick the learning rate on a validation set
:func:`error_db`               the paper's error, 10 log10 mean ||N(x) - grad F(x)||^2
:data:`RECIPES`                how the benchmark trains its models (``paper``, ``ours``)
:func:`build_model`            build a benchmark model as a suite does, under a recipe
:func:`fit_paper_2d`           one trial of the authors' 2-D protocol under a recipe
:func:`run_benchmark`          the suites behind ``ot-gradnets bench fields``
=============================  ================================================================

Example:
    >>> import torch
    >>> from ot_gradnets.core import MGradNetC
    >>> from ot_gradnets.core.fields import fit_field, make_target
    >>> target = make_target("convex-2d")
    >>> _ = torch.manual_seed(0)
    >>> res = fit_field(MGradNetC(2, width=7, depth=4), target, n_steps=100, lr=1e-2,
    ...                 n_val=500, generator=torch.Generator().manual_seed(0))
    >>> res.val_db < 5.0
    True
"""

from ot_gradnets._deprecation import deprecated_attributes
from ot_gradnets.core.fields._bench import (
    AFFINE,
    BASELINE_NAMES,
    GRADNETS,
    INIT_POINTS,
    INITS,
    RECIPES,
    SUITE_TARGETS,
    Recipe,
    build_model,
    fit_paper_2d,
)
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
from ot_gradnets.core.fields._report import PAPER_RESULTS, markdown_table, read_rows, summarize
from ot_gradnets.core.fields._runner import SUITES, BenchSummary, run_benchmark
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
    "AFFINE",
    "BASELINE_NAMES",
    "GRADNETS",
    "INITS",
    "INIT_POINTS",
    "PAPER_RESULTS",
    "PROTOCOLS",
    "RECIPES",
    "SCHEDULES",
    "SUITES",
    "SUITE_TARGETS",
    "TARGETS",
    "BenchSummary",
    "ConvexPolynomial2D",
    "FieldLRSelection",
    "FitResult",
    "NonConvex2D",
    "PolyMax",
    "Recipe",
    "RidgeConvex",
    "RidgeNonConvex",
    "Target",
    "build_model",
    "error_db",
    "error_map",
    "field_error_db",
    "fit_affine",
    "fit_field",
    "fit_paper_2d",
    "make_target",
    "markdown_table",
    "read_rows",
    "run_benchmark",
    "refine_lbfgs",
    "select_lr",
    "squared_error",
    "summarize",
]

# Old names, kept for one release (#13): the Hamiltonian subpackage and the transport package
# had objects of the same names and other types.
__getattr__ = deprecated_attributes(
    __name__,
    {
        "BASELINES": ("BASELINE_NAMES", BASELINE_NAMES),
        "BenchResult": ("BenchSummary", BenchSummary),
        "LRSearchResult": ("FieldLRSelection", FieldLRSelection),
    },
)

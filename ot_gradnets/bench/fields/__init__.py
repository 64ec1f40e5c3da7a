"""The gradient-field benchmark suites behind ``ot-gradnets bench fields``.

They fit the gradient networks and the baselines to known gradient fields
(:data:`~ot_gradnets.core.fields.TARGETS`) at equal parameter budgets and measure the test error
in dB (:func:`~ot_gradnets.core.fields.field_error_db`): ``paper-2d`` (the authors' 2-D
protocol), ``polymax`` and ``highdim`` (:data:`SUITES`), each under one or more training recipes
(:data:`RECIPES`).

=============================  ================================================================
:func:`run_benchmark`          run suites; write ``fields_<suite>.csv``/``.md`` and figures
:data:`SUITES`                 the suites and the dimensions of their default runs
:data:`RECIPES`                how the benchmark trains its models (``paper``, ``ours``)
:func:`build_model`            build a benchmark model as a suite does, under a recipe
:func:`fit_paper_2d`           one trial of the authors' 2-D protocol under a recipe
:func:`summarize`,             the summary of trial rows (beside :data:`PAPER_RESULTS`) and its
:func:`markdown_table`         markdown table; :func:`read_rows` reads the CSVs back
=============================  ================================================================

Example:
    >>> from ot_gradnets.bench.fields import RECIPES, SUITES
    >>> sorted(SUITES), sorted(RECIPES)
    (['highdim', 'paper-2d', 'polymax'], ['ours', 'paper'])
"""

from ot_gradnets.bench.fields._report import PAPER_RESULTS, markdown_table, read_rows, summarize
from ot_gradnets.bench.fields._runner import SUITES, BenchSummary, run_benchmark
from ot_gradnets.bench.fields._suites import (
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

__all__ = [
    "AFFINE",
    "BASELINE_NAMES",
    "GRADNETS",
    "INITS",
    "INIT_POINTS",
    "PAPER_RESULTS",
    "RECIPES",
    "SUITES",
    "SUITE_TARGETS",
    "BenchSummary",
    "Recipe",
    "build_model",
    "fit_paper_2d",
    "markdown_table",
    "read_rows",
    "run_benchmark",
    "summarize",
]

"""``ot-gradnets bench fields``: the gradient-field benchmark suites."""

from __future__ import annotations

import argparse
from typing import Any

from ot_gradnets.bench.fields import RECIPES, SUITES, run_benchmark
from ot_gradnets.cli._common import (
    add_bench_arguments,
    add_common_arguments,
    add_list_argument,
    defaults_of,
    with_threads,
)


def _run_benchmark(args: argparse.Namespace) -> int:
    res = run_benchmark(
        args.suite_name,
        args.out,
        quick=args.quick,
        trials=args.trials,
        dims=args.dims,
        models=args.models,
        recipes=args.recipe,
        lrs=args.lrs,
        verbose=args.verbose,
        first_trial=args.first_trial,
        jobs=args.jobs,
        resume=args.resume,
    )
    for path in res.files:
        print(f"wrote {path}")
    print(f"{len(res.rows)} runs in {res.wall_time_s:.1f} s")
    return 0


def register(subparsers: Any, bench_subparsers: Any) -> None:
    """Add ``bench fields`` to the ``ot-gradnets`` command line."""
    p = bench_subparsers.add_parser(
        "fields",
        help="gradient-field regression: paper 2-D, PolyMax and our high-d targets",
        description="Fit gradient networks and baselines to known gradient fields and write "
        "markdown/CSV tables and figures (error in dB = 10 log10 of the mean squared Euclidean "
        "error, summed over coordinates).",
    )
    p.add_argument(
        "--suite",
        dest="suite_name",
        default="paper-2d",
        choices=[*SUITES, "all"],
        help="which suite (default paper-2d)",
    )
    defaults = defaults_of(run_benchmark)
    add_common_arguments(
        p, out="out/fields", quick="tiny sizes; runs in seconds", seed=None, verbose="progress bars"
    )
    p.add_argument(
        "--trials",
        type=int,
        default=None,
        help="trials per model (default 5 for paper-2d, 1 otherwise)",
    )
    add_list_argument(
        p, "--dims", type=int, help="dimensions for polymax/highdim (default 2 32 256 1024)"
    )
    add_list_argument(p, "--models", help="model names (default: every applicable one)")
    add_list_argument(
        p,
        "--recipe",
        choices=sorted(RECIPES),
        default=list(defaults["recipes"]),
        help=f"recipes from {sorted(RECIPES)} (default {' '.join(defaults['recipes'])})",
    )
    add_list_argument(
        p, "--lrs", type=float, help="override the candidate learning rates (polymax/highdim)"
    )
    p.add_argument(
        "--first-trial", type=int, default=0, help="index (seed) of the first trial (default 0)"
    )
    add_bench_arguments(p)
    p.set_defaults(func=with_threads(_run_benchmark))

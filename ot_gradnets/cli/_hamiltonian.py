"""``ot-gradnets bench hamiltonian``: learned Hamiltonian dynamics against HNN."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ot_gradnets.bench.hamiltonian import DEFAULT_LR_GRID, format_table, run_benchmark
from ot_gradnets.cli._common import (
    add_bench_arguments,
    add_common_arguments,
    add_list_argument,
    defaults_of,
    given,
    with_threads,
)
from ot_gradnets.core.hamiltonian import INTEGRATORS, SYSTEMS

# --quick: tiny data, models and horizons; the whole run takes seconds on one CPU core.
_QUICK = {
    "n_steps": 150,
    "eval_every": 50,
    "n_trajectories": 12,
    "n_rollouts": 3,
    "horizon_factor": 1.0,
    "step_size": 0.1,
    "probe_steps": 20,
}


def _run_benchmark(args: argparse.Namespace) -> int:
    systems = args.systems or (
        ["mass-spring", "pendulum"] if args.quick else ["two-body", "spring-chain"]
    )
    models = args.models or (
        ["hnn:width=16", "gradnet-m", "mlp"]
        if args.quick
        else ["hnn", "gradnet-m:lr=auto", "mlp:lr=auto"]
    )
    # flags left out pass nothing: run_benchmark's own defaults apply (or --quick's sizes)
    opts = {**(_QUICK if args.quick else {}), **given(
        args,
        n_steps="steps",
        eval_every="eval_every",
        n_trajectories="trajectories",
        n_rollouts="rollouts",
        horizon_factor="horizon",
        step_size="step_size",
        probe_steps="probe_steps",
    )}  # fmt: skip
    tic = time.perf_counter()
    rows = run_benchmark(
        systems=systems,
        models=models,
        out_dir=args.out,
        budget=args.budget,
        batch_size=args.batch_size,
        rollout_method=args.rollout_method,
        seed=args.seed,
        lr_grid=args.lr_grid,
        validation_fraction=args.validation_fraction,
        figures=not args.no_figures,
        verbose=args.verbose,
        resume=args.resume,
        jobs=args.jobs,
        **opts,
    )
    print(format_table(rows))
    print(
        f"wrote {args.out}/hamiltonian.md, hamiltonian.csv, hamiltonian_curves.csv"
        + ("" if args.no_figures else " and figures")
    )
    print(f"{len(rows)} rows in {time.perf_counter() - tic:.1f} s")
    return 0


def register(subparsers: Any, bench_subparsers: Any) -> None:
    """Add ``bench hamiltonian`` to the ``ot-gradnets`` command line."""
    p = bench_subparsers.add_parser(
        "hamiltonian",
        help="learned Hamiltonian dynamics: gradient networks vs HNN at equal parameter count",
        description="Train HNN, gradient networks and an MLP field on Hamiltonian systems with "
        "the HNN protocol, then report test derivative error (dB summed over coordinates and "
        "HNN's per-coordinate MSE), step time, time to reach HNN's accuracy, energy MSE, energy "
        "drift and trajectory error of long rollouts. Writes hamiltonian.md/.csv and figures.",
    )
    add_list_argument(
        p,
        "--systems",
        choices=sorted(SYSTEMS),
        help="systems (default two-body spring-chain; quick: mass-spring pendulum)",
    )
    add_list_argument(
        p,
        "--models",
        commas=False,
        help="model specs NAME[:key=value,...], e.g. gradnet-m:num_modules=32,lr=1e-2; "
        "lr=auto selects the learning rate from --lr-grid on trajectories held out of the "
        "training split (names: hnn, mlp, and the core MODELS, optionally +quadratic); "
        "schedule=cosine decays the rate, init=data calls init_from_data on the training "
        "states, grow=num_modules fills the budget with modules of a fixed width; default hnn "
        "gradnet-m:lr=auto mlp:lr=auto",
    )
    _add_selection_arguments(p)
    add_common_arguments(
        p,
        out=str(defaults_of(run_benchmark)["out_dir"]),
        quick="tiny run for tests (seconds)",
        verbose="progress bars",
    )
    _add_protocol_arguments(p)
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    add_bench_arguments(p)
    p.set_defaults(func=with_threads(_run_benchmark))


def _add_selection_arguments(p: argparse.ArgumentParser) -> None:
    """The ``lr=auto`` probes' flags."""
    defaults = defaults_of(run_benchmark)
    add_list_argument(
        p,
        "--lr-grid",
        type=float,
        default=list(DEFAULT_LR_GRID),
        help="candidate learning rates of lr=auto models (default "
        + " ".join(f"{v:g}" for v in DEFAULT_LR_GRID)
        + ")",
    )
    p.add_argument(
        "--probe-steps",
        type=int,
        default=None,
        help=f"training steps of each learning-rate probe (default {defaults['probe_steps']}; "
        f"quick: {_QUICK['probe_steps']})",
    )
    p.add_argument(
        "--validation-fraction",
        type=float,
        default=0.2,
        help="fraction of the training trajectories held out to select lr=auto (default 0.2)",
    )


def _add_protocol_arguments(p: argparse.ArgumentParser) -> None:
    """The training and rollout protocol's flags (a flag left out keeps the default)."""
    defaults = defaults_of(run_benchmark)
    p.add_argument(
        "--budget",
        type=int,
        default=None,
        help="parameter budget (default: the HNN model's parameter count)",
    )
    p.add_argument(
        "--steps", type=int, default=None, help=f"training steps (default {defaults['n_steps']})"
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=defaults["batch_size"],
        help=f"batch size (default {defaults['batch_size']})",
    )
    p.add_argument(
        "--eval-every",
        type=int,
        default=None,
        help=f"evaluation interval (default {defaults['eval_every']})",
    )
    p.add_argument(
        "--trajectories",
        type=int,
        default=None,
        help="number of trajectories (default: the system's protocol)",
    )
    p.add_argument(
        "--rollouts",
        type=int,
        default=None,
        help=f"test rollouts (default {defaults['n_rollouts']})",
    )
    p.add_argument(
        "--horizon",
        type=float,
        default=None,
        help=f"rollout horizon in training windows (default {defaults['horizon_factor']:g})",
    )
    p.add_argument(
        "--rollout-method",
        default=defaults["rollout_method"],
        choices=sorted(INTEGRATORS),
        help=f"integrator of the rollouts (default {defaults['rollout_method']})",
    )
    p.add_argument(
        "--step-size",
        type=float,
        default=None,
        help=f"integrator step (default {defaults['step_size']})",
    )

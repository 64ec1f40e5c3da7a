"""``ot-gradnets bench hamiltonian``: learned Hamiltonian dynamics against HNN."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ot_gradnets._threads import add_threads_argument, resolve_threads, thread_limit

from ._bench import DEFAULT_LR_GRID, run_benchmark
from ._integrators import INTEGRATORS
from ._systems import SYSTEMS

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


def _run(args: argparse.Namespace) -> int:
    with thread_limit(resolve_threads(args.threads)):  # "auto": small steps, one thread
        return _run_benchmark(args)


def _run_benchmark(args: argparse.Namespace) -> int:
    systems = args.systems or (
        ["mass-spring", "pendulum"] if args.quick else ["two-body", "spring-chain"]
    )
    models = args.models or (
        ["hnn:width=16", "gradnet-m", "mlp"]
        if args.quick
        else ["hnn", "gradnet-m:lr=auto", "mlp:lr=auto"]
    )
    opts: dict[str, Any] = {
        "n_steps": args.steps,
        "eval_every": args.eval_every,
        "n_trajectories": args.trajectories,
        "n_rollouts": args.rollouts,
        "horizon_factor": args.horizon,
        "step_size": args.step_size,
        "probe_steps": args.probe_steps,
    }
    if args.quick:
        opts = {k: (v if v is not None else _QUICK[k]) for k, v in opts.items()}
    defaults = {
        "n_steps": 10_000,
        "eval_every": 100,
        "n_rollouts": 16,
        "horizon_factor": 10.0,
        "step_size": 0.05,
        "probe_steps": 1000,
    }
    opts = {k: (v if v is not None else defaults.get(k)) for k, v in opts.items()}
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
        val_fraction=args.val_fraction,
        figures=not args.no_figures,
        verbose=args.verbose,
        **opts,
    )
    from ._bench import format_table

    print(format_table(rows))
    print(
        f"wrote {args.out}/hamiltonian.md, hamiltonian.csv, hamiltonian_curves.csv"
        + ("" if args.no_figures else " and figures")
    )
    print(f"{len(rows)} runs in {time.perf_counter() - tic:.1f} s")
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
    p.add_argument(
        "--systems",
        nargs="+",
        choices=sorted(SYSTEMS),
        default=None,
        help="systems (default two-body spring-chain; quick: mass-spring pendulum)",
    )
    p.add_argument(
        "--models",
        nargs="+",
        default=None,
        help="model specs NAME[:key=value,...], e.g. gradnet-m:num_modules=32,lr=1e-2; "
        "lr=auto selects the learning rate from --lr-grid on trajectories held out of the "
        "training split (names: hnn, mlp, and the core MODELS); default hnn gradnet-m:lr=auto "
        "mlp:lr=auto",
    )
    p.add_argument(
        "--lr-grid",
        type=float,
        nargs="+",
        default=list(DEFAULT_LR_GRID),
        help="candidate learning rates of lr=auto models (default 1e-3 3e-3 1e-2)",
    )
    p.add_argument(
        "--probe-steps",
        type=int,
        default=None,
        help="training steps of each learning-rate probe (default 1000; quick: 20)",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="fraction of the training trajectories held out to select lr=auto (default 0.2)",
    )
    p.add_argument("--quick", action="store_true", help="tiny run for tests (seconds)")
    p.add_argument("--out", default="out/hamiltonian", help="output folder")
    p.add_argument(
        "--budget",
        type=int,
        default=None,
        help="parameter budget (default: the HNN model's parameter count)",
    )
    p.add_argument("--steps", type=int, default=None, help="training steps (default 10000)")
    p.add_argument("--batch-size", type=int, default=200, help="batch size (default 200)")
    p.add_argument("--eval-every", type=int, default=None, help="evaluation interval (100)")
    p.add_argument(
        "--trajectories",
        type=int,
        default=None,
        help="number of trajectories (default: the system's protocol)",
    )
    p.add_argument("--rollouts", type=int, default=None, help="test rollouts (default 16)")
    p.add_argument(
        "--horizon",
        type=float,
        default=None,
        help="rollout horizon in training windows (default 10)",
    )
    p.add_argument(
        "--rollout-method",
        default="implicit-midpoint",
        choices=sorted(INTEGRATORS),
        help="integrator of the rollouts (default implicit-midpoint)",
    )
    p.add_argument("--step-size", type=float, default=None, help="integrator step (0.05)")
    p.add_argument("--seed", type=int, default=0)
    add_threads_argument(p)
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    p.add_argument("--verbose", action="store_true", help="progress bars")
    p.set_defaults(func=_run)

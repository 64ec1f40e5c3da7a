"""Command-line entry points of :mod:`ot_gradnets.transport`.

    ot-gradnets demo [--source gaussian] [--target moons] [--quick] [--out out/demo]
    ot-gradnets fit SOURCE TARGET -o map.pt [--loss dual] [--checkpoint F [--resume]] ...
    ot-gradnets transform map.pt X -o Y [--inverse]
    ot-gradnets bench transport [--quick] [--dims 2 8 ...] [--methods ...] [--time-limit S]

Data files (``.npy``, ``.npz``, ``.csv``) are read and written by :mod:`ot_gradnets.cli._files`.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ot_gradnets._io import atomic_npy
from ot_gradnets._threads import add_threads_argument
from ot_gradnets.bench.transport import METHODS
from ot_gradnets.cli._common import (
    add_bench_arguments,
    add_common_arguments,
    add_list_argument,
    with_threads,
)
from ot_gradnets.cli._files import check_output, convert, name_files, read_array, write_array
from ot_gradnets.transport import DEMO_DISTRIBUTIONS, PAIRS, sample_demo

__all__ = ["register"]


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------
def _estimator_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "loss": args.loss,
        "random_state": args.seed,
        # on a terminal a fit shows its progress (it may run minutes: --max-iter steps)
        "verbose": args.verbose or sys.stderr.isatty(),
        "threads": args.threads,
    }
    names = ("max_iter", "time_limit", "batch_size", "lr", "network", "width", "depth", "device")
    for name in (
        *names,
        "validation_fraction",
        "n_iter_no_change",
        "checkpoint",
        "checkpoint_every",
    ):
        value = getattr(args, name, None)
        if value is not None:
            kw[name] = value
    return kw


def _add_training_args(p: argparse.ArgumentParser) -> None:
    import inspect

    from ot_gradnets.transport import LOSSES, BrenierMap

    # the estimator's own defaults, shown in --help (the options default to None: "the
    # estimator's", so that a later change of a default reaches the command line)
    default = {
        name: param.default
        for name, param in inspect.signature(BrenierMap.__init__).parameters.items()
    }

    def shown(name: str, text: str) -> str:
        value = default[name]
        return (
            f"{text} (default {value:,})" if isinstance(value, int) else f"{text} (default {value})"
        )

    sample_losses = sorted(name for name, cls in LOSSES.items() if cls.needs_target_samples)
    p.add_argument(
        "--loss", default="dual", choices=sample_losses, help="training loss (default dual)"
    )
    p.add_argument("--network", default=None, help="mgradnet-m (default) or mgradnet-c")
    p.add_argument("--width", type=int, default=None, help=shown("width", "hidden width"))
    p.add_argument(
        "--depth",
        type=int,
        default=None,
        help="modules (mgradnet-m) or layers (mgradnet-c) (default: 8 modules up to 8 "
        "dimensions, else 4; 4 layers)",
    )
    p.add_argument(
        "--max-iter", type=int, default=None, help=shown("max_iter", "most optimisation steps")
    )
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="training budget in seconds (default none: --max-iter steps; with a limit the "
        "learning-rate schedule follows the clock, so seeded runs differ)",
    )
    p.add_argument(
        "--batch-size", type=int, default=None, help=shown("batch_size", "samples per step")
    )
    p.add_argument(
        "--lr",
        type=float,
        default=None,
        help="Adam learning rate (default auto: 0.03 min(1, sqrt(8 / d)))",
    )
    p.add_argument(
        "--device",
        default=None,
        help="train on this device, e.g. cuda or cuda:1 (default: the CPU)",
    )
    p.add_argument(
        "--validation-fraction",
        type=float,
        default=None,
        help="hold out this share of the samples and keep the weights with the best held-out "
        "loss (e.g. 0.1; worth it on small samples)",
    )
    p.add_argument(
        "--n-iter-no-change",
        type=int,
        default=None,
        help="with --validation-fraction: stop after this many held-out evaluations (every 100 "
        "steps) without improvement",
    )
    add_common_arguments(p, verbose="show a progress bar (always on a terminal)")


def _exact_w2(x: torch.Tensor, y: torch.Tensor) -> float:
    """Exact discrete :math:`W_2^2` (cost :math:`|x-y|^2`) between two equal-size samples."""
    import ot

    w = torch.full((x.shape[0],), 1.0 / x.shape[0], dtype=x.dtype)
    return float(ot.emd2(w, w, ot.dist(x, y)))


def demo(args: argparse.Namespace) -> int:
    """``ot-gradnets demo``: fit a 2-D map, print metrics, draw the displacement interpolation."""
    from ot_gradnets.transport import BrenierMap

    g = torch.Generator().manual_seed(args.seed)
    n_train = 2_000 if args.quick else 20_000
    n_test = 500 if args.quick else 2_000
    x = sample_demo(args.source, n_train, g).float()
    y = sample_demo(args.target, n_train, g).float()
    x_test = sample_demo(args.source, n_test, g).float()
    y_test = sample_demo(args.target, n_test, g).float()
    # a step budget, not a clock: the demo's picture must not depend on the machine's load
    max_iter = args.max_iter if args.max_iter is not None else (1000 if args.quick else 1500)
    kw = _estimator_kwargs(args)
    kw.update(time_limit=args.time_limit, max_iter=max_iter)
    tmap = BrenierMap(**kw).fit(x, y)
    ty = tmap.transform(x_test)
    w2_map = tmap.w2(x_test)
    before = _exact_w2(x_test.double(), y_test.double())  # the source, not moved: W2^2(P, Q)
    after = _exact_w2(ty.double(), y_test.double())  # the mapped source: W2^2(T#P, Q)
    floor = _exact_w2(
        sample_demo(args.target, n_test, g).double(), y_test.double()
    )  # two target samples: what a perfect map would read, sampling noise alone
    closed = (before - after) / max(before - floor, 1e-12)
    print(
        f"demo: {args.source} -> {args.target}, loss={tmap.loss}, {tmap.n_iter_} steps, "
        f"{tmap.fit_time_:.1f} s"
    )
    print(
        f"  fit: W2^2 between the mapped source T#P and the target on {n_test} held-out "
        f"samples is {after:.4f}, down from {before:.4f} before mapping; a perfect map would "
        f"read {floor:.4f} (sampling noise), so the map closed {100 * closed:.0f}% of the gap "
        "(higher is better)"
    )
    print(
        f"  cost: the map moves mass at E|x - T(x)|^2 = {w2_map:.4f}, its estimate of "
        f"W2^2(P, Q); exact OT between the two {n_test}-point samples reads {before:.4f}, which "
        "includes their sampling noise"
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig_path = out / "demo.png"
    _demo_figure(tmap, x_test[:1000], y_test[:1000], fig_path, args)
    tmap.save(out / "demo_map.pt")
    print(f"  wrote {fig_path} and {out / 'demo_map.pt'}")
    if closed < _DEMO_MIN_CLOSED:
        print(
            f"ot-gradnets: error: the map closed only {100 * closed:.0f}% of the gap to the "
            f"target in {tmap.n_iter_} steps; it has not learned {args.target!r}. Raise "
            "--max-iter (or drop --quick / --time-limit).",
            file=sys.stderr,
        )
        return 3
    return 0


#: the least share of the W2 gap between source and target that the demo's map must close
_DEMO_MIN_CLOSED = 0.5


def _demo_figure(tmap: Any, x: torch.Tensor, y: torch.Tensor, path: Path, args: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = (0.0, 0.25, 0.5, 0.75, 1.0)
    fig, axes = plt.subplots(1, len(times) + 1, figsize=(2.3 * (len(times) + 1), 2.5), dpi=80)
    lim = float(torch.cat([x, y]).abs().max()) * 1.05
    colour = x[:, 0].numpy()
    for ax, t in zip(axes, times, strict=False):
        xt = tmap.interpolate(x, t).numpy()
        ax.scatter(xt[:, 0], xt[:, 1], s=3, c=colour, cmap="viridis", lw=0)
        ax.set_title(f"t = {t:g}")
    yy = y.numpy()
    axes[-1].scatter(yy[:, 0], yy[:, 1], s=3, c="tab:red", lw=0)
    axes[-1].set_title(f"target ({args.target})")
    for ax in axes:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"Displacement interpolation (1-t) x + t T(x), {args.source} -> {args.target}", y=0.99
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def fit(args: argparse.Namespace) -> int:
    """``ot-gradnets fit SOURCE TARGET -o map.pt``; exit status 3 if the fit diverged (the
    last healthy map is saved all the same), 130 after Ctrl-C (the map as it was is saved).

    Under ``torchrun`` (``torchrun --nproc-per-node N -m ot_gradnets fit ...``) the processes
    train one map data-parallel, each on its share of every batch; rank 0 saves it and reports.
    """
    from ot_gradnets._distributed import init_from_environment, is_main, leave
    from ot_gradnets.transport import BrenierMap

    init_from_environment()  # under torchrun; "auto" threads then share the cores between ranks
    check_output(args.output, args.source, args.target)
    # .npy files are memory-mapped: the fit streams their rows and never loads them whole
    x = read_array(args.source, args.key, stream=True)
    y = read_array(args.target, args.key, stream=True)
    dtype = torch.float64 if args.float64 else torch.float32
    tmap = BrenierMap(**_estimator_kwargs(args), dtype=dtype)
    start = time.perf_counter()
    with warnings.catch_warnings():
        # the outcome is reported below, once, with the exit status
        warnings.filterwarnings("ignore", message="BrenierMap (recovered|diverged)")
        try:
            tmap.fit(x, y, resume=args.resume)
        except ValueError as err:  # the estimator's X and Y are the user's files here
            raise ValueError(name_files(str(err), args.source, args.target)) from None
    main_rank = is_main()
    leave()  # training is over: the ranks part before rank 0 saves
    if not main_rank:
        return 0
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    tmap.save(args.output)
    loss = tmap.history_["loss"][-1] if tmap.history_["loss"] else float("nan")
    print(
        f"fitted {x.shape[1]}-d map ({args.loss}) in {time.perf_counter() - start:.1f} s, "
        f"{tmap.n_iter_} steps ({tmap.stop_reason_}), final loss {loss:.6g}; W2^2 estimate "
        f"{tmap.w2(x[:10000]):.6g} (cost |x-y|^2); saved {args.output}"
    )
    for line in tmap.recoveries_:
        print(f"  recovered from a divergence at {line}", file=sys.stderr)
    if tmap.stop_reason_ == "interrupted":
        print(
            f"ot-gradnets: interrupted after {tmap.n_iter_} steps; saved the map as it was to "
            f"{args.output}",
            file=sys.stderr,
        )
        return 130
    if tmap.stop_reason_ == "diverged":
        print(
            "ot-gradnets: error: the fit diverged; the saved map is the best it had (the last "
            "healthy weights, or its start if training made the map worse). Try a smaller "
            "--lr, another --seed, or more samples.",
            file=sys.stderr,
        )
        return 3
    return 0


def transform(args: argparse.Namespace) -> int:
    """``ot-gradnets transform map.pt X -o Y [--inverse]``."""
    from ot_gradnets.transport import BrenierMap

    check_output(args.output, args.map, args.input)
    tmap = BrenierMap.load(args.map, device=args.device)
    # a .npy file is memory-mapped: the map reads it chunk by chunk, in the map's dtype
    x = read_array(args.input, args.key, stream=True)
    tmap.set_params(threads=args.threads)
    from sklearn.exceptions import ConvergenceWarning

    def apply(out: np.ndarray | None = None) -> np.ndarray:
        if not args.inverse:
            return np.asarray(tmap.transform(x, out=out))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # counted and reported below
            return np.asarray(tmap.inverse_transform(x, out=out))

    if Path(args.output).suffix.lower() == ".npy":  # written through a memory map, in chunks
        dtype = (
            np.float64 if next(tmap.network_.parameters()).dtype == torch.float64 else np.float32
        )
        with atomic_npy(args.output, (len(x), tmap.n_features_in_), dtype) as out:
            apply(out)
            failed = _nan_rows(out)
    else:
        out = apply()
        failed = _nan_rows(out)
        write_array(args.output, out)
    n = len(x)
    print(f"wrote {n} points to {args.output}")
    if failed:
        print(
            f"ot-gradnets: {'warning' if args.allow_unconverged else 'error'}: the inverse did "
            f"not converge for {failed} of {n} points; their rows are NaN in "
            f"{args.output}"
            + (
                ""
                if args.allow_unconverged
                else " (--allow-unconverged accepts this with exit status 0)"
            ),
            file=sys.stderr,
        )
        return 0 if args.allow_unconverged else 3
    return 0


def _nan_rows(out: np.ndarray, rows: int = 1 << 16) -> int:
    """Rows of ``out`` with a NaN, counted chunk by chunk (``out`` may be a memory map)."""
    return sum(int(np.isnan(out[i : i + rows]).any(axis=1).sum()) for i in range(0, len(out), rows))


def bench(args: argparse.Namespace) -> int:
    """``ot-gradnets bench transport``: run the benchmark with the command line's defaults, write
    its report and print it; returns 0.

    ``--quick``: d = 2 only, 500 training samples, baselines on 500 samples, ``BrenierMap`` for
    30 steps (under a minute on a CPU). The report covers every row of ``transport.csv``, kept
    ones included.
    """
    from ot_gradnets.bench.transport import DIMS, run_benchmark, write_report

    quick = bool(getattr(args, "quick", False))
    seed = int(getattr(args, "seed", None) or 0)
    out = Path(getattr(args, "out", None) or "out/bench_transport")
    start = time.perf_counter()
    results = run_benchmark(
        pairs=getattr(args, "pairs", None) or tuple(PAIRS),
        dims=getattr(args, "dims", None) or ((2,) if quick else DIMS),
        methods=getattr(args, "methods", None),
        time_limit=float(getattr(args, "time_limit", None) or (2.0 if quick else 600.0)),
        n_train=int(getattr(args, "n_train", None) or (500 if quick else 20_000)),
        n_test=int(getattr(args, "n_test", None) or (1000 if quick else 10_000)),
        seed=seed,
        quick=quick,
        threads=getattr(args, "threads", None) or "auto",
        out=out,
        resume=bool(getattr(args, "resume", False)),
        jobs=int(getattr(args, "jobs", None) or 1),
        verbose=sys.stderr.isatty(),  # a progress bar on a terminal, not in logs
    )
    table, written = write_report(out, seed)
    print(table)
    print(
        f"{len(results)} rows in {time.perf_counter() - start:.0f} s; wrote {out / 'transport.csv'}, "
        + ", ".join(str(p) for p in written)
    )
    return 0


def register(sub: Any, bench_sub: Any) -> None:
    """Add ``demo``, ``fit``, ``transform`` and ``bench transport`` to the ``ot-gradnets`` CLI."""
    _register_demo_and_fit(sub)
    _register_transform(sub)
    _register_convert(sub)
    _register_bench(bench_sub)


def _register_demo_and_fit(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="fit a Brenier map between two built-in 2-D distributions and draw it",
        description="Fit a Brenier map between two built-in 2-D distributions, print metrics "
        "and write a figure of the displacement interpolation.",
    )
    p.add_argument("--source", default="gaussian", choices=sorted(DEMO_DISTRIBUTIONS))
    p.add_argument("--target", default="moons", choices=sorted(DEMO_DISTRIBUTIONS))
    p.add_argument(
        "--quick", action="store_true", help="a small run (about 15 s: 2,000 samples, 1,000 steps)"
    )
    p.add_argument("--out", default="out/demo", help="output folder")
    _add_training_args(p)
    p.set_defaults(func=with_threads(demo))

    p = sub.add_parser(
        "fit",
        help="learn a Brenier map between two sample files",
        description="Learn the optimal transport map from SOURCE samples to TARGET samples "
        "(.npy, .npz or .csv, one sample per row) and save it.",
    )
    p.add_argument("source", help="source samples file")
    p.add_argument("target", help="target samples file")
    p.add_argument("-o", "--output", required=True, help="where to save the map (.pt)")
    p.add_argument("--key", default=None, help="array name inside .npz files")
    p.add_argument("--float64", action="store_true", help="train in float64 (default float32)")
    p.add_argument(
        "--checkpoint",
        default=None,
        help="write the training state to this file as it goes (see --resume)",
    )
    p.add_argument(
        "--checkpoint-every", type=int, default=None, help="steps between checkpoints (100)"
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from --checkpoint if it exists: the same command, run again after a "
        "kill, ends with the map an uninterrupted run gives",
    )
    _add_training_args(p)
    p.set_defaults(func=fit)


def _register_convert(sub: Any) -> None:
    p = sub.add_parser(
        "convert",
        help="convert a CSV of samples to a .npy file, in chunks (for files too large to load)",
        description="Convert comma-separated samples (one per line, an optional header of "
        "column names) to a float32 .npy file without loading the text whole; 'fit' streams "
        ".npy files from disk.",
    )
    p.add_argument("input", help="the .csv file")
    p.add_argument("-o", "--output", required=True, help="the .npy file to write")
    p.set_defaults(func=convert)


def _register_transform(sub: Any) -> None:
    p = sub.add_parser(
        "transform",
        help="apply a saved map to a file of points",
        description="Push the points of X through a map saved by 'ot-gradnets fit' "
        "(or pull them back with --inverse).",
    )
    p.add_argument("map", help="a map saved by 'ot-gradnets fit'")
    p.add_argument("input", help="points file (.npy, .npz or .csv)")
    p.add_argument("-o", "--output", required=True, help="output file (.npy, .npz or .csv)")
    p.add_argument("--key", default=None, help="array name inside .npz files")
    p.add_argument("--inverse", action="store_true", help="apply the inverse map")
    p.add_argument(
        "--allow-unconverged",
        action="store_true",
        help="with --inverse: exit 0 even if some points did not converge (their rows are NaN)",
    )
    p.add_argument("--device", default=None, help="run the map on this device (default: CPU)")
    add_threads_argument(p)
    p.set_defaults(func=transform)


def _register_bench(bench_sub: Any) -> None:
    p = bench_sub.add_parser(
        "transport",
        help="Brenier-map solvers and baselines on pairs with known maps",
        description="Benchmark the Brenier-map solvers and baselines on pairs with known maps; "
        "writes a markdown and CSV table and figures to --out.",
    )
    add_common_arguments(
        p,
        out="out/bench_transport",
        quick="small dims and seconds per run, for CI",
        seed="seed of the pairs and the solvers",
        verbose=None,
    )
    add_list_argument(p, "--dims", type=int, help="dimensions, e.g. 2 8 32")
    add_list_argument(
        p,
        "--methods",
        choices=sorted(METHODS),
        help="methods to run (default: all but the peers ott-enot and "
        'ott-enot-samplers, which need pip install "ot-gradnets[compare]")',
    )
    p.add_argument(
        "--time-limit", type=float, default=None, help="seconds of training per method and pair"
    )
    add_list_argument(
        p, "--pairs", choices=sorted(PAIRS), help=f"pairs from {sorted(PAIRS)} (default: all)"
    )
    p.add_argument(
        "--n-train", type=int, default=None, help="training samples per distribution (20000)"
    )
    p.add_argument("--n-test", type=int, default=None, help="test points (10000)")
    add_bench_arguments(p)
    p.set_defaults(func=bench)

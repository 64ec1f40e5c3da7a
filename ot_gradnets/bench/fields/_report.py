"""Tables and figures of the gradient-field benchmark: summaries of the runner's CSV rows."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from ot_gradnets import bench
from ot_gradnets.bench.fields._suites import AFFINE, BASELINE_NAMES

__all__ = [
    "COLUMNS",
    "PAPER_RESULTS",
    "markdown_table",
    "plot_db_vs_dim",
    "plot_heatmaps",
    "read_rows",
    "summarize",
]

#: The columns of ``fields_<suite>.csv`` (one row per trial) and their cell types.
COLUMNS: dict[str, type] = {
    "suite": str,
    "target": str,
    "dim": int,
    "model": str,
    "recipe": str,
    "params": int,
    "width": int,
    "trial": int,
    "lr": float,
    "schedule": str,
    "n_steps": int,
    "best_step": int,
    "val_db": float,
    "test_db": float,
    "test_db_std": float,
    "fit_s": float,
}

#: The authors' published test errors in dB: (target, dim, model) -> dB.
PAPER_RESULTS: dict[tuple[str, int, str], float] = {
    ("convex-2d", 2, "mgradnet-c"): -49.05,
    ("convex-2d", 2, "mgradnet-m"): -48.65,
    ("nonconvex-2d", 2, "gradnet-c"): -42.17,
    ("nonconvex-2d", 2, "gradnet-m"): -39.53,
    ("polymax", 256, "mgradnet-c"): -10.64,
    ("polymax", 256, "mgradnet-m"): -11.30,
    ("polymax", 1024, "mgradnet-c"): -8.75,
    ("polymax", 1024, "mgradnet-m"): -10.42,
}


def summarize(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group trial rows by (suite, target, dim, model, recipe): mean and std of the test dB.

    Returns one dict per group with ``n``, ``test_db`` (mean), ``std`` (over trials, or over test
    sets when there is a single trial), ``paper`` (the authors' number or ``None``) and
    ``delta`` (the group's minus the authors'; negative is better).
    """
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        key = (r["suite"], r["target"], int(r["dim"]), r["model"], r["recipe"])
        groups.setdefault(key, []).append(r)
    out = []
    for key, rs in groups.items():
        dbs = [float(r["test_db"]) for r in rs]
        mean = statistics.fmean(dbs)
        if len(dbs) > 1:
            std = statistics.stdev(dbs)
        else:
            std = float(rs[0]["test_db_std"] or 0.0)
        paper = PAPER_RESULTS.get((key[1], key[2], key[3]))
        lrs = sorted({float(r["lr"]) for r in rs})
        out.append(
            {
                "suite": key[0],
                "target": key[1],
                "dim": key[2],
                "model": key[3],
                "recipe": key[4],
                "params": rs[0]["params"],
                "lr": "/".join(f"{v:g}" for v in lrs),
                "n": len(rs),
                "test_db": mean,
                "std": std,
                "paper": paper,
                "delta": None if paper is None else mean - paper,
                "fit_s": statistics.fmean(float(r["fit_s"]) for r in rs),
            }
        )
    # gap to the best baseline (trained under any recipe, or the affine fit) on the same
    # (suite, target, dim)
    for g in out:
        base = [
            h["test_db"]
            for h in out
            if (h["suite"], h["target"], h["dim"]) == (g["suite"], g["target"], g["dim"])
            and (h["model"] in BASELINE_NAMES or h["model"] == AFFINE)
        ]
        g["vs_best_baseline"] = (
            None
            if not base or g["model"] in BASELINE_NAMES or g["model"] == AFFINE
            else g["test_db"] - min(base)
        )
    return out


def _fmt(v: float | None, spec: str = "+.2f") -> str:
    return "" if v is None else format(v, spec)


def markdown_table(summary: Sequence[dict[str, Any]]) -> str:
    """A markdown table of :func:`summarize`'s output (dB: lower is better)."""
    head = (
        "| suite | target | d | model | recipe | params | lr | n | test dB | std | "
        "authors | Δ vs authors | Δ vs best baseline | fit s |"
    )
    lines = [head, "|" + "---|" * 14]
    for g in sorted(
        summary, key=lambda g: (g["suite"], g["target"], g["dim"], g["recipe"], g["test_db"])
    ):
        lines.append(
            f"| {g['suite']} | {g['target']} | {g['dim']} | {g['model']} | {g['recipe']} | "
            f"{g['params']} | {g['lr']} | {g['n']} | {g['test_db']:.2f} | {g['std']:.2f} | "
            f"{_fmt(g['paper'], '.2f')} | {_fmt(g['delta'])} | {_fmt(g['vs_best_baseline'])} | "
            f"{g['fit_s']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def _plt() -> Any:
    try:
        import matplotlib
    except ImportError as err:  # pragma: no cover - matplotlib is a core dependency
        raise ImportError("figures need matplotlib: pip install matplotlib") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_heatmaps(maps: dict[tuple[str, str, str], Tensor], path: Path) -> Path:
    """One panel per (target, model, recipe): mean over trials of |N(x) - grad F(x)|."""
    plt = _plt()
    keys = sorted(maps)
    cols = min(4, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.0 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys, strict=False):
        im = ax.imshow(maps[key].numpy(), origin="lower", extent=(0, 1, 0, 1), cmap="viridis")
        ax.set_title(f"{key[0]}\n{key[1]} ({key[2]})", fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.046)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    fig.suptitle("mean |N(x) - grad F(x)| on the grid", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_db_vs_dim(summary: Sequence[dict[str, Any]], path: Path) -> Path:
    """dB against dimension, one line per (model, recipe), one panel per target."""
    plt = _plt()
    targets = sorted({g["target"] for g in summary})
    fig, axes = plt.subplots(1, len(targets), figsize=(5 * len(targets), 3.8), squeeze=False)
    for ax, tname in zip(axes.flat, targets, strict=False):
        sub = [g for g in summary if g["target"] == tname]
        colours = plt.get_cmap("tab20").colors  # more lines than tab10's ten colours
        for i, (model, recipe) in enumerate(sorted({(g["model"], g["recipe"]) for g in sub})):
            pts = sorted(
                (g["dim"], g["test_db"])
                for g in sub
                if (g["model"], g["recipe"]) == (model, recipe)
            )
            style = "-" if recipe == "paper" else "--"
            ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                style,
                marker="o",
                color=colours[i % len(colours)],
                label=f"{model} ({recipe})",
            )
        ax.set_xscale("log", base=2)
        ax.set_xlabel("dimension d")
        ax.set_ylabel("test error (dB)")
        ax.set_title(tname)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def read_rows(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Read trial rows back from ``fields_*.csv`` files (to merge runs into one report), with
    the runner's types (ints and floats; empty cells are ``None``)."""
    return [row for p in paths for row in bench.read_rows(p, COLUMNS)]

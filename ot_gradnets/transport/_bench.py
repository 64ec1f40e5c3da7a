r"""``ot-gradnets bench transport``: every map estimator on every benchmark pair.

For each pair in :data:`~ot_gradnets.transport.PAIRS` (``gaussian``, ``gmm-convex`` and the hard
``gmm-icnn``; ``--pairs`` picks some), dimension :math:`d` and method, the runner draws training
samples, fits the method (timing the fit), and scores it on fresh source points against the
exact map with L2-UVP and the cosine similarity (:mod:`ot_gradnets.transport._metrics`). It
writes into the output folder

* ``transport.csv``: one row per run (method, pair, d, L2-UVP, cos, fit time, n_train, ...);
  rows accumulate across invocations (a rerun of the same method, pair and d replaces its
  row), so a long benchmark can be run in parts;
* ``transport.md``: the same as a markdown table, one block per pair;
* ``l2_uvp_vs_dim.png``: L2-UVP against :math:`d`, per method and pair (log scale);
* ``interpolation_2d.png``: McCann displacement interpolation
  :math:`x_t = (1 - t)\,x + t\,\hat T(x)` of every method fitted in this invocation at
  :math:`d = 2` on the ``gmm-convex`` pair.

Methods (:data:`METHODS`): the baselines ``linear``, ``entropic``, ``barycentric``
(:mod:`ot_gradnets.transport._baselines`), ``brenier`` (``BrenierMap(d)`` with its defaults,
exactly as a new user calls it, only capped by the time limit) and ``brenier-<loss>`` for each
training loss (its defaults, with the whole time limit as budget). ``brenier-monge-ampere``
trains from the pair's log-densities (the target samples only set the linear start), so it runs
on pairs that have them in closed form (``gaussian``) and is skipped on the others.
"""

from __future__ import annotations

import csv
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ot_gradnets._io import atomic_open, atomic_write_text
from ot_gradnets._threads import resolve_threads, thread_limit
from ot_gradnets.transport._baselines import BarycentricMap, EntropicMap, LinearMap
from ot_gradnets.transport._brenier import BrenierMap
from ot_gradnets.transport._metrics import cosine_similarity, l2_uvp
from ot_gradnets.transport._pairs import PAIRS, TransportPair, make_pair

__all__ = ["METHODS", "BenchResult", "main", "run_benchmark"]

DIMS = (2, 4, 8, 16, 32, 64, 128)
BRENIER_LOSSES = ("dual", "w2", "sinkhorn")
_UNLIMITED_STEPS = 10**9  # "train until the time limit"


def _brenier(**kwargs: Any) -> Callable[..., Any]:
    def build(dim: int, time_limit: float, seed: int, quick: bool) -> Any:
        params = dict(kwargs)
        if quick:
            params["max_iter"] = 30
        return BrenierMap(dim, time_limit=time_limit, random_state=seed, **params)

    return build


def _baseline(cls: type, **quick_kwargs: Any) -> Callable[..., Any]:
    def build(dim: int, time_limit: float, seed: int, quick: bool) -> Any:
        return cls(**quick_kwargs) if quick else cls()

    return build


#: name -> ``factory(dim, time_limit, seed, quick)`` returning an unfitted estimator.
METHODS: dict[str, Callable[..., Any]] = {
    "linear": _baseline(LinearMap),
    "entropic": _baseline(EntropicMap, max_samples=500),
    "barycentric": _baseline(BarycentricMap, max_samples=500),
    "brenier": _brenier(),
    **{
        f"brenier-{loss}": _brenier(loss=loss, max_iter=_UNLIMITED_STEPS) for loss in BRENIER_LOSSES
    },
    "brenier-monge-ampere": _brenier(loss="monge-ampere", max_iter=_UNLIMITED_STEPS),
}
BASELINE_METHODS = ("linear", "entropic", "barycentric")


@dataclass
class BenchResult:
    """One benchmark run. ``l2_uvp`` in percent; ``fit_time`` in seconds; ``n_train`` the samples
    of each distribution the method saw (its own subsampling included); ``n_iter`` the
    optimisation steps of ``BrenierMap`` runs (empty for baselines); ``note`` any warning."""

    method: str
    pair: str
    d: int
    l2_uvp: float
    cos: float
    fit_time: float
    n_train: int
    n_iter: int | None = None
    note: str = ""


_CSV_HEADER = ["method", "pair", "d", "L2-UVP %", "cos", "fit time s", "n_train", "n_iter", "note"]


def _n_seen(model: Any, n_train: int) -> int:
    max_samples = getattr(model, "max_samples", None)
    return min(n_train, max_samples) if max_samples else n_train


def _fit_and_score(
    name: str,
    pair: TransportPair,
    time_limit: float,
    n_train: int,
    n_test: int,
    seed: int,
    quick: bool,
    threads: int | str = "auto",
) -> tuple[BenchResult, Any]:
    model = METHODS[name](pair.dim, time_limit, seed, quick)
    if hasattr(model, "threads"):  # BrenierMap picks its own count per fit
        model.set_params(threads=threads)
    densities = {}
    if name == "brenier-monge-ampere":  # log-densities; target samples set the linear start
        densities = {
            "source_log_density": pair.source_log_density,  # type: ignore[attr-defined]
            "target_log_density": pair.target_log_density,  # type: ignore[attr-defined]
        }
    x_train = pair.sample_source(n_train, torch.Generator().manual_seed(seed + 1))
    y_train = pair.sample_target(n_train, torch.Generator().manual_seed(seed + 2))
    x_test = pair.sample_source(n_test, torch.Generator().manual_seed(seed + 3))
    true = pair.transport(x_test.double())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        model.fit(x_train, y_train, **densities)
        fit_time = time.perf_counter() - start
        with torch.no_grad():
            pred = model.transform(x_test)
    pred = torch.as_tensor(pred).double()
    note = "; ".join(sorted({str(w.message).split("\n")[0][:80] for w in caught}))
    finite = bool(torch.isfinite(pred).all())
    result = BenchResult(
        method=name,
        pair=pair.name,
        d=pair.dim,
        l2_uvp=l2_uvp(pred, true, pair.target_variance()) if finite else math.inf,
        cos=cosine_similarity(x_test.double(), pred, true) if finite else math.nan,
        fit_time=fit_time,
        n_train=_n_seen(model, n_train),
        n_iter=getattr(model, "n_iter_", None) if name.startswith("brenier") else None,
        note=note if finite else ("non-finite predictions; " + note),
    )
    return result, model


def run_benchmark(
    pairs: Sequence[str] = tuple(PAIRS),
    dims: Sequence[int] = DIMS,
    methods: Sequence[str] | None = None,
    time_limit: float = 600.0,
    n_train: int = 20_000,
    n_test: int = 10_000,
    seed: int = 0,
    quick: bool = False,
    verbose: bool = True,
    on_result: Callable[[BenchResult], None] | None = None,
    threads: int | str = "auto",
) -> tuple[list[BenchResult], dict[tuple[str, str, int], Any]]:
    """Fit and score every method on every pair and dimension.

    Args:
        pairs: names in :data:`PAIRS`; dims: dimensions; methods: names in :data:`METHODS`
            (``None``: all, or only the baselines while ``BrenierMap`` is unavailable).
        time_limit: seconds per ``BrenierMap`` fit.
        n_train: training samples per distribution (baselines subsample, see their
            ``max_samples``); n_test: test points for the metrics.
        seed: seed of the pairs (``make_pair(name, d, seed)``) and of all samples.
        quick: small, fast settings for smoke tests.
        verbose: show a tqdm bar over the runs.
        on_result: called with each result as soon as it is available.
        threads: CPU threads (``"auto"``: see :func:`ot_gradnets.resolve_threads`; one for the
            baselines and scoring, ``BrenierMap``'s own rule for its fits).

    Returns:
        The results, and the fitted models at ``d = 2`` keyed by ``(method, pair, d)``.
    """
    if methods is None:
        methods = list(METHODS)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"methods must be in {sorted(METHODS)}, got unknown {unknown}.")
    bad_pairs = [p for p in pairs if p not in PAIRS]
    if bad_pairs:
        raise ValueError(f"pairs must be in {sorted(PAIRS)}, got unknown {bad_pairs}.")
    runs = [(p, d, m) for p in pairs for d in dims for m in methods]
    results: list[BenchResult] = []
    models: dict[tuple[str, str, int], Any] = {}
    bar = tqdm(runs, desc="bench transport", disable=not verbose)
    for pair_name, d, method in bar:
        bar.set_postfix_str(f"{method} {pair_name} d={d}")
        pair = make_pair(pair_name, d, seed, dtype=torch.float32)
        if method == "brenier-monge-ampere" and not hasattr(pair, "target_log_density"):
            continue  # the target's density has no closed form on this pair
        with thread_limit(resolve_threads(threads)):  # the baselines' and the scoring's
            result, model = _fit_and_score(
                method, pair, time_limit, n_train, n_test, seed, quick, threads
            )
        results.append(result)
        if d == 2:
            models[(method, pair_name, d)] = (model, pair)
        if on_result is not None:
            on_result(result)
    return results, models


# ---------------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------------


def read_csv(path: Path) -> list[BenchResult]:
    """Read results written by :func:`write_csv`."""
    rows = []
    with open(path, newline="") as f:
        for rec in csv.DictReader(f):
            rows.append(
                BenchResult(
                    method=rec["method"],
                    pair=rec["pair"],
                    d=int(rec["d"]),
                    l2_uvp=float(rec["L2-UVP %"]),
                    cos=float(rec["cos"]),
                    fit_time=float(rec["fit time s"]),
                    n_train=int(rec["n_train"]),
                    n_iter=int(rec["n_iter"]) if rec.get("n_iter") else None,
                    note=rec.get("note", ""),
                )
            )
    return rows


def _sorted(results: Sequence[BenchResult]) -> list[BenchResult]:
    order = {m: i for i, m in enumerate(METHODS)}
    return sorted(results, key=lambda r: (r.pair, r.d, order.get(r.method, 99), r.method))


def write_csv(results: Sequence[BenchResult], path: Path) -> None:
    """Write results as CSV (columns: method, pair, d, L2-UVP %, cos, fit time s, n_train,
    n_iter, note)."""
    with atomic_open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(_CSV_HEADER)
        for r in _sorted(results):
            w.writerow(
                [
                    r.method,
                    r.pair,
                    r.d,
                    f"{r.l2_uvp:.4g}",
                    f"{r.cos:.5f}",
                    f"{r.fit_time:.2f}",
                    r.n_train,
                    "" if r.n_iter is None else r.n_iter,
                    r.note,
                ]
            )


def markdown_table(results: Sequence[BenchResult]) -> str:
    """Results as markdown: one table per pair, rows (method, d)."""
    lines = []
    for pair in sorted({r.pair for r in results}):
        lines += [
            f"**{pair}**",
            "",
            "| method | d | L2-UVP % | cos | fit time s | n_train | steps |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in _sorted([r for r in results if r.pair == pair]):
            steps = "" if r.n_iter is None else str(r.n_iter)
            lines.append(
                f"| {r.method} | {r.d} | {r.l2_uvp:.3g} | {r.cos:.4f} | {r.fit_time:.1f} "
                f"| {r.n_train} | {steps} |"
            )
        lines.append("")
    return "\n".join(lines)


def plot_uvp_vs_dim(results: Sequence[BenchResult], path: Path) -> None:
    """L2-UVP against dimension (log-log), one panel per pair, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = sorted({r.pair for r in results})
    fig, axes = plt.subplots(1, len(pairs), figsize=(5 * len(pairs), 4), squeeze=False)
    for ax, pair in zip(axes[0], pairs, strict=True):
        for method in [m for m in METHODS if any(r.method == m for r in results)]:
            rows = sorted(
                (r for r in results if r.pair == pair and r.method == method and r.l2_uvp > 0),
                key=lambda r: r.d,
            )
            if rows:
                style = "--" if method in BASELINE_METHODS else "-"
                ax.plot(
                    [r.d for r in rows], [r.l2_uvp for r in rows], style, marker="o", label=method
                )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("dimension d")
        ax.set_ylabel("L2-UVP (%)")
        ax.set_title(pair)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_interpolation(models: dict[tuple[str, str, int], Any], path: Path, n: int = 600) -> bool:
    """McCann interpolation ``(1 - t) x + t T(x)`` of every 2-D model on ``gmm-convex`` (or the
    first pair available); returns False when there is no 2-D model to draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pair_names = sorted({k[1] for k in models})
    if not pair_names:
        return False
    pair_name = "gmm-convex" if "gmm-convex" in pair_names else pair_names[0]
    entries = [(k[0], v) for k, v in models.items() if k[1] == pair_name]
    pair = entries[0][1][1]
    x = pair.sample_source(n, torch.Generator().manual_seed(12345))
    y = pair.sample_target(n, torch.Generator().manual_seed(54321))
    ts = (0.25, 0.5, 0.75, 1.0)
    panels = [("exact T*", pair.transport)] + [
        (name, lambda z, m=model: torch.as_tensor(m.transform(z)).to(z.dtype))
        for name, (model, _) in entries
    ]
    ncols = min(4, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.2 * ncols, 3.2 * nrows), squeeze=False, sharex=True, sharey=True
    )
    cmap = plt.get_cmap("viridis")
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax, (name, fn) in zip(axes.flat, panels, strict=False):
        with torch.no_grad():
            tx = fn(x)
        ax.scatter(*y.T, s=2, c="lightgray", label="target")
        ax.scatter(*x.T, s=2, color=cmap(0.0), label="t=0")
        for t in ts:
            xt = (1 - t) * x + t * tx
            ax.scatter(*xt.T, s=2, color=cmap(t), label=f"t={t:g}")
        ax.set_title(name, fontsize=9)
    axes[0][0].legend(fontsize=6, markerscale=2, loc="best")
    fig.suptitle(f"displacement interpolation, {pair_name}, d = 2", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def _merge(old: Sequence[BenchResult], new: Sequence[BenchResult]) -> list[BenchResult]:
    keys = {(r.method, r.pair, r.d) for r in new}
    return [r for r in old if (r.method, r.pair, r.d) not in keys] + list(new)


def main(args: Any) -> int:
    """Run the transport benchmark from parsed command-line arguments; returns 0.

    Reads ``args.quick``, ``args.dims``, ``args.methods``, ``args.time_limit``, ``args.out`` and,
    when present, ``args.pairs``, ``args.n_train``, ``args.n_test``, ``args.seed``,
    ``args.threads``. ``--quick``: d = 2 only, 500 training samples, baselines on 500 samples,
    ``BrenierMap`` for 30 steps (under a minute on a CPU).
    """
    quick = bool(getattr(args, "quick", False))
    dims = getattr(args, "dims", None) or ((2,) if quick else DIMS)
    methods = getattr(args, "methods", None)
    time_limit = getattr(args, "time_limit", None) or (2.0 if quick else 600.0)
    pairs = getattr(args, "pairs", None) or tuple(PAIRS)
    n_train = getattr(args, "n_train", None) or (500 if quick else 20_000)
    n_test = getattr(args, "n_test", None) or (1000 if quick else 10_000)
    seed = getattr(args, "seed", None) or 0
    threads = getattr(args, "threads", None) or "auto"
    out = Path(getattr(args, "out", None) or "out/bench_transport")
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "transport.csv"
    previous = read_csv(csv_path) if csv_path.exists() else []
    done: list[BenchResult] = []

    def save(result: BenchResult) -> None:  # keep partial results of long runs
        done.append(result)
        write_csv(_merge(previous, done), csv_path)

    start = time.perf_counter()
    _, models = run_benchmark(
        pairs=pairs,
        dims=dims,
        methods=methods,
        time_limit=float(time_limit),
        n_train=int(n_train),
        n_test=int(n_test),
        seed=int(seed),
        quick=quick,
        on_result=save,
        threads=threads,
    )
    wall = time.perf_counter() - start
    results = _merge(previous, done)
    table = markdown_table(results)
    atomic_write_text(out / "transport.md", table)
    plot_uvp_vs_dim(results, out / "l2_uvp_vs_dim.png")
    figures = ["l2_uvp_vs_dim.png"]
    if models and plot_interpolation(models, out / "interpolation_2d.png"):
        figures.append("interpolation_2d.png")
    print(table)  # noqa: T201 - the command's report
    print(  # noqa: T201
        f"{len(done)} runs in {wall:.0f} s; wrote {csv_path}, {out / 'transport.md'}, "
        + ", ".join(str(out / f) for f in figures)
    )
    return 0

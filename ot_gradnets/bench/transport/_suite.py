r"""``ot-gradnets bench transport``: every map estimator on every benchmark pair.

For each pair in :data:`~ot_gradnets.transport.PAIRS` (``gaussian``, ``gmm-convex`` and the hard
``gmm-icnn``; ``--pairs`` picks some), dimension :math:`d` and method, the runner draws training
samples, fits the method (timing the fit), and scores it on fresh source points against the
exact map with L2-UVP and the cosine similarity (:mod:`ot_gradnets.transport._metrics`). It
writes into the output folder

* ``transport.csv``: one row per run (method, pair, d, L2-UVP, cos, fit time, n_train, ...),
  written as each run finishes (:class:`~ot_gradnets.bench.RowStore`); with ``resume`` the
  rows of an earlier run with the same settings are kept and only the missing runs are made,
  so a long benchmark can be run in parts or picked up after a kill, and ``jobs`` runs
  fits in parallel worker processes (:func:`~ot_gradnets.bench.run_units`);
* ``transport.md``: every row of the CSV as a markdown table, one block per pair;
* ``l2_uvp_vs_dim.png``: L2-UVP against :math:`d`, per method and pair (log scale);
* ``interpolation_2d.png``: McCann displacement interpolation
  :math:`x_t = (1 - t)\,x + t\,\hat T(x)` of every method in the table at :math:`d = 2` on
  the ``gmm-convex`` pair (from the maps' images the runs keep in ``interpolation/``).

Methods (:data:`METHODS`): the baselines ``linear``, ``entropic``, ``barycentric``
(:mod:`ot_gradnets.transport._baselines`), ``brenier`` (``BrenierMap(d)`` with its defaults,
exactly as a new user calls it, only capped by the time limit), ``brenier-samplers`` (the same
estimator given samplers, fresh samples at every step: the protocol of Korotin et al.'s
benchmark; ``n_train`` is then 0) and ``brenier-<loss>`` for each
training loss (its defaults, with the whole time limit as budget). ``brenier-monge-ampere``
trains from the pair's log-densities (the target samples only set the linear start), so it runs
on pairs that have them in closed form (``gaussian``) and is skipped on the others.

The peer ``ott-enot`` (and ``ott-enot-samplers``, on fresh samples) is OTT-JAX's
``ExpectileNeuralDual`` with OTT's defaults (20,000 iterations at batch 1,024, capped by the time
limit; :class:`~ot_gradnets.bench.transport.OTTExpectileMap`), on the same samples, scorer
and one CPU thread. It runs only when named in ``methods`` and needs ``pip install
"ot-gradnets[compare]"``.
"""

from __future__ import annotations

import functools
import math
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ot_gradnets._io import atomic_open, atomic_write_text
from ot_gradnets._threads import resolve_threads, thread_limit
from ot_gradnets.bench import Column, RowStore, plot_lines, pyplot, read_rows, run_units
from ot_gradnets.bench import markdown_table as markdown_table_of
from ot_gradnets.transport._baselines import BarycentricMap, EntropicMap, LinearMap
from ot_gradnets.transport._brenier import BrenierMap
from ot_gradnets.transport._metrics import cosine_similarity, l2_uvp
from ot_gradnets.transport._pairs import (
    FROZEN_PAIRS,
    MIX3TO10_DIMS,
    PAIRS,
    TransportPair,
    make_pair,
)

__all__ = [
    "METHODS",
    "PEER_METHODS",
    "BenchResult",
    "write_report",
    "markdown_table",
    "read_csv",
    "run_benchmark",
]

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


def _ott_enot(dim: int, time_limit: float, seed: int, quick: bool) -> Any:
    from ot_gradnets.bench.transport._ott_enot import OTTExpectileMap

    if quick:  # 30 iterations, whatever JAX's compilation takes
        return OTTExpectileMap(num_train_iters=30, random_state=seed)
    return OTTExpectileMap(time_limit=time_limit, random_state=seed)


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
    "brenier-samplers": _brenier(),
    **{
        f"brenier-{loss}": _brenier(loss=loss, max_iter=_UNLIMITED_STEPS) for loss in BRENIER_LOSSES
    },
    "brenier-monge-ampere": _brenier(loss="monge-ampere", max_iter=_UNLIMITED_STEPS),
    "ott-enot": _ott_enot,
    "ott-enot-samplers": _ott_enot,
}
BASELINE_METHODS = ("linear", "entropic", "barycentric")
#: Peers from other libraries, run only when asked for (``--methods``) and installed.
PEER_METHODS = ("ott-enot", "ott-enot-samplers")


def _samplers(name: str) -> bool:
    """Whether the method trains on fresh samples at every step (the field's protocol)."""
    return name.endswith("-samplers")


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


#: The CSV's columns (its header is the one earlier versions wrote) and their cell types.
COLUMNS: dict[str, type] = {
    "method": str,
    "pair": str,
    "d": int,
    "L2-UVP %": float,
    "cos": float,
    "fit time s": float,
    "n_train": int,
    "n_iter": int,
    "note": str,
}
_FORMATS = {"L2-UVP %": ".4g", "cos": ".5f", "fit time s": ".2f"}
_KEY = ("pair", "d", "method")  # a unit of work is one (pair, d, method): one row
_FIELDS = dict(zip(COLUMNS, ("method", "pair", "d", "l2_uvp", "cos", "fit_time", "n_train",
                             "n_iter", "note"), strict=True))  # fmt: skip
#: The points whose images under every 2-D map the interpolation figure draws.
_PLOT_POINTS = 600


def _as_row(result: BenchResult) -> dict[str, Any]:
    return {col: getattr(result, attr) for col, attr in _FIELDS.items()}


def _as_result(row: dict[str, Any]) -> BenchResult:
    values = {attr: row[col] for col, attr in _FIELDS.items()}
    values["note"] = values["note"] or ""
    return BenchResult(**values)


def _n_seen(model: Any, n_train: int) -> int:
    max_samples = getattr(model, "max_samples", None)
    return min(n_train, max_samples) if max_samples else n_train


@dataclass(frozen=True)
class _Settings:
    """What every run of one benchmark shares. All but ``out`` and ``threads`` change the rows'
    values, so they make the fingerprint that ``resume`` checks."""

    time_limit: float
    n_train: int
    n_test: int
    seed: int
    quick: bool
    out: str | None = None
    threads: int | str = "auto"

    def fingerprinted(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("out", "threads")}


def _fit_and_score(name: str, pair: TransportPair, s: _Settings) -> tuple[BenchResult, Any]:
    model = METHODS[name](pair.dim, s.time_limit, s.seed, s.quick)
    if hasattr(model, "threads"):  # BrenierMap picks its own count per fit
        model.set_params(threads=s.threads)
    densities = {}
    if name == "brenier-monge-ampere":  # log-densities; target samples set the linear start
        densities = {
            "source_log_density": pair.source_log_density,  # type: ignore[attr-defined]
            "target_log_density": pair.target_log_density,  # type: ignore[attr-defined]
        }
    if _samplers(name):  # fresh samples at every step, from the seeds' streams
        gx, gy = (torch.Generator().manual_seed(s.seed + k) for k in (1, 2))
        x_train: Any = lambda n: pair.sample_source(n, gx)  # noqa: E731
        y_train: Any = lambda n: pair.sample_target(n, gy)  # noqa: E731
    else:
        x_train = pair.sample_source(s.n_train, torch.Generator().manual_seed(s.seed + 1))
        y_train = pair.sample_target(s.n_train, torch.Generator().manual_seed(s.seed + 2))
    x_test = pair.sample_source(s.n_test, torch.Generator().manual_seed(s.seed + 3))
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
        n_train=0 if _samplers(name) else _n_seen(model, s.n_train),
        n_iter=getattr(model, "n_iter_", None),
        note=note if finite else ("non-finite predictions; " + note),
    )
    return result, model


def _pair_seed(name: str, seed: int) -> int:
    """The pair's own seed: ``seed``, or 0 for a frozen pair (``seed`` then seeds the samples)."""
    return 0 if name in FROZEN_PAIRS else seed


def _plot_points(pair: TransportPair) -> Tensor:
    return pair.sample_source(_PLOT_POINTS, torch.Generator().manual_seed(12345))


def _unit_rows(s: _Settings, unit: tuple[str, int, str]) -> list[dict[str, Any]]:
    """The row of one (pair, d, method); at d = 2 it also keeps the map's images of the
    interpolation figure's points (``out/interpolation/<method>_<pair>.pt``)."""
    pair_name, d, method = unit
    pair = make_pair(pair_name, d, _pair_seed(pair_name, s.seed), dtype=torch.float32)
    if method == "brenier-monge-ampere" and not hasattr(pair, "target_log_density"):
        return []  # the target's density has no closed form on this pair
    with thread_limit(resolve_threads(s.threads)):  # the baselines' and the scoring's
        result, model = _fit_and_score(method, pair, s)
        if d == 2 and s.out is not None:
            with torch.no_grad():
                images = torch.as_tensor(model.transform(_plot_points(pair))).float()
            folder = Path(s.out) / "interpolation"
            folder.mkdir(parents=True, exist_ok=True)
            with atomic_open(folder / f"{method}_{pair_name}.pt", "wb") as fh:
                torch.save(images, fh)
    return [_as_row(result)]


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
    threads: int | str = "auto",
    out: str | Path | None = None,
    resume: bool = False,
    jobs: int = 1,
) -> list[BenchResult]:
    """Fit and score every method on every pair and dimension.

    Args:
        pairs: names in :data:`~ot_gradnets.transport.PAIRS`; dims: dimensions; methods: names
            in :data:`METHODS` (``None``: all but the peers of other libraries, ``ott-enot`` and
            ``ott-enot-samplers``, which need the ``compare`` extra).
        time_limit: seconds per ``BrenierMap`` fit.
        n_train: training samples per distribution (baselines subsample, see their
            ``max_samples``); n_test: test points for the metrics.
        seed: seed of the pairs (``make_pair(name, d, seed)``; frozen pairs such as
            ``mix3to10`` always use their one potential) and of all samples.
        quick: small, fast settings for smoke tests.
        verbose: show a progress bar over the runs.
        threads: CPU threads (``"auto"``: see :func:`ot_gradnets.resolve_threads`; one for the
            baselines and scoring, ``BrenierMap``'s own rule for its fits). Workers of
            ``jobs > 1`` use one each.
        out: folder of ``transport.csv`` (written as each run finishes) and the 2-D maps'
            images for the interpolation figure; ``None``: a temporary folder, removed after.
        resume: keep the rows an earlier run with the same ``time_limit``, ``n_train``,
            ``n_test``, ``seed`` and ``quick`` wrote to ``out`` and run only the missing ones;
            rows of other pairs, dimensions or methods are kept too, so a benchmark can be run
            in parts. Without it, ``transport.csv`` starts anew.
        jobs: worker processes, each running whole fits with one torch thread.

    Returns:
        The results of this call's pairs, dimensions and methods (kept ones included), in
        table order.
    """
    if methods is None:
        methods = [m for m in METHODS if m not in PEER_METHODS]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"methods must be in {sorted(METHODS)}, got unknown {unknown}.")
    peers = [m for m in methods if m in PEER_METHODS]
    if peers:
        from ot_gradnets.bench.transport._ott_enot import ott_available

        if not ott_available():
            raise ValueError(
                f'{peers} need OTT-JAX, which is not installed: pip install "ot-gradnets[compare]".'
            )
        if threads not in (1, "auto") and jobs == 1:
            raise ValueError(f"{peers} run JAX on one CPU thread; pass threads=1, not {threads}.")
    bad_pairs = [p for p in pairs if p not in PAIRS]
    if bad_pairs:
        raise ValueError(f"pairs must be in {sorted(PAIRS)}, got unknown {bad_pairs}.")
    missing = [int(d) for d in dims if int(d) not in MIX3TO10_DIMS]
    if "mix3to10" in pairs and missing:
        raise ValueError(
            f"the mix3to10 pair exists for d in {list(MIX3TO10_DIMS)}, not {missing}; "
            "pass --pairs without it or other --dims."
        )
    if out is None:
        with tempfile.TemporaryDirectory() as tmp:
            return run_benchmark(pairs, dims, methods, time_limit, n_train, n_test, seed, quick,
                                 verbose, threads, tmp, False, jobs)  # fmt: skip
    settings = _Settings(float(time_limit), int(n_train), int(n_test), int(seed), bool(quick),
                         str(out), 1 if jobs > 1 else threads)  # fmt: skip
    store = _store(Path(out), settings, resume)
    units = [(p, int(d), m) for p in pairs for d in dims for m in methods]
    run_units(units, functools.partial(_unit_rows, settings), store, jobs=jobs,
              progress=verbose, desc="bench transport")  # fmt: skip
    store.sort(_table_order)
    wanted = set(units)
    return [_as_result(r) for r in store.rows if (r["pair"], r["d"], r["method"]) in wanted]


def _store(out: Path, settings: _Settings, resume: bool) -> RowStore:
    return RowStore(out / "transport.csv", COLUMNS, _KEY, settings.fingerprinted(),
                    resume=resume, formats=_FORMATS)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------------


def read_csv(path: Path) -> list[BenchResult]:
    """Read the results in a ``transport.csv``."""
    return [_as_result(r) for r in read_rows(path, COLUMNS)]


def _table_order(row: dict[str, Any]) -> tuple[Any, ...]:
    order = {m: i for i, m in enumerate(METHODS)}
    return (row["pair"], row["d"], order.get(row["method"], 99), row["method"])


_TABLE = [
    Column("method", "method"),
    Column("d", "d", right=True),
    Column("L2-UVP %", "l2_uvp", ".3g", right=True),
    Column("cos", "cos", ".4f", right=True),
    Column("fit time s", "fit_time", ".1f", right=True),
    Column("n_train", "n_train", right=True),
    Column("steps", "n_iter", right=True),
]


def markdown_table(results: Sequence[BenchResult]) -> str:
    """Results as markdown: one table per pair, rows (method, d)."""
    rows = sorted((asdict(r) for r in results), key=_table_order)
    blocks = []
    for pair in sorted({r["pair"] for r in rows}):
        table = markdown_table_of([r for r in rows if r["pair"] == pair], _TABLE, missing="")
        blocks.append(f"**{pair}**\n\n{table}")
    return "\n".join(blocks)


def plot_uvp_vs_dim(results: Sequence[BenchResult], path: Path) -> None:
    """L2-UVP against dimension (log-log), one panel per pair, one line per method."""
    plot_lines([asdict(r) for r in results], path, panel="pair", series="method", x="d",
               y="l2_uvp", xlabel="dimension d", ylabel="L2-UVP (%)", ylog=True,
               dashed=lambda m: m in BASELINE_METHODS, order=list(METHODS))  # fmt: skip


def plot_interpolation(out: Path, results: Sequence[BenchResult], seed: int, path: Path) -> bool:
    """McCann interpolation ``(1 - t) x + t T(x)`` of every 2-D map in ``results`` whose images
    :func:`run_benchmark` kept in ``out``, on ``gmm-convex`` (or the first pair available);
    returns False when there is none to draw."""
    order = {m: i for i, m in enumerate(METHODS)}
    kept = {
        (r.pair, r.method): out / "interpolation" / f"{r.method}_{r.pair}.pt"
        for r in sorted(results, key=lambda r: order.get(r.method, 99))
        if r.d == 2
    }
    kept = {k: v for k, v in kept.items() if v.exists()}
    pair_names = sorted({p for p, _ in kept})
    if not pair_names:
        return False
    pair_name = "gmm-convex" if "gmm-convex" in pair_names else pair_names[0]
    pair = make_pair(pair_name, 2, _pair_seed(pair_name, seed), dtype=torch.float32)
    x = _plot_points(pair)
    y = pair.sample_target(_PLOT_POINTS, torch.Generator().manual_seed(54321))
    panels = [("exact T*", pair.transport(x))] + [
        (method, torch.load(file, weights_only=True))
        for (p, method), file in kept.items()
        if p == pair_name
    ]
    plt = pyplot()
    ncols = min(4, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.2 * ncols, 3.2 * nrows), squeeze=False, sharex=True, sharey=True
    )
    cmap = plt.get_cmap("viridis")
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax, (name, tx) in zip(axes.flat, panels, strict=False):
        ax.scatter(*y.T, s=2, c="lightgray", label="target")
        ax.scatter(*x.T, s=2, color=cmap(0.0), label="t=0")
        for t in (0.25, 0.5, 0.75, 1.0):
            ax.scatter(*((1 - t) * x + t * tx).T, s=2, color=cmap(t), label=f"t={t:g}")
        ax.set_title(name, fontsize=9)
    axes[0][0].legend(fontsize=6, markerscale=2, loc="best")
    fig.suptitle(f"displacement interpolation, {pair_name}, d = 2", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def write_report(out: str | Path, seed: int = 0) -> tuple[str, list[Path]]:
    """Write the report of every row of ``out/transport.csv``, kept ones included: the
    markdown table ``transport.md``, ``l2_uvp_vs_dim.png`` and, with 2-D rows,
    ``interpolation_2d.png``; return the table and the paths written."""
    out = Path(out)
    everything = read_csv(out / "transport.csv")
    table = markdown_table(everything)
    atomic_write_text(out / "transport.md", table)
    plot_uvp_vs_dim(everything, out / "l2_uvp_vs_dim.png")
    written = [out / "transport.md", out / "l2_uvp_vs_dim.png"]
    if plot_interpolation(out, everything, int(seed), out / "interpolation_2d.png"):
        written.append(out / "interpolation_2d.png")
    return table, written

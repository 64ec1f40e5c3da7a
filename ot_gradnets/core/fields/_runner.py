r"""The gradient-field benchmark runner behind ``ot-gradnets bench fields``.

Suites (:data:`SUITES`):

- ``paper-2d``: the authors' 2-D protocol (100,000 training and 10,000 validation points, batch
  1000, 200 epochs, Adam 5e-3, best-validation checkpoint, 5 trials, test on the 100 x 100 grid)
  with the 100-parameter cascaded and 94-parameter modular networks, plus the baselines at a
  budget of 100 parameters;
- ``polymax``: PolyMax in d = 2, 32, 256, 1024 with every model at the budget 1024 d, fresh
  batches of 100 for 10,000 steps, learning rate chosen on a validation set from
  {1e-2, 1e-3, 1e-4}, test error averaged over 15 test sets of 10,000 points;
- ``highdim``: the library's ridge targets (convex and non-convex) with the PolyMax protocol.

Each suite runs under one or more *recipes* (:data:`RECIPES`): ``paper`` is the authors'
training, ``ours`` the library's at the same parameter budget and number of steps. Results go
to ``fields_<suite>.csv`` (one row per trial, written as it finishes), ``fields_<suite>.md`` (a
summary table with the authors' numbers where they exist) and figures.
"""

from __future__ import annotations

import csv
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ot_gradnets._io import atomic_open, atomic_write_text
from ot_gradnets._registry import check_choice
from ot_gradnets._validation import check_positive_int
from ot_gradnets.core._budget import count_parameters
from ot_gradnets.core.fields._bench import (
    AFFINE,
    BASELINE_NAMES,
    GRADNETS,
    INIT_POINTS,
    RECIPES,
    SUITE_TARGETS,
    Recipe,
    build_model,
    fit_paper_2d,
)
from ot_gradnets.core.fields._fit import PROTOCOLS, fit_affine, select_lr
from ot_gradnets.core.fields._metrics import error_map, field_error_db
from ot_gradnets.core.fields._report import (
    markdown_table,
    plot_db_vs_dim,
    plot_heatmaps,
    read_rows,
    summarize,
)
from ot_gradnets.core.fields._targets import Target, make_target

__all__ = ["SUITES", "BenchSummary", "run_benchmark"]


def _models_for(target: Target, suite: str) -> tuple[str, ...]:
    """Default models of a target: monotone ones only where the target is convex."""
    if suite == "paper-2d":
        if target.is_convex:
            return ("mgradnet-c", "mgradnet-m", *BASELINE_NAMES)
        return ("gradnet-c", "gradnet-m", "potential-mlp", "mlp-field")
    if target.is_convex:
        return (*GRADNETS, *BASELINE_NAMES, AFFINE)
    return ("gradnet-c", "gradnet-m", "potential-mlp", "mlp-field", AFFINE)


@dataclass
class BenchSummary:
    """What :func:`run_benchmark` returns: every row of the run, the files written, the time.

    Attributes:
        rows: one dict per (target, dim, model, recipe, trial), the CSV's rows.
        files: paths written (CSV, markdown, figures).
        wall_time_s: total seconds.
    """

    rows: list[dict[str, Any]]
    files: list[Path]
    wall_time_s: float


_COLUMNS = [
    "suite",
    "target",
    "dim",
    "model",
    "recipe",
    "params",
    "width",
    "trial",
    "lr",
    "schedule",
    "n_steps",
    "best_step",
    "val_db",
    "test_db",
    "test_db_std",
    "fit_s",
]


def _row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """What identifies a row across runs: (target, dim, model, recipe, trial)."""
    return (row["target"], int(row["dim"]), row["model"], row["recipe"], int(row["trial"]))


class _Writer:
    """Write the CSV anew, atomically, as each row comes (a killed run keeps what it finished,
    and the file is never half a row).

    ``carried`` rows (from an earlier run being resumed) are written first and count as done.
    """

    def __init__(self, path: Path, carried: Sequence[dict[str, Any]] = ()) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        self._done: set[tuple[Any, ...]] = set()
        for row in carried:
            self.rows.append(row)
            self._done.add(_row_key(row))
        self._write()

    def _write(self) -> None:
        with atomic_open(self.path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, _COLUMNS)
            writer.writeheader()
            writer.writerows({k: row.get(k, "") for k in _COLUMNS} for row in self.rows)

    def done(self, target: str, dim: int, model: str, recipe: str, trial: int) -> bool:
        """Whether this (target, dim, model, recipe, trial) already has a row."""
        return (target, int(dim), model, recipe, int(trial)) in self._done

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self._done.add(_row_key(row))
        self._write()


@dataclass
class _Config:
    quick: bool
    trials: int | None
    dims: Sequence[int] | None
    models: Sequence[str] | None
    recipes: Sequence[Recipe]
    lrs: Sequence[float] | None
    verbose: bool
    out: Path
    first_trial: int = 0
    #: per-trial 2-D error maps of a resumed run, by (target, model, recipe, trial)
    carried_maps: dict[tuple[str, str, str, int], Tensor] = field(default_factory=dict)


def _run_paper_2d(cfg: _Config, writer: _Writer) -> dict[str, Any]:
    trials = cfg.trials or (1 if cfg.quick else 5)
    if cfg.quick:
        fit_kw: dict[str, Any] = {
            "n_train": 2000,
            "n_val": 500,
            "batch_size": 100,
            "n_steps": 200,
            "keep_best": True,
            "eval_every": 20,
        }
        grid_n = 20
    else:  # the authors' settings; the rate is the recipe's
        fit_kw = {k: v for k, v in PROTOCOLS["paper-2d"].items() if k != "lr"}
        grid_n = 100
    # each trial's error map, saved before its row (a resumed run rebuilds the means from them)
    trial_maps_path = cfg.out / "fields_paper-2d_trialmaps.pt"
    trial_maps: dict[tuple[str, str, str, int], Tensor] = dict(cfg.carried_maps)

    for tname in SUITE_TARGETS["paper-2d"]:
        target = make_target(tname)
        grid = target.grid(grid_n)
        names = [
            m for m in _models_for(target, "paper-2d") if cfg.models is None or m in cfg.models
        ]
        for recipe in cfg.recipes:
            for mname in names:
                for trial in range(cfg.first_trial, cfg.first_trial + trials):
                    if writer.done(tname, 2, mname, recipe.name, trial):
                        continue
                    model, res = fit_paper_2d(
                        mname, target, recipe, trial, protocol=fit_kw, verbose=cfg.verbose
                    )
                    model.eval()
                    test_db = field_error_db(model, target, grid)
                    trial_maps[(tname, mname, recipe.name, trial)] = error_map(
                        model, target, grid
                    ).reshape(grid_n, grid_n)
                    torch.save(trial_maps, trial_maps_path)
                    writer.add(
                        {
                            "suite": "paper-2d",
                            "target": tname,
                            "dim": 2,
                            "model": mname,
                            "recipe": recipe.name,
                            "params": count_parameters(model),
                            "width": getattr(model, "width", ""),
                            "trial": trial,
                            "lr": res.lr,
                            "schedule": res.schedule,
                            "n_steps": res.n_steps,
                            "best_step": res.best_step,
                            "val_db": round(res.val_db, 4),
                            "test_db": round(test_db, 4),
                            "test_db_std": "",
                            "fit_s": round(res.wall_time_s, 2),
                        }
                    )
                    # mean over the trials so far, saved after each (a killed run keeps them)
                    torch.save(_mean_maps(trial_maps), cfg.out / "fields_paper-2d_heatmaps.pt")
    return {"maps": _mean_maps(trial_maps)}


def _mean_maps(
    trial_maps: dict[tuple[str, str, str, int], Tensor],
) -> dict[tuple[str, str, str], Tensor]:
    """Per-trial error maps averaged over the trials of each (target, model, recipe)."""
    groups: dict[tuple[str, str, str], list[Tensor]] = {}
    for (t, m, r, _), emap in sorted(trial_maps.items()):
        groups.setdefault((t, m, r), []).append(emap)
    return {k: torch.stack(v).mean(0) for k, v in groups.items()}


def _run_fresh(
    cfg: _Config, writer: _Writer, suite: str, tnames: Sequence[str], default_dims: Sequence[int]
) -> dict[str, Any]:
    dims = list(cfg.dims or ((2, 8) if cfg.quick else default_dims))
    trials = cfg.trials or 1
    if cfg.quick:
        fit_kw: dict[str, Any] = {"n_steps": 100, "batch_size": 100}
        n_val, n_test, test_seeds = 500, 1000, 2
    else:
        fit_kw = {"n_steps": 10_000, "batch_size": 100}
        n_val, n_test, test_seeds = 10_000, 10_000, 15
    for tname in tnames:
        for dim in dims:
            target = make_target(tname, dim)
            names = [m for m in _models_for(target, suite) if cfg.models is None or m in cfg.models]
            # validation and test sets: their own seeds, disjoint from the training streams
            x_val = target.sample(n_val, torch.Generator().manual_seed(10_000 + dim))
            x_tests = [
                target.sample(n_test, torch.Generator().manual_seed(20_000 + s))
                for s in range(test_seeds)
            ]
            for recipe in cfg.recipes:
                for mname in names:
                    run = recipe.for_run(suite, mname)
                    lrs = tuple(cfg.lrs) if cfg.lrs else (run.lrs[:1] if cfg.quick else run.lrs)
                    if mname == AFFINE:
                        if recipe is not cfg.recipes[0] or writer.done(
                            tname, dim, mname, "closed-form", 0
                        ):
                            continue  # recipe-independent: one row
                        t0 = time.perf_counter()
                        lin = fit_affine(target, 5 * n_val, torch.Generator().manual_seed(0))
                        dbs = [field_error_db(lin, target, xt) for xt in x_tests]
                        writer.add(
                            {
                                "suite": suite,
                                "target": tname,
                                "dim": dim,
                                "model": mname,
                                "recipe": "closed-form",
                                "params": dim * (dim + 1),
                                "width": "",
                                "trial": 0,
                                "lr": 0.0,
                                "schedule": "",
                                "n_steps": 0,
                                "best_step": 0,
                                "val_db": round(field_error_db(lin, target, x_val), 4),
                                "test_db": round(statistics.fmean(dbs), 4),
                                "test_db_std": round(statistics.pstdev(dbs), 4),
                                "fit_s": round(time.perf_counter() - t0, 2),
                            }
                        )
                        continue
                    for trial in range(cfg.first_trial, cfg.first_trial + trials):
                        if writer.done(tname, dim, mname, recipe.name, trial):
                            continue
                        # unlabelled inputs for a data-dependent initialisation (no field values)
                        x_init = target.sample(
                            INIT_POINTS, torch.Generator().manual_seed(30_000 + trial)
                        )

                        def make(
                            mname: str = mname,
                            dim: int = dim,
                            recipe: Recipe = recipe,
                            x_init: Tensor = x_init,
                        ) -> nn.Module:
                            return build_model(mname, dim, recipe, suite=suite, x_init=x_init)

                        search = select_lr(
                            make,
                            target,
                            lrs,
                            seed=trial,
                            x_val=x_val,
                            schedule=run.schedule,
                            betas=run.betas,
                            verbose=cfg.verbose,
                            **fit_kw,
                        )
                        model = search.best.model.eval()
                        dbs = [field_error_db(model, target, xt) for xt in x_tests]
                        writer.add(
                            {
                                "suite": suite,
                                "target": tname,
                                "dim": dim,
                                "model": mname,
                                "recipe": recipe.name,
                                "params": count_parameters(model),
                                "width": getattr(model, "width", ""),
                                "trial": trial,
                                "lr": search.best_lr,
                                "schedule": run.schedule,
                                "n_steps": search.best.n_steps,
                                "best_step": search.best.best_step,
                                "val_db": round(search.best.val_db, 4),
                                "test_db": round(statistics.fmean(dbs), 4),
                                "test_db_std": round(statistics.pstdev(dbs), 4)
                                if len(dbs) > 1
                                else 0.0,
                                "fit_s": round(sum(r.wall_time_s for r in search.results), 2),
                            }
                        )
    return {}


def _run_polymax(cfg: _Config, writer: _Writer) -> dict[str, Any]:
    return _run_fresh(cfg, writer, "polymax", SUITE_TARGETS["polymax"], (2, 32, 256, 1024))


def _run_highdim(cfg: _Config, writer: _Writer) -> dict[str, Any]:
    return _run_fresh(cfg, writer, "highdim", SUITE_TARGETS["highdim"], (32, 256))


#: Benchmark suites by name.
SUITES: dict[str, Callable[[_Config, _Writer], dict[str, Any]]] = {
    "paper-2d": _run_paper_2d,
    "polymax": _run_polymax,
    "highdim": _run_highdim,
}


def run_benchmark(
    suite: str,
    out: str | Path,
    *,
    quick: bool = False,
    trials: int | None = None,
    dims: Sequence[int] | None = None,
    models: Sequence[str] | None = None,
    recipes: Sequence[str] = ("paper",),
    lrs: Sequence[float] | None = None,
    verbose: bool = False,
    first_trial: int = 0,
    jobs: int = 1,
    resume: bool = False,
) -> BenchSummary:
    """Run a benchmark suite and write its tables and figures to ``out``.

    Args:
        suite: ``"paper-2d"``, ``"polymax"``, ``"highdim"`` or ``"all"``.
        out: output directory (created).
        quick: tiny sizes (seconds), for tests and smoke runs.
        trials: trials per model (default 5 for paper-2d, 1 otherwise; 1 when quick).
        dims: dimensions of the polymax/highdim suites.
        models: restrict to these model names (default: every applicable one).
        recipes: names from :data:`RECIPES`.
        lrs: override the recipes' candidate learning rates (polymax/highdim).
        verbose: progress bars.
        first_trial: index (and seed) of the first trial, to add trials to an earlier run.
        jobs: worker processes. With ``jobs > 1`` the models are split into ``jobs`` shards
            (balanced by their measured cost), each run by :func:`run_benchmark` in its own
            process with one torch thread under ``out/shard-<i>``, and the shards' rows are merged
            into the usual files. Every fit is seeded on its own, so the rows are those of
            ``jobs=1`` (up to floating-point differences between thread counts). The fits are
            small, so a second torch thread speeds one up little, and ``jobs=2`` uses two cores
            better than ``torch.set_num_threads(2)``.
        resume: keep the rows (and 2-D error maps) that an earlier run, killed or finished,
            wrote to ``out``, and fit only what is missing. A row is matched by (target, dim,
            model, recipe, trial), so the same command picks up where it stopped, and a wider
            one (more models, dims or trials) adds to it. Refused when ``quick`` or ``lrs``
            differ from the earlier run's (``out/fields_run.json``). The reported wall time is
            this call's; the ``fit_s`` column keeps every fit's.

    Returns:
        A :class:`BenchSummary`.

    Raises:
        ValueError: on an unknown suite, recipe or model.
    """
    names = list(SUITES) if suite == "all" else [check_choice(suite, [*SUITES, "all"], "suite")]
    for r in recipes:
        check_choice(r, RECIPES, "recipe")
    for m in models or ():
        check_choice(m, (*GRADNETS, *BASELINE_NAMES, AFFINE), "model")
    if trials is not None:
        trials = check_positive_int(trials, "trials")
    jobs = check_positive_int(jobs, "jobs")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _check_settings(out, quick, lrs, resume)
    if jobs > 1:
        kwargs = {
            "quick": quick,
            "trials": trials,
            "dims": dims,
            "recipes": tuple(recipes),
            "lrs": lrs,
            "verbose": verbose,
            "first_trial": first_trial,
        }
        return _run_sharded(names, out, models, jobs, kwargs, resume)
    cfg = _Config(
        quick=quick,
        trials=trials,
        dims=dims,
        models=models,
        recipes=[RECIPES[r] for r in recipes],
        lrs=lrs,
        verbose=verbose,
        out=out,
        first_trial=int(first_trial),
    )
    start = time.perf_counter()
    files: list[Path] = []
    all_rows: list[dict[str, Any]] = []
    for s in names:
        t0 = time.perf_counter()
        carried, cfg.carried_maps = _carried(out, s) if resume else ([], {})
        writer = _Writer(out / f"fields_{s}.csv", carried)
        extra = SUITES[s](cfg, writer)
        files += _report(
            s, writer.rows, extra.get("maps"), cfg.recipes, out, quick, t0, len(carried)
        )
        all_rows += writer.rows
    return BenchSummary(rows=all_rows, files=files, wall_time_s=time.perf_counter() - start)


def _check_settings(out: Path, quick: bool, lrs: Sequence[float] | None, resume: bool) -> None:
    """Record the settings that change every row; refuse to resume a run made with others.

    A fresh run also clears the intermediate files of an earlier ``jobs`` run in ``out`` (the
    shards' CSVs and maps), so that a later ``resume`` cannot pick up rows that are not its own.
    """
    path = out / "fields_run.json"
    settings = {"quick": bool(quick), "lrs": None if lrs is None else [float(v) for v in lrs]}
    if resume and path.exists():
        before = json.loads(path.read_text())
        if before != settings:
            raise ValueError(
                f"resume: {out} holds a run made with {before}, not {settings}; use another "
                "out directory, or the same settings."
            )
    if not resume:
        for stale in out.glob("shard-*/fields_*"):
            stale.unlink()
    path.write_text(json.dumps(settings) + "\n")


def _carried(
    out: Path, suite: str
) -> tuple[list[dict[str, Any]], dict[tuple[str, str, str, int], Tensor]]:
    """An earlier run's rows and per-trial 2-D maps in ``out`` (its own and its shards')."""
    dirs = [out, *sorted(out.glob("shard-*"))]
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for d in dirs:
        path = d / f"fields_{suite}.csv"
        if path.exists():
            for row in read_rows([path]):
                rows.setdefault(_row_key(row), row)
    maps: dict[tuple[str, str, str, int], Tensor] = {}
    for d in dirs:
        path = d / f"fields_{suite}_trialmaps.pt"
        if path.exists():
            maps.update(torch.load(path, weights_only=True))
    done = {(k[0], k[2], k[3], k[4]) for k in rows}  # keep only maps whose row was written
    return list(rows.values()), {k: v for k, v in maps.items() if k in done}


def _report(
    suite: str,
    rows: list[dict[str, Any]],
    maps: dict[tuple[str, str, str], Tensor] | None,
    recipes: Sequence[Recipe],
    out: Path,
    quick: bool,
    t0: float,
    carried: int = 0,
) -> list[Path]:
    """Write a suite's markdown summary and figures (the CSV is already written)."""
    summary = summarize(rows)
    md = out / f"fields_{suite}.md"
    resumed = f", resuming a run whose {carried} rows were kept" if carried else ""
    atomic_write_text(
        md,
        f"# fields benchmark: {suite}\n\nrecipes: "
        + "; ".join(f"`{r.name}`: {r.description}" for r in recipes)
        + f"\n\nwall time: {time.perf_counter() - t0:.0f} s{' (quick)' if quick else ''}"
        + f"{resumed}\n\n"
        + markdown_table(summary),
    )
    files = [out / f"fields_{suite}.csv", md]
    if maps:
        files.append(plot_heatmaps(maps, out / f"fields_{suite}_heatmaps.png"))
    if suite != "paper-2d" and summary:
        files.append(plot_db_vs_dim(summary, out / f"fields_{suite}_db_vs_dim.png"))
    return files


#: Relative cost of a model's fits in the full suites (about the CPU seconds at d = 1024 under
#: recipe ``paper``, benchmarks/RESULTS.md), used only to balance ``jobs`` shards.
_COST = {
    "mgradnet-m": 1726,
    "gradnet-m": 1281,
    "icnn": 1260,
    "gradnet-c": 990,
    "potential-mlp": 933,
    "mgradnet-c": 890,
    "mlp-field": 630,
    AFFINE: 1,
}


def _shard_worker(suite: str, out: str, models: list[str], kwargs: dict[str, Any]) -> str:
    torch.set_num_threads(1)
    run_benchmark(suite, out, models=models, jobs=1, resume=True, **kwargs)
    return out


def _run_sharded(
    names: Sequence[str],
    out: Path,
    models: Sequence[str] | None,
    jobs: int,
    kwargs: dict[str, Any],
    resume: bool = False,
) -> BenchSummary:
    """Run :func:`run_benchmark` on ``jobs`` shards of the models in parallel, then merge.

    Each shard resumes from the rows handed to it: with ``resume``, the earlier run's rows of
    its models (whichever shard wrote them); without, none.
    """
    import concurrent.futures
    import multiprocessing

    start = time.perf_counter()
    # a model's cost: its per-fit cost times the targets it runs on (monotone ones skip the
    # non-convex targets)
    runs: dict[str, int] = {}
    for s in names:
        for tname in SUITE_TARGETS[s]:
            for m in _models_for(make_target(tname, 2), s):
                runs[m] = runs.get(m, 0) + 1
    todo = [m for m in (models or (*GRADNETS, *BASELINE_NAMES, AFFINE)) if runs.get(m)]
    suite = names[0] if len(names) == 1 else "all"
    if not todo:  # none of the models runs in these suites: the plain path writes empty files
        return run_benchmark(suite, out, models=models, jobs=1, **kwargs)
    cost = {m: _COST.get(m, 1000) * runs[m] for m in todo}
    todo.sort(key=lambda m: -cost[m])
    shards: list[list[str]] = [[] for _ in range(min(jobs, len(todo)))]
    load = [0] * len(shards)
    for m in todo:  # longest first onto the least loaded shard
        i = load.index(min(load))
        shards[i].append(m)
        load[i] += cost[m]
    dirs = [out / f"shard-{i}" for i in range(len(shards))]
    carried = {s: _carried(out, s) if resume else ([], {}) for s in names}
    for d, ms in zip(dirs, shards, strict=True):
        d.mkdir(exist_ok=True)
        (d / "fields_run.json").write_text((out / "fields_run.json").read_text())
        for s, (rows, maps) in carried.items():
            _Writer(d / f"fields_{s}.csv", [r for r in rows if r["model"] in ms])
            torch.save(
                {k: v for k, v in maps.items() if k[1] in ms}, d / f"fields_{s}_trialmaps.pt"
            )
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that holds torch threads
    with concurrent.futures.ProcessPoolExecutor(len(shards), mp_context=ctx) as pool:
        futures = [
            pool.submit(_shard_worker, suite, str(d), ms, kwargs)
            for d, ms in zip(dirs, shards, strict=True)
        ]
        for f in concurrent.futures.as_completed(futures):
            f.result()  # re-raise a worker's error here
    files: list[Path] = []
    all_rows: list[dict[str, Any]] = []
    recipes = [RECIPES[r] for r in kwargs["recipes"]]
    for s in names:
        parts = [d / f"fields_{s}.csv" for d in dirs if (d / f"fields_{s}.csv").exists()]
        sharded = {m for ms in shards for m in ms}
        others = [r for r in carried[s][0] if r["model"] not in sharded]  # kept as they were
        rows = sorted(
            read_rows(parts) + others,
            key=lambda r: (r["target"], r["dim"], r["model"], r["recipe"], r["trial"]),
        )
        writer = _Writer(out / f"fields_{s}.csv")
        for row in rows:
            writer.add(row)
        trial_maps = {k: v for k, v in carried[s][1].items() if k[1] not in sharded}
        for d in dirs:
            path = d / f"fields_{s}_trialmaps.pt"
            if path.exists():
                trial_maps.update(torch.load(path, weights_only=True))
        maps = _mean_maps(trial_maps)
        if maps:
            torch.save(trial_maps, out / f"fields_{s}_trialmaps.pt")
            torch.save(maps, out / f"fields_{s}_heatmaps.pt")
        files += _report(s, rows, maps, recipes, out, kwargs["quick"], start, len(carried[s][0]))
        all_rows += rows
    return BenchSummary(rows=all_rows, files=files, wall_time_s=time.perf_counter() - start)

r"""The gradient-field benchmark suites behind ``ot-gradnets bench fields``.

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
training, ``ours`` the library's at the same parameter budget and number of steps. A unit of
work is one trial, ``(target, dim, model, recipe, trial)``, and makes one row of
``fields_<suite>.csv`` (:mod:`ot_gradnets.bench` writes it as each trial finishes, resumes it
and runs trials on ``jobs`` workers). Each suite also writes ``fields_<suite>.md`` (a summary
table with the authors' numbers where they exist) and figures; ``paper-2d`` keeps each trial's
error map on the grid in ``fields_paper-2d_maps/`` and their means in
``fields_paper-2d_heatmaps.pt``.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ot_gradnets._io import atomic_open, atomic_write_text
from ot_gradnets._registry import check_choice
from ot_gradnets._validation import check_positive_int
from ot_gradnets.bench import RowStore, run_units
from ot_gradnets.bench.fields._report import (
    COLUMNS,
    markdown_table,
    plot_db_vs_dim,
    plot_heatmaps,
    summarize,
)
from ot_gradnets.bench.fields._suites import (
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
from ot_gradnets.core._budget import count_parameters
from ot_gradnets.core.fields._fit import PROTOCOLS, fit_affine, select_lr
from ot_gradnets.core.fields._metrics import error_map, field_error_db
from ot_gradnets.core.fields._targets import Target, make_target

__all__ = ["SUITES", "BenchSummary", "run_benchmark"]

#: Benchmark suites by name, with the dimensions of their default runs.
SUITES: dict[str, tuple[int, ...]] = {
    "paper-2d": (2,),
    "polymax": (2, 32, 256, 1024),
    "highdim": (32, 256),
}
_KEY = ("target", "dim", "model", "recipe", "trial")


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


@dataclass(frozen=True)
class _Settings:
    """What every trial of a run shares; ``quick`` and ``lrs`` change every row's value (the
    fingerprint that ``resume`` checks), ``out`` and ``verbose`` do not."""

    quick: bool
    lrs: tuple[float, ...] | None
    out: str
    verbose: bool = False

    def fingerprinted(self) -> dict[str, Any]:
        return {"quick": self.quick, "lrs": None if self.lrs is None else list(self.lrs)}


def _units(
    suite: str,
    dims: Sequence[int] | None,
    models: Sequence[str] | None,
    recipes: Sequence[str],
    trials: int | None,
    first_trial: int,
    quick: bool,
) -> list[tuple[str, int, str, str, int]]:
    """The trials of a suite, in table order; the affine fit is recipe-independent: one row."""
    if suite == "paper-2d":
        dims, n_trials = (2,), trials or (1 if quick else 5)
    else:
        dims, n_trials = dims or ((2, 8) if quick else SUITES[suite]), trials or 1
    units = []
    for tname in SUITE_TARGETS[suite]:
        for dim in dims:
            target = make_target(tname) if suite == "paper-2d" else make_target(tname, dim)
            names = [m for m in _models_for(target, suite) if models is None or m in models]
            for recipe in recipes:
                for mname in names:
                    if mname == AFFINE:
                        if recipe == recipes[0]:
                            units.append((tname, int(dim), AFFINE, "closed-form", 0))
                        continue
                    for trial in range(first_trial, first_trial + n_trials):
                        units.append((tname, int(dim), mname, recipe, trial))
    return units


def _trial_row(suite: str, s: _Settings, unit: tuple[str, int, str, str, int]) -> list[dict]:
    """Fit one trial and make its row."""
    tname, dim, mname, recipe, trial = unit
    if suite == "paper-2d":
        return [_paper_2d_row(s, tname, mname, RECIPES[recipe], trial)]
    if mname == AFFINE:
        return [_affine_row(suite, s, tname, dim)]
    return [_fresh_row(suite, s, tname, dim, mname, RECIPES[recipe], trial)]


def _row(suite: str, unit: tuple[Any, ...], **values: Any) -> dict[str, Any]:
    return {"suite": suite, **dict(zip(_KEY, unit, strict=True)), **values}


def _maps_dir(s: _Settings) -> Path:
    return Path(s.out) / "fields_paper-2d_maps"


def _paper_2d_row(s: _Settings, tname: str, mname: str, recipe: Recipe, trial: int) -> dict:
    if s.quick:
        fit_kw: dict[str, Any] = {"n_train": 2000, "n_val": 500, "batch_size": 100,
                                  "max_iter": 200, "keep_best": True,
                                  "validation_interval": 20}  # fmt: skip
        grid_n = 20
    else:  # the authors' settings; the rate is the recipe's
        fit_kw = {k: v for k, v in PROTOCOLS["paper-2d"].items() if k != "lr"}
        grid_n = 100
    target = make_target(tname)
    grid = target.grid(grid_n)
    model, res = fit_paper_2d(mname, target, recipe, trial, protocol=fit_kw, verbose=s.verbose)
    model.eval()
    # the trial's error map on the grid, kept before its row (the report averages them)
    emap = error_map(model, target, grid).reshape(grid_n, grid_n)
    _maps_dir(s).mkdir(parents=True, exist_ok=True)
    with atomic_open(_maps_dir(s) / f"{tname}__{mname}__{recipe.name}__{trial}.pt", "wb") as fh:
        torch.save(emap, fh)
    return _row("paper-2d", (tname, 2, mname, recipe.name, trial),
                params=count_parameters(model), width=getattr(model, "width", ""), lr=res.lr,
                schedule=res.schedule, n_steps=res.n_steps, best_step=res.best_step,
                val_db=round(res.val_db, 4), test_db=round(field_error_db(model, target, grid), 4),
                test_db_std="", fit_s=round(res.wall_time_s, 2))  # fmt: skip


@functools.lru_cache(maxsize=1)  # the trials of one (target, dim) share them
def _eval_sets(tname: str, dim: int, quick: bool) -> tuple[Tensor, list[Tensor]]:
    """Validation set and test sets of a fresh-sample suite: their own seeds, disjoint from the
    training streams."""
    n_val, n_test, test_seeds = (500, 1000, 2) if quick else (10_000, 10_000, 15)
    target = make_target(tname, dim)
    x_val = target.sample(n_val, torch.Generator().manual_seed(10_000 + dim))
    x_tests = [target.sample(n_test, torch.Generator().manual_seed(20_000 + k))
               for k in range(test_seeds)]  # fmt: skip
    return x_val, x_tests


def _affine_row(suite: str, s: _Settings, tname: str, dim: int) -> dict:
    target = make_target(tname, dim)
    x_val, x_tests = _eval_sets(tname, dim, s.quick)
    t0 = time.perf_counter()
    lin = fit_affine(target, 5 * len(x_val), random_state=0)
    dbs = [field_error_db(lin, target, xt) for xt in x_tests]
    return _row(suite, (tname, dim, AFFINE, "closed-form", 0), params=dim * (dim + 1),
                width="", lr=0.0, schedule="", n_steps=0, best_step=0,
                val_db=round(field_error_db(lin, target, x_val), 4),
                test_db=round(statistics.fmean(dbs), 4),
                test_db_std=round(statistics.pstdev(dbs), 4),
                fit_s=round(time.perf_counter() - t0, 2))  # fmt: skip


def _fresh_row(
    suite: str, s: _Settings, tname: str, dim: int, mname: str, recipe: Recipe, trial: int
) -> dict:
    target = make_target(tname, dim)
    x_val, x_tests = _eval_sets(tname, dim, s.quick)
    run = recipe.for_run(suite, mname)
    lrs = s.lrs or (run.lrs[:1] if s.quick else run.lrs)
    # unlabelled inputs for a data-dependent initialisation (no field values)
    x_init = target.sample(INIT_POINTS, torch.Generator().manual_seed(30_000 + trial))

    def make() -> nn.Module:
        return build_model(mname, dim, recipe, suite=suite, x_init=x_init)

    search = select_lr(make, target, tuple(lrs), random_state=trial, x_val=x_val,
                       schedule=run.schedule, betas=run.betas, verbose=s.verbose,
                       max_iter=100 if s.quick else 10_000, batch_size=100)  # fmt: skip
    model = search.best.model.eval()
    dbs = [field_error_db(model, target, xt) for xt in x_tests]
    return _row(suite, (tname, dim, mname, recipe.name, trial),
                params=count_parameters(model), width=getattr(model, "width", ""),
                lr=search.best_lr, schedule=run.schedule, n_steps=search.best.n_steps,
                best_step=search.best.best_step, val_db=round(search.best.val_db, 4),
                test_db=round(statistics.fmean(dbs), 4),
                test_db_std=round(statistics.pstdev(dbs), 4) if len(dbs) > 1 else 0.0,
                fit_s=round(sum(r.wall_time_s for r in search.results), 2))  # fmt: skip


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
        jobs: worker processes, each with one torch thread, taking trials from one queue
            (:func:`ot_gradnets.bench.run_units`). Every trial is seeded on its own, so the rows
            are those of ``jobs=1`` (up to floating-point differences between thread counts).
            The fits are small, so a second torch thread speeds one up little, and ``jobs=2``
            uses two cores better than ``torch.set_num_threads(2)``.
        resume: keep the rows (and 2-D error maps) that an earlier run, killed or finished,
            wrote to ``out``, and fit only what is missing. A row is matched by (target, dim,
            model, recipe, trial), so the same command picks up where it stopped, and a wider
            one (more models, dims or trials) adds to it. Refused when ``quick`` or ``lrs``
            differ from the earlier run's (``fields_<suite>.settings.json``). The reported wall
            time is this call's; the ``fit_s`` column keeps every fit's.

    Returns:
        A :class:`BenchSummary`.

    Raises:
        ValueError: on an unknown suite, recipe or model, or a resume with other settings.
    """
    names = list(SUITES) if suite == "all" else [check_choice(suite, [*SUITES, "all"], "suite")]
    for r in recipes:
        check_choice(r, RECIPES, "recipe")
    for m in models or ():
        check_choice(m, (*GRADNETS, *BASELINE_NAMES, AFFINE), "model")
    if trials is not None:
        trials = check_positive_int(trials, "trials")
    jobs = check_positive_int(jobs, "jobs")
    settings = _Settings(bool(quick), None if lrs is None else tuple(float(v) for v in lrs),
                         str(out), verbose)  # fmt: skip
    start = time.perf_counter()
    files: list[Path] = []
    all_rows: list[dict[str, Any]] = []
    for name in names:
        t0 = time.perf_counter()
        store = RowStore(Path(out) / f"fields_{name}.csv", COLUMNS, _KEY,
                         settings.fingerprinted(), resume=resume)  # fmt: skip
        units = _units(name, dims, models, recipes, trials, int(first_trial), quick)
        run_units(units, functools.partial(_trial_row, name, settings), store, jobs=jobs,
                  progress=verbose, desc=f"bench fields {name}")  # fmt: skip
        store.sort_like(units)
        files += _report(name, store, [RECIPES[r] for r in recipes], settings, t0)
        all_rows += store.rows
    return BenchSummary(rows=all_rows, files=files, wall_time_s=time.perf_counter() - start)


def _mean_maps(store: RowStore, s: _Settings) -> dict[tuple[str, str, str], Tensor]:
    """The kept error maps of the store's 2-D trials, averaged over the trials of each
    (target, model, recipe)."""
    groups: dict[tuple[str, str, str], list[Tensor]] = {}
    for r in store.rows:
        path = _maps_dir(s) / f"{r['target']}__{r['model']}__{r['recipe']}__{r['trial']}.pt"
        if path.exists():
            emap = torch.load(path, weights_only=True)
            groups.setdefault((r["target"], r["model"], r["recipe"]), []).append(emap)
    return {k: torch.stack(v).mean(0) for k, v in sorted(groups.items())}


def _report(
    suite: str, store: RowStore, recipes: Sequence[Recipe], s: _Settings, t0: float
) -> list[Path]:
    """Write a suite's markdown summary and figures (the CSV is already written)."""
    summary = summarize(store.rows)
    md = Path(s.out) / f"fields_{suite}.md"
    resumed = f", resuming a run whose {store.n_kept} rows were kept" if store.n_kept else ""
    atomic_write_text(
        md,
        f"# fields benchmark: {suite}\n\nrecipes: "
        + "; ".join(f"`{r.name}`: {r.description}" for r in recipes)
        + f"\n\nwall time: {time.perf_counter() - t0:.0f} s{' (quick)' if s.quick else ''}"
        + f"{resumed}\n\n"
        + markdown_table(summary),
    )
    files = [store.path, md]
    maps = _mean_maps(store, s) if suite == "paper-2d" else {}
    if maps:
        torch.save(maps, Path(s.out) / "fields_paper-2d_heatmaps.pt")
        files.append(plot_heatmaps(maps, Path(s.out) / f"fields_{suite}_heatmaps.png"))
    if suite != "paper-2d" and summary:
        files.append(plot_db_vs_dim(summary, Path(s.out) / f"fields_{suite}_db_vs_dim.png"))
    return files

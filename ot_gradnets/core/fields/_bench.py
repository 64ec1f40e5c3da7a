r"""The gradient-field benchmark runner behind ``ot-gradnets bench fields``.

Suites (:data:`SUITES`):

- ``paper-2d``: the authors' 2-D protocol (100,000 training and 10,000 validation points, batch
  1000, 200 epochs, Adam 5e-3, best-validation checkpoint, 5 trials, test on the 100 x 100 grid)
  with the 100-parameter cascaded and 94-parameter modular networks, plus the baselines at a
  budget of 100 parameters;
- ``polymax``: PolyMax in d = 2, 32, 256, 1024 with every model at the budget 1024 d, fresh
  batches of 100 for 10,000 steps, learning rate chosen on a validation set from
  {1e-2, 1e-3, 1e-4}, test error averaged over 15 test sets of 10,000 points;
- ``highdim``: our ridge targets (convex and non-convex) with the PolyMax protocol.

Each suite runs under one or more *recipes* (:data:`RECIPES`): ``paper`` is the authors'
training, ``ours`` our improved one at the same parameter budget and number of steps. Results go
to ``fields_<suite>.csv`` (one row per trial, written as it finishes), ``fields_<suite>.md`` (a
summary table with the authors' numbers where they exist) and figures.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ot_gradnets._validation import check_positive_int
from ot_gradnets.core._budget import count_parameters, model_for_budget
from ot_gradnets.core.fields._fit import (
    PROTOCOLS,
    FitResult,
    fit_affine,
    fit_field,
    refine_lbfgs,
    select_lr,
)
from ot_gradnets.core.fields._metrics import error_map, field_error_db
from ot_gradnets.core.fields._targets import Target, make_target

__all__ = ["PAPER_RESULTS", "RECIPES", "SUITES", "BenchResult", "Recipe", "run_benchmark"]

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

GRADNETS = ("mgradnet-c", "mgradnet-m", "gradnet-c", "gradnet-m")
BASELINES = ("icnn", "potential-mlp", "mlp-field")
#: Closed-form reference (no training): the symmetrised least-squares affine field.
AFFINE = "affine-lstsq"


@dataclass(frozen=True)
class Recipe:
    """How a suite trains its models.

    Attributes:
        name: registry name.
        schedule: learning-rate schedule (see :data:`~ot_gradnets.core.fields.SCHEDULES`).
        lr_2d: the fixed learning rate of the 2-D protocol.
        lrs: candidate rates of the validation-selected protocols (PolyMax, high-d).
        model_kwargs: per-model constructor overrides (e.g. activations), by model name.
        init: parameter initialisation applied after construction, a key of :data:`INITS`.
        betas: Adam's moment decay rates.
        description: one line for the reports.
        lbfgs_fraction: 2-D protocol only: the share of the sample budget (steps x batch)
            given to a second stage, full-batch L-BFGS (:func:`~ot_gradnets.core.fields.
            refine_lbfgs`) on the first ``lbfgs_points`` points of the training set, after Adam
            has run the other ``1 - lbfgs_fraction`` of the steps. With the 2-D protocol's
            20,000 steps of 1,000 points and 0.5 (recipe ``ours``): 10,000 Adam steps, then at
            most 10,000 x 1,000 / 10,000 = 1,000 L-BFGS evaluations on 10,000 points, so
            neither the steps nor the points seen exceed the authors'.
        lbfgs_points: size of the L-BFGS stage's fixed batch.
        overrides: settings that differ by suite or model, keyed ``"<suite>"``, ``"<model>"`` or
            ``"<suite>/<model>"`` (applied in that order by :meth:`for_run`), each a dict of the
            fields above, e.g. ``{"paper-2d/gradnet-m": {"lr_2d": 1e-2}}``.

    Example:
        >>> r = Recipe("x", overrides={"paper-2d": {"schedule": "wsd"},
        ...                            "paper-2d/gradnet-m": {"lr_2d": 1e-2}})
        >>> r.for_run("paper-2d", "gradnet-m").schedule, r.for_run("paper-2d", "gradnet-m").lr_2d
        ('wsd', 0.01)
        >>> r.for_run("polymax", "gradnet-m").schedule
        'constant'
    """

    name: str
    schedule: str = "constant"
    lr_2d: float = 5e-3
    lrs: tuple[float, ...] = (1e-2, 1e-3, 1e-4)
    model_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    init: str = "default"
    betas: tuple[float, float] = (0.9, 0.999)
    description: str = ""
    lbfgs_fraction: float = 0.0
    lbfgs_points: int = 10_000
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def for_run(self, suite: str, model: str) -> Recipe:
        """This recipe with the overrides of ``suite`` and ``model`` applied."""
        changes: dict[str, Any] = {}
        for key in (suite, model, f"{suite}/{model}"):
            changes.update(self.overrides.get(key, {}))
        allowed = {f.name for f in fields(self)} - {"name", "overrides"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"recipe {self.name!r}: cannot override {sorted(unknown)}.")
        return replace(self, **changes) if changes else self


def _default_init(model: nn.Module, x: Tensor | None = None) -> None:
    """Keep the library's own initialisation."""


def _authors_init(model: nn.Module, x: Tensor | None = None) -> None:
    r"""Re-initialise a GradNet as the authors' public code does (``utils/models.py``).

    :math:`W \sim U(\pm 1/\sqrt d)`; first/modular biases :math:`U(\pm 1/\sqrt d)`, later
    cascade biases and the output bias :math:`U(\pm 1/\sqrt m)`; raw scales
    :math:`\alpha, \beta \sim U(0, 1)` (monotone) or :math:`U(-\tfrac12, \tfrac12)`
    (GradNet-C), :math:`\alpha_k \sim N(0, 1)` (GradNet-M); weighted-tanh weights
    :math:`1/m` (the signed version subtracts the tanhshrink term), weighted-softmax weights
    :math:`1/2`. Other models are left as they are.
    """
    if not hasattr(model, "W") or not hasattr(model, "alpha"):
        return
    d, m = model.dim, model.width
    kd, km = d**-0.5, m**-0.5
    mono = model.is_monotone
    with torch.no_grad():
        model.W.uniform_(-kd, kd)
        model.c.uniform_(-km, km)
        if hasattr(model, "depth"):  # cascaded
            model.b[0].uniform_(-kd, kd)
            model.b[1:].uniform_(-km, km)
            for p in (model.alpha, model.beta):
                p.uniform_(0.0, 1.0) if mono else p.uniform_(-0.5, 0.5)
            acts = list(model.activations)
        else:  # modular
            model.b.uniform_(-kd, kd)
            model.beta.uniform_(0.0, 1.0)
            model.alpha.uniform_(0.0, 1.0) if mono else model.alpha.normal_()
            acts = [model.activation]
        for act in acts:
            name = type(act).__name__
            if name == "WeightedTanh":
                act.a.fill_(1.0 / m)
                act.b.fill_(1.0 / m if mono else -1.0 / m)
            elif name == "WeightedSoftmax":
                act.a.fill_(0.5)
                act.b.fill_(0.5)


def _authors_data_init(model: nn.Module, x: Tensor | None = None) -> None:
    """The authors' initialisation, then modular networks' units placed on the samples ``x``.

    See :meth:`~ot_gradnets.core.MGradNetM.init_from_data` (tangent-plane initialisation: it
    sets :math:`W_k, b_k, \\beta_k`; :math:`\\alpha_k` and :math:`c` keep the authors' values).
    Other models get the authors' initialisation only.
    """
    _authors_init(model)
    if hasattr(model, "init_from_data"):
        if x is None:
            raise ValueError("init 'authors+data' needs samples of the inputs (x_init).")
        model.init_from_data(x)


#: Parameter initialisations a recipe can ask for, called as ``init(model, x)`` with ``x`` a
#: sample of training inputs (:data:`INIT_POINTS` rows) for the data-dependent ones.
INITS: dict[str, Callable[[nn.Module, Tensor | None], None]] = {
    "default": _default_init,
    "authors": _authors_init,
    "authors+data": _authors_data_init,
}
#: Input samples handed to a data-dependent initialisation: the first rows of the 2-D
#: protocol's training set, or a separate draw of unlabelled inputs in the fresh-sample protocols.
INIT_POINTS = 2000

#: Training recipes. ``paper`` reproduces the authors; ``ours`` is our improved recipe.
RECIPES: dict[str, Recipe] = {
    "paper": Recipe(
        "paper",
        init="authors",
        description="authors' protocol: their initialisation, Adam, constant learning rate",
    ),
    "ours": Recipe(
        "ours",
        init="authors",
        betas=(0.9, 0.99),
        description="authors' initialisation (2-D mGradNet-M: units then placed on the data, "
        "init_from_data; ridge targets' mGradNet-C: the library's) and a decaying rate. 2-D: "
        "Adam with warm-up/stable/linear decay (GradNet-M: cosine) for half of the steps, then "
        "L-BFGS on 10,000 training points (GradNet-M: 1,250) for the other half of the sample "
        "budget. High d: cosine rate, Adam beta2 = 0.99, rate chosen on validation from "
        "{1e-2, 3e-3, 1e-3}. Same parameters, no more steps or points; settings chosen on "
        "validation error only.",
        overrides={
            "paper-2d": {"schedule": "wsd", "lbfgs_fraction": 0.5},
            "paper-2d/mgradnet-c": {"betas": (0.9, 0.999)},
            "paper-2d/gradnet-c": {"betas": (0.9, 0.999)},
            "paper-2d/mgradnet-m": {"lr_2d": 1e-2, "init": "authors+data"},
            # most of GradNet-M's gain comes from L-BFGS: 8,000 evaluations on 1,250 points
            "paper-2d/gradnet-m": {"lr_2d": 1e-2, "schedule": "cosine", "lbfgs_points": 1250},
            "polymax": {"schedule": "cosine", "lrs": (1e-2, 3e-3, 1e-3)},
            "highdim": {"schedule": "cosine", "lrs": (1e-2, 3e-3, 1e-3)},
            # the authors' weighted tanh starts linear (a = b); the library's does not
            "highdim/mgradnet-c": {"init": "default"},
        },
    ),
}


#: What ``ours`` changed after the third session's runs, undone for the ablations run then.
_OURS_V2_UNDO: dict[str, dict[str, Any]] = {
    "paper-2d/mgradnet-m": {"init": "authors"},
    "paper-2d/gradnet-m": {"lbfgs_points": 10_000},
    "highdim/mgradnet-c": {"init": "authors"},
}


def _ours_variant(name: str, description: str, lbfgs_fraction: float = 0.5) -> Recipe:
    """``ours-v2`` (the third session's ``ours``) with another 2-D L-BFGS share."""
    ours = RECIPES["ours"]
    overrides = {k: dict(v) for k, v in ours.overrides.items()}
    for key, undo in _OURS_V2_UNDO.items():
        overrides[key] = {**overrides.get(key, {}), **undo}
    overrides["paper-2d"] = {"schedule": "wsd", "lbfgs_fraction": lbfgs_fraction}
    return replace(ours, name=name, overrides=overrides, description=description)


# Ablations of ``ours`` reported in benchmarks/RESULTS.md, as they were run (2-D: they differ
# only there): the authors' initialisation for every model and L-BFGS on 10,000 points.
RECIPES["ours-v2"] = _ours_variant(
    "ours-v2",
    "the second recipe: ours with the authors' initialisation for every model and the L-BFGS "
    "stage on 10,000 points for every model",
)
RECIPES["ours-wsd"] = _ours_variant(
    "ours-wsd", "ours-v2 without the L-BFGS stage (Adam only)", lbfgs_fraction=0.0
)
RECIPES["ours-v1"] = Recipe(
    "ours-v1",
    init="authors",
    betas=(0.9, 0.99),
    description="the first recipe: authors' initialisation and rates, Adam beta2 = 0.99",
)
RECIPES["ours-lbfgs25"] = _ours_variant(
    "ours-lbfgs25",
    "ours-v2 with a quarter of the 2-D sample budget for L-BFGS",
    lbfgs_fraction=0.25,
)


# Model constructor settings per suite. 2-D: the paper's exact sizes with plain activations;
# high-d: the authors' learnable activations (weighted tanh / weighted softmax), depth 4 and
# 4 modules, width from the budget.
_ARCH_2D: dict[str, dict[str, Any]] = {
    "mgradnet-c": {"width": 7, "depth": 4, "activation": "tanh"},
    "gradnet-c": {"width": 7, "depth": 4, "activation": "tanh"},
    "mgradnet-m": {"width": 7, "num_modules": 4, "activation": "softmax"},
    "gradnet-m": {"width": 7, "num_modules": 4, "activation": "softmax"},
}
_ARCH_HD: dict[str, dict[str, Any]] = {
    "mgradnet-c": {"depth": 4, "activation": "weighted-tanh"},
    "gradnet-c": {"depth": 4, "activation": "weighted-tanh"},
    "mgradnet-m": {"num_modules": 4, "activation": "weighted-softmax"},
    "gradnet-m": {"num_modules": 4, "activation": "weighted-softmax"},
}


#: The targets of each suite.
SUITE_TARGETS: dict[str, tuple[str, ...]] = {
    "paper-2d": ("convex-2d", "nonconvex-2d"),
    "polymax": ("polymax",),
    "highdim": ("ridge-convex", "ridge-nonconvex"),
}


def _models_for(target: Target, suite: str) -> tuple[str, ...]:
    """Default models of a target: monotone ones only where the target is convex."""
    if suite == "paper-2d":
        if target.is_convex:
            return ("mgradnet-c", "mgradnet-m", *BASELINES)
        return ("gradnet-c", "gradnet-m", "potential-mlp", "mlp-field")
    if target.is_convex:
        return (*GRADNETS, *BASELINES, AFFINE)
    return ("gradnet-c", "gradnet-m", "potential-mlp", "mlp-field", AFFINE)


def _build(
    name: str,
    dim: int,
    budget: int,
    arch: dict[str, dict[str, Any]],
    recipe: Recipe,
    exact: bool,
    x_init: Tensor | None = None,
) -> nn.Module:
    kwargs = {**arch.get(name, {}), **recipe.model_kwargs.get(name, {})}
    from ot_gradnets.core._budget import MODELS

    if exact and "width" in kwargs:
        model = MODELS[name](dim, **kwargs)
    else:
        kwargs.pop("width", None)
        model = model_for_budget(name, dim, budget, **kwargs)
    INITS[recipe.init](model, x_init)
    return model


@dataclass
class BenchResult:
    """What :func:`run_benchmark` returns.

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
    """Append rows to a CSV as they come (a killed run keeps what it finished).

    ``carried`` rows (from an earlier run being resumed) are written first and count as done.
    """

    def __init__(self, path: Path, carried: Sequence[dict[str, Any]] = ()) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        self._done: set[tuple[Any, ...]] = set()
        with path.open("w", newline="") as fh:
            csv.DictWriter(fh, _COLUMNS).writeheader()
        for row in carried:
            self.add(row)
        self.carried = len(carried)

    def done(self, target: str, dim: int, model: str, recipe: str, trial: int) -> bool:
        """Whether this (target, dim, model, recipe, trial) already has a row."""
        return (target, int(dim), model, recipe, int(trial)) in self._done

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self._done.add(_row_key(row))
        with self.path.open("a", newline="") as fh:
            csv.DictWriter(fh, _COLUMNS).writerow({k: row.get(k, "") for k in _COLUMNS})


def _init_model(make: Callable[[], nn.Module], seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()


def _fit_2d(
    make: Callable[..., nn.Module],
    target: Target,
    run: Recipe,
    trial: int,
    fit_kw: dict[str, Any],
    verbose: bool,
) -> tuple[nn.Module, FitResult]:
    """One 2-D trial: Adam, then (if the recipe asks) the L-BFGS stage on the same data.

    ``make(x_init=...)`` builds the model from the first :data:`INIT_POINTS` training inputs
    (used only by data-dependent initialisations).
    """
    if not run.lbfgs_fraction < 1:
        raise ValueError(f"recipe {run.name!r}: lbfgs_fraction must be below 1.")
    kw = dict(fit_kw)
    n_steps, batch, n_train, n_val = (
        kw.pop(k) for k in ("n_steps", "batch_size", "n_train", "n_val")
    )
    gen = torch.Generator().manual_seed(trial)
    # the same draws fit_field would make: validation set first, then the training set
    x_val = target.sample(n_val, generator=gen)
    x_train = target.sample(n_train, generator=gen)
    model = _init_model(lambda: make(x_init=x_train[:INIT_POINTS]), trial)
    common = {"lr": run.lr_2d, "betas": run.betas, "schedule": run.schedule, "verbose": verbose}
    data = {"x_train": x_train, "x_val": x_val, "generator": gen}
    if run.lbfgs_fraction <= 0:
        return model, fit_field(
            model, target, n_steps=n_steps, batch_size=batch, **data, **common, **kw
        )
    adam_steps = n_steps - round(run.lbfgs_fraction * n_steps)
    first = fit_field(
        model,
        target,
        n_steps=adam_steps,
        batch_size=batch,
        **data,
        **common,
        **kw,
    )
    points = min(run.lbfgs_points, n_train)
    evals = max(1, (n_steps - adam_steps) * batch // points)
    second = refine_lbfgs(
        model, target, x_train[:points], max_evals=evals, x_val=x_val, verbose=verbose
    )
    improved = second.best_step > 0
    return model, FitResult(
        model=model,
        lr=run.lr_2d,
        schedule=f"{run.schedule}+lbfgs",
        n_steps=adam_steps + second.n_steps,
        best_step=adam_steps + second.best_step if improved else first.best_step,
        val_db=second.val_db,
        wall_time_s=first.wall_time_s + second.wall_time_s,
        history={  # L-BFGS evaluations counted as steps after Adam's
            "step": first.history["step"] + [adam_steps + k for k in second.history["step"]],
            "train_loss": first.history["train_loss"] + second.history["train_loss"],
            "val_db": first.history["val_db"] + second.history["val_db"],
        },
    )


# ----------------------------------------------------------------------------------- suites ---
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
                run = recipe.for_run("paper-2d", mname)
                budget = 94 if mname.endswith("-m") else 100
                for trial in range(cfg.first_trial, cfg.first_trial + trials):
                    if writer.done(tname, 2, mname, recipe.name, trial):
                        continue
                    model, res = _fit_2d(
                        lambda x_init, mname=mname, budget=budget, run=run: _build(
                            mname, 2, budget, _ARCH_2D, run, exact=True, x_init=x_init
                        ),
                        target,
                        run,
                        trial,
                        fit_kw,
                        cfg.verbose,
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
                            run: Recipe = run,
                            x_init: Tensor = x_init,
                        ) -> nn.Module:
                            return _build(
                                mname, dim, 1024 * dim, _ARCH_HD, run, exact=False, x_init=x_init
                            )

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


# ---------------------------------------------------------------------------------- reports ---
def summarize(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group trial rows by (suite, target, dim, model, recipe): mean and std of the test dB.

    Returns one dict per group with ``n``, ``test_db`` (mean), ``std`` (over trials, or over test
    sets when there is a single trial), ``paper`` (the authors' number or ``None``) and
    ``delta`` (ours minus theirs; negative is better).
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
            and (h["model"] in BASELINES or h["model"] == AFFINE)
        ]
        g["vs_best_baseline"] = (
            None
            if not base or g["model"] in BASELINES or g["model"] == AFFINE
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
    """Read trial rows back from ``fields_*.csv`` files (to merge runs into one report).

    Numbers come back as the runner wrote them (ints and floats; empty cells stay ``""``).
    """
    rows: list[dict[str, Any]] = []
    for p in paths:
        with Path(p).open(newline="") as fh:
            rows.extend(_typed(r) for r in csv.DictReader(fh))
    return rows


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
) -> BenchResult:
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
            ``jobs=1`` (up to floating-point differences between thread counts). A second torch
            thread speeds one fit up little (on the 2-core sandbox: 1.04-1.1x for the 2-D
            100-parameter fits, 1.3-1.7x at d = 256), so ``jobs=2`` uses two cores better than
            ``torch.set_num_threads(2)``.
        resume: keep the rows (and 2-D error maps) that an earlier run, killed or finished,
            wrote to ``out``, and fit only what is missing. A row is matched by (target, dim,
            model, recipe, trial), so the same command picks up where it stopped, and a wider
            one (more models, dims or trials) adds to it. Refused when ``quick`` or ``lrs``
            differ from the earlier run's (``out/fields_run.json``). The reported wall time is
            this call's; the ``fit_s`` column keeps every fit's.

    Returns:
        A :class:`BenchResult`.

    Raises:
        ValueError: on an unknown suite, recipe or model.
    """
    names = list(SUITES) if suite == "all" else [suite]
    for s in names:
        if s not in SUITES:
            raise ValueError(
                f"suite={suite!r} is not known; choose one of {sorted(SUITES) + ['all']}."
            )
    for r in recipes:
        if r not in RECIPES:
            raise ValueError(f"recipe={r!r} is not known; choose one of {sorted(RECIPES)}.")
    if models is not None:
        known = (*GRADNETS, *BASELINES, AFFINE)
        bad = [m for m in models if m not in known]
        if bad:
            raise ValueError(f"models {bad} are not benchmarked; choose from {list(known)}.")
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
    return BenchResult(rows=all_rows, files=files, wall_time_s=time.perf_counter() - start)


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
    md.write_text(
        f"# fields benchmark: {suite}\n\nrecipes: "
        + "; ".join(f"`{r.name}`: {r.description}" for r in recipes)
        + f"\n\nwall time: {time.perf_counter() - t0:.0f} s{' (quick)' if quick else ''}"
        + f"{resumed}\n\n"
        + markdown_table(summary)
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


def _typed(row: dict[str, Any]) -> dict[str, Any]:
    """A CSV row with the runner's types back (ints and floats; empty cells stay ``""``)."""
    ints = {"dim", "params", "width", "trial", "n_steps", "best_step"}
    floats = {"lr", "val_db", "test_db", "test_db_std", "fit_s"}
    out = dict(row)
    for k, v in row.items():
        if v in ("", None):
            continue
        if k in ints:
            out[k] = int(v)
        elif k in floats:
            out[k] = float(v)
    return out


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
) -> BenchResult:
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
    todo = [m for m in (models or (*GRADNETS, *BASELINES, AFFINE)) if runs.get(m)]
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
    return BenchResult(rows=all_rows, files=files, wall_time_s=time.perf_counter() - start)

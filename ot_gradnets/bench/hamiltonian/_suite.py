r"""The ``hamiltonian`` benchmark: learned fields against HNN at equal parameter count.

For each system the runner builds the protocol dataset, trains every model with the same data,
batch size, number of steps and seed, and measures in the same process:

- learning rates: fixed per model, or (``lr=auto``) chosen before training by
  :func:`~ot_gradnets.core.hamiltonian.select_lr`, short probes scored on trajectories held out
  of the *training* split; the final model is then trained from scratch on the full training
  split. The test split serves only the reported numbers below;
- test derivative error on clean states, in dB (summed over coordinates) and as HNN's
  per-coordinate MSE;
- training step time and the training wall time (and steps) until the model first reached the
  HNN baseline's *final* test error;
- rollouts from test initial states with one integrator for all models (implicit midpoint by
  default, in float64): HNN's energy MSE over the training window, the relative drift of the true
  energy and the trajectory error over a horizon ``horizon_factor`` times the training window.

It writes ``hamiltonian.md`` and ``hamiltonian.csv`` (one row per system and model),
``hamiltonian_curves.csv`` (test dB against training time) and, unless disabled, the figures
``phase_<system>.png``, ``energy_<system>.png`` and ``curves_<system>.png``.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from ot_gradnets._io import atomic_write_text
from ot_gradnets._registry import check_choice
from ot_gradnets.bench import Column, RowStore, markdown_table, read_rows, run_units
from ot_gradnets.core._budget import count_parameters
from ot_gradnets.core.hamiltonian._catalog import SYSTEMS, make_system
from ot_gradnets.core.hamiltonian._data import HamiltonianDataset, make_dataset, split_validation
from ot_gradnets.core.hamiltonian._integrators import INTEGRATORS, rollout
from ot_gradnets.core.hamiltonian._metrics import (
    energy_mse,
    relative_energy_drift,
    trajectory_error,
)
from ot_gradnets.core.hamiltonian._models import HamiltonianField, make_hamiltonian_model
from ot_gradnets.core.hamiltonian._select import DynamicsLRSelection, select_lr
from ot_gradnets.core.hamiltonian._train import DynamicsFitResult, fit_dynamics_models

from ._specs import ModelSpec, _check_spec, parse_model_spec

__all__ = [
    "BenchRow",
    "run_benchmark",
    "DEFAULT_LR_GRID",
    "FLOOR_LABEL",
    "format_table",
]

#: Candidate learning rates of ``lr=auto`` model specs.
DEFAULT_LR_GRID: tuple[float, ...] = (1e-3, 3e-3, 1e-2)

#: Model label of the row that rolls out the *true* field with the same integrator: the floor that
#: integration alone puts under the energy and trajectory columns.
FLOOR_LABEL = "true field (integrator floor)"


def _width(model: HamiltonianField) -> int:
    net = model.net
    terms = getattr(net, "terms", None)
    return int(getattr(terms[0] if terms is not None else net, "width", 0))


@dataclass
class BenchRow:
    """One (system, model) result of :func:`run_benchmark`; dB sums over coordinates."""

    system: str
    dim: int
    model: str
    n_parameters: int
    width: int
    lr: float
    lr_selection: str
    probe_val_db: str
    probe_time_s: float
    probe_cpu_s: float
    n_steps: int
    test_db: float
    test_mse_per_coord: float
    step_time_ms: float
    step_cpu_ms: float
    train_time_s: float
    train_cpu_s: float
    time_to_hnn_s: float
    cpu_to_hnn_s: float
    steps_to_hnn: float
    energy_mse: float
    energy_drift_max: float
    energy_drift_final: float
    traj_error_window: float
    traj_error_horizon: float
    rollout_method: str
    horizon: float


def _build(
    spec: ModelSpec, dim: int, budget: int | None, states: torch.Tensor | None = None
) -> HamiltonianField:
    """The model of ``spec``: at ``budget`` parameters (growing ``spec.option("grow")``) if
    given, with HNN's orthogonal start for ``hnn`` and ``init_from_data(states)`` for
    ``init=data``."""
    kwargs = spec.architecture
    if budget is None:
        model = make_hamiltonian_model(spec.name, dim, **kwargs)
    else:
        grow = spec.option("grow")
        kwargs = {k: v for k, v in kwargs.items() if k != grow}
        if grow != "width":
            kwargs["grow"] = grow
        model = make_hamiltonian_model(spec.name, dim, budget=budget, **kwargs)
    if spec.name == "hnn":  # HNN's initialisation: orthogonal weights (Greydanus et al. 2019)
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                torch.nn.init.orthogonal_(module.weight)
    init = spec.option("init")
    if init == "data":
        net = next((m for m in model.modules() if hasattr(m, "init_from_data")), None)
        if net is None:
            raise ValueError(f"{spec.label!r}: init=data needs a network with init_from_data "
                             "(GradNet-M, mGradNet-M).")  # fmt: skip
        if states is not None:  # the size search builds models without data
            net.init_from_data(states)
    return model


def _rollouts(
    system: Any,
    model: HamiltonianField | None,
    data: HamiltonianDataset,
    n_rollouts: int,
    horizon_factor: float,
    method: str,
    step_size: float | None,
    n_out: int,
) -> dict[str, Any]:
    s0 = data.test_trajectories[:n_rollouts, 0].to(torch.float64)
    t_window = float(data.t[-1] - data.t[0])
    horizon = horizon_factor * t_window
    t = torch.linspace(0.0, horizon, n_out, dtype=torch.float64)
    truth = system.trajectories(s0, t)
    if model is None:  # the true field: what the integrator alone costs
        source: Any = system
    else:
        source = copy.deepcopy(model).to(torch.float64).eval()
        for p in source.parameters():
            p.requires_grad_(False)
    with torch.no_grad():
        pred = rollout(source, s0, t, method=method, step_size=step_size)
    window = t <= t_window + 1e-9
    finite = bool(torch.isfinite(pred).all())
    drift = relative_energy_drift(system.hamiltonian, pred)  # (B, T)
    err = trajectory_error(pred, truth)
    return {
        "t": t,
        "truth": truth,
        "pred": pred,
        "energy_mse": energy_mse(system.hamiltonian, pred[:, window], truth[:, window])
        if finite
        else math.inf,
        "drift": drift,
        "drift_max": float(drift.max(dim=1).values.mean()) if finite else math.inf,
        "drift_final": float(drift[:, -1].mean()) if finite else math.inf,
        "traj_window": float(err[window][-1]) if finite else math.inf,
        "traj_horizon": float(err[-1]) if finite else math.inf,
        "horizon": horizon,
    }


@dataclass(frozen=True)
class _Settings:
    """What every system's run shares. All but ``out``, ``figures`` and ``verbose`` change the
    rows' values, so they make the fingerprint that ``resume`` checks."""

    specs: tuple[ModelSpec, ...]
    budget: int | None
    n_steps: int
    batch_size: int
    eval_every: int
    n_trajectories: int | None
    n_rollouts: int
    horizon_factor: float
    rollout_method: str
    step_size: float | None
    seed: int
    lr_grid: tuple[float, ...]
    probe_steps: int
    validation_fraction: float
    out: str = ""
    figures: bool = True
    verbose: bool = False

    def fingerprinted(self) -> dict[str, Any]:
        plain = {k: v for k, v in asdict(self).items() if k not in ("out", "figures", "verbose")}
        plain["specs"] = [s.label for s in self.specs]
        return plain


#: ``hamiltonian.csv``'s columns (those of :class:`BenchRow`) and their cell types.
COLUMNS: dict[str, type] = {
    f.name: {"int": int, "float": float}.get(str(f.type), str) for f in fields(BenchRow)
}
#: ``hamiltonian_curves.csv``'s columns.
CURVE_COLUMNS: dict[str, type] = {"system": str, "model": str, "step": int,
                                  "train_time_s": float, "train_cpu_s": float,
                                  "test_db": float}  # fmt: skip


def run_benchmark(
    systems: Sequence[str] = ("two-body", "spring-chain"),
    models: Sequence[str | ModelSpec] = ("hnn", "gradnet-m", "mlp"),
    out_dir: str | Path = "out/hamiltonian",
    budget: int | None = None,
    n_steps: int = 10_000,
    batch_size: int = 200,
    eval_every: int = 100,
    n_trajectories: int | None = None,
    n_rollouts: int = 16,
    horizon_factor: float = 10.0,
    rollout_method: str = "implicit-midpoint",
    step_size: float | None = 0.05,
    seed: int = 0,
    lr_grid: Sequence[float] = DEFAULT_LR_GRID,
    probe_steps: int = 1000,
    validation_fraction: float = 0.2,
    figures: bool = True,
    verbose: bool = False,
    resume: bool = False,
    jobs: int = 1,
) -> list[BenchRow]:
    r"""Run the Hamiltonian benchmark and write its table, curves and figures to ``out_dir``.

    Args:
        systems: registry names of :data:`~ot_gradnets.core.hamiltonian.SYSTEMS`.
        models: model specs (see :func:`parse_model_spec`); ``"hnn"`` is the reference whose final
            accuracy defines the time-to-reach columns, and whose parameter count is the budget
            of the others when ``budget`` is ``None``. A spec with ``lr=auto`` gets the
            candidate of ``lr_grid`` with the best validation score of
            :func:`~ot_gradnets.core.hamiltonian.select_lr` (``probe_steps`` steps each, a
            ``validation_fraction`` of the training trajectories held out, same seed, batch
            size and initialisation as the final model); the test split is not used for it.
        out_dir: output folder (created).
        budget: parameter budget of every non-HNN model (and of HNN itself when given).
        n_steps, batch_size, eval_every: training protocol (HNN: 10,000 steps of 200).
        n_trajectories: overrides the protocol's number of trajectories (for quick runs).
        n_rollouts: number of test initial states rolled out.
        horizon_factor: rollout horizon in units of the training window.
        rollout_method: integrator of every model's rollout
            (:data:`~ot_gradnets.core.hamiltonian.INTEGRATORS`).
        step_size: integrator step.
        seed: seed of data, initialisation, minibatches and the validation split.
        lr_grid: candidate learning rates of ``lr=auto`` specs.
        probe_steps: training steps of each learning-rate probe.
        validation_fraction: fraction of the training trajectories held out by the probes.
        figures: whether to draw the figures (needs matplotlib).
        verbose: progress bars.
        resume: keep the systems that an earlier run with the same models and settings wrote
            to ``out_dir`` (all of a system's models train together, so a system is the unit
            that is kept or run) and run only the others. Without it the tables start anew.
        jobs: worker processes, one system each at a time, each with one torch thread.

    Returns:
        The rows of ``systems`` (kept ones included), also in ``hamiltonian.csv``.
    """
    for name in systems:
        check_choice(name, SYSTEMS, "system")
    check_choice(rollout_method, INTEGRATORS, "rollout_method")
    specs = tuple(m if isinstance(m, ModelSpec) else parse_model_spec(m) for m in models)
    for spec in specs:
        _check_spec(spec)
    out = Path(out_dir)
    settings = _Settings(specs, budget, n_steps, batch_size, eval_every, n_trajectories,
                         n_rollouts, horizon_factor, rollout_method, step_size, seed,
                         tuple(lr_grid), probe_steps, validation_fraction, str(out), figures,
                         verbose)  # fmt: skip
    store = RowStore(out / "hamiltonian.csv", COLUMNS, ("system", "model"),
                     settings.fingerprinted(), resume=resume)  # fmt: skip
    run_units([(name,) for name in systems], functools.partial(_system_rows, settings), store,
              jobs=jobs, progress=verbose, desc="bench hamiltonian")  # fmt: skip
    store.sort_like([(name,) for name in systems])
    rows = [BenchRow(**{k: "" if v is None else v for k, v in r.items()}) for r in store.rows]
    curves = RowStore(out / "hamiltonian_curves.csv", CURVE_COLUMNS, ("system", "model", "step"),
                      settings.fingerprinted())  # fmt: skip
    for name in dict.fromkeys(r.system for r in rows):
        part = out / "curves" / f"{name}.csv"
        if part.exists():
            curves.extend(read_rows(part, CURVE_COLUMNS))
    atomic_write_text(out / "hamiltonian.md", format_table(rows))
    return [r for r in rows if r.system in systems]


def _train_models(
    s: _Settings, data: HamiltonianDataset, dim: int
) -> tuple[
    dict[str, DynamicsLRSelection],
    dict[str, float],
    dict[str, HamiltonianField],
    dict[str, DynamicsFitResult],
]:
    """Select the ``lr=auto`` rates on validation probes, then train every model in lockstep
    on the same batches; returns the selections, rates, trained models and fits by label."""
    sys_budget = s.budget
    if sys_budget is None:
        hnn_spec = next((x for x in s.specs if x.name == "hnn"), parse_model_spec("hnn"))
        sys_budget = count_parameters(_build(hnn_spec, dim, None))
    spec_budget = {x.label: s.budget if x.name == "hnn" else sys_budget for x in s.specs}
    # The probes' models start from the states they train on (validation split excluded).
    kept = split_validation(data, s.validation_fraction, seed=s.seed).train_states
    selections = {
        spec.label: select_lr(
            functools.partial(_build, spec, dim, spec_budget[spec.label], kept),
            data,
            lrs=s.lr_grid,
            max_iter=s.probe_steps,
            batch_size=s.batch_size,
            validation_interval=s.eval_every,
            validation_fraction=s.validation_fraction,
            random_state=s.seed,
            verbose=s.verbose,
            schedule=spec.option("schedule"),
        )
        for spec in s.specs
        if spec.lr == "auto"
    }
    lrs = {x.label: selections[x.label].lr if x.label in selections else float(x.lr)
           for x in s.specs}  # fmt: skip
    trained: dict[str, HamiltonianField] = {}
    for spec in s.specs:
        torch.manual_seed(s.seed)
        trained[spec.label] = _build(spec, dim, spec_budget[spec.label], data.train_states)
    fits: dict[str, DynamicsFitResult] = fit_dynamics_models(
        trained,
        data.train_states,
        data.train_derivatives,
        data.test_states,
        data.test_derivatives,
        max_iter=s.n_steps,
        batch_size=s.batch_size,
        lr=lrs,
        validation_interval=s.eval_every,
        random_state=s.seed,
        verbose=s.verbose,
        schedule={x.label: x.option("schedule") for x in s.specs},
    )
    return selections, lrs, trained, fits


def _system_rows(s: _Settings, unit: tuple[str]) -> list[dict[str, Any]]:
    """Train every model on one system, in lockstep, and make its rows (the floor's last).

    Its learning curves go to ``out/curves/<system>.csv`` and, with ``figures``, its phase
    portraits, energies and curves to ``out/*_<system>.png``.
    """
    (sys_name,) = unit
    system = make_system(sys_name)
    data = make_dataset(system, n_trajectories=s.n_trajectories, seed=s.seed)
    dim = system.dim
    selections, lrs, trained, fits = _train_models(s, data, dim)
    out = Path(s.out)
    (out / "curves").mkdir(parents=True, exist_ok=True)
    curves = RowStore(out / "curves" / f"{sys_name}.csv", CURVE_COLUMNS,
                      ("system", "model", "step"), s.fingerprinted())  # fmt: skip
    curves.extend(row for label, res in fits.items() for row in _curve_rows(sys_name, label, res))
    ref = next((fits[x.label] for x in s.specs if x.name == "hnn"), None)
    target = ref.final_db if ref is not None else math.nan
    roll = functools.partial(_rollouts, system, data=data, n_rollouts=s.n_rollouts,
                             horizon_factor=s.horizon_factor, method=s.rollout_method,
                             step_size=s.step_size, n_out=201)  # fmt: skip
    rows, rolls = [], {}
    for spec in s.specs:
        res, model = fits[spec.label], trained[spec.label]
        rolls[spec.label] = ro = roll(model)
        rows.append(
            BenchRow(
                system=sys_name,
                dim=dim,
                model=spec.label,
                n_parameters=res.n_parameters,
                width=_width(model),
                lr=lrs[spec.label],
                **_selection_columns(selections.get(spec.label)),
                **_fit_columns(res, target, s.n_steps),
                **_rollout_columns(ro, s.rollout_method),
            )
        )
    rows.append(
        BenchRow(
            system=sys_name,
            dim=dim,
            model=FLOOR_LABEL,
            n_parameters=0,
            width=0,
            lr=math.nan,
            **_selection_columns(None, floor=True),
            **_fit_columns(None, math.nan, 0),
            **_rollout_columns(roll(None), s.rollout_method),
        )
    )
    if s.figures:
        from ._plots import plot_curves, plot_energy, plot_phase_portraits

        plot_phase_portraits(system, trained, data, out / f"phase_{sys_name}.png")
        plot_energy(system, rolls, out / f"energy_{sys_name}.png")
        plot_curves(fits, out / f"curves_{sys_name}.png",
                    title=f"{sys_name}: test derivative error vs training time")  # fmt: skip
    return [asdict(r) for r in rows]


def _curve_rows(system: str, label: str, res: DynamicsFitResult) -> list[dict[str, Any]]:
    """One row per evaluation of a fit, for ``hamiltonian_curves.csv``."""
    return [
        {
            "system": system,
            "model": label,
            "step": s,
            "train_time_s": t_s,
            "train_cpu_s": c_s,
            "test_db": db,
        }
        for s, t_s, c_s, db in zip(res.steps, res.wall_time, res.cpu_time, res.test_db, strict=True)
    ]


def _selection_columns(sel: DynamicsLRSelection | None, floor: bool = False) -> dict[str, Any]:
    """The learning-rate columns of a row: fixed, chosen by
    :func:`~ot_gradnets.core.hamiltonian.select_lr`, or none (the floor row, which trains
    nothing)."""
    if sel is None:
        return {"lr_selection": "" if floor else "fixed", "probe_val_db": "",
                "probe_time_s": math.nan, "probe_cpu_s": math.nan}  # fmt: skip
    scores = " ".join(f"{lr:g}:{db:.2f}" for lr, db in zip(sel.lrs, sel.val_db, strict=True))
    return {"lr_selection": "validation", "probe_val_db": scores,
            "probe_time_s": sel.wall_time, "probe_cpu_s": sel.cpu_time}  # fmt: skip


def _fit_columns(res: DynamicsFitResult | None, target: float, n_steps: int) -> dict[str, Any]:
    """The accuracy and timing columns of a row (NaN for the floor row, ``res=None``)."""
    if res is None:
        nan = math.nan
        names = ("test_db", "test_mse_per_coord", "step_time_ms", "step_cpu_ms", "train_time_s",
                 "train_cpu_s", "time_to_hnn_s", "cpu_to_hnn_s", "steps_to_hnn")  # fmt: skip
        return {"n_steps": n_steps, **dict.fromkeys(names, nan)}
    return {
        "n_steps": n_steps,
        "test_db": res.final_db,
        "test_mse_per_coord": res.test_mse[-1],
        "step_time_ms": 1e3 * res.step_time,
        "step_cpu_ms": 1e3 * res.step_cpu_time,
        "train_time_s": res.wall_time[-1],
        "train_cpu_s": res.cpu_time[-1],
        "time_to_hnn_s": res.time_to_reach(target),
        "cpu_to_hnn_s": res.time_to_reach(target, cpu=True),
        "steps_to_hnn": res.steps_to_reach(target),
    }


def _rollout_columns(ro: dict[str, Any], method: str) -> dict[str, Any]:
    """The rollout columns of a row (energy error and drift, trajectory error)."""
    return {
        "energy_mse": ro["energy_mse"],
        "energy_drift_max": ro["drift_max"],
        "energy_drift_final": ro["drift_final"],
        "traj_error_window": ro["traj_window"],
        "traj_error_horizon": ro["traj_horizon"],
        "rollout_method": method,
        "horizon": ro["horizon"],
    }


def _fmt(x: float, spec: str) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _lr_cell(r: dict[str, Any]) -> str:
    if r["lr_selection"] != "validation":
        return _fmt(r["lr"], "g")
    return f"{r['lr']:g} val ({r['probe_val_db']})"


def _pair(a: str, b: str, spec: str) -> Any:
    """A cell holding two columns, e.g. wall and CPU time: ``"1.2 / 1.1"``."""
    return lambda r: f"{_fmt(r[a], spec)} / {_fmt(r[b], spec)}"


_TABLE = [
    Column("system", lambda r: f"{r['system']} ({r['dim']}-D)"),
    Column("model", "model"),
    Column("params", "n_parameters"),
    Column("lr (probe val dB)", _lr_cell),
    Column("test dB (sum)", "test_db", ".2f"),
    Column("MSE/coord", "test_mse_per_coord", ".2e"),
    Column("step ms (wall/CPU)", _pair("step_time_ms", "step_cpu_ms", ".2f")),
    Column("train s (wall/CPU)", _pair("train_time_s", "train_cpu_s", ".1f")),
    Column("s to HNN dB (wall/CPU)", _pair("time_to_hnn_s", "cpu_to_hnn_s", ".1f")),
    Column("steps to HNN dB", "steps_to_hnn", ".0f"),
    Column("energy MSE", "energy_mse", ".2e"),
    Column("max rel. drift", "energy_drift_max", ".2e"),
    Column("horizon", "horizon", "g"),
    Column("traj. err at horizon", "traj_error_horizon", ".2e"),
]


def format_table(rows: Sequence[BenchRow]) -> str:
    """Markdown table of benchmark rows (dB sums the squared error over state coordinates)."""
    head = markdown_table([asdict(r) for r in rows], _TABLE)
    note = (
        "\nlr: the learning rate of the final model; 'val' marks one selected by probes scored "
        "on trajectories held out of the training split (validation dB per candidate in "
        "brackets; the test split is not used). "
        "dB = 10 log10 of the squared derivative error summed over the state's coordinates and "
        "averaged over clean test states; MSE/coord is HNN's convention (dB = 10 log10(dim * "
        "MSE)). Time to HNN dB: training seconds (evaluation excluded) until the test error first "
        "reached HNN's final test error; all models trained in lockstep on the same batches, "
        "CPU = thread CPU time. Rollouts: "
        + (rows[0].rollout_method if rows else "")
        + " in float64 from test initial states; energy MSE (HNN's: true H along the rollout vs "
        "along the ground truth) over the training window; drift |H(t)-H(0)|/|H(0)| of the true "
        "H, max over the horizon, mean over trajectories; trajectory error = squared state "
        "error summed over coordinates, mean over trajectories, at the horizon. The row "
        f"'{FLOOR_LABEL}' rolls out the exact field with the same integrator.\n"
    )
    return head + note

"""The ``bench hamiltonian`` command writes its table, CSVs and figures."""

from __future__ import annotations

import csv

import pytest

from ot_gradnets.bench.hamiltonian import FLOOR_LABEL, parse_model_spec
from ot_gradnets.cli import main


def test_bench_quick_writes_outputs(tmp_path, capsys):
    out = tmp_path / "ham"
    code = main(
        [
            "bench",
            "hamiltonian",
            "--quick",
            "--systems",
            "mass-spring",
            "--steps",
            "10",
            "--eval-every",
            "5",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    rows = list(csv.DictReader((out / "hamiltonian.csv").open()))
    assert [r["model"] for r in rows] == ["hnn(width=16)", "gradnet-m", "mlp", FLOOR_LABEL]
    assert float(rows[-1]["energy_drift_max"]) < 1e-10  # midpoint keeps q^2 + p^2 exactly
    assert all(r["system"] == "mass-spring" for r in rows)
    # equal parameter budgets: no model above the HNN's count
    counts = [int(r["n_parameters"]) for r in rows]
    assert max(counts) == counts[0]
    assert float(rows[0]["steps_to_hnn"]) <= 10  # HNN reaches its own final accuracy
    for name in (
        "hamiltonian.md",
        "hamiltonian_curves.csv",
        "phase_mass-spring.png",
        "energy_mass-spring.png",
        "curves_mass-spring.png",
    ):
        assert (out / name).stat().st_size > 0
    assert "| mass-spring (2-D) | gradnet-m |" in (out / "hamiltonian.md").read_text()
    assert "rows in" in capsys.readouterr().out


def test_parse_model_spec():
    spec = parse_model_spec("gradnet-c:depth=2,lr=3e-3,activation=weighted-tanh")
    assert spec.name == "gradnet-c" and spec.lr == 3e-3
    assert spec.kwargs == {"depth": 2, "activation": "weighted-tanh"}
    assert spec.label == "gradnet-c(depth=2,activation=weighted-tanh,lr=0.003)"
    with pytest.raises(ValueError, match="key=value"):
        parse_model_spec("gradnet-m:oops")


def test_bench_auto_lr_selects_on_validation(tmp_path):
    from ot_gradnets.bench.hamiltonian import run_benchmark

    rows = run_benchmark(
        systems=["mass-spring"],
        models=["hnn:width=8", "gradnet-m:lr=auto,num_modules=2"],
        out_dir=tmp_path,
        n_steps=10,
        eval_every=5,
        n_trajectories=10,
        n_rollouts=2,
        horizon_factor=1.0,
        step_size=0.1,
        lr_grid=(1e-5, 1e-2),
        probe_steps=20,
        figures=False,
    )
    hnn, gm = rows[0], rows[1]
    assert (hnn.lr, hnn.lr_selection, hnn.probe_val_db) == (1e-3, "fixed", "")
    assert gm.model == "gradnet-m(num_modules=2,lr=auto)" and gm.lr_selection == "validation"
    scores = dict(item.split(":") for item in gm.probe_val_db.split())
    assert set(scores) == {"1e-05", "0.01"}
    assert gm.lr == float(min(scores, key=lambda k: float(scores[k])))
    assert gm.probe_cpu_s > 0
    assert "val (1e-05:" in (tmp_path / "hamiltonian.md").read_text()
    with pytest.raises(ValueError, match="number or 'auto'"):
        parse_model_spec("mlp:lr=fast")


def test_bench_resumes_by_system_and_refuses_other_settings(tmp_path):
    from ot_gradnets.bench.hamiltonian import run_benchmark

    kw = dict(models=["hnn:width=8", "gradnet-m:num_modules=2"], out_dir=tmp_path, n_steps=6,
              eval_every=3, n_trajectories=6, n_rollouts=2, horizon_factor=1.0, step_size=0.1,
              figures=False)  # fmt: skip
    first = run_benchmark(systems=["mass-spring"], **kw)
    # a wider run keeps mass-spring's rows as they were (times included) and adds pendulum's
    both = run_benchmark(systems=["mass-spring", "pendulum"], resume=True, **kw)
    assert repr(both[: len(first)]) == repr(first)  # repr: the floor row holds NaNs
    assert {r.system for r in both} == {"mass-spring", "pendulum"}
    curves = list(csv.DictReader((tmp_path / "hamiltonian_curves.csv").open()))
    assert {r["system"] for r in curves} == {"mass-spring", "pendulum"}
    with pytest.raises(ValueError, match="n_steps: 6 then, 8 now"):
        run_benchmark(systems=["mass-spring"], resume=True, **{**kw, "n_steps": 8})


def test_bench_training_options_shape_the_model_and_its_training(tmp_path):
    """grow=num_modules keeps the width and fills the budget with modules, init=data centres
    them on the training states, schedule=cosine reaches the fit; wrong values are refused."""
    from ot_gradnets.bench.hamiltonian import run_benchmark
    from ot_gradnets.bench.hamiltonian._suite import _build
    from ot_gradnets.core.hamiltonian import make_dataset

    spec = parse_model_spec("gradnet-m+quadratic:activation=inverse-multiquadric,width=2,"
                            "grow=num_modules,init=data,schedule=cosine")  # fmt: skip
    assert (spec.option("schedule"), spec.option("init"), spec.option("grow")) == (
        "cosine", "data", "num_modules")  # fmt: skip
    assert spec.architecture == {"num_modules": 4, "activation": "inverse-multiquadric",
                                 "width": 2}  # fmt: skip
    assert parse_model_spec("hnn").option("schedule") == "constant"
    data = make_dataset("mass-spring", n_trajectories=10, n_points=10, noise_std=0.0)
    model = _build(spec, 2, 600, data.train_states)
    net = model.net.terms[0]
    assert net.width == 2 and net.num_modules > 4
    assert sum(p.numel() for p in model.parameters()) <= 600
    # every module's bump is centred on a training state
    z = net._preactivation(data.train_states).detach().norm(dim=-1)
    assert float(z.min(0).values.max()) < 1e-5
    rows = run_benchmark(systems=["mass-spring"], models=["hnn:width=8", spec], out_dir=tmp_path,
                         n_steps=6, eval_every=3, n_trajectories=10, n_rollouts=2,
                         horizon_factor=1.0, step_size=0.1, figures=False)  # fmt: skip
    assert rows[1].model.startswith("gradnet-m+quadratic(") and "schedule=cosine" in rows[1].model
    for bad, match in (("hnn:schedule=warp", "schedule of"), ("hnn:init=random", "init of"),
                       ("hnn:init=data", "init_from_data")):  # fmt: skip
        with pytest.raises(ValueError, match=match):
            run_benchmark(systems=["mass-spring"], models=[bad], out_dir=tmp_path, n_steps=2,
                          n_trajectories=10, n_rollouts=1, figures=False)  # fmt: skip

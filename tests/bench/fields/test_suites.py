"""The benchmark runner and its command line."""

import csv

import pytest
import torch

from ot_gradnets.bench.fields import (
    INIT_POINTS,
    INITS,
    PAPER_RESULTS,
    RECIPES,
    Recipe,
    build_model,
    fit_paper_2d,
    markdown_table,
    run_benchmark,
    summarize,
)
from ot_gradnets.cli import main
from ot_gradnets.core import count_parameters
from ot_gradnets.core.fields import make_target


@pytest.mark.parametrize(
    ("name", "params"),
    [("mgradnet-c", 100), ("gradnet-c", 100), ("mgradnet-m", 94), ("gradnet-m", 94)],
)
def test_paper_2d_models_have_the_papers_parameter_counts(name, params):
    net = build_model(name, 2, "paper")
    assert count_parameters(net) == params
    assert count_parameters(build_model(name, 2, RECIPES["paper"], budget=params)) == params


def test_bench_quick_writes_outputs(tmp_path):
    rc = main(
        [
            "bench",
            "fields",
            "--suite",
            "paper-2d",
            "--quick",
            "--models",
            "mgradnet-c,gradnet-m",
            "--out",
            str(tmp_path),
        ]
    )
    assert rc == 0
    for name in ("fields_paper-2d.csv", "fields_paper-2d.md", "fields_paper-2d_heatmaps.png"):
        assert (tmp_path / name).stat().st_size > 0
    with (tmp_path / "fields_paper-2d.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["target"], r["model"]) for r in rows} == {
        ("convex-2d", "mgradnet-c"),
        ("nonconvex-2d", "gradnet-m"),
    }
    assert all(float(r["test_db"]) < 10 for r in rows)
    assert "-49.05" in (tmp_path / "fields_paper-2d.md").read_text()


def test_bench_quick_polymax(tmp_path):
    res = run_benchmark("polymax", tmp_path, quick=True, dims=[4], models=["mgradnet-m", "icnn"])
    assert sorted((r["model"], int(r["dim"])) for r in res.rows) == [("icnn", 4), ("mgradnet-m", 4)]
    assert {r["params"] for r in res.rows} <= set(range(1, 1024 * 4 + 1))
    assert (tmp_path / "fields_polymax_db_vs_dim.png").exists()


def test_summary_and_table():
    rows = [
        {
            "suite": "polymax",
            "target": "polymax",
            "dim": 256,
            "model": "mgradnet-c",
            "recipe": "paper",
            "params": 1,
            "lr": 1e-3,
            "test_db": -11.0,
            "test_db_std": 0.1,
            "fit_s": 1.0,
        },
        {
            "suite": "polymax",
            "target": "polymax",
            "dim": 256,
            "model": "mlp-field",
            "recipe": "paper",
            "params": 1,
            "lr": 1e-3,
            "test_db": -5.0,
            "test_db_std": 0.1,
            "fit_s": 1.0,
        },
    ]
    summary = {g["model"]: g for g in summarize(rows)}
    assert summary["mgradnet-c"]["paper"] == PAPER_RESULTS[("polymax", 256, "mgradnet-c")]
    assert summary["mgradnet-c"]["delta"] == pytest.approx(-11.0 + 10.64)
    assert summary["mgradnet-c"]["vs_best_baseline"] == pytest.approx(-6.0)
    assert "mlp-field" in markdown_table(list(summary.values()))


def test_bad_arguments():
    with pytest.raises(ValueError, match="suite='nope' is not known; choose one of .*'all'"):
        run_benchmark("nope", "unused")
    with pytest.raises(ValueError, match="recipe='nope' is not known"):
        run_benchmark("polymax", "unused", recipes=["nope"])
    with pytest.raises(ValueError, match="model='nope' is not known"):
        run_benchmark("polymax", "unused", models=["nope"])


@pytest.mark.slow
def test_bench_quick_all_suites(tmp_path):
    res = run_benchmark("all", tmp_path, quick=True, recipes=["paper", "ours"])
    assert {r["suite"] for r in res.rows} == {"paper-2d", "polymax", "highdim"}


@pytest.mark.parametrize("name", ["mgradnet-c", "gradnet-c", "mgradnet-m", "gradnet-m"])
def test_authors_init_matches_their_ranges(name):
    torch.manual_seed(0)
    net = build_model(name, 16, Recipe("x", init="authors"), suite="polymax")
    assert count_parameters(net) <= 16 * 1024
    bound = 16**-0.5
    assert net.W.abs().max() <= bound
    if name == "mgradnet-c":
        assert 0 <= net.alpha.min() and net.alpha.max() <= 1  # raw U(0, 1), as theirs
        assert torch.allclose(
            net.activations[0].a, torch.full_like(net.activations[0].a, 1 / net.width)
        )
    if name == "gradnet-c":
        assert net.alpha.abs().max() <= 0.5 and net.alpha.min() < 0  # raw U(-1/2, 1/2)
        assert net.activations[0].b.max() < 0  # a tanh - b tanhshrink in their signed version
    if name.endswith("-m"):
        assert 0 <= net.beta.min() and net.beta.max() <= 1
        assert torch.all(net.activation.a == 0.5)


def test_default_init_is_left_alone():
    from ot_gradnets.core import MGradNetC

    torch.manual_seed(0)
    net = MGradNetC(2, width=7, depth=4)
    before = [p.clone() for p in net.parameters()]
    INITS["default"](net)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))


def test_first_trial_offsets_trial_indices(tmp_path):
    res = run_benchmark(
        "paper-2d", tmp_path, quick=True, models=["gradnet-c"], trials=1, first_trial=3
    )
    assert [int(r["trial"]) for r in res.rows] == [3]


def test_recipe_overrides_apply_by_suite_then_model():
    r = Recipe(
        "x",
        overrides={
            "paper-2d": {"schedule": "wsd", "lr_2d": 1e-3},
            "gradnet-m": {"lr_2d": 2e-3},
            "paper-2d/gradnet-m": {"betas": (0.9, 0.99)},
        },
    )
    gm = r.for_run("paper-2d", "gradnet-m")
    assert (gm.schedule, gm.lr_2d, gm.betas) == ("wsd", 2e-3, (0.9, 0.99))
    gc = r.for_run("paper-2d", "gradnet-c")
    assert (gc.schedule, gc.lr_2d, gc.betas) == ("wsd", 1e-3, (0.9, 0.999))
    assert r.for_run("polymax", "gradnet-c") is r
    with pytest.raises(ValueError, match="cannot override"):
        Recipe("y", overrides={"polymax": {"learning_rate": 1.0}}).for_run("polymax", "icnn")
    with pytest.raises(ValueError, match="cannot override"):
        Recipe("y", overrides={"polymax": {"name": "z"}}).for_run("polymax", "icnn")


def test_ours_recipe_reaches_the_fits(tmp_path):
    res = run_benchmark(
        "paper-2d", tmp_path, quick=True, models=["gradnet-m", "gradnet-c"], recipes=["ours"]
    )
    by_model = {r["model"]: r for r in res.rows}
    ours = RECIPES["ours"]
    for name in ("gradnet-m", "gradnet-c"):
        run = ours.for_run("paper-2d", name)
        assert by_model[name]["schedule"] == f"{run.schedule}+lbfgs"
        assert float(by_model[name]["lr"]) == run.lr_2d
        # Adam steps plus L-BFGS evaluations stay within the protocol's step budget (quick: 200)
        assert int(by_model[name]["n_steps"]) <= 200
    assert by_model["gradnet-m"]["schedule"] != by_model["gradnet-c"]["schedule"]
    res = run_benchmark(
        "polymax", tmp_path, quick=True, dims=[4], models=["mgradnet-c"], recipes=["ours"]
    )
    assert res.rows[0]["schedule"] == "cosine"
    assert float(res.rows[0]["lr"]) == ours.for_run("polymax", "mgradnet-c").lrs[0]


def test_authors_data_init_places_modular_units_and_leaves_the_rest_to_the_authors_init():
    x = make_target("convex-2d").sample(INIT_POINTS, torch.Generator().manual_seed(0))
    rec = Recipe("x", init="authors+data")
    for name in ("mgradnet-m", "gradnet-m"):
        net = build_model(name, 2, rec, x_init=x)
        z = net._preactivation(x)
        for k in range(net.num_modules):  # every unit of every module leads somewhere
            assert z[:, k].argmax(-1).unique().numel() == net.width
        with pytest.raises(ValueError, match="x_init"):
            build_model(name, 2, rec)
    cascade = build_model("mgradnet-c", 2, rec, x_init=x, seed=0)
    authors = build_model("mgradnet-c", 2, Recipe("y", init="authors"), seed=0)
    for a, b in zip(cascade.parameters(), authors.parameters(), strict=True):
        assert torch.equal(a, b)


def test_jobs_run_the_trials_in_workers_and_give_the_same_rows(tmp_path):
    kw = {"quick": True, "models": ["mgradnet-c", "icnn", "affine-lstsq"], "dims": [2]}
    one = run_benchmark("polymax", tmp_path / "one", **kw)
    two = run_benchmark("polymax", tmp_path / "two", jobs=2, **kw)
    key = lambda r: (r["model"], r["recipe"], r["trial"])  # noqa: E731
    a, b = sorted(one.rows, key=key), sorted(two.rows, key=key)
    assert [key(r) for r in a] == [key(r) for r in b]
    for ra, rb in zip(a, b, strict=True):
        assert isinstance(rb["test_db"], float) and isinstance(rb["trial"], int)
        assert abs(ra["test_db"] - rb["test_db"]) < 1e-2
    assert [key(r) for r in two.rows] == [key(r) for r in one.rows]  # in table order
    assert {p.name for p in two.files} >= {"fields_polymax.csv", "fields_polymax.md"}
    with pytest.raises(ValueError, match="jobs"):
        run_benchmark("polymax", tmp_path / "bad", jobs=0)


def test_jobs_merges_the_2d_heat_maps(tmp_path):
    res = run_benchmark(
        "paper-2d", tmp_path, quick=True, models=["mgradnet-c", "gradnet-c"], jobs=2
    )
    maps = torch.load(tmp_path / "fields_paper-2d_heatmaps.pt", weights_only=True)
    assert {k[1] for k in maps} == {"mgradnet-c", "gradnet-c"}
    assert any(p.name == "fields_paper-2d_heatmaps.png" for p in res.files)


def test_jobs_with_no_model_to_run_writes_empty_outputs(tmp_path):
    res = run_benchmark("paper-2d", tmp_path, quick=True, models=["affine-lstsq"], jobs=2)
    assert res.rows == [] and (tmp_path / "fields_paper-2d.csv").exists()


def _csv_rows(path):
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_resume_fits_only_what_is_missing(tmp_path):
    kw = {"quick": True, "trials": 2, "models": ["mgradnet-c", "gradnet-c"]}
    full = run_benchmark("paper-2d", tmp_path / "full", **kw)
    # a run killed after its first row: the CSV holds one row, the maps file that trial's map
    part = tmp_path / "part"
    run_benchmark("paper-2d", part, quick=True, trials=1, models=["mgradnet-c"])
    kept = _csv_rows(part / "fields_paper-2d.csv")
    assert len(kept) == 1
    res = run_benchmark("paper-2d", part, resume=True, **kw)
    key = lambda r: (r["target"], r["model"], int(r["trial"]))  # noqa: E731
    assert sorted(map(key, res.rows)) == sorted(map(key, full.rows))
    by_key = {key(r): r for r in res.rows}
    # the kept row is carried as it was (its fit time too), the others match a fresh run
    assert by_key[key(kept[0])]["fit_s"] == float(kept[0]["fit_s"])
    for r in full.rows:
        assert abs(by_key[key(r)]["test_db"] - r["test_db"]) < 1e-3
    assert len(_csv_rows(part / "fields_paper-2d.csv")) == len(full.rows)
    assert "resuming a run whose 1 rows were kept" in (part / "fields_paper-2d.md").read_text()
    maps = torch.load(part / "fields_paper-2d_heatmaps.pt", weights_only=True)
    ref = torch.load(tmp_path / "full" / "fields_paper-2d_heatmaps.pt", weights_only=True)
    assert maps.keys() == ref.keys()
    for k in ref:  # means over both trials, the kept one included
        torch.testing.assert_close(maps[k], ref[k], atol=1e-4, rtol=1e-3)
    # nothing left to do: a second resume fits nothing and keeps every row
    again = run_benchmark("paper-2d", part, resume=True, **kw)
    assert sorted(map(key, again.rows)) == sorted(map(key, full.rows))
    assert all(r["fit_s"] == by_key[key(r)]["fit_s"] for r in again.rows)


def test_resume_refuses_other_settings_and_a_fresh_run_starts_over(tmp_path):
    run_benchmark("polymax", tmp_path, quick=True, dims=[2], models=["affine-lstsq"])
    with pytest.raises(ValueError, match="resume"):
        run_benchmark("polymax", tmp_path, dims=[2], models=["affine-lstsq"], resume=True)
    with pytest.raises(ValueError, match="resume"):
        run_benchmark(
            "polymax", tmp_path, quick=True, lrs=[1e-2], models=["affine-lstsq"], resume=True
        )
    res = run_benchmark("polymax", tmp_path, quick=True, dims=[4], models=["affine-lstsq"])
    assert [r["dim"] for r in res.rows] == [4]  # not resumed: the d = 2 row is gone
    assert [r["dim"] for r in _csv_rows(tmp_path / "fields_polymax.csv")] == ["4"]


def test_resume_with_jobs_keeps_the_rows_of_models_left_out(tmp_path):
    kw = {"quick": True, "dims": [2]}
    first = run_benchmark("polymax", tmp_path, jobs=2, models=["mgradnet-c", "icnn"], **kw)
    res = run_benchmark(
        "polymax",
        tmp_path,
        jobs=2,
        resume=True,
        models=["mgradnet-m", "icnn", "affine-lstsq"],
        **kw,
    )
    fit_s = {r["model"]: r["fit_s"] for r in res.rows}
    assert sorted(fit_s) == ["affine-lstsq", "icnn", "mgradnet-c", "mgradnet-m"]
    for r in first.rows:  # carried unchanged, including mgradnet-c, which this call left out
        assert fit_s[r["model"]] == r["fit_s"]
    assert len(_csv_rows(tmp_path / "fields_polymax.csv")) == 4
    # a fresh run starts the table anew
    run_benchmark("polymax", tmp_path, jobs=2, models=["mgradnet-m", "affine-lstsq"], **kw)
    again = run_benchmark("polymax", tmp_path, resume=True, models=["affine-lstsq"], **kw)
    assert sorted(r["model"] for r in again.rows) == ["affine-lstsq", "mgradnet-m"]


def test_cli_resume(tmp_path):
    args = ["bench", "fields", "--suite", "polymax", "--quick", "--dims", "2"]
    args += ["--models", "affine-lstsq", "--out", str(tmp_path)]
    assert main(args) == 0
    assert main([*args, "--resume"]) == 0
    assert len(_csv_rows(tmp_path / "fields_polymax.csv")) == 1


def test_registry_holds_the_recipes_users_run():
    assert set(RECIPES) == {"paper", "ours"}
    with pytest.raises(ValueError, match="recipe"):
        build_model("gradnet-c", 2, "ours-v2")


def test_build_model_checks_its_arguments():
    with pytest.raises(ValueError, match="model='affine-lstsq' is not known"):
        build_model("affine-lstsq", 2)
    with pytest.raises(ValueError, match="suite"):
        build_model("gradnet-c", 2, suite="nope")
    with pytest.raises(ValueError, match="2-D"):
        build_model("gradnet-c", 3)
    # the fresh-sample suites: the widest model within 1024 d parameters
    assert 0.9 * 1024 * 8 < count_parameters(build_model("icnn", 8, suite="highdim")) <= 1024 * 8


def test_fit_paper_2d_is_one_trial_of_the_runner(tmp_path):
    res = run_benchmark(
        "paper-2d", tmp_path, quick=True, models=["gradnet-m"], recipes=["ours"], first_trial=2
    )
    (row,) = res.rows
    quick = {
        "n_train": 2000,
        "n_val": 500,
        "batch_size": 100,
        "max_iter": 200,
        "validation_interval": 20,
    }
    _, fit = fit_paper_2d("gradnet-m", make_target("nonconvex-2d"), "ours", 2, protocol=quick)
    assert (fit.schedule, fit.n_steps, fit.best_step) == (
        row["schedule"],
        row["n_steps"],
        row["best_step"],
    )
    assert round(fit.val_db, 4) == pytest.approx(row["val_db"], abs=1e-3)
    with pytest.raises(ValueError, match="lr"):
        fit_paper_2d("gradnet-m", make_target("nonconvex-2d"), protocol={"lr": 1e-2})
    with pytest.raises(ValueError, match="2-D"):
        fit_paper_2d("gradnet-m", make_target("polymax", 4))

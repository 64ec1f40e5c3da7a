"""The transport benchmark suite: results, CSV/markdown/figures, resume and jobs, errors."""

from __future__ import annotations

import argparse
import math

import pytest

from ot_gradnets.bench.transport import (
    METHODS,
    PEER_METHODS,
    BenchResult,
    markdown_table,
    read_csv,
    run_benchmark,
)
from ot_gradnets.cli._transport import bench as main  # the command, with its defaults
from ot_gradnets.transport import PAIRS


def args(tmp_path, **kw):
    base = dict(quick=True, dims=[2], methods=None, time_limit=None, out=str(tmp_path))
    base.update(kw)
    return argparse.Namespace(**base)


def test_run_benchmark_baselines_small():
    results = run_benchmark(
        dims=[2],
        methods=["linear", "barycentric"],
        n_train=200,
        n_test=300,
        quick=True,
        verbose=False,
    )
    # every registered pair by default
    assert {(r.pair, r.method) for r in results} == {
        (p, m) for p in PAIRS for m in ("linear", "barycentric")
    }
    by = {(r.pair, r.method): r for r in results}
    # The linear map is exact for the Gaussian pair: only the 200-sample error remains (~1%).
    assert by["gaussian", "linear"].l2_uvp < 5.0
    # ... and clearly wrong for the nonlinear pairs (~6% and ~17% with large samples).
    assert by["gmm-convex", "linear"].l2_uvp > 3.0
    assert by["gmm-icnn", "linear"].l2_uvp > 8.0
    assert all(math.isfinite(r.l2_uvp) and -1 <= r.cos <= 1 and r.n_train == 200 for r in results)


def test_main_writes_table_csv_figures_and_resumes_in_parts(tmp_path, capsys):
    assert main(args(tmp_path, methods=["linear"], n_train=200, n_test=200)) == 0
    kw = dict(n_train=200, n_test=200, resume=True)
    assert main(args(tmp_path, methods=["barycentric", "linear"], **kw)) == 0
    rows = read_csv(tmp_path / "transport.csv")
    assert sorted({r.method for r in rows}) == ["barycentric", "linear"]
    assert len(rows) == 2 * len(PAIRS)
    header = (tmp_path / "transport.csv").read_text().splitlines()[0]
    assert header.startswith("method,pair,d,L2-UVP %,cos,fit time s,n_train")
    md = (tmp_path / "transport.md").read_text()
    assert "| barycentric | 2 |" in md and "**gmm-convex**" in md
    for fig in ("l2_uvp_vs_dim.png", "interpolation_2d.png"):
        assert (tmp_path / fig).stat().st_size > 1000
    assert "L2-UVP" in capsys.readouterr().out
    # the linear rows were kept, not refitted: their fit times are the first run's
    first = {(r.pair, r.method): r for r in rows}
    assert main(args(tmp_path, methods=["linear"], **kw)) == 0
    again = {(r.pair, r.method): r for r in read_csv(tmp_path / "transport.csv")}
    assert again == first
    # other settings: refused, naming the difference, and the table is untouched
    with pytest.raises(ValueError, match="n_train: 200 then, 300 now"):
        main(args(tmp_path, methods=["linear"], n_train=300, n_test=200, resume=True))
    assert {(r.pair, r.method): r for r in read_csv(tmp_path / "transport.csv")} == first


def test_jobs_give_the_rows_of_one_process(tmp_path):
    kw = dict(dims=[2, 4], methods=["linear", "barycentric"], n_train=200, n_test=300)
    one = run_benchmark(quick=True, verbose=False, out=tmp_path / "one", **kw)
    two = run_benchmark(quick=True, verbose=False, out=tmp_path / "two", jobs=2, **kw)
    assert len(one) == 2 * 2 * len(PAIRS)
    key = [(r.pair, r.d, r.method) for r in one]
    assert key == [(r.pair, r.d, r.method) for r in two]  # table order, whatever finished first
    for a, b in zip(one, two, strict=True):
        assert a.l2_uvp == pytest.approx(b.l2_uvp, rel=1e-4) and a.n_train == b.n_train


def test_markdown_table_cells():
    rows = [
        BenchResult("linear", "gaussian", 8, 0.5, 0.99, 0.01, 1000),
        BenchResult("brenier", "gaussian", 8, 0.25, 0.999, 12.3, 1000, n_iter=40, note="x"),
    ]
    md = markdown_table(rows)
    assert "| brenier | 8 | 0.25 | 0.9990 | 12.3 | 1000 | 40 |" in md
    assert "| linear | 8 | 0.5 | 0.9900 | 0.0 | 1000 |  |" in md
    assert md.index("| linear |") < md.index("| brenier |")  # the METHODS order


def test_unknown_method_or_pair_raises():
    with pytest.raises(ValueError, match="methods must be in"):
        run_benchmark(dims=[2], methods=["nope"], verbose=False)
    with pytest.raises(ValueError, match="pairs must be in"):
        run_benchmark(pairs=["nope"], dims=[2], methods=["linear"], verbose=False)


def test_registry_has_baselines_and_every_loss():
    assert {"linear", "entropic", "barycentric", "brenier"} <= set(METHODS)
    assert {"brenier-dual", "brenier-w2", "brenier-sinkhorn", "brenier-monge-ampere"} <= set(
        METHODS
    )


def test_monge_ampere_runs_only_where_the_densities_are_known():
    results = run_benchmark(
        dims=[2],
        methods=["brenier-monge-ampere"],
        n_train=200,
        n_test=200,
        quick=True,
        verbose=False,
    )
    assert [(r.pair, r.method) for r in results] == [("gaussian", "brenier-monge-ampere")]
    assert math.isfinite(results[0].l2_uvp) and results[0].n_iter == 30


@pytest.mark.slow
def test_quick_mode_all_methods(tmp_path):
    assert main(args(tmp_path)) == 0
    rows = read_csv(tmp_path / "transport.csv")
    # every method but the peers of other libraries (monge-ampere on the gaussian pair)
    assert {r.method for r in rows} == set(METHODS) - set(PEER_METHODS)
    assert all(math.isfinite(r.l2_uvp) for r in rows)


def test_brenier_samplers_fits_on_fresh_samples(tmp_path):
    # the field's protocol: the estimator gets samplers, so it sees no fixed training set
    (row,) = run_benchmark(
        pairs=["mix3to10"],
        dims=[2],
        methods=["brenier-samplers"],
        n_test=300,
        quick=True,
        verbose=False,
        out=tmp_path,
    )
    assert row.n_train == 0 and row.n_iter == 30
    assert math.isfinite(row.l2_uvp) and row.l2_uvp < 100


def test_frozen_pair_refuses_missing_dims_and_ignores_the_pair_seed(tmp_path):
    with pytest.raises(ValueError, match="mix3to10 pair exists for d in"):
        run_benchmark(pairs=["mix3to10"], dims=[3], methods=["linear"], quick=True, verbose=False)
    # another seed draws other samples of the same frozen pair, instead of failing
    rows = [
        run_benchmark(pairs=["mix3to10"], dims=[2], methods=["linear"], n_train=200, n_test=300,
                      seed=seed, quick=True, verbose=False, out=tmp_path / str(seed))[0]
        for seed in (0, 1)
    ]  # fmt: skip
    assert rows[0].l2_uvp != rows[1].l2_uvp and all(r.l2_uvp > 5 for r in rows)

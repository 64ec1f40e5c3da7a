"""The transport benchmark runner: results, CSV/markdown/figures, accumulation, errors."""

from __future__ import annotations

import argparse
import math

import pytest

from ot_gradnets.transport._bench import (
    METHODS,
    BenchResult,
    main,
    markdown_table,
    read_csv,
    run_benchmark,
    write_csv,
)
from ot_gradnets.transport._pairs import PAIRS


def args(tmp_path, **kw):
    base = dict(quick=True, dims=[2], methods=None, time_limit=None, out=str(tmp_path))
    base.update(kw)
    return argparse.Namespace(**base)


def test_run_benchmark_baselines_small():
    results, models = run_benchmark(
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
    assert ("linear", "gmm-convex", 2) in models


def test_main_writes_table_csv_figures_and_accumulates(tmp_path, capsys):
    assert main(args(tmp_path, methods=["linear"], n_train=200, n_test=200)) == 0
    assert main(args(tmp_path, methods=["barycentric"], n_train=200, n_test=200)) == 0
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


def test_csv_round_trip_and_markdown(tmp_path):
    rows = [
        BenchResult("linear", "gaussian", 8, 0.5, 0.99, 0.01, 1000),
        BenchResult("brenier", "gaussian", 8, 0.25, 0.999, 12.3, 1000, n_iter=40, note="x"),
    ]
    write_csv(rows, tmp_path / "t.csv")
    back = read_csv(tmp_path / "t.csv")
    assert [(r.method, r.d, r.n_iter, r.note) for r in back] == [
        ("linear", 8, None, ""),
        ("brenier", 8, 40, "x"),
    ]
    assert "| brenier | 8 | 0.25 | 0.9990 | 12.3 | 1000 | 40 |" in markdown_table(back)


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
    results, _ = run_benchmark(
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
    assert {r.method for r in rows} == set(METHODS)  # monge-ampere on the gaussian pair
    assert all(math.isfinite(r.l2_uvp) for r in rows)

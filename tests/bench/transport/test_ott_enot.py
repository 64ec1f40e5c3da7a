"""The OTT-JAX peer (``ott-enot``): refused cleanly without OTT; with it, a real ENOT fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ot_gradnets.bench.transport import METHODS, PEER_METHODS, _ott_enot, run_benchmark
from ot_gradnets.transport import l2_uvp


def test_peers_are_opt_in_and_refused_without_ott(monkeypatch):
    assert set(PEER_METHODS) <= set(METHODS)
    monkeypatch.setattr(_ott_enot, "ott_available", lambda: False)
    with pytest.raises(ValueError, match=r"ot-gradnets\[compare\]"):
        run_benchmark(dims=[2], methods=["linear", "ott-enot"], quick=True, verbose=False)


def test_peers_run_on_one_thread_only(monkeypatch):
    monkeypatch.setattr(_ott_enot, "ott_available", lambda: True)
    with pytest.raises(ValueError, match="one CPU thread"):
        run_benchmark(dims=[2], methods=["ott-enot"], threads=2, quick=True, verbose=False)


needs_ott = pytest.mark.skipif(not _ott_enot.ott_available(), reason="needs the compare extra")


@needs_ott
def test_enot_learns_an_affine_map_and_stops_at_the_time_limit():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4000, 2))
    y = 2.0 * x + 1.0  # the Brenier map of an affine push: T(x) = 2x + 1
    est = _ott_enot.OTTExpectileMap(num_train_iters=400, batch_size=256).fit(x, y)
    assert est.n_iter_ == 400
    xt = rng.standard_normal((2000, 2))
    pred = est.transform(xt)
    assert pred.shape == (2000, 2) and pred.dtype == np.float32
    assert l2_uvp(pred, 2.0 * xt + 1.0, 8.0) < 10.0  # Var(Y) = 4 per coordinate
    stopped = _ott_enot.OTTExpectileMap(time_limit=0.0).fit(x, y)
    assert stopped.n_iter_ == 0 and stopped.transform(xt).shape == (2000, 2)


@needs_ott
def test_bench_runs_enot_on_arrays_and_on_fresh_samples(tmp_path):
    rows = run_benchmark(pairs=["gaussian"], dims=[2], methods=["ott-enot", "ott-enot-samplers"],
                         n_train=300, n_test=300, quick=True, verbose=False, out=tmp_path)  # fmt: skip
    assert [(r.method, r.n_train, r.n_iter) for r in rows] == [
        ("ott-enot", 300, 30), ("ott-enot-samplers", 0, 30)
    ]  # fmt: skip
    assert all(math.isfinite(r.l2_uvp) for r in rows)

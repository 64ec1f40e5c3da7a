"""BrenierMap on hostile data: any scale, degenerate directions, d >> n, failed inverses, threads."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from ot_gradnets.cli import main
from ot_gradnets.transport import BrenierMap

F64 = torch.float64


def _pair(n=400, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=F64)
    a = torch.randn(d, d, generator=g, dtype=F64)
    y = torch.tanh(x) @ a + 0.3 * x**2  # a nonlinear target
    return x, y


@pytest.mark.parametrize("a", [1e-6, 1e6])
def test_fit_is_equivariant_under_translation_and_common_scaling(a):
    # OT for |x - y|^2 commutes with translations of either side and a common scaling:
    # the map fitted on (a x + b, a y + c) is x' -> a T((x' - b) / a) + c, to float error.
    x, y = _pair()
    b, c = torch.tensor([5.0, -3.0, 1e3], dtype=F64), torch.tensor([-7.0, 2.0, 0.5], dtype=F64)
    kw = dict(max_iter=40, random_state=0)
    ref = BrenierMap(**kw).fit(x, y)
    scaled = BrenierMap(**kw).fit(a * x + b, a * y + c)
    got = scaled.transform(a * x + b)
    want = a * ref.transform(x) + c
    # float64 data of magnitude up to 1e3 * a: the standardised data agree to ~1e-12
    torch.testing.assert_close((got - c) / a, (want - c) / a, rtol=1e-7, atol=1e-7)
    back = scaled.inverse_transform(got[:50])
    torch.testing.assert_close((back - b) / a, x[:50], rtol=1e-6, atol=1e-6)


def test_digits_constant_columns_map_by_the_identity_shift_and_invert():
    # scikit-learn's digits: 3 of the 64 pixels are 0 in every image
    X, label = load_digits(return_X_y=True)
    x, y = X[label < 5].astype(np.float32), X[label >= 5].astype(np.float32)
    constant = np.flatnonzero(X.std(0) == 0)
    assert constant.size >= 1
    tmap = BrenierMap(max_iter=20, random_state=0).fit(x, y)
    assert tmap.network_.inner.dim == 64 - constant.size  # fitted on the other directions
    tx = tmap.transform(x)
    np.testing.assert_allclose(tx[:, constant], x[:, constant], atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # every point must converge
        back = tmap.inverse_transform(tx[:200])
    assert np.isfinite(back).all()
    # float32, pixel values up to 16: a residual of 1e-4 relative moves x by well under 1e-2
    np.testing.assert_allclose(back, x[:200], atol=1e-2)


def test_collinear_columns_are_handled():
    x, y = _pair(d=2)
    x3 = torch.cat([x, x[:, :1] + 2 * x[:, 1:]], 1)  # third column = x1 + 2 x2
    y3 = torch.cat([y, y[:, :1] + 2 * y[:, 1:]], 1)
    tmap = BrenierMap(max_iter=20, random_state=0).fit(x3, y3)
    assert tmap.network_.inner.dim == 2
    out = tmap.transform(x3)
    torch.testing.assert_close(out[:, 2], out[:, 0] + 2 * out[:, 1], rtol=1e-9, atol=1e-9)
    assert torch.isfinite(tmap.inverse_transform(out)).all()


def test_d_much_larger_than_n_warns_and_fits_a_subspace():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10, 5000, generator=g)
    y = 2 * torch.randn(10, 5000, generator=g) + 1
    with pytest.warns(UserWarning, match="10 samples in 5000 dimensions") as caught:
        tmap = BrenierMap(max_iter=20, random_state=0, time_limit=30).fit(x, y)
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]  # no false alarm
    assert tmap.network_.inner.dim <= 18  # the fit is on at most 18 directions, so it is cheap
    assert tmap.strong_convexity_ == 0.1  # a floor that keeps the map invertible
    assert torch.isfinite(tmap.inverse_transform(tmap.transform(x))).all()


@pytest.mark.slow
def test_d_much_larger_than_n_inverts_after_a_full_fit(tmp_path):
    # 3,000 steps on 10 samples: without the strong-convexity floor the quadratic term went
    # singular (condition number 1e10) and no inverse converged (all 10 rows NaN)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10, 5000, generator=g)
    y = 2 * torch.randn(10, 5000, generator=g) + 1
    with pytest.warns(UserWarning, match="strong_convexity=0.1"):
        tmap = BrenierMap(random_state=0, time_limit=60).fit(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        back = tmap.inverse_transform(tmap.transform(x))
    torch.testing.assert_close(back, x, rtol=0, atol=1e-3)
    tmap.save(tmp_path / "m.pt")  # the floor is part of the saved architecture
    again = BrenierMap.load(tmp_path / "m.pt")
    torch.testing.assert_close(again.transform(x), tmap.transform(x), rtol=1e-6, atol=1e-6)


def test_time_limit_counts_the_set_up():
    x, y = _pair(n=2000, d=8)
    tmap = BrenierMap(max_iter=10**6, time_limit=1e-4, random_state=0).fit(x, y)
    assert tmap.n_iter_ == 0 and tmap.stop_reason_ == "time_limit"
    assert torch.isfinite(tmap.transform(x)).all()  # the initial (Gaussian) map


def test_all_constant_data_is_refused():
    x = torch.ones(20, 3)
    with pytest.raises(ValueError, match="no variance"):
        BrenierMap(max_iter=2).fit(x, x + 1)


def test_failed_inverse_rows_are_nan_and_warned():
    x, y = _pair()
    tmap = BrenierMap(max_iter=30, random_state=0).fit(x, y)
    pts = tmap.transform(x[:20])
    with pytest.warns(ConvergenceWarning, match="rows are NaN"):
        back = tmap.inverse_transform(pts, max_iter=0)  # no Newton step: nothing converges
    assert torch.isnan(back).all()
    back = tmap.inverse_transform(pts)
    assert torch.isfinite(back).all()
    conj = tmap.conjugate_potential(pts)
    assert torch.isfinite(conj).all()


def test_standardize_false_keeps_the_old_path():
    x, y = _pair()
    tmap = BrenierMap(max_iter=10, random_state=0, standardize=False).fit(x, y)
    assert tmap.network_.dim == 3 and not hasattr(tmap.network_, "inner")
    assert torch.isfinite(tmap.inverse_transform(tmap.transform(x))).all()


def test_standardized_map_round_trips_through_save(tmp_path):
    X, label = load_digits(return_X_y=True)
    x, y = X[label < 5], X[label >= 5]
    tmap = BrenierMap(max_iter=5, random_state=0).fit(x, y)
    tmap.save(tmp_path / "m.pt")
    back = BrenierMap.load(tmp_path / "m.pt")
    np.testing.assert_allclose(back.transform(x[:50]), tmap.transform(x[:50]), rtol=1e-12)
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed away


# -- threads ---------------------------------------------------------------------------------


def test_small_fits_and_transforms_run_on_one_thread():
    seen = []
    x, y = _pair()
    before = torch.get_num_threads()
    with_threads = 2 if before == 1 else before
    torch.set_num_threads(with_threads)
    try:
        tmap = BrenierMap(
            max_iter=3,
            random_state=0,
            callback=lambda est, s, v: seen.append(torch.get_num_threads()),
        ).fit(x, y)
        assert seen == [1, 1, 1]  # "auto": a 3-d step is small
        assert torch.get_num_threads() == with_threads  # restored after fit
        tmap.transform(x)
        assert torch.get_num_threads() == with_threads
        seen.clear()
        tmap.set_params(threads=3).fit(x, y)
        assert seen == [3, 3, 3]  # an explicit count is used as given
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "many", True])
def test_bad_threads_are_refused(bad):
    x, y = _pair(n=50)
    with pytest.raises(ValueError, match="threads"):
        BrenierMap(threads=bad, max_iter=1).fit(x, y)


# -- the command line ------------------------------------------------------------------------


def test_cli_inverse_exits_non_zero_on_failed_points(tmp_path, capsys, monkeypatch):
    x, y = _pair(n=300)
    np.save(tmp_path / "x.npy", x.numpy())
    np.save(tmp_path / "y.npy", y.numpy())
    assert main(["fit", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "-o",
                 str(tmp_path / "m.pt"), "--max-iter", "5", "--float64"]) == 0  # fmt: skip
    args = ["transform", str(tmp_path / "m.pt"), str(tmp_path / "y.npy"), "-o"]
    assert main([*args, str(tmp_path / "ok.npy"), "--inverse"]) == 0
    # points no Newton solve can reach: make the solver give up on half of them
    original = BrenierMap._solve

    def half_fail(self, y, tol, max_iter, damping):
        x, failed, residual = original(self, y, tol, max_iter, damping)
        failed = failed.clone()
        failed[::2] = True
        return x.masked_fill(failed.unsqueeze(-1), float("nan")), failed, residual

    monkeypatch.setattr(BrenierMap, "_solve", half_fail)
    assert main([*args, str(tmp_path / "bad.npy"), "--inverse"]) == 3
    err = capsys.readouterr().err
    assert "did not converge for 150 of 300 points" in err
    assert np.isnan(np.load(tmp_path / "bad.npy")).any(axis=1).sum() == 150  # written anyway
    assert main([*args, str(tmp_path / "bad2.npy"), "--inverse", "--allow-unconverged"]) == 0


def test_cli_fit_exits_3_when_the_fit_diverges(tmp_path, capsys):
    x, y = _pair(n=300)
    np.save(tmp_path / "x.npy", x.numpy())
    np.save(tmp_path / "y.npy", y.numpy())
    rc = main(["fit", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "-o",
               str(tmp_path / "m.pt"), "--max-iter", "200", "--lr", "1e4"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 3 and "diverged" in err
    assert BrenierMap.load(tmp_path / "m.pt").n_features_in_ == 3  # the healthy map is saved

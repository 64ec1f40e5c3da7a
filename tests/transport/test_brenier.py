"""The BrenierMap estimator (ot_gradnets.transport._brenier)."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import ot
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from ot_gradnets.core import MGradNetM
from ot_gradnets.transport import BrenierMap, gaussian_map, gaussian_pair

F64 = torch.float64


def _gmm(n, dim=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    means = torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.0]], dtype=F64)[:, :dim]
    c = torch.randint(3, (n,), generator=g)
    return means[c] + 0.6 * torch.randn(n, dim, dtype=F64, generator=g)


@pytest.fixture(scope="module")
def fitted():
    """A map between a Gaussian mixture and a banana-shaped cloud, float64, fitted briefly."""
    g = torch.Generator().manual_seed(1)
    x = _gmm(2000)
    z = torch.randn(2000, 2, dtype=F64, generator=g)
    y = torch.stack([1.5 * z[:, 0], 0.5 * z[:, 1] + 0.4 * z[:, 0] ** 2], 1)
    tmap = BrenierMap(max_iter=60, batch_size=256, random_state=0).fit(x, y)
    return tmap, x, y


def test_fit_returns_self_and_fitted_state(fitted):
    tmap, x, _ = fitted
    assert tmap.n_features_in_ == 2 and tmap.n_iter_ == 60
    assert len(tmap.history_["loss"]) == 60 == len(tmap.history_["time"])
    assert all(np.isfinite(tmap.history_["loss"]))
    out = tmap.transform(x[:5])
    assert isinstance(out, torch.Tensor) and out.dtype == F64 and out.shape == (5, 2)
    assert isinstance(tmap.transform(x[:5].numpy()), np.ndarray)


def test_inverse_transform_round_trip(fitted):
    tmap, x, _ = fitted
    back = tmap.inverse_transform(tmap.transform(x[:200]))
    # Newton to ~100 eps on a strongly monotone map: far below the 1e-5 relative requirement
    torch.testing.assert_close(back, x[:200], rtol=1e-5, atol=1e-5 * float(x.abs().max()))


def test_jacobian_symmetric_psd(fitted):
    tmap, x, _ = fitted
    jac = tmap.network_.jacobian(x[:100]).detach()
    torch.testing.assert_close(jac, jac.transpose(-1, -2), rtol=0, atol=1e-12)
    assert float(torch.linalg.eigvalsh(jac).min()) > 0  # PD: the quadratic term has eps > 0


def test_potential_conjugate_and_interpolation(fitted):
    tmap, x, _ = fitted
    xs = x[:50].clone().requires_grad_(True)
    f = tmap.network_.potential(xs).sum()
    (grad,) = torch.autograd.grad(f, xs)
    torch.testing.assert_close(grad, tmap.transform(x[:50]), rtol=1e-9, atol=1e-9)
    y = tmap.transform(x[:50])
    # Fenchel-Young with equality at y = T(x): F(x) + F*(y) = <x, y>
    torch.testing.assert_close(
        tmap.potential(x[:50]) + tmap.conjugate_potential(y),
        (x[:50] * y).sum(-1),
        rtol=1e-9,
        atol=1e-9,
    )
    torch.testing.assert_close(tmap.interpolate(x[:50], 0.0), x[:50])
    torch.testing.assert_close(tmap.interpolate(x[:50], 1.0), y)
    torch.testing.assert_close(tmap.interpolate(x[:50], 0.5), 0.5 * (x[:50] + y))


def test_log_density_change_of_variables(fitted):
    tmap, x, _ = fitted
    normal = torch.distributions.MultivariateNormal(
        torch.zeros(2, dtype=F64), torch.eye(2, dtype=F64)
    )
    xs = x[:20]
    jac = torch.func.vmap(torch.func.jacrev(tmap.network_))(xs)  # autograd, independent of core
    expected = normal.log_prob(xs) - torch.linalg.slogdet(jac)[1]
    got = tmap.log_density(tmap.transform(xs), normal.log_prob)
    torch.testing.assert_close(got, expected, rtol=1e-8, atol=1e-8)
    # the pushforward of N(0, I) is a probability density: a Riemann sum over a box holding
    # T(B(0, 6)) integrates to 1 (the mass outside that ball is e^-18)
    edge = tmap.transform(
        6 * torch.stack([torch.cos(t := torch.linspace(0, 6.3, 200, dtype=F64)), torch.sin(t)], 1)
    )
    lo, hi = edge.min(0).values - 0.5, edge.max(0).values + 0.5
    g0 = torch.linspace(float(lo[0]), float(hi[0]), 150, dtype=F64)
    g1 = torch.linspace(float(lo[1]), float(hi[1]), 150, dtype=F64)
    grid = torch.stack(torch.meshgrid(g0, g1, indexing="ij"), -1).reshape(-1, 2)
    dens = tmap.log_density(grid, normal.log_prob).exp()
    mass = float(dens.sum()) * float((g0[1] - g0[0]) * (g1[1] - g1[0]))
    assert mass == pytest.approx(1.0, abs=2e-2)  # Riemann-sum error on a 150 x 150 grid


def test_gaussian_to_gaussian_l2_uvp_d4():
    pair = gaussian_pair(4, generator=torch.Generator().manual_seed(0), dtype=F64)
    g = torch.Generator().manual_seed(1)
    x, y = pair.sample_source(10000, generator=g), pair.sample_target(10000, generator=g)
    tmap = BrenierMap(max_iter=100, random_state=0).fit(x, y)
    xt = pair.sample_source(5000, generator=g)
    err = ((tmap.transform(xt) - pair.transport(xt)) ** 2).sum(-1).mean()
    uvp = 100 * float(err) / pair.target_variance()
    assert uvp < 0.5


def test_w2_matches_bures_wasserstein():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10000, 3, dtype=F64, generator=g)
    a = torch.tensor([[1.5, 0.2, 0.0], [0.2, 0.8, 0.1], [0.0, 0.1, 1.2]], dtype=F64)
    y = x @ a + torch.tensor([1.0, 0.0, -1.0], dtype=F64)
    tmap = BrenierMap(max_iter=100, random_state=0).fit(x, y)
    ms, mt = x.mean(0).numpy(), y.mean(0).numpy()
    cs, ct = np.cov(x.numpy().T), np.cov(y.numpy().T)
    # POT returns W2 (not squared) for the cost |x-y|^2; BrenierMap.w2 is W2^2, same cost. A
    # factor-2 convention slip would be off by 50-100%; 3% covers minibatch-SGD noise of the fit.
    expected = float(ot.gaussian.bures_wasserstein_distance(ms, mt, cs, ct)) ** 2
    assert tmap.w2(x) == pytest.approx(expected, rel=3e-2)


def test_gaussian_map_matches_pot():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 3, dtype=F64, generator=g)
    y = torch.randn(500, 3, dtype=F64, generator=g) @ torch.diag(
        torch.tensor([1.0, 2.0, 0.5], dtype=F64)
    )
    a, b = gaussian_map(x, y, reg=0.0)
    a_pot, b_pot = ot.gaussian.empirical_bures_wasserstein_mapping(x.numpy(), y.numpy())
    # POT adds reg=1e-6 to both covariances, we add 1e-6 * mean eigenvalue to the source's only
    np.testing.assert_allclose(a.numpy(), a_pot, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.numpy(), b_pot.reshape(-1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss", ["w2", "sinkhorn"])
def test_sample_losses_improve_on_a_shift(loss):
    # linear_term=False, standardize=False: the net must learn the shift itself; the losses must
    # drive it there
    x = torch.randn(512, 2, generator=torch.Generator().manual_seed(0))
    y = x + torch.tensor([3.0, 0.0])
    options = {"scaling": 0.5} if loss == "sinkhorn" else None  # few annealing steps: fast
    tmap = BrenierMap(
        loss=loss,
        linear_term=False,
        standardize=False,
        max_iter=60,
        lr=1e-1,
        batch_size=64,
        blur=0.1,
        loss_options=options,
        random_state=0,
    ).fit(x, y)
    assert tmap.history_["loss"][-1] < 0.2 * tmap.history_["loss"][0]


def test_samplers_and_monge_ampere():
    g = torch.Generator().manual_seed(0)
    tmap = BrenierMap(loss="monge-ampere", max_iter=30, random_state=0)
    normal = torch.distributions.Normal(0.0, 1.0)
    tmap.fit(
        lambda n: torch.randn(n, 2, generator=g),
        source_log_density=lambda x: normal.log_prob(x).sum(-1),
        target_log_density=lambda y: normal.log_prob(y / 2).sum(-1) - 2 * np.log(2.0),
    )
    assert tmap.n_iter_ == 30 and tmap.history_["loss"][-1] < tmap.history_["loss"][0]
    dual = BrenierMap(max_iter=5, batch_size=64, random_state=0, loss_options={"pool_size": 256})
    dual.fit(lambda n: torch.randn(n, 2, generator=g), lambda n: 2 * torch.randn(n, 2, generator=g))
    assert dual.n_iter_ == 5


def test_reproducible_with_random_state():
    x, y = _gmm(300), 2 * _gmm(300, seed=1)
    a = BrenierMap(max_iter=5, random_state=3).fit(x, y).transform(x[:4])
    b = BrenierMap(max_iter=5, random_state=3).fit(x, y).transform(x[:4])
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_sklearn_clone_get_params_fit_transform():
    est = BrenierMap(3, width=8, depth=2, max_iter=3, random_state=0)
    params = est.get_params()
    assert params["width"] == 8 and params["loss"] == "dual"
    twin = clone(est)
    assert twin.get_params() == params and not hasattr(twin, "network_")
    x, y = np.random.default_rng(0).normal(size=(2, 100, 3))
    out = twin.fit_transform(x, 2 * y)
    assert isinstance(out, np.ndarray) and out.shape == (100, 3)


def test_save_load_round_trip(tmp_path, fitted):
    tmap, x, _ = fitted
    path = tmp_path / "map.pt"
    tmap.save(path)
    raw = torch.load(path, weights_only=True)  # plain data only
    assert raw["version"] and raw["config"]["loss"] == "dual"
    loaded = BrenierMap.load(path)
    torch.testing.assert_close(loaded.transform(x[:20]), tmap.transform(x[:20]), rtol=0, atol=0)
    assert loaded.get_params()["width"] == tmap.width


def test_save_load_custom_network(tmp_path):
    x, y = _gmm(200), 2 * _gmm(200, seed=1)
    net = MGradNetM(2, width=4, num_modules=2)
    tmap = BrenierMap(network=net, max_iter=3, random_state=0).fit(x, y)
    assert tmap.network_.inner.terms[0] is not net  # copied, never modified
    tmap.save(tmp_path / "m.pt")
    with pytest.raises(ValueError, match="network="):
        BrenierMap.load(tmp_path / "m.pt")
    loaded = BrenierMap.load(tmp_path / "m.pt", network=MGradNetM(2, width=4, num_modules=2))
    torch.testing.assert_close(loaded.transform(x[:5]), tmap.transform(x[:5]), rtol=0, atol=0)


def test_load_rejects_other_files(tmp_path):
    torch.save({"a": torch.zeros(2)}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="BrenierMap.save"):
        BrenierMap.load(tmp_path / "x.pt")


def _nan_after(first_bad: int, last_bad: int | None = None):
    """A target log-density that returns NaN on calls first_bad..last_bad (one call per step)."""
    calls = {"n": 0}

    def log_q(y):
        calls["n"] += 1
        out = -0.5 * (y * y).sum(-1)
        bad = calls["n"] >= first_bad and (last_bad is None or calls["n"] <= last_bad)
        return out * float("nan") if bad else out

    return log_q


def test_transient_non_finite_loss_is_recovered_and_reported():
    tmap = BrenierMap(loss="monge-ampere", max_iter=50, random_state=0)
    x = torch.randn(100, 2, dtype=F64)
    with pytest.warns(ConvergenceWarning, match=r"recovered from 1 divergence.*step 5.*not finite"):
        tmap.fit(
            x, source_log_density=lambda z: -(z * z).sum(-1), target_log_density=_nan_after(6, 6)
        )
    assert tmap.stop_reason_ == "max_iter" and tmap.n_iter_ == 50
    assert len(tmap.recoveries_) == 1 and all(map(math.isfinite, tmap.history_["loss"]))


def test_persistent_divergence_stops_with_the_last_healthy_weights():
    # NaN from step 120 on: every recovery goes back to the snapshot of step 100 (after 100
    # updates) and fails again; after 3 recoveries the fit stops with those weights.
    after = {}

    def record(est, step, loss):
        after[step] = [p.detach().clone() for p in est.network_.parameters()]

    tmap = BrenierMap(loss="monge-ampere", max_iter=300, random_state=0, callback=record)
    x = torch.randn(100, 2, dtype=F64)
    with pytest.warns(ConvergenceWarning, match=r"diverged 4 times.*step 100"):
        tmap.fit(
            x, source_log_density=lambda z: -(z * z).sum(-1), target_log_density=_nan_after(121)
        )
    assert tmap.stop_reason_ == "diverged" and tmap.n_iter_ == 100
    for p, q in zip(tmap.network_.parameters(), after[99], strict=True):
        torch.testing.assert_close(p.detach(), q, rtol=0, atol=0)


def test_map_blowing_up_is_caught():
    # a learning rate far too large makes the map's outputs explode; the guard must notice,
    # recover with smaller steps, and never return a map whose outputs are off by orders
    x, y = _gmm(400), 2 * _gmm(400, seed=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tmap = BrenierMap(lr=50.0, max_iter=60, random_state=0, linear_term=False).fit(x, y)
    assert tmap.recoveries_, "a divergence was expected at lr=50"
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught)
    scale = float((y**2).sum(-1).mean())
    out = float((torch.as_tensor(tmap.transform(x)) ** 2).sum(-1).mean())
    assert out < 100 * scale


def test_callback_can_stop():
    x, y = _gmm(200), 2 * _gmm(200, seed=1)
    tmap = BrenierMap(
        max_iter=50, random_state=0, verbose=True, callback=lambda est, s, v: s == 2
    ).fit(x, y)
    assert tmap.n_iter_ == 3


def test_time_limit_stops_early():
    x, y = _gmm(200), 2 * _gmm(200, seed=1)
    tmap = BrenierMap(max_iter=10**6, time_limit=0.5, random_state=0).fit(x, y)
    assert 0 < tmap.n_iter_ < 10**6 and tmap.stop_reason_ == "time_limit"


def test_float32_tensors_and_device_follow_the_data():
    x = _gmm(300).float()
    tmap = BrenierMap(max_iter=3, random_state=0).fit(x, 2 * x)
    assert next(tmap.network_.parameters()).dtype == torch.float32
    assert tmap.transform(x[:2]).dtype == torch.float32
    assert tmap.transform(x[:2].double()).dtype == F64  # output follows the input


_X = np.random.default_rng(0).normal(size=(50, 2))


@pytest.mark.parametrize(
    ("kwargs", "X", "Y", "match"),
    [
        ({}, _X[:, 0], _X, "X must be a 2-D"),
        ({}, _X[:0], _X, "X is empty"),
        ({}, _X[:1], _X, "X has 1 sample"),
        ({}, np.where(np.arange(50)[:, None] == 3, np.nan, _X), _X, "X contains non-finite"),
        ({}, _X, np.full((50, 2), np.inf), "Y contains non-finite"),
        ({}, _X, np.ones((50, 3)), "Y must have 2 columns"),
        ({}, [["a", "b"]] * 3, _X, "X must be numeric"),
        ({}, _X, None, "Y .* is required"),
        ({"dim": 3}, _X, _X, "X must have 3 columns"),
        ({"dim": 0}, _X, _X, "dim must be a positive integer"),
        ({"loss": "kl"}, _X, _X, "loss must be one of"),
        ({"network": "resnet"}, _X, _X, "network must be one of"),
        ({"network": 3}, _X, _X, "network must be"),
        ({"batch_size": 0}, _X, _X, "batch_size"),
        ({"max_iter": -1}, _X, _X, "max_iter"),
        ({"lr": 0.0}, _X, _X, "lr must be positive"),
        ({"lr_schedule": "step"}, _X, _X, "lr_schedule"),
        ({"time_limit": 0}, _X, _X, "time_limit"),
        ({"blur": -1.0}, _X, _X, "blur"),
        ({"strong_convexity": -1.0}, _X, _X, "strong_convexity"),
        ({"random_state": "seed"}, _X, _X, "random_state"),
        ({"loss_options": {"bogus": 1}}, _X, _X, "loss_options"),
        ({"loss": "monge-ampere"}, _X, None, "source_log_density"),
        ({}, lambda n: np.random.default_rng(0).normal(size=(n + 1, 2)), _X, "returned"),
        ({}, _X, lambda n: np.ones((n, 3)), "must have 2 columns"),
    ],
)
def test_bad_inputs_raise_value_error(kwargs, X, Y, match):
    with pytest.raises(ValueError, match=match):
        BrenierMap(**{"max_iter": 1, **kwargs}).fit(X, Y)


def test_bad_inputs_after_fit(fitted):
    tmap = fitted[0]
    with pytest.raises(ValueError, match="X must have 2 columns"):
        tmap.transform(np.ones((3, 4)))
    with pytest.raises(ValueError, match="Y contains non-finite"):
        tmap.inverse_transform(np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match="t must be in"):
        tmap.interpolate(np.ones((2, 2)), 1.5)
    with pytest.raises(ValueError, match="source_log_density"):
        tmap.log_density(np.ones((2, 2)), None)


def test_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        BrenierMap().transform(np.ones((2, 2)))


def test_warns_on_non_monotone_network():
    from ot_gradnets.core import GradNetM

    with pytest.warns(UserWarning, match="not monotone"):
        BrenierMap(
            network=GradNetM(2, width=4, num_modules=2), loss="w2", max_iter=1, linear_term=False
        ).fit(_X, _X)


@pytest.mark.slow
@pytest.mark.parametrize(("dim", "bar"), [(8, 1.0), (16, 3.0)])
def test_default_recipe_accuracy_on_known_map(dim, bar):
    # the bar, with the defaults and the benchmark's data (20,000 samples per side)
    from ot_gradnets.transport import l2_uvp, make_pair

    pair = make_pair("gmm-convex", dim, seed=0)
    x = pair.sample_source(20000, torch.Generator().manual_seed(1))
    y = pair.sample_target(20000, torch.Generator().manual_seed(2))
    tmap = BrenierMap(dim, random_state=0).fit(x, y)
    x_test = pair.sample_source(10000, torch.Generator().manual_seed(3))
    assert l2_uvp(tmap.transform(x_test), pair.transport(x_test), y) < bar


def test_held_out_stopping_keeps_the_best_weights():
    x, y = _gmm(1000), 2 * _gmm(1000, seed=1) + 1
    snapshots = {}

    def record(est, step, loss):
        snapshots[step + 1] = [p.detach().clone() for p in est.network_.parameters()]

    tmap = BrenierMap(
        max_iter=2000,
        batch_size=128,
        random_state=0,
        validation_fraction=0.1,
        validation_interval=10,
        n_iter_no_change=3,
        callback=record,
    ).fit(x, y)
    scores, steps = tmap.validation_scores_, tmap.history_["val_step"]
    assert len(scores) == len(steps) and steps[0] == 0 and np.all(np.isfinite(scores))
    assert tmap.best_validation_score_ == min(scores)
    assert tmap.best_iter_ == steps[int(np.argmin(scores))] > 0  # training beat the linear start
    # stopped by the rule: three evaluations after the best one, none better
    assert tmap.n_iter_ == tmap.best_iter_ + 3 * 10 < 2000
    assert min(scores[steps.index(tmap.best_iter_) + 1 :]) >= tmap.best_validation_score_
    for p, q in zip(tmap.network_.parameters(), snapshots[tmap.best_iter_], strict=True):
        torch.testing.assert_close(p.detach(), q, rtol=0, atol=0)  # the best weights are kept


def test_held_out_checkpoint_without_stopping_runs_the_whole_budget():
    x, y = _gmm(400), 2 * _gmm(400, seed=1)
    tmap = BrenierMap(
        max_iter=30, random_state=0, validation_fraction=0.2, validation_interval=10
    ).fit(x, y)
    assert tmap.n_iter_ == 30 and tmap.history_["val_step"] == [0, 10, 20, 30]
    assert tmap.best_validation_score_ == min(tmap.validation_scores_)


def test_held_out_semi_dual_is_the_objective(fitted):
    tmap, x, y = fitted
    got = tmap.loss_fn_.evaluate(tmap.network_, x[:300], y[:500])
    want = tmap.potential(x[:300]).mean() + tmap.conjugate_potential(y[:500]).mean()
    assert abs(got - float(want)) < 1e-8 * max(1.0, abs(float(want)))
    # warm-started from the previous solutions when the same samples come back
    assert tmap.loss_fn_.evaluate(tmap.network_, x[:300], y[:500]) == pytest.approx(got, abs=1e-10)


@pytest.mark.parametrize("loss", ["dual", "w2", "sinkhorn", "monge-ampere"])
def test_held_out_scores_with_every_loss(loss):
    x = _gmm(300)
    kw = {"y": 2 * _gmm(300, seed=1)}
    if loss == "monge-ampere":
        kw = {
            "source_log_density": lambda z: -(z * z).sum(-1),
            "target_log_density": lambda z: -0.5 * (z * z).sum(-1),
        }
    tmap = BrenierMap(
        loss=loss, max_iter=20, random_state=0, validation_fraction=0.1, validation_interval=5
    )
    tmap.fit(x, kw.pop("y", None), **kw)
    assert tmap.history_["val_step"] == [0, 5, 10, 15, 20]
    assert np.all(np.isfinite(tmap.validation_scores_))
    assert tmap.best_validation_score_ == min(tmap.validation_scores_)


def test_held_out_w2_is_exact_ot_between_the_pushed_samples(fitted):
    tmap, x, y = fitted
    from ot_gradnets.transport import LOSSES

    got = LOSSES["w2"]().evaluate(tmap.network_, x[:200], y[:150])
    tx = tmap.transform(x[:200])
    want = ot.emd2(
        np.full(200, 1 / 200), np.full(150, 1 / 150), ot.dist(tx.numpy(), y[:150].numpy())
    )
    assert got == pytest.approx(float(want), rel=1e-10)


def test_held_out_with_a_sampler_and_bad_settings():
    g = torch.Generator().manual_seed(0)
    tmap = BrenierMap(
        max_iter=12, random_state=0, validation_fraction=0.1, validation_interval=5, batch_size=64
    ).fit(lambda n: torch.randn(n, 2, generator=g, dtype=F64), 2 * _gmm(400))
    assert tmap.history_["val_step"] == [0, 5, 10, 12]  # the final weights are scored too
    x = _gmm(50)
    bad_settings = (
        ({"validation_fraction": 0.0}, "validation_fraction"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"validation_fraction": 0.1, "n_iter_no_change": 0}, "n_iter_no_change"),
        ({"n_iter_no_change": 5}, "needs validation_fraction"),
        ({"validation_fraction": 0.1, "validation_interval": 0}, "validation_interval"),
    )
    for bad, match in bad_settings:
        with pytest.raises(ValueError, match=match):
            BrenierMap(**bad).fit(x, x)
    with pytest.raises(ValueError, match="too few"):
        BrenierMap(validation_fraction=0.5).fit(x[:3], x[:3])
    assert not hasattr(BrenierMap(max_iter=2).fit(x, x), "validation_scores_")
    refit = tmap.set_params(validation_fraction=None).fit(x, 2 * x)
    assert not hasattr(refit, "best_iter_")  # an earlier fit's scores do not linger


def test_held_out_share_is_capped_and_needs_an_evaluate():
    from ot_gradnets.transport import LOSSES, TransportLoss

    DualLoss = LOSSES["dual"]  # noqa: N806 - a class

    x = torch.randn(9_000, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
    sizes = []

    class Spy(DualLoss):  # type: ignore[valid-type,misc]
        def evaluate(self, net, xv, yv):
            sizes.append((xv.shape[0], yv.shape[0]))
            return super().evaluate(net, xv, yv)

    LOSSES["spy"] = Spy
    try:
        BrenierMap(loss="spy", max_iter=1, validation_fraction=0.5).fit(x, 2 * x)
    finally:
        del LOSSES["spy"]
    assert sizes[0] == (4096, 4096)

    class NoEvaluate(TransportLoss):
        def step(self, net, batch_size, generator):
            x, _ = self.source.draw(batch_size, generator)
            return (net(x) ** 2).mean()

    LOSSES["no-evaluate"] = NoEvaluate
    try:
        BrenierMap(loss="no-evaluate", max_iter=2).fit(x[:100], x[:100])  # fine without hold-out
        with pytest.raises(NotImplementedError, match="validation_fraction=None"):
            BrenierMap(loss="no-evaluate", max_iter=2, validation_fraction=0.1).fit(
                x[:100], x[:100]
            )
    finally:
        del LOSSES["no-evaluate"]


def test_ended_worse_compares_the_first_and_last_steps_with_their_noise():
    from ot_gradnets.transport._guard import ended_worse as _ended_worse

    g = torch.Generator().manual_seed(0)
    noise = (0.1 * torch.randn(1000, generator=g)).tolist()
    falling = [10.0 - i / 500 + e for i, e in enumerate(noise)]
    flat = [10.0 + e for e in noise]
    rising = [10.0 + (2.0 if i > 500 else 0.0) + e for i, e in enumerate(noise)]
    assert _ended_worse(falling) is None and _ended_worse(flat) is None
    assert re.search(r"10\.0\d* over the first 100 steps, 12(\.0\d*)? over the last 100",
                     _ended_worse(rising))  # fmt: skip
    assert _ended_worse(rising[:30]) is None  # too few steps to tell
    assert _ended_worse([*rising[:-1], float("nan")]) is None  # non-finite: the guard's case


def test_a_fit_that_ends_worse_than_it_started_keeps_the_start_and_says_so():
    """The guard sees only sudden failures; weights damaged slowly (here: shifted by hand, too
    little for the output check, and a learning rate too small to undo it) end the fit with a
    map worse than its start. The fit keeps the start, and calls it a divergence."""
    pair = gaussian_pair(2, generator=torch.Generator().manual_seed(0))
    x, y = pair.sample_source(2000), pair.sample_target(2000)

    def damage(est, step, loss):
        if step == 200:
            with torch.no_grad():
                est.network_.inner.terms[-1].b += 1.5  # 1.5 standardised units off
        return False

    with pytest.warns(ConvergenceWarning, match="ended with a worse loss than it started"):
        tmap = BrenierMap(max_iter=400, lr=1e-6, random_state=0, callback=damage).fit(x, y)
    assert tmap.stop_reason_ == "diverged"
    start = BrenierMap(max_iter=1, lr=1e-6, random_state=0).fit(x, y)  # one step of 1e-6
    torch.testing.assert_close(tmap.transform(x), start.transform(x), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize(
    "X, Y, match",
    [
        (np.ones((50, 2)), _X, "X has no variance .* source with a density"),
        (_X, np.full((40, 2), 3.0), r"constant map x -> Y\[0\]"),
        (np.c_[_X[:, :1], np.zeros(len(_X))], _X, "X is flat in 1 of the 2 directions"),
    ],
    ids=["constant source", "constant target", "flat source"],
)
def test_degenerate_sources_and_targets_are_refused_with_the_answer(X, Y, match):
    with pytest.raises(ValueError, match=match):
        BrenierMap(max_iter=1).fit(X, Y)
    with pytest.raises(ValueError, match=match):  # samplers too: their reference draw
        BrenierMap(max_iter=1).fit(
            lambda n: X[np.arange(n) % len(X)], lambda n: Y[np.arange(n) % len(Y)]
        )


def test_few_samples_in_many_dimensions_are_not_called_flat():
    g = np.random.default_rng(0)
    x, y = g.normal(size=(10, 50)), g.normal(size=(10, 50))
    with pytest.warns(UserWarning, match="10 samples in 50 dimensions"):
        BrenierMap(max_iter=2, random_state=0).fit(x, y)


@pytest.mark.parametrize("half", [torch.float16, torch.bfloat16])
def test_half_precision_tensors_train_in_float32_and_get_their_dtype_back(half):
    x = torch.randn(200, 2, generator=torch.Generator().manual_seed(0)).to(half)
    tmap = BrenierMap(max_iter=3, random_state=0).fit(x, 2 * x + 1)
    assert next(tmap.network_.parameters()).dtype == torch.float32
    assert tmap.transform(x).dtype == half and tmap.inverse_transform(x[:5]).dtype == half
    with pytest.raises(ValueError, match="lower precisions cannot carry the Newton solves"):
        BrenierMap(max_iter=3, dtype=torch.float16).fit(x, x)

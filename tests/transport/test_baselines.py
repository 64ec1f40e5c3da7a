"""Classical baselines: recover a Gaussian pair's map, follow the input's type, validate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from ot_gradnets.transport import l2_uvp, make_pair
from ot_gradnets.transport._baselines import BASELINES, BarycentricMap, EntropicMap, LinearMap


def data(name="gaussian", dim=3, n=2000, seed=0):
    pair = make_pair(name, dim, seed, dtype=torch.float64)
    x = pair.sample_source(n, torch.Generator().manual_seed(1))
    y = pair.sample_target(n, torch.Generator().manual_seed(2))
    xt = pair.sample_source(1000, torch.Generator().manual_seed(3))
    return pair, x, y, xt


def test_linear_map_recovers_gaussian_pair_map():
    pair, x, y, xt = data(n=20_000)
    est = LinearMap().fit(x, y)
    # Plug-in estimate from n = 2e4 samples: entries of A have error O(1/sqrt(n)) ~ 0.01 times
    # the covariances' scale (eigenvalues <= 4); 0.1 is a loose, non-flaky bound.
    assert np.abs(est.A_ - pair.map_matrix.numpy()).max() < 0.1
    assert l2_uvp(est.transform(xt), pair.transport(xt), pair.target_variance()) < 0.5


def test_entropic_map_on_gaussian_pair():
    pair, x, y, xt = data(dim=2, n=1000)
    est = EntropicMap().fit(x, y)
    assert est.reg_ > 0 and est.log_v_.shape == (1000,)
    # The entropic bias plus 1000 samples leave a few percent in d = 2 (measured ~1%).
    assert l2_uvp(est.transform(xt), pair.transport(xt), pair.target_variance()) < 5.0


def test_entropic_map_matches_pot_sinkhorn_transport():
    import ot

    _, x, y, xt = data(dim=2, n=300)
    ours = EntropicMap(reg=0.5, tol=1e-9, max_iter=5000).fit(x, y).transform(xt)
    pot = ot.da.SinkhornTransport(
        reg_e=0.5, out_of_sample_map="continuous", tol=1e-9, max_iter=5000
    ).fit(Xs=x.numpy(), Xt=y.numpy())
    # Same formula, both solvers converged to 1e-9 on the marginals.
    np.testing.assert_allclose(ours.numpy(), pot.transform(Xs=xt.numpy()), rtol=1e-5, atol=1e-5)


def test_barycentric_map_matches_training_samples():
    pair, x, y, xt = data(dim=2, n=300)
    est = BarycentricMap().fit(x, y)
    tx = est.transform(x)
    # Equal sample sizes: the exact plan is a permutation, so T(x_i) is a target sample (cdist's
    # matrix-product formula has ~1e-8 round-off on distances of order 1).
    d = torch.cdist(torch.as_tensor(tx), y).min(dim=1).values
    assert d.max() < 1e-6
    assert l2_uvp(est.transform(xt), pair.transport(xt), pair.target_variance()) < 15.0


@pytest.mark.parametrize("name", sorted(BASELINES))
@pytest.mark.parametrize("kind", ["tensor32", "tensor64", "numpy32", "numpy64"], ids=lambda s: s)
def test_output_follows_input_type(name, kind):
    _, x, y, _ = data(dim=2, n=100)
    est = BASELINES[name]().fit(x, y)
    dtype = torch.float32 if kind.endswith("32") else torch.float64
    q = x[:7].to(dtype)
    out = est.transform(q if kind.startswith("tensor") else q.numpy())
    if kind.startswith("tensor"):
        assert isinstance(out, torch.Tensor) and out.dtype == dtype
    else:
        assert isinstance(out, np.ndarray) and out.dtype == q.numpy().dtype
    assert out.shape == (7, 2)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_validation_and_sklearn_conventions(name):
    est = BASELINES[name]()
    with pytest.raises(NotFittedError):
        est.transform(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="Y must have 2 columns"):
        est.fit(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        est.fit(np.full((5, 2), np.nan), np.zeros((5, 2)))
    _, x, y, _ = data(dim=2, n=50)
    est.fit(x, y)
    with pytest.raises(ValueError, match="x must have 2 columns"):
        est.transform(np.zeros((3, 4)))
    assert clone(est).get_params() == est.get_params()


def test_entropic_bad_reg():
    _, x, y, _ = data(dim=2, n=20)
    with pytest.raises(ValueError, match="reg must be positive"):
        EntropicMap(reg=0.0).fit(x, y)
    with pytest.raises(ValueError, match="reg_rel"):
        EntropicMap(reg_rel=-1.0).fit(x, y)

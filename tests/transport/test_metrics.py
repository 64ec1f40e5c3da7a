"""L2-UVP and cosine similarity against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ot_gradnets.transport import cosine_similarity, l2_uvp, make_pair, target_variance


def test_l2_uvp_hand_computation():
    pred = torch.zeros(2, 2)
    true = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # mean squared error = (1 + 1) / 2 = 1; Var = 4 -> 100 * 1 / 4 = 25.
    assert l2_uvp(pred, true, 4.0) == pytest.approx(25.0, abs=1e-12)
    # target samples [[0,0],[2,0],[0,2],[2,2]]: per-dim unbiased variance 4/3 each -> 8/3.
    y = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    assert target_variance(y) == pytest.approx(8 / 3)
    assert l2_uvp(pred.numpy(), true.numpy(), y) == pytest.approx(100 * 1 / (8 / 3))


def test_constant_map_at_target_mean_scores_100():
    y = torch.randn(1000, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    pred = y.mean(0).expand_as(y)
    # Exactly 100 (n - 1) / n: the error uses the 1/n mean, the variance the 1/(n-1) estimate.
    assert l2_uvp(pred, y, y) == pytest.approx(100 * 999 / 1000, rel=1e-12)


def test_exact_map_scores_zero_and_cos_one():
    pair = make_pair("gmm-convex", 3)
    x = pair.sample_source(500)
    t = pair.transport(x)
    assert l2_uvp(t, t, 1.0) == 0.0
    assert cosine_similarity(x, t, t) == pytest.approx(1.0, abs=1e-12)


def test_identity_map_of_gaussian_pair_scores_w2_over_variance():
    pair = make_pair("gaussian", 3, dtype=torch.float64)
    x = pair.sample_source(100_000, torch.Generator().manual_seed(1))
    # E|x - T*(x)|^2 = W2^2 for the optimal map; Monte Carlo with 1e5 samples: the relative
    # standard error of a mean of these chi-square-like terms is < 1%, so 3% is > 3 sigma.
    expected = 100 * pair.w2_squared() / pair.target_variance()
    assert l2_uvp(x, pair.transport(x), pair.target_variance()) == pytest.approx(expected, rel=0.03)


def test_cosine_hand_computations():
    x = torch.zeros(1, 2)
    true = torch.tensor([[1.0, 1.0]])
    assert cosine_similarity(x, torch.tensor([[1.0, 0.0]]), true) == pytest.approx(1 / math.sqrt(2))
    assert cosine_similarity(x, -true, true) == pytest.approx(-1.0)
    assert cosine_similarity(x, x, true) == 0.0  # zero displacement: defined as 0
    # Displacements, not positions: shifting x, pred and true together changes nothing.
    shift = torch.tensor([[5.0, -3.0]])
    assert cosine_similarity(x + shift, torch.tensor([[1.0, 0.0]]) + shift, true + shift) == (
        pytest.approx(1 / math.sqrt(2))
    )


def test_bad_inputs_raise():
    a = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="same number of rows"):
        l2_uvp(a, torch.zeros(4, 2), 1.0)
    with pytest.raises(ValueError, match="columns"):
        l2_uvp(a, torch.zeros(3, 3), 1.0)
    with pytest.raises(ValueError, match="positive"):
        l2_uvp(a, a, 0.0)
    with pytest.raises(ValueError, match="zero variance"):
        l2_uvp(a, a, torch.ones(5, 2))
    with pytest.raises(ValueError, match="non-finite"):
        l2_uvp(a, torch.full((3, 2), float("nan")), 1.0)
    with pytest.raises(ValueError, match="same number of rows"):
        cosine_similarity(a, a, torch.zeros(2, 2))

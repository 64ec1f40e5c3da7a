"""The dB metric: hand computations, the MSELoss relation, the zero model."""

import math

import pytest
import torch

from ot_gradnets.core.fields import (
    PolyMax,
    error_db,
    error_map,
    field_error_db,
    squared_error,
)


def test_error_db_by_hand():
    pred = torch.tensor([[1.0, 2.0], [0.0, 0.0], [3.0, 0.0]])
    true = torch.zeros(3, 2)
    # squared norms 5, 0, 9 -> mean 14/3
    assert error_db(pred, true) == pytest.approx(10 * math.log10(14 / 3), abs=1e-6)
    assert squared_error(pred, true).item() == pytest.approx(14 / 3)
    assert error_db(true, true) == -math.inf
    assert math.isnan(error_db(torch.full((3, 2), math.nan), true))  # never -inf


@pytest.mark.parametrize("dim", [1, 2, 7, 256])
def test_error_db_is_mseloss_db_plus_10_log10_d(dim):
    g = torch.Generator().manual_seed(dim)
    pred, true = torch.randn(50, dim, generator=g), torch.randn(50, dim, generator=g)
    mse = torch.nn.MSELoss()(pred, true).item()
    assert error_db(pred, true) == pytest.approx(
        10 * math.log10(mse) + 10 * math.log10(dim), abs=1e-4
    )


def test_zero_model_scores_about_zero_db_on_polymax():
    target = PolyMax(64)
    x = target.sample(10_000, torch.Generator().manual_seed(0))
    db = field_error_db(lambda z: torch.zeros_like(z), target, x)
    # E|g|^2 = (E|g|)^2 + Var|g| = 1 + Var|g| >= 1 up to MC error: 0 dB <= db, and the norm's
    # spread is small at d = 64 (measured 0.2 dB), so 0.5 dB bounds it.
    assert -0.1 < db < 0.5


def test_field_error_db_batches_do_not_matter():
    target = PolyMax(3)
    x = target.sample(1000, torch.Generator().manual_seed(1))
    model = torch.nn.Linear(3, 3)
    assert field_error_db(model, target, x, batch_size=7) == pytest.approx(
        field_error_db(model, target, x), abs=1e-4
    )


def test_error_map():
    target = PolyMax(2)
    x = target.sample(10, torch.Generator().manual_seed(2))
    m = error_map(lambda z: torch.zeros_like(z), target, x)
    torch.testing.assert_close(m, torch.linalg.vector_norm(target(x), dim=-1))


def test_errors_are_validated():
    with pytest.raises(ValueError, match="same shape"):
        error_db(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(TypeError):
        error_db([1.0], torch.zeros(1))
    with pytest.raises(ValueError, match="shape"):
        field_error_db(torch.nn.Identity(), PolyMax(2), torch.zeros(2))

"""Metrics: dB and per-coordinate MSE conventions, drift, trajectory and energy errors."""

from __future__ import annotations

import math

import pytest
import torch

from ot_gradnets.core.hamiltonian import (
    MassSpring,
    derivative_error_db,
    derivative_mse,
    energy_mse,
    mse_to_db,
    relative_energy_drift,
    trajectory_error,
)


def test_db_sums_over_coordinates_and_mse_averages():
    pred = torch.zeros(10, 8)
    target = torch.full((10, 8), 0.5)
    # summed squared error per point: 8 * 0.25 = 2
    assert derivative_error_db(pred, target) == pytest.approx(10 * math.log10(2.0))
    assert derivative_mse(pred, target) == pytest.approx(0.25)
    assert mse_to_db(0.25, 8) == pytest.approx(derivative_error_db(pred, target))
    # HNN's published two-body number (Greydanus et al. 2019): -46.5 dB summed over 8 coordinates
    assert mse_to_db(2.82e-6, 8) == pytest.approx(-46.5, abs=0.05)


def test_db_is_the_fields_error_with_its_zero_handling():
    from ot_gradnets.core.fields import error_db

    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    assert derivative_error_db(pred, target) == error_db(pred, target)
    # an exact prediction is -inf dB (not a finite floor), in both conventions
    assert derivative_error_db(target, target) == -math.inf
    assert mse_to_db(0.0, 4) == -math.inf
    # a NaN prediction stays NaN: it never looks like a perfect one
    assert math.isnan(derivative_error_db(torch.full((6, 4), math.nan), target))
    with pytest.raises(ValueError, match="negative"):
        mse_to_db(-1.0, 4)


def test_metric_shape_errors():
    with pytest.raises(ValueError, match="same shape"):
        derivative_error_db(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="rollout"):
        relative_energy_drift(MassSpring().hamiltonian, torch.zeros(2))
    with pytest.raises(ValueError, match=r"\(B, T, dim\)"):
        trajectory_error(torch.zeros(3, 2), torch.zeros(3, 2))


def test_energy_metrics_on_exact_and_perturbed_rollouts():
    system = MassSpring()
    s0 = system.sample_initial_states(3, torch.Generator().manual_seed(0))
    t = torch.linspace(0, 3, 11, dtype=torch.float64)
    truth = system.trajectories(s0, t)
    assert energy_mse(system.hamiltonian, truth, truth) == 0.0
    assert relative_energy_drift(system.hamiltonian, truth).max() < 1e-12
    scaled = truth * torch.linspace(1, 1.1, 11, dtype=torch.float64)[None, :, None]
    drift = relative_energy_drift(system.hamiltonian, scaled)
    torch.testing.assert_close(drift[:, -1], torch.full((3,), 1.1**2 - 1, dtype=torch.float64))
    err = trajectory_error(scaled, truth)
    assert err.shape == (11,) and err[0] == 0 and err[-1] > 0
    assert energy_mse(system.hamiltonian, scaled, truth) > 0

"""Integrators: bounded energy error of the symplectic schemes, symplecticity, accuracy."""

from __future__ import annotations

import math

import pytest
import torch

from ot_gradnets.core.hamiltonian import (
    INTEGRATORS,
    MassSpring,
    Pendulum,
    implicit_midpoint_step,
    integrate,
    leapfrog_step,
    rk4_step,
    rollout,
    symplectic_matrix,
)


def oscillator(s):  # H = |s|^2 / 2, unit frequency; exact flow is a rotation
    return s


@pytest.mark.parametrize("method", ["leapfrog", "implicit-midpoint"])
def test_symplectic_energy_error_bounded_over_long_horizon(method):
    # 1,500 steps of h = 0.2 (about 48 periods). A symplectic method keeps the energy error
    # O(h^2) for all time: no secular growth from the first to the last 500 steps (beyond the
    # 1e-11 of accumulated rounding and fixed-point tolerance for the midpoint rule).
    s0 = torch.tensor([[1.0, 0.0], [0.3, -0.8]], dtype=torch.float64)
    t = torch.arange(0, 1501, dtype=torch.float64) * 0.2
    traj = integrate(oscillator, s0, t, method=method)
    energy = 0.5 * (traj**2).sum(-1)
    err = (energy - energy[:, :1]).abs() / energy[:, :1]
    early, late = err[:, :500].max(), err[:, -500:].max()
    assert late <= 1.05 * early + 1e-11
    # leapfrog's modified energy makes the error O(h^2) = h^2/4 at most; midpoint conserves
    # quadratic invariants exactly (to the fixed-point tolerance).
    bound = 0.2**2 / 4 + 1e-12 if method == "leapfrog" else 1e-11
    assert err.max() <= bound


def test_rk4_energy_drifts_where_symplectic_does_not():
    # Contrast that shows the previous test can fail: RK4 loses energy steadily.
    s0 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    t = torch.arange(0, 2001, dtype=torch.float64) * 0.2
    energy = 0.5 * (integrate(oscillator, s0, t, method="rk4") ** 2).sum(-1)
    err = (energy - energy[:, :1]).abs()
    assert err[:, -500:].max() > 3 * err[:, :500].max()  # linear growth: about 4x


def _step_jacobian(step, s):
    return torch.autograd.functional.jacobian(
        lambda x: step(Pendulum().grad_hamiltonian, x, 0.1), s
    )


@pytest.mark.parametrize("step", [leapfrog_step, implicit_midpoint_step])
def test_one_step_map_is_symplectic(step):
    # Nonlinear (pendulum) flow: M^T J M = J and det M = 1 for the step's Jacobian M.
    jmat = symplectic_matrix(1, dtype=torch.float64)
    for s in (
        torch.tensor([0.4, -1.1], dtype=torch.float64),
        torch.tensor([2.0, 0.5], dtype=torch.float64),
    ):
        m = _step_jacobian(step, s)
        # autograd through the converged fixed-point iterations: exact up to ~1e-13.
        torch.testing.assert_close(m.T @ jmat @ m, jmat, rtol=0, atol=1e-10)
        assert abs(torch.linalg.det(m).item() - 1) < 1e-10


def test_rk4_step_is_not_symplectic():
    m = _step_jacobian(rk4_step, torch.tensor([0.4, -1.1], dtype=torch.float64))
    assert abs(torch.linalg.det(m).item() - 1) > 1e-8


def test_flow_map_volume_preserved_over_many_steps():
    # det of the 20-step flow Jacobian of implicit midpoint on the pendulum.
    def flow(x):
        for _ in range(20):
            x = implicit_midpoint_step(Pendulum().grad_hamiltonian, x, 0.1)
        return x

    m = torch.autograd.functional.jacobian(flow, torch.tensor([1.0, 0.3], dtype=torch.float64))
    assert abs(torch.linalg.det(m).item() - 1) < 1e-9


@pytest.mark.parametrize(
    ("method", "step", "atol"),
    # global errors over t in [0, 3] on the mass-spring (frequency 2): order 2 methods with
    # h = 2e-3 reach ~2e-5, RK4 with h = 0.01 ~1e-8, RK45 at rtol 1e-10 ~1e-9.
    [
        ("leapfrog", 2e-3, 4e-5),
        ("implicit-midpoint", 2e-3, 4e-5),
        ("rk4", 1e-2, 1e-7),
        ("rk45", None, 1e-8),
    ],
)
def test_methods_converge_to_exact_flow(method, step, atol):
    system = MassSpring()
    s0 = system.sample_initial_states(5, torch.Generator().manual_seed(0))
    t = torch.linspace(0, 3, 7, dtype=torch.float64)
    kwargs = {"rtol": 1e-10, "atol": 1e-12} if method == "rk45" else {}
    out = integrate(system.grad_hamiltonian, s0, t, method=method, step_size=step, **kwargs)
    torch.testing.assert_close(out, system.trajectories(s0, t), rtol=0, atol=atol)


def test_integrate_shapes_and_dtype():
    s0 = torch.randn(3, 4, 2)
    out = integrate(oscillator, s0, torch.linspace(0, 1, 5), method="rk4")
    assert out.shape == (3, 4, 5, 2) and out.dtype == torch.float32
    assert torch.equal(out[..., 0, :], s0)
    single = integrate(
        oscillator, torch.tensor([1.0, 0.0]), torch.linspace(0, 1, 3), step_size=0.01
    )
    assert single.shape == (3, 2)
    # midpoint rule, h = 0.01: error ~h^2/12 ~ 1e-5, plus float32 rounding.
    torch.testing.assert_close(single[-1, 0], torch.tensor(math.cos(1.0)), rtol=0, atol=1e-4)


def test_integrate_validation():
    with pytest.raises(ValueError, match="method='euler' is not known"):
        integrate(oscillator, torch.ones(1, 2), torch.linspace(0, 1, 2), method="euler")
    with pytest.raises(ValueError, match="increasing"):
        integrate(oscillator, torch.ones(1, 2), torch.tensor([0.0, 0.0]))
    with pytest.raises(ValueError, match="even"):
        integrate(oscillator, torch.ones(1, 3), torch.linspace(0, 1, 2))
    with pytest.raises(TypeError, match="grad_hamiltonian"):
        rollout(object(), torch.ones(1, 2), torch.linspace(0, 1, 2))
    assert set(INTEGRATORS) == {"leapfrog", "implicit-midpoint", "rk4", "rk45"}


def test_implicit_midpoint_warns_when_not_converging():
    with pytest.warns(RuntimeWarning, match="did not converge"):
        implicit_midpoint_step(
            lambda s: 50 * s, torch.ones(2, dtype=torch.float64), 1.0, max_iter=5
        )


def test_rollout_of_system_matches_truth():
    system = Pendulum()
    s0 = system.sample_initial_states(4, torch.Generator().manual_seed(0))
    t = torch.linspace(0, 2, 5, dtype=torch.float64)
    out = rollout(system, s0, t, method="implicit-midpoint", step_size=2e-3)
    # second-order method, h = 2e-3: global error ~1e-5 over t = 2.
    torch.testing.assert_close(out, system.trajectories(s0, t), rtol=0, atol=1e-4)


def test_blow_up_fills_nan_and_warns():
    t = torch.linspace(0, 5, 6, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="non-finite"):
        out = integrate(
            lambda s: torch.cat([s[..., 1:] ** 3, s[..., :1] * 0], -1) * 1e3,
            torch.tensor([[1.0, 10.0]], dtype=torch.float64),
            t,
            method="rk4",
        )
    assert out.shape == (1, 6, 2) and torch.isnan(out[0, -1]).all()

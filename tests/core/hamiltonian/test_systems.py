"""Systems: exact energies, ground truth conserves them, seeded data in canonical order."""

from __future__ import annotations

import pytest
import torch

from ot_gradnets.core.hamiltonian import (
    SYSTEMS,
    ChargedDoubleWell,
    DoublePendulum,
    MassSpring,
    Pendulum,
    SpringChain,
    TwoBody,
    apply_j,
    make_dataset,
    make_system,
    symplectic_matrix,
)

# Ground truth is DOP853 at rtol = atol = 1e-10 (or exact): relative energy error over the
# windows below measured at <= 2e-8 (three-body close passes are the worst); 1e-6 leaves margin
# while still catching a wrong sign or a missing factor (those give O(1) drift).
ENERGY_RTOL = 1e-6


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_ground_truth_conserves_energy(name):
    system = make_system(name)
    s0 = system.sample_initial_states(4, torch.Generator().manual_seed(1))
    t = torch.linspace(0, 5, 26, dtype=torch.float64)
    traj = system.trajectories(s0, t)
    assert traj.shape == (4, 26, system.dim)
    assert torch.equal(traj[:, 0], s0)
    energy = system.hamiltonian(traj)
    drift = ((energy - energy[:, :1]).abs() / energy[:, :1].abs()).max()
    assert drift < ENERGY_RTOL
    # ... and the trajectory actually moves (a constant output would pass the energy check).
    assert (traj[:, -1] - traj[:, 0]).abs().max() > 1e-2


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_closed_form_gradient_matches_autograd(name):
    system = make_system(name)
    s = system.sample_initial_states(5, torch.Generator().manual_seed(2)).requires_grad_(True)
    (grad,) = torch.autograd.grad(system.hamiltonian(s).sum(), s)
    # float64 closed forms against autograd: agreement to rounding.
    torch.testing.assert_close(system.grad_hamiltonian(s.detach()), grad, rtol=1e-12, atol=1e-12)
    expected = grad @ symplectic_matrix(system.n_dof, dtype=grad.dtype).T
    torch.testing.assert_close(system.time_derivative(s.detach()), expected)


@pytest.mark.parametrize("system", [MassSpring(), SpringChain(6)])
def test_exact_flow_matches_solve_ivp(system):
    s0 = system.sample_initial_states(3, torch.Generator().manual_seed(3))
    t = torch.linspace(0, 4, 9, dtype=torch.float64)
    exact = system.trajectories(s0, t)
    numeric = system._solve_ivp(s0, t, chunk_size=32)
    # DOP853 at 1e-10 tolerances over t = 4: global error below ~1e-8.
    torch.testing.assert_close(exact, numeric, rtol=0, atol=1e-7)


def test_mass_spring_and_pendulum_fields():
    s = torch.tensor([[0.3, -0.7]], dtype=torch.float64)
    # H = q^2 + p^2: dq/dt = 2p, dp/dt = -2q.
    torch.testing.assert_close(
        MassSpring().time_derivative(s), torch.tensor([[-1.4, -0.6]], dtype=torch.float64)
    )
    # H = 3(1 - cos q) + p^2: dq/dt = 2p, dp/dt = -3 sin q.
    expected = torch.tensor([[-1.4, -3 * torch.sin(torch.tensor(0.3)).item()]], dtype=torch.float64)
    torch.testing.assert_close(Pendulum().time_derivative(s), expected)


def test_two_body_initial_law_matches_hnn():
    s = TwoBody().sample_initial_states(200, torch.Generator().manual_seed(0))
    q1, q2, p1, p2 = s[:, 0:2], s[:, 2:4], s[:, 4:6], s[:, 6:8]
    assert torch.equal(q1, -q2) and torch.equal(p1, -p2)  # centre of mass at rest at 0
    assert q1.min() >= 0.5 and q1.max() <= 1.5
    r = q1.norm(dim=1)
    speed_ratio = p1.norm(dim=1) * 2 * r.sqrt()  # 1 for a circular orbit
    assert (speed_ratio - 1).abs().max() < 0.3 and (speed_ratio - 1).abs().max() > 0.01
    assert (q1 * p1).sum(1).abs().max() < 1e-12  # velocity perpendicular to the radius


def test_double_pendulum_momenta_are_the_lagrangian_ones():
    """p = M(q) qdot with the unit double pendulum's mass matrix [[2, cos d], [cos d, 1]], and
    the energy is T + V of the Lagrangian picture (independent of the Hamiltonian's algebra)."""
    system = DoublePendulum()
    s = system.sample_initial_states(6, torch.Generator().manual_seed(0))
    qdot = system.time_derivative(s)[:, :2]
    c = torch.cos(s[:, 0] - s[:, 1])
    mass = torch.stack([torch.stack([2 + 0 * c, c], -1), torch.stack([c, 1 + 0 * c], -1)], -2)
    torch.testing.assert_close((mass @ qdot[:, :, None])[..., 0], s[:, 2:])
    kinetic = 0.5 * (qdot[:, None, :] @ mass @ qdot[:, :, None])[:, 0, 0]
    potential = -2 * torch.cos(s[:, 0]) - torch.cos(s[:, 1])
    torch.testing.assert_close(system.hamiltonian(s), kinetic + potential)
    assert not system.separable and not system.convex
    # The initial law: no state above -1.2 (no rod can turn over), angles in [-1, 1], seeded.
    many = system.sample_initial_states(2000, torch.Generator().manual_seed(1))
    assert many.shape == (2000, 4) and float(system.hamiltonian(many).max()) <= -1.2
    assert float(many[:, :2].abs().max()) <= 1.0
    again = system.sample_initial_states(2000, torch.Generator().manual_seed(1))
    assert torch.equal(many, again)


def test_charged_double_well_follows_the_lorentz_force():
    """qddot = qdot x B z - grad V, with the velocity qdot = p - A(q) (B = 1)."""
    system = ChargedDoubleWell()
    s = system.sample_initial_states(6, torch.Generator().manual_seed(0))
    sdot = system.time_derivative(s)
    v = sdot[:, :2]
    torch.testing.assert_close(v, s[:, 2:] - 0.5 * torch.stack([-s[:, 1], s[:, 0]], -1))
    accel = sdot[:, 2:] - 0.5 * torch.stack([-v[:, 1], v[:, 0]], -1)  # d/dt (p - A(q))
    x, y = s[:, 0], s[:, 1]
    grad_v = torch.stack([4 * x * (x * x - 1), y], -1)
    torch.testing.assert_close(accel, torch.stack([v[:, 1], -v[:, 0]], -1) - grad_v)
    # H is not convex: its Hessian at the barrier (0, 0, 0, 0) has a negative eigenvalue.
    hess = torch.autograd.functional.hessian(
        system.hamiltonian, torch.zeros(4, dtype=torch.float64)
    )
    assert float(torch.linalg.eigvalsh(hess).min()) < 0
    assert not system.separable


def test_spring_chain_hessian_and_convexity():
    chain = SpringChain(20)
    assert chain.dim == 40 and chain.convex
    hess = chain.hessian()
    assert torch.linalg.eigvalsh(hess).min() > 0
    s = chain.sample_initial_states(3, torch.Generator().manual_seed(0))
    torch.testing.assert_close(chain.grad_hamiltonian(s), s @ hess)
    assert not torch.equal(chain.stiffness, SpringChain(20, seed=1).stiffness)


def test_spring_chain_validates_parameters():
    with pytest.raises(ValueError, match="stiffness"):
        SpringChain(3, stiffness=torch.ones(3))
    with pytest.raises(ValueError, match="mass"):
        SpringChain(3, mass=-torch.ones(3))


def test_apply_j_is_symplectic_matrix():
    g = torch.randn(7, 6, dtype=torch.float64)
    torch.testing.assert_close(apply_j(g), g @ symplectic_matrix(3, dtype=g.dtype).T)


def test_dataset_shapes_split_and_seed():
    data = make_dataset("two-body", n_trajectories=10, n_points=6, seed=4)
    assert data.train_trajectories.shape == (8, 6, 8)
    assert data.test_trajectories.shape == (2, 6, 8)
    assert data.train_states.shape == data.train_derivatives.shape == (48, 8)
    assert data.test_states.dtype == torch.float32
    torch.testing.assert_close(data.test_states, data.test_trajectories.reshape(-1, 8))
    # targets are the clean field at the states (canonical (q, p) order)
    torch.testing.assert_close(
        data.test_derivatives,
        TwoBody().time_derivative(data.test_states.double()).float(),
        rtol=1e-5,
        atol=1e-6,
    )
    again = make_dataset("two-body", n_trajectories=10, n_points=6, seed=4)
    assert torch.equal(again.train_states, data.train_states)
    other = make_dataset("two-body", n_trajectories=10, n_points=6, seed=5)
    assert not torch.equal(other.train_states, data.train_states)


def test_dataset_noise_only_on_training_inputs():
    data = make_dataset("mass-spring", n_trajectories=6, n_points=5, dtype=torch.float64)
    assert data.noise_std == 0.1  # HNN protocol default
    clean = data.train_trajectories.reshape(-1, 2)
    assert (data.train_states - clean).abs().max() > 1e-3
    torch.testing.assert_close(data.train_derivatives, MassSpring().time_derivative(clean))
    torch.testing.assert_close(data.test_states, data.test_trajectories.reshape(-1, 2))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_trajectories": 1}, "n_trajectories"),
        ({"t_span": (1.0, 0.0)}, "t_span"),
        ({"test_split": 1.5}, "test_split"),
        ({"noise_std": -1}, "noise_std"),
    ],
)
def test_dataset_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_dataset("mass-spring", **{"n_points": 4, **kwargs})


def test_unknown_system():
    with pytest.raises(ValueError, match="system='four-body' is not known"):
        make_system("four-body")

"""Fitting: the loss is HNN's, the result records what the benchmark needs."""

from __future__ import annotations

import math

import pytest
import torch

from ot_gradnets.core import GradNetM, PotentialMLP
from ot_gradnets.core.hamiltonian import (
    DynamicsFitResult,
    HamiltonianField,
    fit_dynamics,
    fit_dynamics_models,
    make_dataset,
    predict_field,
)


@pytest.fixture(scope="module")
def data():
    return make_dataset("mass-spring", n_trajectories=10, n_points=20, noise_std=0.0)


@pytest.mark.parametrize(
    "net",
    [lambda: GradNetM(2, width=16, num_modules=2), lambda: PotentialMLP(2, width=16, depth=2)],
)
def test_fit_reduces_test_error(data, net):
    torch.manual_seed(0)
    model = HamiltonianField(net())
    res = fit_dynamics(
        model,
        data.train_states,
        data.train_derivatives,
        data.test_states,
        data.test_derivatives,
        max_iter=150,
        lr=1e-2,
        validation_interval=50,
        random_state=0,
    )
    assert res.steps == [0, 50, 100, 150]
    assert len(res.wall_time) == len(res.test_db) == len(res.test_mse) == 4
    assert res.final_db < res.test_db[0] - 6  # at least 4x smaller error
    assert res.wall_time == sorted(res.wall_time) and res.step_time > 0
    # dB and per-coordinate MSE describe the same error
    assert res.final_db == pytest.approx(10 * math.log10(2 * res.test_mse[-1]))
    pred = predict_field(model, data.test_states)
    assert pred.shape == data.test_states.shape and not pred.requires_grad


def test_fit_result_time_to_reach():
    res = DynamicsFitResult(steps=[0, 10, 20], wall_time=[0.0, 1.0, 2.0], test_db=[0.0, -5.0, -9.0])
    assert res.time_to_reach(-5.0) == 1.0 and res.steps_to_reach(-6.0) == 20.0
    assert math.isnan(res.time_to_reach(-20.0))


def test_fit_validation(data):
    model = HamiltonianField(GradNetM(2, width=4, num_modules=2))
    with pytest.raises(ValueError, match="same number of rows"):
        fit_dynamics(model, data.train_states, data.train_derivatives[:-1])
    with pytest.raises(ValueError, match="both test_states and test_derivatives"):
        fit_dynamics(model, data.train_states, data.train_derivatives, data.test_states)
    with pytest.raises(ValueError, match="max_iter"):
        fit_dynamics(model, data.train_states, data.train_derivatives, max_iter=0)
    with pytest.raises(ValueError, match="2 columns"):
        fit_dynamics(model, torch.zeros(5, 3), torch.zeros(5, 3))


def test_fit_fields_lockstep_and_lr_mapping(data):
    torch.manual_seed(0)
    models = {
        "a": HamiltonianField(GradNetM(2, width=4, num_modules=2)),
        "b": HamiltonianField(PotentialMLP(2, width=4, depth=1)),
    }
    res = fit_dynamics_models(
        models,
        data.train_states,
        data.train_derivatives,
        max_iter=4,
        validation_interval=2,
        lr={"a": 1e-2, "b": 1e-3},
    )
    assert set(res) == {"a", "b"} and res["a"].steps == res["b"].steps == [0, 2, 4]
    assert all(r.step_cpu_time > 0 and len(r.cpu_time) == 3 for r in res.values())
    with pytest.raises(ValueError, match="one learning rate per model"):
        fit_dynamics_models(
            models, data.train_states, data.train_derivatives, max_iter=2, lr={"a": 1e-2}
        )


def test_random_state_int_is_a_seeded_cpu_generator(data):
    def run(random_state):
        torch.manual_seed(0)
        model = HamiltonianField(GradNetM(2, width=4, num_modules=2))
        args = (data.train_states, data.train_derivatives, data.test_states, data.test_derivatives)
        return fit_dynamics(model, *args, max_iter=10, validation_interval=5,
                            random_state=random_state).test_db  # fmt: skip

    assert run(3) == run(torch.Generator().manual_seed(3)) != run(4)
    with pytest.raises(ValueError, match="random_state"):
        run("3")


def test_callbacks_see_every_step_and_can_stop(data):
    torch.manual_seed(0)
    model = HamiltonianField(GradNetM(2, width=4, num_modules=2))
    seen = []

    def one(m, step, loss):
        seen.append((m, step, loss))
        return step == 6

    res = fit_dynamics(model, data.train_states, data.train_derivatives, data.test_states,
                       data.test_derivatives, max_iter=50, validation_interval=5,
                       callback=one)  # fmt: skip
    assert [s for _, s, _ in seen] == list(range(7))
    assert all(m is model and isinstance(v, float) for m, _, v in seen)
    assert res.stop_reason == "callback" and res.steps == [0, 5, 7]

    models = {
        "a": HamiltonianField(GradNetM(2, width=4, num_modules=2)),
        "b": HamiltonianField(PotentialMLP(2, width=4, depth=1)),
    }
    calls = []

    def lockstep(ms, step, losses):
        calls.append((ms, step, dict(losses)))
        return step == 2

    res = fit_dynamics_models(models, data.train_states, data.train_derivatives, max_iter=10,
                              validation_interval=5, callback=lockstep)  # fmt: skip
    assert [s for _, s, _ in calls] == [0, 1, 2] and all(ms is models for ms, _, _ in calls)
    assert all(set(losses) == {"a", "b"} for _, _, losses in calls)
    assert all(r.stop_reason == "callback" and r.steps == [0, 3] for r in res.values())


def test_fit_dynamics_schedule_reaches_the_optimiser(data, monkeypatch):
    """A schedule that is zero everywhere leaves the weights where they started, a constant one
    does not, and each model of a lockstep fit follows its own; unknown names are refused."""
    from ot_gradnets.core import SCHEDULES

    monkeypatch.setitem(SCHEDULES, "zero", lambda t: 0.0)
    torch.manual_seed(0)
    models = {k: HamiltonianField(GradNetM(2, width=4, num_modules=2)) for k in ("still", "moving")}
    start = {k: [p.detach().clone() for p in m.parameters()] for k, m in models.items()}
    fit_dynamics_models(models, data.train_states, data.train_derivatives, max_iter=3, lr=1e-2,
                        schedule={"still": "zero", "moving": "constant"})  # fmt: skip
    for name, model in models.items():
        same = all(torch.equal(a, b) for a, b in zip(start[name], model.parameters(), strict=True))
        assert same is (name == "still")
    with pytest.raises(ValueError, match="schedule='warp' is not known"):
        fit_dynamics(models["still"], data.train_states, data.train_derivatives, max_iter=2,
                     schedule="warp")  # fmt: skip
    with pytest.raises(ValueError, match="one schedule per model"):
        fit_dynamics_models(models, data.train_states, data.train_derivatives, max_iter=2,
                            schedule={"still": "cosine"})  # fmt: skip

"""Learning-rate selection reads only the training split and keeps the best candidate."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from ot_gradnets.core import GradNetM
from ot_gradnets.core.hamiltonian import (
    HamiltonianField,
    make_dataset,
    select_lr,
    split_validation,
)


@pytest.fixture(scope="module")
def data():
    return make_dataset("mass-spring", n_trajectories=12, n_points=10, noise_std=0.0)


def poisoned(data):
    # A test split that would turn any score computed from it into NaN.
    nan = float("nan")
    return dataclasses.replace(
        data,
        test_trajectories=torch.full_like(data.test_trajectories, nan),
        test_states=torch.full_like(data.test_states, nan),
        test_derivatives=torch.full_like(data.test_derivatives, nan),
    )


def test_split_validation_holds_out_whole_training_trajectories(data):
    val = split_validation(poisoned(data), 0.25, seed=3)
    n_pts, dim = data.t.shape[0], data.dim
    n_train = data.train_trajectories.shape[0]
    assert val.test_trajectories.shape[0] == round(0.25 * n_train)
    assert val.train_trajectories.shape[0] + val.test_trajectories.shape[0] == n_train
    assert torch.isfinite(val.test_states).all()  # validation comes from the training split
    # every held-out and kept trajectory is a training trajectory, and none is both
    rows = {tuple(tr[0].tolist()) for tr in data.train_trajectories}
    held = {tuple(tr[0].tolist()) for tr in val.test_trajectories}
    kept = {tuple(tr[0].tolist()) for tr in val.train_trajectories}
    assert held | kept == rows and not held & kept
    # pairs follow their trajectories, in (trajectory, time) order
    assert torch.equal(val.test_states, val.test_trajectories.reshape(-1, dim))
    assert val.train_states.shape == (val.train_trajectories.shape[0] * n_pts, dim)
    truth = data.system.time_derivative(val.test_trajectories.double()).reshape(-1, dim)
    assert torch.allclose(val.test_derivatives.double(), truth, atol=1e-5)
    # seeded
    again = split_validation(data, 0.25, seed=3)
    assert torch.equal(again.test_trajectories, val.test_trajectories)
    other = split_validation(data, 0.25, seed=4)
    assert not torch.equal(other.test_trajectories, val.test_trajectories)
    with pytest.raises(ValueError, match="validation_fraction"):
        split_validation(data, 1.0)


def test_select_lr_picks_best_validation_score_without_test_split(data):
    def make():
        return HamiltonianField(GradNetM(2, width=8, num_modules=2))

    lrs = [1e-6, 3e-2, 1e-4]
    kwargs = {
        "lrs": lrs,
        "max_iter": 20,
        "validation_interval": 5,
        "batch_size": 50,
        "random_state": 1,
    }
    sel = select_lr(make, poisoned(data), **kwargs)
    assert all(math.isfinite(v) for v in sel.val_db)  # the NaN test split was never read
    assert sel.lrs == lrs and sel.max_iter == 20
    assert sel.val_db.index(min(sel.val_db)) == lrs.index(sel.lr)
    assert sel.lr == 3e-2  # 20 steps at 1e-6 or 1e-4 barely move the model
    # the score is the mean of the last quarter of each probe's validation curve
    res = sel.results[3e-2]
    assert res.steps == [0, 5, 10, 15, 20]
    assert sel.val_db[1] == pytest.approx(sum(res.test_db[-2:]) / 2)
    # same init for every candidate; deterministic; identical with the real test split
    assert len({r.test_db[0] for r in sel.results.values()}) == 1
    assert select_lr(make, data, **kwargs).val_db == sel.val_db
    assert sel.cpu_time > 0
    with pytest.raises(ValueError, match="lrs"):
        select_lr(make, data, lrs=[])

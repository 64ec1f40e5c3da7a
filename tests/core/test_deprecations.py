"""Renamed public names (#13) still work for one release, with a DeprecationWarning."""

from __future__ import annotations

import importlib

import pytest

from ot_gradnets.bench.hamiltonian import run_benchmark
from ot_gradnets.core import GradNetM
from ot_gradnets.core.hamiltonian import (
    HamiltonianField,
    make_dataset,
    select_lr,
    split_validation,
)

RENAMED = [
    ("ot_gradnets.core.fields", "LRSearchResult", "FieldLRSelection"),
    ("ot_gradnets.core.hamiltonian", "fit_field", "fit_dynamics"),
    ("ot_gradnets.core.hamiltonian", "fit_fields", "fit_dynamics_models"),
    ("ot_gradnets.core.hamiltonian", "FitResult", "DynamicsFitResult"),
    ("ot_gradnets.core.hamiltonian", "LRSelection", "DynamicsLRSelection"),
]


@pytest.mark.parametrize("module,old,new", RENAMED)
def test_old_name_is_the_new_object_with_a_warning(module, old, new):
    mod = importlib.import_module(module)
    with pytest.warns(
        DeprecationWarning, match=f"{module}.{old} is deprecated.*use {module}.{new}"
    ):
        value = getattr(mod, old)
    assert value is getattr(mod, new)
    assert new in mod.__all__ and old not in mod.__all__


def test_from_import_of_an_old_name_warns():
    with pytest.warns(DeprecationWarning, match="fit_dynamics"):
        from ot_gradnets.core.hamiltonian import fit_field  # noqa: F401


def test_unknown_attribute_is_still_an_attribute_error():
    mod = importlib.import_module("ot_gradnets.core.hamiltonian")
    with pytest.raises(AttributeError, match="no attribute 'fit_feild'"):
        mod.fit_feild  # noqa: B018


@pytest.fixture(scope="module")
def data():
    return make_dataset("mass-spring", n_trajectories=10, n_points=5, noise_std=0.0)


def test_val_fraction_keyword_is_validation_fraction(data):
    new = split_validation(data, validation_fraction=0.3, seed=1)
    with pytest.warns(DeprecationWarning, match="use validation_fraction="):
        old = split_validation(data, val_fraction=0.3, seed=1)
    assert old.test_trajectories.equal(new.test_trajectories)
    with pytest.raises(TypeError, match="both 'val_fraction'"):
        split_validation(data, val_fraction=0.3, validation_fraction=0.3)

    def make():
        return HamiltonianField(GradNetM(2, width=4, num_modules=2))

    kwargs = {"lrs": [1e-2], "n_steps": 2, "eval_every": 1, "batch_size": 8}
    with pytest.warns(DeprecationWarning, match="select_lr"):
        sel = select_lr(make, data, val_fraction=0.3, **kwargs)
    assert sel.val_db == select_lr(make, data, validation_fraction=0.3, **kwargs).val_db
    with pytest.warns(DeprecationWarning, match="run_benchmark"), pytest.raises(ValueError):
        run_benchmark(systems=["bogus"], val_fraction=0.3)  # warns, then checks the systems

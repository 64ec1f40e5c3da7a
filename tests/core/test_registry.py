"""Every registry of ot_gradnets.core reports an unknown name the same way, listing the names."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from ot_gradnets.bench import fields as BF
from ot_gradnets.core import (
    ACTIVATIONS,
    MODELS,
    OPTIMIZERS,
    SCHEDULES,
    PotentialMLP,
    TrainingLoop,
    make_activation,
    model_for_budget,
)
from ot_gradnets.core import fields as F
from ot_gradnets.core import hamiltonian as H


def _loop(**kwargs):
    net = nn.Linear(2, 2)
    return TrainingLoop(net, lambda step: net.weight.sum(), max_iter=1, lr=0.1, **kwargs)


# (what the argument is called, the registry's names, a call with the unknown name "bogus")
CASES = {
    # the MLP baselines take their own elementwise activations
    "mlp activation": (
        "activation",
        ["relu", "silu", "softplus", "tanh"],
        lambda: PotentialMLP(2, activation="bogus"),
    ),
    "network activation": (
        "activation",
        ACTIVATIONS,
        lambda: make_activation("bogus", (3,), monotone=True),
    ),
    "model": ("model", MODELS, lambda: model_for_budget("bogus", 2, 100)),
    "optimizer": ("optimizer", OPTIMIZERS, lambda: _loop(optimizer="bogus")),
    "schedule": ("schedule", SCHEDULES, lambda: _loop(schedule="bogus")),
    "target": ("target", F.TARGETS, lambda: F.make_target("bogus")),
    "fit schedule": (
        "schedule",
        SCHEDULES,
        lambda: F.fit_field(nn.Linear(2, 2), F.make_target("convex-2d"), schedule="bogus"),
    ),
    "recipe": ("recipe", BF.RECIPES, lambda: BF.build_model("gradnet-c", 2, "bogus")),
    "init": (
        "init",
        BF.INITS,
        lambda: BF.build_model("gradnet-c", 2, BF.Recipe("custom", init="bogus")),
    ),
    "bench model": (
        "model",
        (*BF.GRADNETS, *BF.BASELINE_NAMES),
        lambda: BF.build_model("bogus", 2),
    ),
    "suite": ("suite", BF.SUITE_TARGETS, lambda: BF.build_model("gradnet-c", 2, suite="bogus")),
    "system": ("system", H.SYSTEMS, lambda: H.make_system("bogus")),
    "integrator": (
        "method",
        H.INTEGRATORS,
        lambda: H.integrate(lambda s: s, torch.ones(1, 2), torch.linspace(0, 1, 2), "bogus"),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_unknown_name_message_names_the_argument_and_lists_the_choices(case):
    what, registry, call = CASES[case]
    names = sorted(registry)
    with pytest.raises(ValueError) as err:
        call()
    expected = f"{what}='bogus' is not known; choose one of {names}"
    assert str(err.value).startswith(expected), str(err.value)


def test_hamiltonian_model_names_list_both_registries():
    with pytest.raises(ValueError) as err:
        H.make_hamiltonian_model("bogus+quadratic", 4)
    names = sorted({*H.MODEL_NAMES, *MODELS})
    assert str(err.value) == (
        f"model='bogus+quadratic' is not known; choose one of {names}, optionally with the "
        "suffix '+quadratic'."
    )


@pytest.mark.parametrize("name", [None, 3, ["tanh"]])
def test_a_name_of_another_type_is_unknown_too(name):
    with pytest.raises(ValueError, match=re.escape(f"activation={name!r} is not known")):
        make_activation(name, (3,), monotone=False)

"""Bad constructor arguments and inputs raise ValueError naming what was wrong."""

from __future__ import annotations

import pytest
import torch

from ot_gradnets.core import (
    ICNN,
    MODELS,
    GradNetC,
    MGradNetC,
    MGradNetM,
    count_parameters,
    model_for_budget,
)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_dim_and_width_must_be_positive_integers(name, bad):
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        MODELS[name](bad, width=4)
    with pytest.raises(ValueError, match="width must be a positive integer"):
        MODELS[name](3, width=bad)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_wrong_input_shape(name):
    net = MODELS[name](3, width=4)
    with pytest.raises(ValueError, match=r"shape \(\*, 3\)"):
        net(torch.randn(5, 2))
    with pytest.raises(ValueError, match=r"shape \(\*, 3\)"):
        net(torch.tensor(1.0))


def test_constructor_options():
    with pytest.raises(ValueError, match="activation='bogus' is not known"):
        MGradNetM(2, activation="bogus")
    with pytest.raises(ValueError, match="not monotone"):
        MGradNetC(2, activation="sin")
    with pytest.raises(ValueError, match="strong_convexity"):
        MGradNetM(2, strong_convexity=-1.0)
    with pytest.raises(ValueError, match="strong_convexity"):
        ICNN(2, strong_convexity=float("nan"))
    with pytest.raises(ValueError, match="depth=3 entries"):
        GradNetC(2, depth=3, activation=["tanh", "sin"])


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("dim,budget", [(2, 500), (32, 32 * 1024)])
def test_model_for_budget_is_the_largest_width_within_budget(name, dim, budget):
    net = model_for_budget(name, dim, budget)
    assert count_parameters(net) <= budget
    bigger = MODELS[name](dim, width=net.width + 1)
    assert count_parameters(bigger) > budget


@pytest.mark.parametrize(
    ("name", "grow", "fixed"),
    [("gradnet-m", "num_modules", {"width": 4}), ("gradnet-c", "depth", {"width": 8})],
)
def test_model_for_budget_grows_the_size_it_is_told(name, grow, fixed):
    net = model_for_budget(name, 8, 5000, grow=grow, **fixed)
    assert count_parameters(net) <= 5000 and net.width == fixed["width"]
    size = getattr(net, grow)
    assert count_parameters(MODELS[name](8, **{grow: size + 1}, **fixed)) > 5000


def test_model_for_budget_errors():
    with pytest.raises(ValueError, match="too small"):
        model_for_budget("mgradnet-m", 100, 10)
    with pytest.raises(ValueError, match="'width' is the size"):
        model_for_budget("mgradnet-m", 2, 1000, width=3)
    with pytest.raises(ValueError, match="model='resnet' is not known"):
        model_for_budget("resnet", 2, 1000)

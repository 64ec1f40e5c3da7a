"""The shared training loop: schedule, guard, held-out checks, budgets and resumption."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from ot_gradnets.core import OPTIMIZERS, SCHEDULES, TrainingLoop


def _problem(net_seed: int = 0) -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g, dtype=torch.float64)
    y = x @ torch.randn(3, 2, generator=g, dtype=torch.float64)
    torch.manual_seed(net_seed)
    return nn.Linear(3, 2).double(), x, y


def _loss(net: nn.Module, x: torch.Tensor, y: torch.Tensor):  # noqa: ANN202
    def loss(step: int) -> torch.Tensor:
        idx = torch.arange(step % 4, 64, 4)  # a different, deterministic batch every step
        return ((net(x[idx]) - y[idx]) ** 2).mean()

    return loss


def _weights(net: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


@given(
    max_iter=st.integers(1, 500),
    warmup=st.integers(0, 60),
    floor=st.floats(0.0, 0.5),
    step=st.integers(0, 499),
)
@settings(max_examples=60, deadline=None)
def test_lr_matches_the_formula(max_iter: int, warmup: int, floor: float, step: int) -> None:
    net, x, y = _problem()
    loop = TrainingLoop(
        net, _loss(net, x, y), max_iter=max_iter, lr=0.3, schedule="cosine",
        warmup_steps=warmup, min_lr_ratio=floor,
    )  # fmt: skip
    step = min(step, max_iter - 1)
    warm = min(1.0, (step + 1) / warmup) if warmup else 1.0
    cosine = 0.5 * (1 + math.cos(math.pi * step / max_iter))
    expected = 0.3 * warm * (floor + (1 - floor) * cosine)
    assert loop.lr_at(step) == pytest.approx(expected, rel=1e-12)
    assert loop.lr_at(step) <= 0.3 * (1 + 1e-12)


def test_registries_raise_with_the_valid_names() -> None:
    net, x, y = _problem()
    with pytest.raises(ValueError, match="choose one of .*'cosine'"):
        TrainingLoop(net, _loss(net, x, y), max_iter=1, lr=0.1, schedule="cosyne")
    with pytest.raises(ValueError, match="choose one of .*'adam'"):
        TrainingLoop(net, _loss(net, x, y), max_iter=1, lr=0.1, optimizer="adamm")
    assert {"adam", "sgd"} <= set(OPTIMIZERS) and {"constant", "cosine", "wsd"} <= set(SCHEDULES)


def test_trains_and_matches_a_hand_written_adam_loop() -> None:
    net, x, y = _problem()
    ref, _, _ = _problem()
    loss = _loss(net, x, y)
    loop = TrainingLoop(net, loss, max_iter=40, lr=0.05, schedule="cosine").run()
    opt = torch.optim.Adam(ref.parameters(), lr=0.05)
    ref_loss = _loss(ref, x, y)
    for k in range(40):
        for group in opt.param_groups:
            group["lr"] = 0.05 * SCHEDULES["cosine"](k / 40)
        opt.zero_grad()
        ref_loss(k).backward()
        opt.step()
    assert loop.step == 40 and loop.stop_reason == "max_iter"
    for a, b in zip(_weights(net), _weights(ref), strict=True):
        assert torch.equal(a, b)
    assert loop.history["loss"][-1] < loop.history["loss"][0]


def test_guard_rolls_back_and_halves_the_rate_then_stops() -> None:
    net, x, y = _problem()
    base = _loss(net, x, y)
    poisoned = {25}  # step 25 fails once; from the third visit of step 130 on, it always fails
    visits: dict[int, int] = {}

    def loss(step: int) -> torch.Tensor:
        visits[step] = visits.get(step, 0) + 1
        if step in poisoned and visits[step] == 1 or step >= 130:
            return base(step) * math.nan
        return base(step)

    seen: list[list[torch.Tensor]] = []

    def callback(model: nn.Module, step: int, value: float) -> None:
        if step + 1 == 100:
            seen.append(_weights(net))

    loop = TrainingLoop(
        net, loss, max_iter=300, lr=0.05, snapshot_every=50, max_recoveries=3, callback=callback
    ).run()
    assert loop.stop_reason == "diverged"
    assert len(loop.recoveries) == 4 and loop.recoveries[0].startswith("step 25:")
    assert all("not finite" in r for r in loop.recoveries)
    assert loop.lr_factor == 0.5**4
    # the snapshot at step 100 is the healthy state the run ends in (taken before step 100's update)
    assert loop.step == 100 and len(loop.history["loss"]) == 100
    for a, b in zip(_weights(net), seen[-1], strict=True):
        assert torch.equal(a, b)


def test_no_guard_lets_the_caller_see_nan() -> None:
    net, x, y = _problem()
    loop = TrainingLoop(
        net, lambda k: _loss(net, x, y)(k) * math.nan, max_iter=3, lr=0.1, max_recoveries=None
    ).run()
    assert loop.step == 3 and all(math.isnan(v) for v in loop.history["loss"])


def test_keep_best_restores_the_best_weights_and_patience_stops() -> None:
    net, x, y = _problem()
    scores = {0: 5.0, 10: 3.0, 20: 1.0, 30: 2.0, 40: 4.0, 50: 6.0}
    at: dict[int, list[torch.Tensor]] = {}

    def evaluate(step: int) -> float:
        at[step] = _weights(net)
        return scores.get(step, 9.0)

    loop = TrainingLoop(
        net, _loss(net, x, y), max_iter=100, lr=0.05, evaluate=evaluate, validation_interval=10,
        eval_at_start=True, keep_best=True, n_iter_no_change=3,
    ).run()  # fmt: skip
    assert loop.stop_reason == "n_iter_no_change" and loop.step == 50
    assert loop.history["val_step"] == [0, 10, 20, 30, 40, 50]
    assert (loop.best_step, loop.best_score) == (20, 1.0)
    for a, b in zip(_weights(net), at[20], strict=True):
        assert torch.equal(a, b)


def test_the_final_weights_are_scored_and_nan_scores_never_win() -> None:
    net, x, y = _problem()
    loop = TrainingLoop(
        net, _loss(net, x, y), max_iter=25, lr=0.05, validation_interval=10,
        evaluate=lambda step: math.nan if step == 10 else float(step),
    ).run()  # fmt: skip
    assert loop.history["val_step"] == [10, 20, 25]
    assert loop.best_step == 20


def test_time_limit_and_callback_stop() -> None:
    net, x, y = _problem()
    loop = TrainingLoop(net, _loss(net, x, y), max_iter=10**6, lr=0.01, time_limit=0.2).run()
    assert loop.stop_reason == "time_limit" and 0 < loop.step < 10**6
    net, x, y = _problem()
    seen: list[tuple[nn.Module, int, float]] = []

    def callback(model: nn.Module, step: int, loss: float) -> bool:
        seen.append((model, step, loss))
        return step == 6

    loop = TrainingLoop(net, _loss(net, x, y), max_iter=100, lr=0.01, callback=callback).run()
    assert loop.stop_reason == "callback" and loop.step == 7
    assert [s for _, s, _ in seen] == list(range(7)) and all(m is net for m, _, _ in seen)
    assert [v for _, _, v in seen] == loop.history["loss"]


def test_resuming_from_a_checkpoint_gives_the_uninterrupted_weights() -> None:
    net, x, y = _problem()
    TrainingLoop(
        net, _loss(net, x, y), max_iter=60, lr=0.05, schedule="cosine", warmup_steps=5
    ).run()
    full = _weights(net)

    net, x, y = _problem()
    saved: list[dict] = []
    loop = TrainingLoop(
        net, _loss(net, x, y), max_iter=60, lr=0.05, schedule="cosine", warmup_steps=5,
        checkpoint=lambda lp: saved.append(lp.state_dict()), checkpoint_every=20,
        callback=lambda model, step, v: step == 29,  # "killed" after step 30
    ).run()  # fmt: skip
    assert loop.step == 30 and [s["step"] for s in saved] == [20, 30]

    net, x, y = _problem(net_seed=1)  # other weights: all of them come from the checkpoint
    resumed = TrainingLoop(
        net, _loss(net, x, y), max_iter=60, lr=0.05, schedule="cosine", warmup_steps=5
    )
    resumed.load_state_dict(saved[0])
    resumed.run()
    assert resumed.step == 60 and len(resumed.history["loss"]) == 60
    for a, b in zip(_weights(net), full, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_model_without_trainable_parameters_is_refused() -> None:
    net = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="no parameters"):
        TrainingLoop(net, lambda k: net.weight.sum(), max_iter=1, lr=0.1)


def test_ctrl_c_asks_to_stop_and_a_second_one_aborts() -> None:
    import os
    import signal

    net, x, y = _problem()
    base = _loss(net, x, y)

    def loss(step: int) -> torch.Tensor:
        if step == 5:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C would, during step 5
        return base(step)

    before = signal.getsignal(signal.SIGINT)
    loop = TrainingLoop(net, loss, max_iter=100, lr=0.01).run()
    assert loop.stop_reason == "interrupted" and loop.step == 6  # step 5 finished
    assert signal.getsignal(signal.SIGINT) is before

    def twice(step: int) -> torch.Tensor:
        if step == 5:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return base(step)

    with pytest.raises(KeyboardInterrupt):
        TrainingLoop(net, twice, max_iter=100, lr=0.01).run()
    assert signal.getsignal(signal.SIGINT) is before


class _Stop(Exception):
    """Stands for a kill in the middle of a fit."""


def test_field_regression_resumes_to_the_uninterrupted_weights(tmp_path) -> None:  # noqa: ANN001
    from ot_gradnets.core import MGradNetC
    from ot_gradnets.core.fields import PolyMax, fit_field

    def run(**kw) -> list[torch.Tensor]:  # noqa: ANN003
        torch.manual_seed(0)
        net = MGradNetC(2, width=8, depth=3)
        fit_field(
            net, PolyMax(2), max_iter=120, lr=1e-2, n_train=500, batch_size=50, n_val=100,
            keep_best=True, validation_interval=25, random_state=0, **kw,
        )  # fmt: skip
        return _weights(net)

    full = run()
    ck = tmp_path / "ck.pt"

    def kill(model: nn.Module, step: int, loss: float) -> None:
        if step == 75:
            raise _Stop

    with pytest.raises(_Stop):
        run(checkpoint=ck, checkpoint_every=30, callback=kill)
    assert torch.load(ck, weights_only=True)["state"]["loop"]["step"] == 60
    for a, b in zip(run(checkpoint=ck, checkpoint_every=30, resume=True), full, strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="other settings"):
        torch.manual_seed(0)
        fit_field(MGradNetC(2, width=8, depth=3), PolyMax(2), max_iter=99, checkpoint=ck,
                  resume=True, n_val=100)  # fmt: skip


def test_dynamics_fits_resume_to_the_uninterrupted_results(tmp_path) -> None:  # noqa: ANN001
    from ot_gradnets.core.hamiltonian import (
        fit_dynamics_models,
        make_dataset,
        make_hamiltonian_model,
    )

    data = make_dataset("mass-spring", n_trajectories=6, n_points=20, noise_std=0.0)
    args = (data.train_states, data.train_derivatives, data.test_states, data.test_derivatives)

    def run(**kw):  # noqa: ANN003, ANN202
        torch.manual_seed(0)
        models = {"a": make_hamiltonian_model("gradnet-m", 2, budget=150),
                  "b": make_hamiltonian_model("hnn", 2, budget=150)}  # fmt: skip
        res = fit_dynamics_models(
            models, *args, max_iter=90, validation_interval=20, random_state=0,
            **kw,
        )  # fmt: skip
        return res, {k: _weights(m) for k, m in models.items()}

    full, full_w = run()
    ck = tmp_path / "ck.pt"

    def kill(models, step: int, losses) -> None:  # noqa: ANN001
        if step == 60:
            raise _Stop

    with pytest.raises(_Stop):
        run(checkpoint=ck, checkpoint_every=25, callback=kill)
    resumed, resumed_w = run(checkpoint=ck, checkpoint_every=25, resume=True)
    for k in full:
        assert resumed[k].test_db == full[k].test_db and resumed[k].steps == full[k].steps
        for a, b in zip(resumed_w[k], full_w[k], strict=True):
            assert torch.equal(a, b)

r"""Fitting a learned vector field to (state, time-derivative) pairs.

:func:`fit_dynamics` regresses a model on sampled *data* (pairs from trajectories), and
:func:`fit_dynamics_models` trains several in lockstep; both return a :class:`DynamicsFitResult`
with learning curves against training time. (:func:`ot_gradnets.core.fields.fit_field` is the
other regression of the package: a network against a *known* gradient field it samples
anywhere, returning a :class:`~ot_gradnets.core.fields.FitResult`.) The learning-rate probes of
:func:`~ot_gradnets.core.hamiltonian.select_lr`, in ``_select``, train with
:func:`fit_dynamics_models`.

The keywords follow scikit-learn's vocabulary, as :class:`~ot_gradnets.transport.BrenierMap`'s:
``max_iter`` (the step budget), ``validation_interval`` (steps between held-out evaluations),
``random_state`` (an int or a ``torch.Generator``) and ``callback(model, step, loss)``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ot_gradnets._distributed import all_reduce_max, is_main, share_of_draw
from ot_gradnets._registry import check_choice
from ot_gradnets._threads import model_step_work, threaded
from ot_gradnets._validation import (
    as_samples,
    check_nonnegative_float,
    check_positive_int,
    make_generator,
)
from ot_gradnets.core._training import (
    SCHEDULES,
    TrainingLoop,
    read_training_checkpoint,
    write_training_checkpoint,
)

from ._metrics import derivative_error_db, derivative_mse

__all__ = [
    "DynamicsFitResult",
    "fit_dynamics",
    "fit_dynamics_models",
    "predict_field",
]


@dataclass
class DynamicsFitResult:
    r"""What :func:`fit_dynamics` measured.

    Attributes:
        steps: optimiser steps at which the test error was evaluated (0 = before training).
        wall_time: cumulative *training* wall-clock seconds at those steps (evaluation
            excluded).
        cpu_time: the same in CPU seconds of the training thread (robust to a shared machine).
        train_loss: mean training loss (per-coordinate MSE) since the previous evaluation.
        test_db: test derivative error in dB (summed over coordinates) at those steps.
        test_mse: the same error as HNN's per-coordinate MSE.
        step_time: mean wall-clock seconds per optimiser step.
        step_cpu_time: mean CPU seconds per optimiser step.
        n_parameters: trainable parameters of the model.
        stop_reason: ``"max_iter"``; ``"callback"`` when the callback stopped training; or
            ``"diverged"`` when the loss stopped being finite after the shared loop's
            recoveries (:class:`~ot_gradnets.core.TrainingLoop`).
    """

    steps: list[int] = field(default_factory=list)
    wall_time: list[float] = field(default_factory=list)
    cpu_time: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_db: list[float] = field(default_factory=list)
    test_mse: list[float] = field(default_factory=list)
    step_time: float = math.nan
    step_cpu_time: float = math.nan
    n_parameters: int = 0
    stop_reason: str = "max_iter"

    @property
    def final_db(self) -> float:
        """Test dB after the last step."""
        return self.test_db[-1] if self.test_db else math.nan

    def time_to_reach(self, target_db: float, cpu: bool = False) -> float:
        """Training seconds until the test error first reached ``target_db`` (``nan`` if never).

        Wall-clock seconds, or CPU seconds when ``cpu`` is true. Resolution is the evaluation
        interval of the run.
        """
        times = self.cpu_time if cpu else self.wall_time
        for t, db in zip(times, self.test_db, strict=True):
            if db <= target_db:
                return t
        return math.nan

    def steps_to_reach(self, target_db: float) -> float:
        """Optimiser steps until the test error first reached ``target_db`` (``nan`` if never)."""
        for s, db in zip(self.steps, self.test_db, strict=True):
            if db <= target_db:
                return float(s)
        return math.nan


def predict_field(model: nn.Module, states: Tensor, batch_size: int = 4096) -> Tensor:
    r"""Evaluate ``model(states)`` in chunks without keeping a graph (autograd stays on, so
    potential-based models such as HNN work).

    Returns:
        ``(N, dim)`` detached predictions.
    """
    outs = []
    for start in range(0, states.shape[0], batch_size):
        x = states[start : start + batch_size]
        with torch.enable_grad():
            outs.append(model(x).detach())
    return torch.cat(outs, 0)


@threaded(lambda a: model_step_work(a["model"], a["batch_size"]))
def fit_dynamics(
    model: nn.Module,
    states: Tensor,
    derivatives: Tensor,
    test_states: Tensor | None = None,
    test_derivatives: Tensor | None = None,
    max_iter: int = 10_000,
    batch_size: int = 200,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    validation_interval: int = 200,
    random_state: int | torch.Generator | None = None,
    verbose: bool = False,
    callback: Callable[[nn.Module, int, float], bool | None] | None = None,
    schedule: str = "constant",
    threads: int | str = "auto",
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 1000,
    resume: bool = False,
) -> DynamicsFitResult:
    r"""Regress ``model(s)`` on the time derivatives with Adam (HNN's training protocol).

    Each step draws ``batch_size`` pairs uniformly (with replacement across steps) and minimises
    the per-coordinate mean squared error :math:`\operatorname{mean}_{n,i} (\hat f_i(s_n) -
    f_i(s_n))^2`, exactly HNN's ``L2_loss``. For a :class:`HamiltonianField` of a gradient network
    this is regression of :math:`N` on :math:`\nabla H = -J f` (as :math:`J` is orthogonal), with
    no double backpropagation; for HNN the field needs one extra backward pass per step.

    Args:
        model: a module mapping ``(B, dim)`` states to ``(B, dim)`` time derivatives.
        states, derivatives: ``(N, dim)`` training pairs.
        test_states, test_derivatives: optional clean test pairs, evaluated every
            ``validation_interval`` steps (outside the timed region).
        max_iter: optimiser steps.
        batch_size: pairs per step.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        validation_interval: evaluation interval in steps.
        random_state: random source of the minibatches (drawn on the CPU): an int seeds
            ``torch.Generator().manual_seed(random_state)``, a CPU ``torch.Generator`` is drawn
            from (and advances), one on another device seeds a CPU one; ``None`` draws from
            torch's global generator (so ``torch.manual_seed`` seeds the minibatches).
        verbose: show a tqdm progress bar with the last test dB.
        callback: called as ``callback(model, step, loss)`` after each step, with ``model``
            (the network being trained), the 0-based index of the step just taken and its
            training loss; a true return value stops training (``stop_reason = "callback"``).
        schedule: learning-rate schedule over the ``max_iter`` steps, a name of
            :data:`ot_gradnets.core.SCHEDULES`; ``"constant"`` (default) is HNN's protocol,
            ``"cosine"`` decays the rate to zero by the last step.
        threads: CPU threads, or ``"auto"`` (one for small steps; see
            :func:`ot_gradnets.resolve_threads`).
        checkpoint, checkpoint_every, resume: as in :func:`fit_dynamics_models`.

    Returns:
        A :class:`DynamicsFitResult`; the model is trained in place.

    Example:
        >>> from ot_gradnets.core import GradNetM
        >>> from ot_gradnets.core.hamiltonian import HamiltonianField, make_dataset
        >>> data = make_dataset("mass-spring", n_trajectories=6, n_points=10, noise_std=0.0)
        >>> model = HamiltonianField(GradNetM(2, width=8, num_modules=2))
        >>> res = fit_dynamics(model, data.train_states, data.train_derivatives,
        ...                    data.test_states, data.test_derivatives, max_iter=20,
        ...                    validation_interval=10, random_state=0)
        >>> res.steps
        [0, 10, 20]
    """

    def one(models: Mapping[str, nn.Module], step: int, losses: Mapping[str, float]) -> Any:
        """The lockstep callback of the one model: ``callback(model, step, loss)``."""
        assert callback is not None
        return callback(models["model"], step, losses["model"]) if "model" in losses else None

    return fit_dynamics_models(
        {"model": model},
        states,
        derivatives,
        test_states,
        test_derivatives,
        max_iter=max_iter,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        validation_interval=validation_interval,
        random_state=random_state,
        verbose=verbose,
        callback=None if callback is None else one,
        schedule=schedule,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        resume=resume,
    )["model"]


@threaded(lambda a: model_step_work(a["models"], a["batch_size"]))
def fit_dynamics_models(
    models: Mapping[str, nn.Module],
    states: Tensor,
    derivatives: Tensor,
    test_states: Tensor | None = None,
    test_derivatives: Tensor | None = None,
    max_iter: int = 10_000,
    batch_size: int = 200,
    lr: float | Mapping[str, float] = 1e-3,
    weight_decay: float = 0.0,
    validation_interval: int = 200,
    random_state: int | torch.Generator | None = None,
    verbose: bool = False,
    callback: Callable[[Mapping[str, nn.Module], int, dict[str, float]], bool | None] | None = None,
    schedule: str | Mapping[str, str] = "constant",
    threads: int | str = "auto",
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 1000,
    resume: bool = False,
) -> dict[str, DynamicsFitResult]:
    r"""Train several models in lockstep on the same minibatches, for fair timing.

    Step :math:`k` of every model uses the same batch, and the models' steps alternate, so on a
    machine whose load changes over time all models see the same conditions; step times (wall
    clock and thread CPU time) are directly comparable. Each model follows :func:`fit_dynamics`.

    Args:
        models: name -> model.
        lr: one learning rate, or one per model name.
        callback: called as ``callback(models, step, loss)`` after each lockstep step: the
            signature of :func:`fit_dynamics`'s, with what is trained here in lockstep, the
            mapping ``models``, and ``loss`` a dict ``name -> training loss of the step`` (a
            model that has stopped, or went back to healthy weights in this step, is left
            out); ``step`` is the 0-based index of the lockstep step. A true return value stops
            every model (``stop_reason = "callback"``).
        schedule: one learning-rate schedule (a name of :data:`ot_gradnets.core.SCHEDULES`), or
            one per model name.
        checkpoint: a file to write every model's training state, the results so far and the
            minibatch generator's state to, every ``checkpoint_every`` steps and at the end
            (atomically).
        checkpoint_every: steps between checkpoints.
        resume: continue from ``checkpoint`` if it exists; with the same arguments (and
            ``random_state`` an int, or a generator in the same initial state) the run ends as
            an uninterrupted one.
        Others: as in :func:`fit_dynamics`.

    Returns:
        name -> :class:`DynamicsFitResult`.
    """
    x, y, test = _check_data(models, states, derivatives, test_states, test_derivatives)
    max_iter = check_positive_int(max_iter, "max_iter")
    batch_size = check_positive_int(batch_size, "batch_size")
    validation_interval = check_positive_int(validation_interval, "validation_interval")
    generator = None if random_state is None else make_generator(random_state)
    lrs = _per_model(lr, models, "lr", "learning rate")
    schedules = _per_model(schedule, models, "schedule", "schedule")
    for name in schedules.values():
        check_choice(name, SCHEDULES, "schedule")
    batch: list[Tensor] = []  # this step's (states, derivatives), the same for every model
    losses: dict[str, float] = {}  # this step's training loss of every model that took it
    results: dict[str, DynamicsFitResult] = {}
    loops: dict[str, TrainingLoop] = {}
    for name, model in models.items():
        res = results[name] = DynamicsFitResult()
        loops[name] = _make_loop(name, model, res, batch, test, max_iter, lrs[name],
                                 schedules[name], weight_decay, validation_interval,
                                 losses)  # fmt: skip
    bar = None
    if verbose:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_iter, desc="fit_dynamics")
    fingerprint = _fingerprint(
        models, x, y, max_iter, batch_size, lrs, schedules, validation_interval
    )
    first = 1
    if checkpoint is not None and resume and Path(checkpoint).exists():
        first = _resume(checkpoint, fingerprint, loops, results, generator) + 1
    for name, model in models.items():
        loops[name].start()
        model.train()
    running = {k: lp for k, lp in loops.items() if not lp.finished}
    n = x.shape[0]
    for step in range(first, max_iter + 1):
        idx = share_of_draw(n, batch_size, generator).to(x.device)  # this rank's share
        batch[:] = [x[idx], y[idx]]
        losses.clear()
        for name, loop in list(running.items()):
            if not loop.advance():
                del running[name]  # diverged: its last healthy weights stay
        stop = False
        if callback is not None:
            wants = bool(losses) and bool(callback(models, step - 1, dict(losses)))
            stop = bool(all_reduce_max(int(wants)))  # the ranks stop together
            if stop:
                for loop in running.values():
                    loop.stop_reason = "callback"
                running.clear()
        if (
            checkpoint is not None
            and is_main()
            and (step % checkpoint_every == 0 or step == max_iter or stop)
        ):
            state = _checkpoint_state(fingerprint, step, generator, loops, results)
            write_training_checkpoint(checkpoint, "fit_dynamics_models", state)
        if bar is not None and (step % validation_interval == 0 or step == max_iter):
            bar.update(step - bar.n)
            bar.set_postfix({k: f"{r.test_db[-1]:.1f}" for k, r in results.items() if r.test_db})
        if not running:
            break
    if bar is not None:
        bar.close()
    for name, model in models.items():
        loop = loops[name].finish()
        model.eval()
        res = results[name]
        res.stop_reason = loop.stop_reason
        res.step_time = loop.train_time / max(loop.step, 1)
        res.step_cpu_time = loop.train_cpu_time / max(loop.step, 1)
        loop.warn_recoveries(f"fit_dynamics_models[{name}]", "Try a smaller lr.", RuntimeWarning, 2)
    return results


def _per_model(value: Any, models: Mapping[str, nn.Module], what: str, noun: str) -> dict[str, Any]:
    """``value`` for every model: one shared value, or a mapping with exactly the models' names."""
    if isinstance(value, Mapping):
        if set(value) != set(models):
            raise ValueError(
                f"{what} must give one {noun} per model: expected keys {sorted(models)}, got "
                f"{sorted(value)}."
            )
        return {k: value[k] for k in models}
    return dict.fromkeys(models, value)


def _check_data(
    models: Mapping[str, nn.Module],
    states: Tensor,
    derivatives: Tensor,
    test_states: Tensor | None,
    test_derivatives: Tensor | None,
) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor] | None]:
    """Check the models agree on a dimension and the data fit it.

    Returns:
        ``(x, y, test)``: the training states and derivatives as tensors, and the test pair
        ``(states, derivatives)`` or ``None``.
    """
    if not models:
        raise ValueError("models must hold at least one model.")
    dims = {int(m.dim) for m in models.values() if hasattr(m, "dim")}
    if len(dims) > 1:
        raise ValueError(f"all models must have the same dim, got {sorted(dims)}.")
    dim = dims.pop() if dims else None
    x = as_samples(states, "states", dim=dim)
    y = as_samples(derivatives, "derivatives", dim=x.shape[1])
    if y.shape[0] != x.shape[0]:
        raise ValueError(
            f"states and derivatives must have the same number of rows, got {x.shape[0]} and "
            f"{y.shape[0]}."
        )
    has_test = test_states is not None
    if has_test != (test_derivatives is not None):
        raise ValueError("pass both test_states and test_derivatives, or neither.")
    if not has_test:
        return x, y, None
    xt = as_samples(test_states, "test_states", dim=x.shape[1])
    yt = as_samples(test_derivatives, "test_derivatives", dim=x.shape[1])
    if xt.shape[0] != yt.shape[0]:
        raise ValueError("test_states and test_derivatives must have the same number of rows.")
    return x, y, (xt, yt)


def _make_loop(
    name: str,
    model: nn.Module,
    res: DynamicsFitResult,
    batch: list[Tensor],
    test: tuple[Tensor, Tensor] | None,
    max_iter: int,
    lr: float,
    schedule: str,
    weight_decay: float,
    validation_interval: int,
    losses: dict[str, float],
) -> TrainingLoop:
    """The training loop of one model of :func:`fit_dynamics_models`.

    Its loss is the per-coordinate MSE on ``batch``, the ``(states, derivatives)`` the caller
    fills in before every step; each step taken puts its loss in ``losses[name]``; its
    evaluations record the learning curve in ``res``.
    """

    def loss(step: int) -> Tensor:
        return ((model(batch[0]) - batch[1]) ** 2).mean()

    def evaluate(step: int) -> float:
        since = res.steps[-1] if res.steps else 0
        losses = loop.history["loss"][since:]
        res.steps.append(step)
        res.wall_time.append(loop.train_time)
        res.cpu_time.append(loop.train_cpu_time)
        res.train_loss.append(sum(losses) / len(losses) if losses else math.nan)
        score = math.nan
        if test is not None:
            pred = predict_field(model, test[0])
            score = derivative_error_db(pred, test[1])
            res.test_db.append(score)
            res.test_mse.append(derivative_mse(pred, test[1]))
        return score

    def record(_model: nn.Module, step: int, value: float) -> None:
        losses[name] = value

    loop = TrainingLoop(
        model,
        loss,
        max_iter=max_iter,
        lr=check_nonnegative_float(lr, "lr"),
        schedule=schedule,
        optimizer_options={"weight_decay": weight_decay},
        evaluate=evaluate,
        validation_interval=validation_interval,
        eval_at_start=True,
        callback=record,
    )
    res.n_parameters = sum(p.numel() for p in loop.params)
    return loop


def _fingerprint(
    models: Mapping[str, nn.Module],
    x: Tensor,
    y: Tensor,
    max_iter: int,
    batch_size: int,
    lrs: Mapping[str, float],
    schedules: Mapping[str, str],
    validation_interval: int,
) -> dict[str, str]:
    """What a :func:`fit_dynamics_models` checkpoint must match to be resumed: the models'
    names, the training settings and a summary of the training data."""
    return {
        "settings": repr(
            (
                sorted(models),
                max_iter,
                batch_size,
                sorted(lrs.items()),
                sorted(schedules.items()),
                validation_interval,
            )
        ),
        "data": repr((tuple(x.shape), float(x.sum()), float(y.sum()))),
    }


def _checkpoint_state(
    fingerprint: dict[str, str],
    step: int,
    generator: torch.Generator | None,
    loops: Mapping[str, TrainingLoop],
    results: Mapping[str, DynamicsFitResult],
) -> dict[str, object]:
    """What a :func:`fit_dynamics_models` checkpoint holds after ``step``: every loop's state,
    the results so far and the minibatch generator's state (the global one without
    ``generator``)."""
    rng = torch.get_rng_state() if generator is None else generator.get_state()
    state: dict[str, object] = {"fingerprint": fingerprint, "step": step, "generator": rng}
    state["loops"] = {k: lp.state_dict() for k, lp in loops.items()}
    state["results"] = {k: dataclasses.asdict(r) for k, r in results.items()}
    return state


def _resume(
    path: str | Path,
    fingerprint: dict[str, str],
    loops: Mapping[str, TrainingLoop],
    results: Mapping[str, DynamicsFitResult],
    generator: torch.Generator | None,
) -> int:
    """Restore a :func:`fit_dynamics_models` checkpoint into ``loops``, ``results`` and the
    generator; return the step it was written after."""
    state = read_training_checkpoint(path, "fit_dynamics_models", fingerprint)
    for name, loop in loops.items():
        loop.load_state_dict(state["loops"][name])
        for key, value in state["results"][name].items():
            setattr(results[name], key, value)
    if generator is None:
        torch.set_rng_state(state["generator"])
    else:
        generator.set_state(state["generator"])
    return int(state["step"])

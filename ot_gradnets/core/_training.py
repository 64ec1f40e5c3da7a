r"""The training loop shared by every trainer of the package.

:class:`TrainingLoop` runs first-order optimisation of one model on a loss the trainer supplies,
and owns everything that is not the loss: the optimiser (:data:`OPTIMIZERS`), the learning-rate
schedule (:data:`SCHEDULES`, with a linear warm-up and a floor), the step and time budgets, the
progress bar, a per-step callback, a guard that rolls back diverged steps, held-out evaluation
with best-weights keeping and early stopping, and a checkpoint hook with
:meth:`~TrainingLoop.state_dict` / :meth:`~TrainingLoop.load_state_dict`.

The learning rate at step :math:`k` (counted from 0) of a budget of :math:`K` steps is

.. math::

    \eta_k = \eta \cdot \rho \cdot \min\Big(1, \frac{k+1}{k_w}\Big)
    \big(f_{\min} + (1 - f_{\min})\, s(t_k)\big),
    \qquad t_k = \max\Big(\frac kK, \frac{\text{elapsed}}{\text{time limit}}\Big),

with :math:`s` the schedule, :math:`k_w` the warm-up steps, :math:`f_{\min}` the floor
(``min_lr_ratio``) and :math:`\rho` the guard's factor (halved at each recovery).

The trainers built on it, :class:`~ot_gradnets.transport.BrenierMap`,
:func:`ot_gradnets.core.fields.fit_field` and :func:`ot_gradnets.core.hamiltonian.fit_dynamics_models`,
keep only what is their own: how a step's loss is computed and what a held-out score is.
"""

from __future__ import annotations

import copy
import math
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from ot_gradnets import _distributed as dist
from ot_gradnets._registry import lookup
from ot_gradnets.core._checkpoint import read_training_checkpoint, write_training_checkpoint

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "TrainingLoop",
    "read_training_checkpoint",
    "write_training_checkpoint",
]


def _constant(t: float) -> float:
    return 1.0


def _cosine(t: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * t))


def _warmup_cosine(t: float, warmup: float = 0.05) -> float:
    if t < warmup:
        return (t + 1e-3) / warmup
    return _cosine((t - warmup) / (1.0 - warmup))


def _onecycle(t: float, peak: float = 0.25) -> float:
    # linear ramp from lr/25 to lr over the first quarter, then cosine down to lr/1e4
    if t < peak:
        return 0.04 + 0.96 * t / peak
    return 1e-4 + (1.0 - 1e-4) * _cosine((t - peak) / (1.0 - peak))


def _step_decay(t: float) -> float:
    # divide by 10 at 50% and again at 75% of training
    return 1.0 if t < 0.5 else (0.1 if t < 0.75 else 0.01)


def _wsd(t: float, warmup: float = 0.02, decay: float = 0.2) -> float:
    # warmup-stable-decay: linear warm-up, constant, then linear decay to 0 over the last 20%
    if t < warmup:
        return (t + 1e-3) / warmup
    if t < 1.0 - decay:
        return 1.0
    return max(0.0, (1.0 - t) / decay)


#: Learning-rate schedules: multiplier of the base rate as a function of progress t in [0, 1].
SCHEDULES: dict[str, Callable[[float], float]] = {
    "constant": _constant,
    "cosine": _cosine,
    "warmup-cosine": _warmup_cosine,
    "onecycle": _onecycle,
    "step": _step_decay,
    "wsd": _wsd,
}

#: Optimisers by name: ``name -> constructor(params, lr=..., **options)``.
OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}

#: Why a run stopped (:attr:`TrainingLoop.stop_reason`).
STOP_REASONS = (
    "max_iter",
    "time_limit",
    "callback",
    "n_iter_no_change",
    "diverged",
    "interrupted",
)


class TrainingLoop:
    r"""Optimise ``model`` on ``loss(step)``, with budgets, schedule, guard and held-out checks.

    Each step sets the learning rate (see the module docstring), computes ``loss(step)`` (a
    scalar tensor with a graph to the model's parameters; the trainer draws its own batch
    there), backpropagates it, checks the step, and takes the optimiser step.

    **Guard.** A step whose loss (or, with ``check_gradients``, a gradient) is not finite, or
    for which ``health(step)`` returns a reason
    (called after the backward pass, before the update), counts as a divergence: the weights
    and optimiser state go back to the last snapshot (taken every ``snapshot_every`` healthy
    steps), the learning rate is halved, and training resumes from the snapshot's step. After
    ``max_recoveries`` recoveries the next divergence stops the run with
    ``stop_reason = "diverged"`` and the snapshot's weights. Each recovery is listed in
    :attr:`recoveries`.

    **Ctrl-C** (SIGINT, in the main thread) during :meth:`run` is a request to stop: the step
    under way finishes, the run ends as after any other stop (final evaluation, best weights,
    checkpoint) with ``stop_reason = "interrupted"``, and :meth:`run` returns normally. A second
    Ctrl-C raises :class:`KeyboardInterrupt` at once.

    **Data-parallel.** Inside an initialised :mod:`torch.distributed` process group every rank
    runs the same loop on its share of each batch: the start broadcasts rank 0's weights, each
    step averages the gradients and the loss values over the ranks (one all-reduce each), and
    the ranks stop together (time limit, Ctrl-C, callback and divergence are decided jointly);
    only rank 0 shows the progress bar and calls ``checkpoint``. One rank per process, any
    number of processes and machines (``torchrun``).

    **Held-out checks.** With ``evaluate`` (``step -> score``, lower is better), the score is
    taken every ``validation_interval`` steps, at the start if ``eval_at_start``, and after the
    last step. ``keep_best`` restores the weights of the lowest score at the end (a NaN score
    never wins); ``n_iter_no_change`` stops the run after that many evaluations without a better
    score.

    The keyword names follow scikit-learn's (``max_iter``, ``validation_interval``,
    ``n_iter_no_change``), as in :class:`~ot_gradnets.transport.BrenierMap`.

    Args:
        model: the module to train (its parameters that require gradients).
        loss: ``step -> loss``; the loss of step ``step`` (0-based).
        max_iter: the most optimiser steps.
        lr: base learning rate.
        optimizer: a name in :data:`OPTIMIZERS`.
        optimizer_options: extra keyword arguments of the optimiser (``betas``,
            ``weight_decay``, ...).
        schedule: a name in :data:`SCHEDULES` or a function of progress ``t`` in ``[0, 1]``.
        warmup_steps: steps of linear warm-up (0: none).
        min_lr_ratio: floor :math:`f_{\min}` of the schedule, as a fraction of ``lr``.
        time_limit: wall-clock seconds from ``start_time`` after which no step starts.
        start_time: ``time.perf_counter()`` at which the budget started (default: now), so that
            a trainer's set-up can count against ``time_limit``.
        evaluate: ``step -> held-out score`` (lower is better), or ``None``.
        validation_interval: steps between evaluations (``None``: only at the end).
        eval_at_start: also evaluate before the first step (the initial weights are then a
            candidate for ``keep_best``).
        keep_best: end with the weights of the best score.
        n_iter_no_change: stop after this many evaluations without a better score (``None``:
            never).
        health: ``step -> reason or None``; extra divergence checks after the backward pass.
        check_gradients: also count a non-finite gradient as a divergence (one check per
            parameter tensor and step).
        max_recoveries: divergences to recover from; ``None`` turns the guard off.
        snapshot_every: steps between snapshots of healthy weights.
        callback: called as ``callback(model, step, loss)`` after each step, with the module
            being trained, the 0-based index of the step just taken and its loss (a float); a
            true return value stops the run with ``stop_reason = "callback"``.
        checkpoint: called as ``checkpoint(loop)`` every ``checkpoint_every`` steps and at the
            end (before the final evaluation and the return of the best weights);
            :meth:`state_dict` holds what a resumed run needs.
        checkpoint_every: steps between checkpoints.
        progress: a description to show a tqdm progress bar with, or ``None``. Under a
            ``time_limit`` its total is the number of steps the limit will allow at the pace so
            far (at most ``max_iter``), so that its ETA is the run's.

    Attributes:
        step: steps taken.
        history: ``{"loss": [...], "time": [...]}`` per step (seconds since ``start_time``),
            and with ``evaluate`` also ``"val_step"`` and ``"val_score"``.
        stop_reason: one of ``"max_iter"``, ``"time_limit"``, ``"callback"``,
            ``"n_iter_no_change"``, ``"diverged"``, ``"interrupted"``.
        recoveries: one line per divergence recovered from (step and reason).
        lr_factor: :math:`\rho`, the guard's learning-rate factor.
        best_score, best_step: the best held-out score and its step (``inf``/0 before any).
        train_time, train_cpu_time: wall-clock and thread CPU seconds spent in training steps
            (evaluations, callbacks and checkpoints excluded).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> net = nn.Linear(2, 1)
        >>> x, y = torch.randn(64, 2), torch.randn(64, 1)
        >>> loop = TrainingLoop(net, lambda step: ((net(x) - y) ** 2).mean(), max_iter=50,
        ...                     lr=0.1, schedule="cosine").run()
        >>> loop.step, loop.stop_reason
        (50, 'max_iter')
    """

    def __init__(
        self,
        model: nn.Module,
        loss: Callable[[int], Tensor],
        *,
        max_iter: int,
        lr: float,
        optimizer: str = "adam",
        optimizer_options: dict[str, Any] | None = None,
        schedule: str | Callable[[float], float] = "constant",
        warmup_steps: int = 0,
        min_lr_ratio: float = 0.0,
        time_limit: float | None = None,
        start_time: float | None = None,
        evaluate: Callable[[int], float] | None = None,
        validation_interval: int | None = None,
        eval_at_start: bool = False,
        keep_best: bool = False,
        n_iter_no_change: int | None = None,
        health: Callable[[int], str | None] | None = None,
        check_gradients: bool = False,
        max_recoveries: int | None = 3,
        snapshot_every: int = 100,
        callback: Callable[[nn.Module, int, float], bool | None] | None = None,
        checkpoint: Callable[[TrainingLoop], None] | None = None,
        checkpoint_every: int | None = None,
        progress: str | None = None,
    ) -> None:
        self.model = model
        self.loss = loss
        self.params = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise ValueError("model has no parameters that require gradients.")
        if max_iter < 0:
            raise ValueError(f"max_iter must be non-negative, got {max_iter}.")
        self.max_iter = int(max_iter)
        self.lr = float(lr)
        opt_cls = lookup(OPTIMIZERS, optimizer, "optimizer")
        self.optimizer = opt_cls(self.params, lr=self.lr, **(optimizer_options or {}))
        self.schedule = schedule if callable(schedule) else lookup(SCHEDULES, schedule, "schedule")
        self.warmup_steps = int(warmup_steps)
        self.min_lr_ratio = float(min_lr_ratio)
        self.time_limit = time_limit
        self.start_time = time.perf_counter() if start_time is None else start_time
        self.evaluate = evaluate
        self.validation_interval = validation_interval
        self.eval_at_start = eval_at_start
        self.keep_best = keep_best
        self.n_iter_no_change = n_iter_no_change
        self.health = health
        self.check_gradients = check_gradients
        self.max_recoveries = max_recoveries
        self.snapshot_every = int(snapshot_every)
        self.callback = callback
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.progress = progress

        self.step = 0
        self.history: dict[str, list[float]] = {"loss": [], "time": []}
        if evaluate is not None:
            self.history["val_step"], self.history["val_score"] = [], []
        self.stop_reason = "max_iter"
        self.recoveries: list[str] = []
        self.lr_factor = 1.0
        self.best_score, self.best_step = math.inf, 0
        self.train_time = self.train_cpu_time = 0.0
        self._best: dict[str, Tensor] | None = None
        self._stale = 0
        self._snapshot: tuple[int, list[Tensor], dict[str, Any]] | None = None
        self._bar: Any = None
        self._started = False
        self._interrupted = False
        self._pending_stop: str | None = None  # a callback's stop, decided jointly next step
        self.finished = False
        self._rank, self._world = dist.world()

    # ------------------------------------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        """The learning rate of step ``step`` (0-based), by the formula of the module docstring."""
        progress = step / max(self.max_iter, 1)
        if self.time_limit is not None:
            elapsed = time.perf_counter() - self.start_time
            progress = max(progress, elapsed / self.time_limit)
        scale = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps > 0 else 1.0
        floor = self.min_lr_ratio
        scale *= floor + (1.0 - floor) * self.schedule(min(progress, 1.0))
        return self.lr * self.lr_factor * scale

    def _take_snapshot(self) -> None:
        params = [p.detach().clone() for p in self.params]
        self._snapshot = (self.step, params, copy.deepcopy(self.optimizer.state_dict()))

    def _recover(self, reason: str) -> bool:
        """Roll back to the snapshot with half the rate; say whether training may go on."""
        assert self._snapshot is not None
        self.recoveries.append(f"step {self.step}: {reason}")
        step, params, opt_state = self._snapshot
        with torch.no_grad():
            for p, v in zip(self.params, params, strict=True):
                p.copy_(v)
        self.optimizer.load_state_dict(copy.deepcopy(opt_state))
        self.lr_factor *= 0.5
        self.step = step
        del self.history["loss"][step:], self.history["time"][step:]
        if len(self.recoveries) > self.max_recoveries:  # type: ignore[operator]
            self.stop_reason = "diverged"
            return False
        return True

    def _evaluate(self) -> bool:
        """Score the held-out data, keep the best weights; say whether to stop
        (``n_iter_no_change``)."""
        assert self.evaluate is not None
        score = float(dist.broadcast_object(float(self.evaluate(self.step))))
        self.history["val_step"].append(self.step)
        self.history["val_score"].append(score)
        if score < self.best_score:  # NaN compares false; -inf (an exact fit) wins
            self.best_score, self.best_step, self._stale = score, self.step, 0
            if self.keep_best:
                self._best = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        else:
            self._stale += 1
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{self._last_loss:.4g}", score=f"{score:.4g}")
        return self.n_iter_no_change is not None and self._stale >= self.n_iter_no_change

    # ------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Prepare a run (snapshot, first evaluation, progress bar); :meth:`run` calls it."""
        if self._started:
            return
        self._started = True
        self._last_loss = math.nan
        if self.max_recoveries is not None and self._snapshot is None:
            self._take_snapshot()
        self._pace_start = (self.step, time.perf_counter())  # steps per second, this process
        if self._world > 1:  # every rank starts from rank 0's weights
            with torch.no_grad():
                for p in self.model.parameters():
                    torch.distributed.broadcast(p, src=0)
        if self.progress is not None and self._rank == 0:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.max_iter, desc=self.progress, leave=False)
            self._bar.n = self.step
        if self.evaluate is not None and self.eval_at_start and not self.history["val_step"]:
            if self._evaluate():
                self.stop_reason = "n_iter_no_change"
                self.finished = True

    def advance(self) -> bool:
        """Take one step (or recover from a divergence); return whether training goes on."""
        self.start()
        if self.finished:
            return False
        if self.step >= self.max_iter:
            self.stop_reason = "max_iter"
            return False
        reason = self._stop_request()
        if reason is not None:
            self.stop_reason = reason
            return False
        tic, tic_cpu = time.perf_counter(), time.thread_time()
        step = self.step
        lr = self.lr_at(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(step)
        value = self._mean_over_ranks(float(loss.detach()))
        guarded = self.max_recoveries is not None
        if math.isfinite(value) or not guarded:
            loss.backward()
            self._average_gradients()
        if guarded:
            problem = None
            if not math.isfinite(value):
                problem = f"the loss is not finite ({value})"
            elif self.check_gradients and not all(
                p.grad is None or bool(torch.isfinite(p.grad).all()) for p in self.params
            ):
                problem = "a gradient is not finite"
            elif self.health is not None:
                problem = self.health(step)
            problem = self._joint_problem(problem)
            if problem is not None:
                self.train_time += time.perf_counter() - tic
                self.train_cpu_time += time.thread_time() - tic_cpu
                return self._recover(problem)
            if step % self.snapshot_every == 0 and self._snapshot[0] != step:  # type: ignore[index]
                self._take_snapshot()
        self.optimizer.step()
        self.step = step + 1
        self.train_time += time.perf_counter() - tic
        self.train_cpu_time += time.thread_time() - tic_cpu
        self._last_loss = value
        self.history["loss"].append(value)
        self.history["time"].append(time.perf_counter() - self.start_time)
        if self._bar is not None:
            self._bar.n = self.step
            if self.time_limit is not None:  # the total the clock will allow, for a true ETA
                now = time.perf_counter()
                first_step, first_time = self._pace_start
                rate = (self.step - first_step) / max(now - first_time, 1e-9)
                left = self.start_time + self.time_limit - now
                reach = self.step + math.ceil(rate * max(left, 0.0))
                self._bar.total = max(self.step, min(self.max_iter, reach))
            self._bar.set_postfix(loss=f"{value:.4g}", refresh=False)
            self._bar.update(0)
        if self.callback is not None and self.callback(self.model, step, value):
            if self._world > 1:  # the ranks stop together, before the next step
                self._pending_stop = "callback"
            else:
                self.stop_reason = "callback"
                return False
        if (
            self.evaluate is not None
            and self.validation_interval is not None
            and self.step % self.validation_interval == 0
            and self._evaluate()
        ):
            self.stop_reason = "n_iter_no_change"
            return False
        if self.checkpoint is not None and self.checkpoint_every and self._rank == 0:
            if self.step % self.checkpoint_every == 0:
                self.checkpoint(self)
        return True

    # ------------------------------------------------------------------------------------------
    # what the ranks of a process group do together (each is a no-op in a single process)
    _STOPS = (None, "time_limit", "callback", "interrupted")

    def _stop_request(self) -> str | None:
        """Why the run stops before this step (Ctrl-C, the clock, a callback), agreed by the
        ranks: the most pressing reason any rank has."""
        code = 0
        if self.time_limit is not None and time.perf_counter() - self.start_time >= self.time_limit:
            code = 1
        if self._pending_stop is not None:
            code = 2
        if self._interrupted:
            code = 3
        if self._world > 1:
            code = dist.all_reduce_max(code)
        return self._STOPS[code]

    def _mean_over_ranks(self, value: float) -> float:
        if self._world == 1:
            return value
        return float(
            dist.all_reduce_mean(torch.tensor([value], dtype=torch.float64, device=dist.device()))
        )

    def _average_gradients(self) -> None:
        """Average the gradients over the ranks: one all-reduce of all of them, flattened."""
        if self._world == 1:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        flat = dist.all_reduce_mean(torch.cat([g.reshape(-1) for g in grads]))
        for p, g in zip(self.params, flat.split([g.numel() for g in grads]), strict=True):
            p.grad = g.view_as(p).clone()

    def _joint_problem(self, problem: str | None) -> str | None:
        """A divergence on any rank is one on all (they roll back together)."""
        if self._world == 1:
            return problem
        if not dist.all_reduce_max(int(problem is not None)):
            return None
        return problem or "a divergence on another rank"

    def finish(self) -> TrainingLoop:
        """End a run: last evaluation, best weights, checkpoint, warning; :meth:`run` calls it."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self.finished = True
        if self.checkpoint is not None and self._rank == 0:  # as trained, before the best weights
            self.checkpoint(self)
        if self.evaluate is not None:
            steps = self.history["val_step"]
            if not steps or self.step > steps[-1]:
                self._evaluate()  # the final weights are a candidate too
            if self.keep_best and self._best is not None:
                self.model.load_state_dict(self._best)
        return self

    @contextmanager
    def _sigint_stops(self) -> Iterator[None]:
        """While training, the first SIGINT asks the loop to stop; a second one aborts."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be set from the main thread
            return

        def handler(signum: int, frame: Any) -> None:
            if self._interrupted:
                raise KeyboardInterrupt
            self._interrupted = True

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def run(self) -> TrainingLoop:
        """Train until a budget, the callback, ``n_iter_no_change``, the guard or Ctrl-C stops;
        return ``self``."""
        self.start()
        try:
            with self._sigint_stops():
                while self.advance():
                    pass
        finally:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
        return self.finish()

    def describe_recoveries(self, what: str, hint: str) -> str | None:
        """A sentence on the divergences of the run (``None`` without any), for a warning."""
        if not self.recoveries:
            return None
        listed = "; ".join(self.recoveries)
        if self.stop_reason == "diverged":
            return (
                f"{what} diverged {len(self.recoveries)} times ({listed}) and stopped; kept "
                f"the last healthy weights (step {self.step}). {hint}"
            )
        return (
            f"{what} recovered from {len(self.recoveries)} divergence(s) ({listed}) by going "
            f"back to healthy weights and lowering the learning rate to {self.lr_factor:g} x "
            f"its value; training then finished ({self.stop_reason})."
        )

    def warn_recoveries(
        self, what: str, hint: str, warning: type[Warning], stacklevel: int
    ) -> None:
        """Warn about the run's divergences, if any (see :meth:`describe_recoveries`)."""
        msg = self.describe_recoveries(what, hint)
        if msg is not None:
            warnings.warn(msg, warning, stacklevel=stacklevel + 1)

    # ------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs besides the trainer's own state (data, RNG)."""
        return {
            "step": self.step,
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "lr_factor": self.lr_factor,
            "history": copy.deepcopy(self.history),
            "recoveries": list(self.recoveries),
            "best_score": self.best_score,
            "best_step": self.best_step,
            "best": self._best,
            "stale": self._stale,
            "elapsed": time.perf_counter() - self.start_time,
            "train_time": self.train_time,
            "train_cpu_time": self.train_cpu_time,
            # a run that ended on its own stays ended when resumed (not one that was cut short)
            "stopped": self.stop_reason if self.finished else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`; the time budget counts the elapsed time saved."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.lr_factor = float(state["lr_factor"])
        self.history = copy.deepcopy(state["history"])
        self.recoveries = list(state["recoveries"])
        self.best_score, self.best_step = state["best_score"], state["best_step"]
        self._best, self._stale = state["best"], state["stale"]
        self.start_time = time.perf_counter() - float(state["elapsed"])
        self.train_time, self.train_cpu_time = state["train_time"], state["train_cpu_time"]
        self._snapshot = None
        if self.max_recoveries is not None:
            self._take_snapshot()
        if state.get("stopped") in ("n_iter_no_change", "diverged"):
            self.stop_reason, self.finished = state["stopped"], True

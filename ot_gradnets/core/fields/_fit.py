r"""Fitting a network to a target gradient field by regression.

One function, :func:`fit_field`, covers the two protocols of the GradNet paper:

- **fresh samples** (``n_train=None``, the PolyMax protocol): every step draws a new uniform batch;
- **fixed training set** (``n_train=n``, the 2-D protocol): ``n`` points drawn once, swept in
  reshuffled epochs, with the checkpoint of best validation error kept (``keep_best=True``).

The loss is the squared Euclidean error :math:`\frac1B\sum_b\|N(x_b) - \nabla F(x_b)\|^2`
(summed over output coordinates), the quantity the dB metric reports; the authors' code uses
``torch.nn.MSELoss`` (a mean over coordinates), i.e. the same loss divided by :math:`d`, which
Adam's update is invariant to up to its :math:`\epsilon`. :func:`select_lr` fits one model per
learning rate from the same initialisation and data and keeps the one with the best
*validation* error (never the test error). :data:`PROTOCOLS` holds the authors' settings.

The keywords follow scikit-learn's vocabulary, as :class:`~ot_gradnets.transport.BrenierMap`'s:
``max_iter`` (the step budget), ``validation_interval`` (steps between held-out evaluations),
``random_state`` (an int or a ``torch.Generator``) and ``callback(model, step, loss)``.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ot_gradnets._registry import check_choice
from ot_gradnets._threads import model_step_work, threaded
from ot_gradnets._validation import (
    as_samples,
    check_nonnegative_float,
    check_positive_int,
    make_generator,
    make_seed,
)
from ot_gradnets.core._training import SCHEDULES, TrainingLoop
from ot_gradnets.core.fields._fit_data import FieldData, attach_checkpoint
from ot_gradnets.core.fields._metrics import field_error_db, squared_error
from ot_gradnets.core.fields._targets import Target

__all__ = [
    "PROTOCOLS",
    "SCHEDULES",
    "FieldLRSelection",
    "FitResult",
    "fit_affine",
    "fit_field",
    "refine_lbfgs",
    "select_lr",
]


#: The authors' training settings, as keyword arguments of :func:`fit_field`.
PROTOCOLS: dict[str, dict[str, object]] = {
    # 2-D: 100,000 training points, 10,000 validation points, batch 1000, 200 epochs (20,000
    # steps), Adam 5e-3, best validation checkpoint (validated once per epoch).
    "paper-2d": {
        "n_train": 100_000,
        "n_val": 10_000,
        "batch_size": 1000,
        "max_iter": 20_000,
        "lr": 5e-3,
        "keep_best": True,
        "validation_interval": 100,
    },
    # PolyMax: fresh uniform batches of 100, 10,000 steps, Adam (rate chosen by select_lr).
    "polymax": {
        "n_train": None,
        "n_val": 10_000,
        "batch_size": 100,
        "max_iter": 10_000,
        "lr": 1e-3,
        "keep_best": False,
        "validation_interval": None,
    },
}


@dataclass
class FitResult:
    """What :func:`fit_field` returns (the Hamiltonian analogue is
    :class:`~ot_gradnets.core.hamiltonian.DynamicsFitResult`).

    Attributes:
        model: the fitted model (the same object that was passed in, trained in place; with
            ``keep_best`` it holds the best-validation weights).
        lr: base learning rate.
        schedule: learning-rate schedule name.
        n_steps: optimiser steps taken (at most ``max_iter``; a record of the run, not a
            setting).
        best_step: step of the kept weights (``n_steps`` without ``keep_best``).
        val_db: validation error in dB of the kept weights.
        wall_time_s: seconds spent in :func:`fit_field`.
        history: ``{"step": [...], "train_loss": [...], "val_db": [...]}`` at every evaluation
            (``train_loss`` is the mean squared error over the steps since the last one).
    """

    model: nn.Module
    lr: float
    schedule: str
    n_steps: int
    best_step: int
    val_db: float
    wall_time_s: float
    history: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class FieldLRSelection:
    """What :func:`select_lr` returns (the Hamiltonian analogue is
    :class:`~ot_gradnets.core.hamiltonian.DynamicsLRSelection`).

    Attributes:
        best: the fit with the lowest validation error.
        results: one :class:`FitResult` per learning rate, in the order given.
    """

    best: FitResult
    results: list[FitResult]

    @property
    def best_lr(self) -> float:
        """The selected learning rate."""
        return self.best.lr


def _reference(model: nn.Module) -> Tensor:
    for p in model.parameters():
        return p
    raise ValueError("model has no parameters to fit.")


@threaded(lambda a: model_step_work(a["model"], a["batch_size"]))
def fit_field(
    model: nn.Module,
    target: Target,
    *,
    max_iter: int = 10_000,
    batch_size: int = 100,
    lr: float = 1e-3,
    schedule: str = "constant",
    n_train: int | None = None,
    x_train: Tensor | None = None,
    n_val: int = 10_000,
    x_val: Tensor | None = None,
    keep_best: bool = False,
    validation_interval: int | None = None,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    random_state: int | torch.Generator | None = None,
    verbose: bool = False,
    callback: Callable[[nn.Module, int, float], bool | None] | None = None,
    threads: int | str = "auto",
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 1000,
    resume: bool = False,
) -> FitResult:
    r"""Fit ``model`` to the gradient field of ``target`` with Adam on the squared error.

    Minimises :math:`\frac1B\sum_{b}\|N(x_b) - \nabla F(x_b)\|_2^2` over batches of uniform
    points of the target's domain.

    Args:
        model: the network :math:`N` (any ``nn.Module`` mapping ``(B, d)`` to ``(B, d)``);
            trained in place. Data follow the dtype and device of its parameters.
        target: the true field (a :class:`Target`).
        max_iter: optimiser steps.
        batch_size: points per step.
        lr: base learning rate of Adam.
        schedule: learning-rate schedule, one of :data:`SCHEDULES` (``"constant"`` is the
            authors'; ``"cosine"``, ``"warmup-cosine"``, ``"onecycle"``, ``"step"``, ``"wsd"``
            = warm-up, stable, linear decay over the last 20%).
        n_train: ``None`` draws a fresh batch every step (PolyMax protocol); an integer draws a
            fixed training set of that size once and sweeps it in reshuffled epochs (2-D
            protocol).
        x_train: a fixed training set ``(n, d)`` (the targets are computed from it); overrides
            ``n_train``.
        n_val: size of the validation set drawn when ``x_val`` is not given.
        x_val: validation points ``(n, d)``; pass the same set to compare runs.
        keep_best: restore the weights of the best validation error seen at the evaluations.
        validation_interval: steps between validation evaluations; default one epoch with
            ``n_train``, else only at the end.
        weight_decay: Adam's L2 penalty.
        betas: Adam's moment decay rates.
        random_state: source of randomness for the data (validation and training points,
            shuffling): a ``torch.Generator`` is drawn from on its own device (and advances),
            an int seeds ``torch.Generator(device).manual_seed(random_state)`` on the model's
            device (on the CPU exactly ``torch.Generator().manual_seed(random_state)``),
            ``None`` a freshly seeded one. The same ``random_state`` (an int, or a generator
            in the same state) and model initialisation give the same run.
        verbose: show a tqdm progress bar with the running loss.
        callback: called as ``callback(model, step, loss)`` after each step, with the network
            being trained, the 0-based index of the step just taken and its training loss; a
            true return value stops training (the final evaluation and ``keep_best`` still
            apply).
        threads: CPU threads, or ``"auto"`` (one for small steps; see
            :func:`ot_gradnets.resolve_threads`).
        checkpoint: a file to write the training state to every ``checkpoint_every`` steps
            and at the end (atomically), with :class:`~ot_gradnets.core.TrainingLoop`'s state,
            the data generator's and the epoch order.
        checkpoint_every: steps between checkpoints.
        resume: continue from ``checkpoint`` if it exists; with the same arguments (and
            ``random_state`` an int, or a generator in the same initial state) the run ends as
            an uninterrupted one.

    Returns:
        A :class:`FitResult`.

    Raises:
        ValueError: on a non-positive size, an unknown ``schedule`` or a dimension mismatch.

    Example:
        >>> from ot_gradnets.core.fields import PolyMax
        >>> _ = torch.manual_seed(0)
        >>> net = nn.Linear(2, 2)
        >>> res = fit_field(net, PolyMax(2), max_iter=200, lr=3e-2, n_val=100, random_state=0)
        >>> res.n_steps, res.val_db < -5.0  # predicting zero scores about 0 dB
        (200, True)
    """
    max_iter = check_positive_int(max_iter, "max_iter")
    batch_size = check_positive_int(batch_size, "batch_size")
    lr = check_nonnegative_float(lr, "lr")
    weight_decay = check_nonnegative_float(weight_decay, "weight_decay")
    check_choice(schedule, SCHEDULES, "schedule")
    if not isinstance(target, Target):
        raise TypeError(f"target must be a Target, got {type(target).__name__}.")
    ref = _reference(model)
    dim = target.dim
    if getattr(model, "dim", dim) != dim:
        raise ValueError(f"model.dim={model.dim} does not match target.dim={dim}.")
    # a generator draws where it is; an int or None seeds one on the model's device
    if isinstance(random_state, torch.Generator):
        generator = random_state
    else:
        generator = make_generator(random_state, ref.device)
    data = FieldData(target, generator, ref.dtype, ref.device, batch_size)
    x_val = data.validation_set(n_val, x_val)
    data.training_set(n_train, x_train)
    every = data.eval_interval(validation_interval, max_iter)
    history: dict[str, list[float]] = {"step": [], "train_loss": [], "val_db": []}

    def loss(step: int) -> Tensor:
        xb, yb = data.batch(step)
        return squared_error(model(xb), yb)

    def evaluate(step: int) -> float:
        model.eval()
        val_db = field_error_db(model, target, x_val)
        model.train()
        since = history["step"][-1] if history["step"] else 0
        losses = loop.history["loss"][since:]
        train_loss = sum(losses) / len(losses) if losses else math.nan
        history["step"].append(step)
        history["train_loss"].append(train_loss)
        history["val_db"].append(val_db)
        return val_db

    was_training = model.training
    model.train()
    loop = TrainingLoop(
        model,
        loss,
        max_iter=max_iter,
        lr=lr,
        optimizer_options={"weight_decay": weight_decay, "betas": tuple(betas)},
        schedule=schedule,
        evaluate=evaluate,
        validation_interval=every,
        keep_best=keep_best,
        callback=callback,
        progress=f"fit {target.name}" if verbose else None,
    )
    if checkpoint is not None:
        fingerprint = {
            "settings": repr((max_iter, batch_size, lr, schedule, data.n_train, every, keep_best)),
            "data": repr((dim, target.name, tuple(x_val.shape))),
        }
        attach_checkpoint(loop, checkpoint, checkpoint_every, resume, fingerprint, history, data)
    loop.run()
    model.train(was_training)
    loop.warn_recoveries("fit_field", "Try a smaller lr.", RuntimeWarning, stacklevel=2)
    if keep_best and history["val_db"]:
        final_db, final_step = loop.best_score, loop.best_step
    else:
        final_db, final_step = history["val_db"][-1], loop.step
    return FitResult(
        model=model,
        lr=lr,
        schedule=schedule,
        n_steps=loop.step,
        best_step=final_step,
        val_db=final_db,
        wall_time_s=time.perf_counter() - loop.start_time,
        history=history,
    )


def refine_lbfgs(
    model: nn.Module,
    target: Target,
    x_train: Tensor,
    *,
    max_fun: int,
    x_val: Tensor,
    validation_interval: int = 50,
    history_size: int = 50,
    dtype: torch.dtype | None = torch.float64,
    verbose: bool = False,
) -> FitResult:
    r"""Polish a fitted model with full-batch L-BFGS on a fixed set of points.

    Minimises :math:`\frac1n\sum_i\|N(x_i) - \nabla F(x_i)\|^2` over ``x_train`` with
    :class:`torch.optim.LBFGS` (strong Wolfe line search), the usual second stage after Adam
    when a small network must fit a smooth field to high precision (Adam's steady-state noise
    sets its floor; a quasi-Newton method on a fixed batch does not have one). The validation
    error is measured every ``validation_interval`` function evaluations and the best weights are
    kept (the starting weights count), so the result is never worse on ``x_val`` than the input.

    The budget is ``max_fun``, not ``max_iter``, because it counts *function evaluations* (each
    one a forward and backward pass over ``x_train``), not L-BFGS iterations: an iteration spends
    one evaluation or several (its strong Wolfe line search), so only a count of evaluations
    bounds the work. It is scikit-learn's name for the same budget
    (``MLPRegressor(solver="lbfgs", max_fun=...)``; torch's L-BFGS calls it ``max_eval``).

    Args:
        model: the network, trained in place.
        target: the true field.
        x_train: the fixed points ``(n, d)``.
        max_fun: budget of function-and-gradient evaluations over ``x_train``, never
            exceeded (a line search that would need more is cut short).
        x_val: validation points ``(m, d)``.
        validation_interval: function evaluations between validation checks (the unit of
            ``max_fun``).
        history_size: L-BFGS memory.
        dtype: precision of this stage (float64 by default: the line search needs it near
            -50 dB); the model returns to its own dtype afterwards. ``None`` keeps it.
        verbose: tqdm progress bar.

    Returns:
        A :class:`FitResult` whose ``n_steps`` counts function evaluations.

    Example:
        >>> from ot_gradnets.core.fields import make_target
        >>> t = make_target("convex-2d")
        >>> _ = torch.manual_seed(0)
        >>> net = nn.Linear(2, 2)
        >>> g = torch.Generator().manual_seed(0)
        >>> x, x_val = t.sample(500, g), t.sample(200, g)
        >>> before = field_error_db(net, t, x_val)
        >>> res = refine_lbfgs(net, t, x, max_fun=100, x_val=x_val)
        >>> bool(res.val_db < before - 10), net.weight.dtype
        (True, torch.float32)
    """
    max_fun = check_positive_int(max_fun, "max_fun")
    validation_interval = check_positive_int(validation_interval, "validation_interval")
    ref = _reference(model)
    own_dtype, device = ref.dtype, ref.device
    work = dtype or own_dtype
    x = as_samples(x_train, "x_train", dim=target.dim, dtype=work, device=device)
    xv = as_samples(x_val, "x_val", dim=target.dim, dtype=work, device=device)
    was_training = model.training
    start = time.perf_counter()
    model.to(work)
    target_t = copy.deepcopy(target).to(work)  # the caller's target keeps its dtype
    with torch.no_grad():
        y = target_t(x)
    optimizer = torch.optim.LBFGS(
        model.parameters(),
        lr=1.0,
        max_iter=validation_interval,
        max_eval=validation_interval,
        history_size=history_size,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        line_search_fn="strong_wolfe",
    )
    evals, best_at, best_db, history = _lbfgs_steps(
        model, optimizer, (x, y), target_t, xv, max_fun, validation_interval, verbose
    )
    model.to(own_dtype)
    model.train(was_training)
    return FitResult(
        model=model,
        lr=1.0,
        schedule="lbfgs",
        n_steps=evals,
        best_step=best_at,
        val_db=best_db,
        wall_time_s=time.perf_counter() - start,
        history=history,
    )


class _BudgetSpent(Exception):
    """Raised by the L-BFGS closure when the evaluation budget is spent."""


def _lbfgs_steps(
    model: nn.Module,
    optimizer: torch.optim.LBFGS,
    train: tuple[Tensor, Tensor],
    target: Target,
    x_val: Tensor,
    max_fun: int,
    validation_interval: int,
    verbose: bool,
) -> tuple[int, int, float, dict[str, list[float]]]:
    """Run :func:`refine_lbfgs`'s optimisation and load the best-validation weights.

    Each ``optimizer.step`` spends at most ``validation_interval`` evaluations of the squared
    error on ``train = (x, y)``; the validation error on ``x_val`` is measured after each, and
    the run stops when ``max_fun`` evaluations are spent or a step makes no progress; ``verbose``
    shows a progress bar.

    Returns:
        ``(evals, best_at, best_db, history)``: evaluations spent, the evaluation count of the
        kept weights and their validation dB, and the history of :class:`FitResult`.
    """
    x, y = train
    evals = 0

    def closure() -> Tensor:
        nonlocal evals
        if evals >= max_fun:  # a line search may ask for more: stop it, never exceed
            raise _BudgetSpent
        optimizer.zero_grad(set_to_none=True)
        loss = squared_error(model(x), y)
        loss.backward()
        evals += 1
        return loss

    model.eval()
    best_db = field_error_db(model, target, x_val)
    best_state, best_at = copy.deepcopy(model.state_dict()), 0
    history: dict[str, list[float]] = {"step": [0], "train_loss": [math.nan], "val_db": [best_db]}
    bar = tqdm(total=max_fun, disable=not verbose, desc=f"L-BFGS {target.name}", leave=False)
    model.train()
    while evals < max_fun:
        before = evals
        optimizer.param_groups[0]["max_eval"] = min(validation_interval, max_fun - evals)
        try:
            loss = float(optimizer.step(closure).detach())
        except _BudgetSpent:
            break  # the weights are at a line-search trial point; the best ones are restored
        model.eval()
        val_db = field_error_db(model, target, x_val)
        model.train()
        history["step"].append(evals)
        history["train_loss"].append(loss)
        history["val_db"].append(val_db)
        bar.update(evals - before)
        bar.set_postfix(loss=f"{loss:.2e}", val_db=f"{val_db:.2f}")
        if val_db < best_db:  # NaN compares false; -inf (an exact fit) is kept
            best_db, best_at = val_db, evals
            best_state = copy.deepcopy(model.state_dict())
        if evals == before or not math.isfinite(loss):
            break  # the line search made no progress (converged or stuck)
    bar.close()
    model.load_state_dict(best_state)
    return evals, best_at, best_db, history


def select_lr(
    make_model: Callable[[], nn.Module],
    target: Target,
    lrs: Sequence[float] = (1e-2, 1e-3, 1e-4),
    *,
    random_state: int | torch.Generator | None = 0,
    verbose: bool = False,
    **fit_kwargs: object,
) -> FieldLRSelection:
    r"""Fit one model per learning rate and keep the best on the validation set.

    Every candidate starts from the same initialisation (``make_model()`` called under
    ``torch.manual_seed(seed)`` inside :func:`torch.random.fork_rng`, so the global generator is
    left as it was) and sees the same data (:func:`fit_field` with ``random_state=seed``), hence
    the same validation set: only the learning rate differs. The test set is never looked at.

    Args:
        make_model: builds a fresh model.
        target: the true field.
        lrs: candidate learning rates.
        random_state: the ``seed`` of the initialisation and of the data: an int, or a
            ``torch.Generator`` (one draw of it gives the seed), or ``None`` (a fresh seed).
        verbose: progress bars.
        **fit_kwargs: passed to :func:`fit_field` (``max_iter``, ``batch_size``, ``schedule``,
            ``n_train``, ``x_val``, ``callback``, ...).

    Returns:
        A :class:`FieldLRSelection`; ``.best.model`` is the selected fitted model (a NaN
        validation error ranks last).

    Example:
        >>> from ot_gradnets.core.fields import PolyMax
        >>> res = select_lr(lambda: nn.Linear(2, 2), PolyMax(2), lrs=[1e-1, 1e-4],
        ...                 max_iter=30, n_val=100)
        >>> res.best_lr
        0.1
    """
    if len(lrs) == 0:
        raise ValueError("lrs is empty: give at least one learning rate.")
    if "lr" in fit_kwargs:
        raise ValueError("lr is set by select_lr; do not pass it.")
    seed = make_seed(random_state)
    results = []
    for lr in lrs:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = make_model()
        results.append(
            fit_field(model, target, lr=lr, random_state=seed, verbose=verbose, **fit_kwargs)
        )
    best = min(results, key=lambda r: math.inf if math.isnan(r.val_db) else r.val_db)
    return FieldLRSelection(best=best, results=results)


def fit_affine(
    target: Target,
    n_samples: int = 50_000,
    random_state: int | torch.Generator | None = None,
    symmetric: bool = True,
) -> nn.Linear:
    r"""Least-squares affine field :math:`N(x) = Sx + b`, a closed-form reference.

    Solves :math:`\min_{B, b}\sum_i\|B x_i + b - \nabla F(x_i)\|^2` on ``n_samples`` uniform
    points (normal equations in float64) and, with ``symmetric=True``, replaces :math:`B` by
    :math:`S = (B + B^T)/2`, so that :math:`N` is the gradient of the quadratic
    :math:`\tfrac12 x^T S x + b\cdot x`. Any model worth training should beat it.

    Args:
        target: the true field.
        n_samples: points of the fit.
        random_state: source of the points: a ``torch.Generator`` (drawn from on its own
            device), an int (``torch.Generator().manual_seed(random_state)``) or ``None``
            (torch's global generator on the target's device).
        symmetric: symmetrise :math:`B` (a gradient field) or keep the unconstrained fit.

    Returns:
        An ``nn.Linear(dim, dim)`` holding :math:`S` (or :math:`B`) and :math:`b`, in the target's
        dtype.

    Example:
        >>> from ot_gradnets.core.fields import PolyMax, field_error_db
        >>> t = PolyMax(8)
        >>> lin = fit_affine(t, 2000, random_state=0)
        >>> field_error_db(lin, t, t.sample(1000, torch.Generator().manual_seed(1))) < -5
        True
    """
    n = check_positive_int(n_samples, "n_samples")
    generator = random_state
    if random_state is not None and not isinstance(random_state, torch.Generator):
        generator = make_generator(random_state)
    d = target.dim
    gram = torch.zeros(d + 1, d + 1, dtype=torch.float64)
    cross = torch.zeros(d + 1, d, dtype=torch.float64)
    done = 0
    while done < n:
        m = min(8192, n - done)
        xs = target.sample(m, generator=generator)  # on the generator's or the target's device
        with torch.no_grad():
            y = target(xs).to("cpu", torch.float64)
        x = xs.to("cpu", torch.float64)  # the normal equations are accumulated on the CPU
        xa = torch.cat([x, torch.ones(m, 1, dtype=torch.float64)], dim=1)
        gram += xa.T @ xa
        cross += xa.T @ y
        done += m
    coef = torch.linalg.solve(gram + 1e-10 * torch.eye(d + 1, dtype=torch.float64), cross)
    weight, bias = coef[:d].T, coef[d]  # y = weight @ x + bias
    if symmetric:
        weight = 0.5 * (weight + weight.T)
    ref = target._ref()
    lin = nn.Linear(d, d, dtype=ref.dtype, device=ref.device)
    with torch.no_grad():
        lin.weight.copy_(weight)
        lin.bias.copy_(bias)
    return lin

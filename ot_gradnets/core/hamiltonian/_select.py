r"""Choosing the learning rate of a learned vector field by short probes on held-out
trajectories: :func:`select_lr`, which trains its candidates in lockstep with
:func:`~ot_gradnets.core.hamiltonian.fit_dynamics_models`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ot_gradnets._validation import check_nonnegative_float, check_positive_int, make_seed

from ._data import HamiltonianDataset, split_validation
from ._train import DynamicsFitResult, fit_dynamics_models

__all__ = ["DynamicsLRSelection", "select_lr"]


@dataclass
class DynamicsLRSelection:
    r"""What :func:`select_lr` measured (the analogue of
    :class:`~ot_gradnets.core.fields.FieldLRSelection` for data that are a fixed set of
    trajectories).

    Attributes:
        lr: the selected learning rate.
        lrs: the candidates, in the order given.
        val_db: validation score of each candidate (dB, summed over coordinates; ``inf`` if the
            probe diverged or scored NaN, ``-inf`` if it fits the validation data exactly),
            lower is better.
        max_iter: steps of each probe (the setting :func:`select_lr` was given).
        wall_time: training wall-clock seconds of all probes together (evaluation excluded).
        cpu_time: the same in CPU seconds.
        results: candidate learning rate -> the probe's :class:`DynamicsFitResult` (its ``test_*``
            fields hold the *validation* curve).
    """

    lr: float
    lrs: list[float]
    val_db: list[float]
    max_iter: int
    wall_time: float
    cpu_time: float
    results: dict[float, DynamicsFitResult] = field(default_factory=dict)


def select_lr(
    make_model: Callable[[], nn.Module],
    data: HamiltonianDataset,
    lrs: Sequence[float] = (1e-3, 3e-3, 1e-2),
    max_iter: int = 1000,
    batch_size: int = 200,
    validation_interval: int = 100,
    validation_fraction: float = 0.2,
    random_state: int | torch.Generator | None = 0,
    verbose: bool = False,
    schedule: str = "constant",
) -> DynamicsLRSelection:
    r"""Pick Adam's learning rate by short probes scored on held-out *training* trajectories.

    The training trajectories of ``data`` are split by trajectory (:func:`split_validation`,
    seeded by ``seed``, the seed of ``random_state``); every candidate trains a fresh model, built by ``make_model()`` under
    ``torch.manual_seed(seed)`` (so all candidates start from the same weights, and the global
    generator is restored afterwards), for ``max_iter`` steps on the same minibatches of the kept
    trajectories, in lockstep (:func:`fit_dynamics_models`). A candidate's score is its validation error
    averaged over the evaluations in the last quarter of the probe,

    .. math::
        \operatorname{score}(\eta) = \operatorname{mean}_{k \ge 3K/4}
        \mathrm{dB}_{\text{val}}(\eta, k),

    which smooths the step-to-step oscillation of a constant-rate Adam; the lowest score wins.
    ``data``'s test split is never read. The selected rate is meant for a final model trained
    from scratch on the full training split, as :func:`ot_gradnets.bench.hamiltonian.run_benchmark`
    does. (:func:`ot_gradnets.core.fields.select_lr` is the analogue for targets that can be
    sampled anywhere; here the data are a fixed set of trajectories.)

    Args:
        make_model: builds a fresh model (``(B, dim)`` states to ``(B, dim)`` derivatives).
        data: the dataset; only its ``train_*`` fields are used.
        lrs: candidate learning rates.
        max_iter: steps of each probe.
        batch_size: pairs per step.
        validation_interval: validation interval in steps.
        validation_fraction: fraction of the training trajectories held out for validation.
        random_state: the ``seed`` of the split, the initialisation and the minibatches
            (``random_state=seed`` of :func:`fit_dynamics_models`): an int, or a
            ``torch.Generator`` (one draw of it gives the seed), or ``None`` (a fresh seed).
        verbose: progress bar.
        schedule: the probes' learning-rate schedule (over their ``max_iter`` steps), normally
            the final model's.

    Returns:
        A :class:`DynamicsLRSelection`.

    Example:
        >>> from ot_gradnets.core import GradNetM
        >>> from ot_gradnets.core.hamiltonian import HamiltonianField, make_dataset
        >>> data = make_dataset("mass-spring", n_trajectories=10, n_points=10, noise_std=0.0)
        >>> sel = select_lr(lambda: HamiltonianField(GradNetM(2, width=8, num_modules=2)), data,
        ...                 lrs=[1e-5, 1e-2], max_iter=40, validation_interval=10)
        >>> sel.lr
        0.01
    """
    grid = [check_nonnegative_float(lr, "lrs") for lr in lrs]
    if not grid:
        raise ValueError("lrs is empty: give at least one learning rate.")
    if len(set(grid)) != len(grid):
        raise ValueError(f"lrs must not repeat a value, got {list(lrs)!r}.")
    max_iter = check_positive_int(max_iter, "max_iter")
    seed = make_seed(random_state)
    split = split_validation(data, validation_fraction, seed=seed)
    models = {}
    for lr in grid:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            models[repr(lr)] = make_model()
    fits = fit_dynamics_models(
        models,
        split.train_states,
        split.train_derivatives,
        split.test_states,
        split.test_derivatives,
        max_iter=max_iter,
        batch_size=batch_size,
        lr={repr(lr): lr for lr in grid},
        validation_interval=validation_interval,
        random_state=seed,
        verbose=verbose,
        schedule=schedule,
    )
    scores = []
    for lr in grid:
        res = fits[repr(lr)]
        tail = [db for s, db in zip(res.steps, res.test_db, strict=True) if 4 * s >= 3 * max_iter]
        score = sum(tail) / len(tail) if tail and res.stop_reason != "diverged" else math.inf
        scores.append(math.inf if math.isnan(score) else score)  # -inf: an exact fit
    best = min(range(len(grid)), key=lambda i: scores[i])
    return DynamicsLRSelection(
        lr=grid[best],
        lrs=grid,
        val_db=scores,
        max_iter=max_iter,
        wall_time=sum(f.wall_time[-1] for f in fits.values()),
        cpu_time=sum(f.cpu_time[-1] for f in fits.values()),
        results={lr: fits[repr(lr)] for lr in grid},
    )

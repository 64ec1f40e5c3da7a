"""The points a :func:`~ot_gradnets.core.fields.fit_field` run trains and validates on, and its
checkpoints.

:class:`FieldData` draws the validation set, the training set and every training batch from
one generator in a fixed order, so that the same generator state gives the same run;
:func:`attach_checkpoint` saves and restores that state with the training loop's.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from ot_gradnets._distributed import world
from ot_gradnets._validation import as_samples, check_positive_int
from ot_gradnets.core._training import (
    TrainingLoop,
    read_training_checkpoint,
    write_training_checkpoint,
)
from ot_gradnets.core.fields._targets import Target

__all__ = ["FieldData", "attach_checkpoint"]


class FieldData:
    """The points a :func:`~ot_gradnets.core.fields.fit_field` run trains on and validates on.

    Every draw comes from one generator, in a fixed order (validation set, training set, then
    the batches), so that the same generator state gives the same run. Training batches are
    either fresh uniform draws (no fixed training set) or slices of a fixed set, reshuffled at
    the start of every epoch; ``perm`` is the current epoch's order, saved in checkpoints.

    In a process group of :math:`N` ranks each step's global batch is :math:`N` times
    ``batch_size`` (drawn, or sliced from the permutation, identically on every rank) and each
    rank trains on its part.
    """

    def __init__(
        self,
        target: Target,
        generator: torch.Generator,
        dtype: torch.dtype,
        device: torch.device,
        batch_size: int,
    ) -> None:
        self.target, self.generator = target, generator
        self.dtype, self.device, self.gen_device = dtype, device, generator.device
        self.batch_size = batch_size
        self.rank, self.world = world()
        self.n_train: int | None = None
        self.x_train: Tensor | None = None
        self.y_train: Tensor | None = None
        self.steps_per_epoch = 0
        self.perm: Tensor | None = None

    def draw(self, n: int) -> Tensor:
        """``n`` uniform points of the target's domain, on the generator's device, then moved
        to the model's."""
        return self.target.sample(
            n, generator=self.generator, dtype=self.dtype, device=self.gen_device
        ).to(self.device)

    def validation_set(self, n_val: int, x_val: Tensor | None) -> Tensor:
        """``x_val`` checked, or ``n_val`` points drawn."""
        if x_val is None:
            return self.draw(check_positive_int(n_val, "n_val"))
        dim = self.target.dim
        return as_samples(x_val, "x_val", dim=dim, dtype=self.dtype, device=self.device)

    def training_set(self, n_train: int | None, x_train: Tensor | None) -> None:
        """Fix the training set: ``x_train`` checked, or ``n_train`` points drawn (neither:
        fresh batches every step); its targets are computed once."""
        if x_train is not None:
            dim = self.target.dim
            x_train = as_samples(x_train, "x_train", dim=dim, dtype=self.dtype, device=self.device)
            n_train = x_train.shape[0]
        elif n_train is not None:
            n_train = check_positive_int(n_train, "n_train")
            x_train = self.draw(n_train)
        if n_train is not None:
            assert x_train is not None
            with torch.no_grad():
                self.y_train = self.target(x_train)
            self.steps_per_epoch = max(1, math.ceil(n_train / (self.batch_size * self.world)))
        self.n_train, self.x_train = n_train, x_train

    def eval_interval(self, validation_interval: int | None, max_iter: int) -> int:
        """``validation_interval``, or by default one epoch (fixed training set) or the whole
        run (``max_iter`` steps)."""
        if self.n_train is None:
            every = max_iter if validation_interval is None else (validation_interval or max_iter)
        else:
            every = validation_interval or self.steps_per_epoch
        return check_positive_int(every, "validation_interval")

    def batch(self, step: int) -> tuple[Tensor, Tensor]:
        """The points and target values of training step ``step``."""
        if self.n_train is None:
            xb = self.draw(self.batch_size * self.world).tensor_split(self.world)[self.rank]
            with torch.no_grad():
                yb = self.target(xb)
            return xb, yb
        pos = step % self.steps_per_epoch
        if pos == 0:
            self.perm = torch.randperm(
                self.n_train, generator=self.generator, device=self.gen_device
            ).to(self.device)
        assert self.perm is not None and self.x_train is not None and self.y_train is not None
        size = self.batch_size * self.world
        idx = self.perm[pos * size : (pos + 1) * size].tensor_split(self.world)[self.rank]
        return self.x_train[idx], self.y_train[idx]


def attach_checkpoint(
    loop: TrainingLoop,
    path: str | Path,
    every: int,
    resume: bool,
    fingerprint: dict[str, str],
    history: dict[str, list[float]],
    data: FieldData,
) -> None:
    """Make ``loop`` write the run's state to ``path`` every ``every`` steps (the loop's, the
    history, the generator's and the epoch order), and with ``resume`` restore it from there."""

    def save(lp: TrainingLoop) -> None:
        state = {"fingerprint": fingerprint, "loop": lp.state_dict(), "history": history}
        state |= {"generator": data.generator.get_state(), "perm": data.perm}
        write_training_checkpoint(path, "fit_field", state)

    loop.checkpoint, loop.checkpoint_every = save, every
    if resume and Path(path).exists():
        state = read_training_checkpoint(path, "fit_field", fingerprint)
        loop.load_state_dict(state["loop"])
        data.generator.set_state(state["generator"])
        data.perm = state["perm"]
        for key, values in state["history"].items():
            history[key][:] = values

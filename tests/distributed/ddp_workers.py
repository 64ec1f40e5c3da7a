"""Worker functions of the data-parallel tests, importable by the processes they spawn (the
tests put this folder on ``sys.path``)."""

from __future__ import annotations

import sys

import numpy as np
import torch


def data() -> tuple[torch.Tensor, torch.Tensor]:
    """The same float64 samples in every process."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 3))
    y = 0.5 * rng.normal(size=(2500, 3)) ** 3 + 1.0
    return torch.tensor(x), torch.tensor(y)


def fit(loss: str, batch_size: int, steps: int) -> dict:
    """Fit BrenierMap on :func:`data` (inside a process group: data-parallel); its images of the
    first 300 source points and its loss history."""
    from ot_gradnets.transport import BrenierMap

    x, y = data()
    tmap = BrenierMap(loss=loss, batch_size=batch_size, max_iter=steps, random_state=0).fit(x, y)
    return {"images": torch.as_tensor(tmap.transform(x[:300])), "loss": tmap.history_["loss"]}


def fit_field_weights(batch_size: int) -> list[torch.Tensor]:
    """Gradient-field regression (fixed training set, best-validation weights): the weights."""
    from ot_gradnets.core import MGradNetC
    from ot_gradnets.core.fields import PolyMax, fit_field

    torch.manual_seed(0)
    net = MGradNetC(2, width=8, depth=3).double()
    fit_field(net, PolyMax(2), max_iter=60, lr=1e-2, n_train=400, batch_size=batch_size,
              n_val=100, keep_best=True, validation_interval=20,
              random_state=0)  # fmt: skip
    return [p.detach().clone() for p in net.parameters()]


def fit_dynamics_weights(batch_size: int) -> list[torch.Tensor]:
    """Hamiltonian regression (HNN's protocol) of a GradNet-M: the weights."""
    from ot_gradnets.core import GradNetM
    from ot_gradnets.core.hamiltonian import HamiltonianField, fit_dynamics, make_dataset

    data = make_dataset("mass-spring", n_trajectories=10, n_points=20, noise_std=0.0)
    torch.manual_seed(0)
    model = HamiltonianField(GradNetM(2, width=16, num_modules=2)).double()
    s, ds = data.train_states.double(), data.train_derivatives.double()
    fit_dynamics(model, s, ds, max_iter=60, batch_size=batch_size, lr=1e-2, validation_interval=60,
                 random_state=0)  # fmt: skip
    return [p.detach().clone() for p in model.parameters()]


def run_rank(rank: int, world: int, store: str, job: str, args: tuple, out: str) -> None:
    """One rank of a ``gloo`` group of ``world`` processes running ``job(*args)`` (a function of
    this module); each rank saves what it returns to ``out.<rank>``."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        torch.save(globals()[job](*args), f"{out}.{rank}")
    finally:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":  # a torchrun entry point: the CLI, with rank 1 given a missing file
    import os

    from ot_gradnets.cli import main

    argv = sys.argv[1:]
    if os.environ.get("RANK") == "1":
        argv[1] = argv[1] + ".missing"
    raise SystemExit(main(argv))

"""Why two-body rollouts escape: the directions the data never visit (#16).

HNN's two-body orbits all lie on the 4-D subspace ``q2 = -q1, p2 = -p1`` of the 8-D phase space
(centre of mass at rest at the origin). Nothing in the data constrains a learned energy off that
subspace, and a rollout that leaves it meets an energy the data never shaped. This script trains,
in lockstep on the same batches (seed 0, HNN protocol, 10,000 steps of 200), three models of
about 42,200 parameters:

- ``radial, span``: GradNet-M plus a quadratic, ``inverse-multiquadric`` modules of width 4,
  ``init_from_data`` (each module centred on a training state, its rows inside the span of the
  states), cosine rate 1e-2 (the rate ``bench hamiltonian``'s validation probes choose);
- ``radial, all directions``: the same with the rows' random directions left in all 8
  dimensions (the same centres, lengths and weights);
- ``hnn``: HNN at its published constant 1e-3.

and rolls each out from 16 test states over 10x the training window (implicit midpoint, step
0.05, float64), as ``bench hamiltonian`` does. Per model it prints the test dB, the mean and the
count of trajectories whose maximum relative energy drift exceeds 0.1, and, per trajectory,
the first time it leaves the subspace (``|q1 + q2| > 0.05``) and the first time its drift
exceeds 0.05; writes ``hamiltonian_two_body_drift.csv`` next to this file.

    OMP_NUM_THREADS=1 python benchmarks/hamiltonian_two_body_drift.py
"""

from __future__ import annotations

import copy
import csv
import math
import time
from pathlib import Path

import torch

from ot_gradnets.core.hamiltonian import (
    fit_dynamics_models,
    make_dataset,
    make_hamiltonian_model,
    relative_energy_drift,
    rollout,
)

BUDGET = 42_200
RADIAL = {"activation": "inverse-multiquadric", "width": 4, "grow": "num_modules"}


def radial_model(states: torch.Tensor, span: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    model = make_hamiltonian_model("gradnet-m+quadratic", 8, budget=BUDGET, **RADIAL)
    net = model.net.terms[0]
    directions = net.W.detach().clone()
    net.init_from_data(states, generator=torch.Generator().manual_seed(0))
    if not span:  # the same centres and row lengths, rows pointing anywhere in R^8
        with torch.no_grad():
            x_k = _centres(net, states)
            length = net.W.norm(dim=-1, keepdim=True)
            net.W.copy_(directions / directions.norm(dim=-1, keepdim=True) * length)
            net.b.copy_(-torch.einsum("kwd,kd->kw", net.W, x_k))
    return model


def _centres(net: torch.nn.Module, states: torch.Tensor) -> torch.Tensor:
    """The training state each module is centred on (where its pre-activation vanishes)."""
    z = net._preactivation(states).detach().norm(dim=-1)  # (n, M)
    return states[z.argmin(0)]


def first_time(mask: torch.Tensor, t: torch.Tensor) -> list[float]:
    return [float(t[row.nonzero()[0]]) if bool(row.any()) else math.inf for row in mask]


def main() -> None:
    torch.set_num_threads(1)
    data = make_dataset("two-body", seed=0)
    models = {"radial, span": radial_model(data.train_states, span=True),
              "radial, all directions": radial_model(data.train_states, span=False)}  # fmt: skip
    torch.manual_seed(0)
    hnn = make_hamiltonian_model("hnn", 8, width=200, depth=2)
    for module in hnn.modules():
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.orthogonal_(module.weight)
    models["hnn"] = hnn
    tic = time.perf_counter()
    fits = fit_dynamics_models(
        models, data.train_states, data.train_derivatives, data.test_states,
        data.test_derivatives, max_iter=10_000, batch_size=200, validation_interval=1000,
        lr={"radial, span": 1e-2, "radial, all directions": 1e-2, "hnn": 1e-3},
        schedule={"radial, span": "cosine", "radial, all directions": "cosine", "hnn": "constant"},
        random_state=0,
    )  # fmt: skip
    s0 = data.test_trajectories[:16, 0].double()
    t = torch.linspace(0.0, 200.0, 201, dtype=torch.float64)
    rows = []
    for name, model in models.items():
        m64 = copy.deepcopy(model).double().eval().requires_grad_(False)
        with torch.no_grad():
            pred = rollout(m64, s0, t, method="implicit-midpoint", step_size=0.05)
        drift = relative_energy_drift(data.system.hamiltonian, pred)  # (16, 201)
        worst = drift.max(dim=1).values
        asym = (pred[..., 0:2] + pred[..., 2:4]).norm(dim=-1)
        leave, escape = first_time(asym > 0.05, t), first_time(drift > 0.05, t)
        rows.append({"model": name, "test_db": fits[name].final_db,
                     "drift_max_mean": float(worst.mean()), "drift_max_median": float(worst.median()),
                     "n_drift_over_0.1": int((worst > 0.1).sum()),
                     "n_left_subspace": sum(math.isfinite(v) for v in leave),
                     "leave_times": " ".join(f"{v:g}" for v in leave),
                     "drift_times": " ".join(f"{v:g}" for v in escape)})  # fmt: skip
        r = rows[-1]
        print(f"{name}: {r['test_db']:.2f} dB, max drift mean {r['drift_max_mean']:.3g} "
              f"(median {r['drift_max_median']:.3g}), {r['n_drift_over_0.1']}/16 above 0.1, "
              f"{r['n_left_subspace']}/16 left the subspace", flush=True)  # fmt: skip
        print(f"  first |q1 + q2| > 0.05: {r['leave_times']}\n  first drift > 0.05: "
              f"{r['drift_times']}", flush=True)  # fmt: skip
    out = Path(__file__).with_name("hamiltonian_two_body_drift.csv")
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {out} ({time.perf_counter() - tic:.0f} s)")


if __name__ == "__main__":
    main()

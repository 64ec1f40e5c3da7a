"""
Learning Hamiltonian dynamics with a gradient network
=====================================================

A gradient network :math:`N = \\nabla F` turns into an *exactly* Hamiltonian vector field with one
fixed matrix: :math:`\\dot s = J N(s)` with :math:`J = [[0, I], [-I, 0]]`, and the learned energy
is the network's potential, :math:`H = F`. No double backpropagation is needed, unlike the
Hamiltonian Neural Network (HNN) whose field is the autograd gradient of an MLP.

This script learns the pendulum :math:`H = 3(1 - \\cos q) + p^2` from (state, time-derivative)
pairs, compares it with HNN at the same parameter count, and rolls both out with the symplectic
implicit-midpoint rule. It runs in seconds on a CPU; pass ``--steps 3000`` for a sharper fit.
"""

# %%
import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from ot_gradnets.core.hamiltonian import (
    derivative_error_db,
    fit_dynamics_models,
    make_dataset,
    make_hamiltonian_model,
    predict_field,
    relative_energy_drift,
    rollout,
    select_lr,
)

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=300, help="training steps (300: seconds)")
parser.add_argument("--out", default="hamiltonian_tutorial.png")
args, _ = parser.parse_known_args()
torch.manual_seed(0)

# %%
# Data: the HNN pendulum protocol (trajectories on t in [0, 3] from ``solve_ivp`` at rtol 1e-10),
# here without the input noise so the error is not pinned at a noise floor. The states are in
# the canonical (q, p) order; the targets are ds/dt.
data = make_dataset("pendulum", n_trajectories=30, noise_std=0.0, seed=0)
system = data.system
print("train pairs:", tuple(data.train_states.shape), "test pairs:", tuple(data.test_states.shape))

# %%
# Models at equal parameter count: HNN (an MLP potential, field by autograd) sets the budget,
# and GradNet-M gets the same number of parameters.
hnn = make_hamiltonian_model("hnn", 2, width=32, depth=2)
budget = sum(p.numel() for p in hnn.parameters())
gradnet = make_hamiltonian_model("gradnet-m", 2, budget=budget, num_modules=4)
models = {"HNN": hnn, "GradNet-M": gradnet}
print({k: sum(p.numel() for p in m.parameters()) for k, m in models.items()})

# %%
# Learning rates: HNN keeps its published 1e-3. GradNet-M's is chosen by short probes scored on
# whole trajectories held out of the *training* split (``select_lr``); the test split is used only
# for the numbers printed below.
sel = select_lr(
    lambda: make_hamiltonian_model("gradnet-m", 2, budget=budget, num_modules=4),
    data,
    lrs=(1e-3, 3e-3, 1e-2),
    max_iter=max(args.steps // 3, 20),
    validation_interval=max(args.steps // 30, 1),
)
print("GradNet-M lr:", sel.lr, "validation dB:", [round(db, 1) for db in sel.val_db])

# %%
# Train both in lockstep on the same minibatches (HNN's loss: per-coordinate MSE).
fits = fit_dynamics_models(
    models,
    data.train_states,
    data.train_derivatives,
    data.test_states,
    data.test_derivatives,
    max_iter=args.steps,
    lr={"HNN": 1e-3, "GradNet-M": sel.lr},
    validation_interval=max(args.steps // 10, 1),
    random_state=0,
)
for name, res in fits.items():
    print(
        f"{name}: test error {res.final_db:.1f} dB (summed over q and p), "
        f"{1e3 * res.step_time:.2f} ms/step"
    )

# %%
# The learned field is exactly J times the gradient of the learned energy.
s = data.test_states[:5].clone().requires_grad_(True)
(grad_h,) = torch.autograd.grad(gradnet.hamiltonian(s).sum(), s)
print(
    "max |J grad H - field|:",
    float((torch.cat([grad_h[:, 1:], -grad_h[:, :1]], 1) - gradnet(s)).detach().abs().max()),
)

# %%
# Roll out from test states for 3x the training window with the symplectic implicit midpoint rule
# and look at the true energy along the predicted trajectories.
s0 = data.test_trajectories[:4, 0].double()
t = torch.linspace(0, 9, 181, dtype=torch.float64)
truth = system.trajectories(s0, t)
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
grid = torch.stack(
    torch.meshgrid(torch.linspace(-2.5, 2.5, 17), torch.linspace(-2.5, 2.5, 17), indexing="xy"), -1
).reshape(-1, 2)
true_field = system.time_derivative(grid.double()).float()
axes[0].quiver(
    grid[:, 0], grid[:, 1], true_field[:, 0], true_field[:, 1], color="k", alpha=0.6, label="true"
)
for name, model in models.items():
    m64 = model.double()
    pred = rollout(m64, s0, t, method="implicit-midpoint", step_size=0.05)
    drift = relative_energy_drift(system.hamiltonian, pred).mean(0)
    axes[1].plot(pred[0, :, 0], pred[0, :, 1], label=name)
    axes[2].semilogy(t[1:], drift[1:], label=name)
    learned = predict_field(model.float(), grid)
    axes[0].quiver(
        grid[:, 0],
        grid[:, 1],
        learned[:, 0],
        learned[:, 1],
        alpha=0.5,
        color="tab:blue" if name == "HNN" else "tab:orange",
        label=name,
    )
    print(f"{name}: field error on the grid {derivative_error_db(learned, true_field):.1f} dB")
axes[1].plot(truth[0, :, 0], truth[0, :, 1], "k--", label="truth")
axes[0].set(title="vector fields", xlabel="q", ylabel="p")
axes[1].set(title="one rollout (3x training window)", xlabel="q", ylabel="p")
axes[2].set(title="relative drift of the true energy", xlabel="t")
for ax in axes:
    ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(args.out, dpi=100)
print("saved", args.out)

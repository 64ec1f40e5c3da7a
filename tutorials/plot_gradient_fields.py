"""
Fitting a gradient field and reading the error in dB
====================================================

A gradient network :math:`N` is the gradient of a scalar potential by construction, so it can
learn a *gradient field* :math:`\\nabla F` from samples :math:`(x_i, \\nabla F(x_i))` and hand back
the potential for free. This script fits the GradNet paper's 2-D convex polynomial

.. math::  F(x) = x_1^4 + x_1^2/2 + x_1 x_2/2 + 3x_2^2/2 - x_2^3/3 \\quad\\text{on } [0, 1]^2

with a 100-parameter monotone cascaded network (mGradNet-C) and an MLP-potential baseline at the
same budget, then reads the error the way the paper does:

.. math::  \\mathrm{dB} = 10\\log_{10}\\frac1n\\sum_i \\|N(x_i) - \\nabla F(x_i)\\|_2^2,

summed over the output coordinates and averaged over points (``torch.nn.MSELoss`` averages over
coordinates too, so it reads :math:`10\\log_{10} d` dB lower). It runs in seconds on a CPU; pass
``--steps 20000`` for the paper's budget (200 epochs of 100,000 points at batch 1000).
"""

# %%
import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from ot_gradnets.core import MGradNetC, count_parameters, model_for_budget
from ot_gradnets.core.fields import (
    error_db,
    error_map,
    field_error_db,
    fit_field,
    make_target,
    refine_lbfgs,
)

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=400, help="training steps (400: seconds)")
parser.add_argument("--lbfgs-evals", type=int, default=200, help="L-BFGS evaluations")
parser.add_argument("--out", default="gradient_fields_tutorial.png")
args, _ = parser.parse_known_args()

# %%
# The target knows its gradient, its potential, its domain and how to sample it. Randomness
# always comes from a ``torch.Generator``: the same seed gives the same run.
target = make_target("convex-2d")
print(target, "domain:", target.domain)
x = target.sample(4, generator=torch.Generator().manual_seed(0))
print("grad F at 4 points:\n", target(x))

# %%
# Two models with (at most) 100 parameters: the paper's mGradNet-C (depth 4, width 7, tanh) and
# an MLP potential whose gradient comes from autograd, sized by ``model_for_budget``.
torch.manual_seed(0)
models = {
    "mgradnet-c": MGradNetC(2, width=7, depth=4, activation="tanh"),
    "potential-mlp": model_for_budget("potential-mlp", 2, 100),
}
for name, net in models.items():
    print(f"{name}: {count_parameters(net)} parameters")

# %%
# Fit with the 2-D protocol, scaled down: a fixed training set, reshuffled epochs, and the
# checkpoint with the best *validation* error kept. The test set (the 100 x 100 grid) is only
# looked at after training.
steps = args.steps
results = {}
for name, net in models.items():
    results[name] = fit_field(
        net,
        target,
        n_train=min(100_000, 50 * steps),  # the paper's 100,000 at its budget
        n_val=10_000,
        batch_size=1000,
        max_iter=steps,
        lr=5e-3,
        keep_best=True,
        validation_interval=50,
        random_state=0,
    )
    print(
        f"{name}: best validation {results[name].val_db:.1f} dB at step "
        f"{results[name].best_step} ({results[name].wall_time_s:.1f} s)"
    )

# %%
# A 100-parameter network fitted by Adam stops at Adam's noise floor. A few hundred full-batch
# L-BFGS evaluations on a fixed subset of the training points (``refine_lbfgs``, the second
# stage of the benchmark's ``ours`` recipe) polish it further; the best *validation* weights are
# kept, so it never ends worse than it started.
g = torch.Generator().manual_seed(0)
x_val, x_fit = target.sample(10_000, generator=g), target.sample(10_000, generator=g)
for name, net in models.items():
    polish = refine_lbfgs(net, target, x_fit, max_fun=args.lbfgs_evals, x_val=x_val)
    print(
        f"{name}: validation {results[name].val_db:.1f} dB after Adam, {polish.val_db:.1f} dB "
        f"after {polish.n_steps} L-BFGS evaluations ({polish.wall_time_s:.1f} s)"
    )

# %%
# Test on the grid. ``field_error_db`` is the paper's dB; the same number from raw tensors with
# ``error_db``, and the MSELoss relation, for the first model:
grid = target.grid(100)
for name, net in models.items():
    print(f"{name}: test {field_error_db(net, target, grid):.1f} dB on the 100 x 100 grid")
with torch.no_grad():
    pred, true = models["mgradnet-c"](grid), target(grid)
mse = torch.nn.MSELoss()(pred, true).item()
print(
    f"error_db = {error_db(pred, true):.2f} dB; 10 log10(MSELoss) + 10 log10(2) = "
    f"{10 * torch.log10(torch.tensor(mse)).item() + 10 * torch.log10(torch.tensor(2.0)).item():.2f} dB"
)

# %%
# Where is the error? The paper's heat maps show ``|N(x) - grad F(x)|`` on the grid; the learned
# potential comes for free (up to a constant) from ``net.potential``.
fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
for ax, (name, net) in zip(axes[:2], models.items(), strict=False):
    err = error_map(net, target, grid).reshape(100, 100)
    im = ax.imshow(err.numpy(), origin="lower", extent=(0, 1, 0, 1))
    ax.set_title(f"{name}: |N(x) - grad F(x)|", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
with torch.no_grad():
    f_net = models["mgradnet-c"].potential(grid)
    f_true = target.potential(grid)
im = axes[2].imshow(
    (f_net - f_net.mean() - (f_true - f_true.mean())).reshape(100, 100).numpy(),
    origin="lower",
    extent=(0, 1, 0, 1),
    cmap="coolwarm",
)
axes[2].set_title("potential error (centred), mgradnet-c", fontsize=9)
fig.colorbar(im, ax=axes[2], fraction=0.046)
fig.tight_layout()
fig.savefig(args.out, dpi=100)
print("wrote", args.out)

# %%
# The full benchmarks (the paper's 2-D protocol with 5 trials, PolyMax up to d = 1024 with every
# model at the same budget, and our high-dimensional ridge targets) run from the command line:
#
#     ot-gradnets bench fields --suite paper-2d --out out/fields      # add --quick to smoke-test
#     ot-gradnets bench fields --suite polymax --dims 32,256 --recipe paper,ours

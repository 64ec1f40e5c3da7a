"""
Learning an optimal transport map between point clouds
======================================================

A :class:`~ot_gradnets.transport.BrenierMap` learns the optimal transport map between two
samples: a monotone gradient network :math:`T = \\nabla F` (convex :math:`F`) whose pushforward
of the source matches the target. By Brenier's theorem this convex gradient *is* the optimal map
for the cost :math:`|x - y|^2`. This tutorial

1. fits a map between two 2-D point clouds and draws McCann's displacement interpolation,
2. uses what a fitted map offers (inverse, potentials, W2, save/load),
3. measures the error against a known optimal map in 8 dimensions, next to the linear map.

Run ``python tutorials/plot_transport_point_clouds.py`` (seconds on a CPU) or add ``--full`` for
longer fits. Figures go to ``out/tutorials/``.
"""

# %%
# Setup
# -----
import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from ot_gradnets.transport import BrenierMap, gaussian_map, gmm_convex_pair, l2_uvp, sample_demo

parser = argparse.ArgumentParser()
parser.add_argument("--full", action="store_true", help="longer fits (minutes)")
args, _ = parser.parse_known_args()
# steps of training per map: a step budget, not a clock, so the figures do not depend on the
# machine's load (a time_limit= would cap the seconds instead)
steps = 3000 if args.full else 1000
out = Path("out/tutorials")
out.mkdir(parents=True, exist_ok=True)
g = torch.Generator().manual_seed(0)

# %%
# Two point clouds
# ----------------
# A Gaussian source and a "moons" target (both built in, see ``datasets/README.md``). Any
# ``(n, d)`` array or tensor works; float32 trains faster than float64 on a CPU.
x = sample_demo("gaussian", 5000, g).float()
y = sample_demo("moons", 5000, g).float()

# %%
# Fit the map
# -----------
# The defaults are the best recipe we measured: the Kantorovich semi-dual with exact conjugates
# (Newton's method with the network's closed-form Hessian), an mGradNet-M plus a quadratic term
# started at the linear (Gaussian) map. ``max_iter`` caps the steps (3,000 by default).
tmap = BrenierMap(max_iter=steps, random_state=0).fit(x, y)
print(f"fitted in {tmap.fit_time_:.1f} s, {tmap.n_iter_} steps")

# %%
# Displacement interpolation
# --------------------------
# :math:`x_t = (1-t)x + tT(x)` moves the source along the W2 geodesic to the target.
x_new = sample_demo("gaussian", 1500, g).float()
fig, axes = plt.subplots(1, 5, figsize=(12, 2.8))
for ax, t in zip(axes, [0.0, 0.25, 0.5, 0.75, 1.0], strict=True):
    xt = tmap.interpolate(x_new, t)
    ax.scatter(xt[:, 0], xt[:, 1], s=2, c=x_new[:, 0], cmap="viridis")
    ax.set_title(f"t = {t}")
    ax.set_aspect("equal")
    ax.set_xlim(-3.5, 3.5)
    ax.set_ylim(-3.5, 3.5)
fig.tight_layout()
fig.savefig(out / "point_clouds_interpolation.png", dpi=80)

# %%
# What a fitted map offers
# ------------------------
# The inverse map is the gradient of the convex conjugate :math:`F^*`, computed by Newton's
# method; the potentials satisfy the Fenchel-Young equality :math:`F(x) + F^*(T(x)) = \langle
# x, T(x)\rangle`; ``w2`` estimates :math:`W_2^2 = \mathbb{E}|x - T(x)|^2` (cost
# :math:`|x-y|^2`, no half).
ty = tmap.transform(x_new)
back = tmap.inverse_transform(ty)
print(f"max |T^-1(T(x)) - x| = {float((back - x_new).abs().max()):.2e}")
gap = tmap.potential(x_new) + tmap.conjugate_potential(ty) - (x_new * ty).sum(-1)
print(f"Fenchel-Young gap = {float(gap.abs().max()):.2e}")
print(f"W2^2 estimate = {tmap.w2(x_new):.4f}")
tmap.save(out / "point_clouds_map.pt")
same = BrenierMap.load(out / "point_clouds_map.pt").transform(x_new)
print(f"reloaded map agrees: {bool(torch.equal(same, ty))}")

# %%
# Potential
# ---------
# The learned potential is convex: its level sets are convex curves.
grid = torch.linspace(-3, 3, 100)
gx, gy = torch.meshgrid(grid, grid, indexing="xy")
pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
fig, ax = plt.subplots(figsize=(4, 4))
ax.contour(gx, gy, tmap.potential(pts).reshape(100, 100), levels=20)
ax.set_title("potential F (T = grad F)")
ax.set_aspect("equal")
fig.savefig(out / "point_clouds_potential.png", dpi=80)

# %%
# Accuracy against a known optimal map
# ------------------------------------
# ``gmm_convex_pair`` pushes a Gaussian mixture through the gradient of a known convex potential,
# so the optimal map is known and the error is measured by the L2-UVP (percent of the target's
# variance; the constant map at the target mean scores 100). Samplers (callables ``n -> (n, d)``)
# give the estimator fresh data at every step.
pair = gmm_convex_pair(8, generator=torch.Generator().manual_seed(0))
gs = torch.Generator().manual_seed(1)
start = time.perf_counter()
tmap8 = BrenierMap(max_iter=steps, random_state=0).fit(
    lambda n: pair.sample_source(n, generator=gs), lambda n: pair.sample_target(n, generator=gs)
)
x_test = pair.sample_source(10000, generator=gs)
truth = pair.transport(x_test)
y_ref = pair.sample_target(20000, generator=gs)  # for Var(Q), the L2-UVP's denominator
a, b = gaussian_map(pair.sample_source(20000, generator=gs), y_ref)  # the linear (Gaussian) map
uvp = l2_uvp(tmap8.transform(x_test), truth, y_ref)
uvp_linear = l2_uvp(x_test @ a + b, truth, y_ref)
elapsed = time.perf_counter() - start
print(f"d=8: BrenierMap L2-UVP {uvp:.2f}% ({elapsed:.0f} s), linear map {uvp_linear:.2f}%")

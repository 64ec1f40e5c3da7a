"""
Colour transfer with an optimal transport map in RGB space
==========================================================

The colours of an image form a point cloud in :math:`[0, 1]^3`. The optimal transport map from
the colours of one image to those of another moves every colour as little as possible (for the
cost :math:`|x - y|^2`) while matching the whole palette: applied pixel by pixel, it repaints
the first image with the second one's colours. A :class:`~ot_gradnets.transport.BrenierMap`
learns it as the gradient of a convex potential, so the map is smooth (no speckles), monotone
(lighter stays lighter) and invertible: its inverse repaints the second image with the first
one's colours.

We use the two sample images that scikit-learn ships (``china.jpg`` and ``flower.jpg``).
Run ``python tutorials/plot_colour_transfer.py`` (seconds on a CPU) or add ``--full`` for more
pixels and a longer fit. Figures go to ``out/tutorials/``.
"""

# %%
# Setup
# -----
import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_sample_image

from ot_gradnets.transport import BrenierMap

parser = argparse.ArgumentParser()
parser.add_argument("--full", action="store_true", help="more pixels, longer fit (a minute)")
args, _ = parser.parse_known_args()
n_pixels = 50_000 if args.full else 5_000
steps = 3000 if args.full else 600  # a step budget: the picture does not depend on the load
out = Path("out/tutorials")
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)

# %%
# Pixels as point clouds
# ----------------------
# Each image becomes an ``(H * W, 3)`` array of RGB values in [0, 1]; a random subset of pixels
# is enough to learn the map, which then applies to every pixel.
china = load_sample_image("china.jpg").astype(np.float32) / 255.0
flower = load_sample_image("flower.jpg").astype(np.float32) / 255.0
china_rgb = china.reshape(-1, 3)
flower_rgb = flower.reshape(-1, 3)
x = china_rgb[rng.choice(len(china_rgb), n_pixels, replace=False)]
y = flower_rgb[rng.choice(len(flower_rgb), n_pixels, replace=False)]

# %%
# Learn the map china -> flower
# -----------------------------
tmap = BrenierMap(max_iter=steps, random_state=0).fit(x, y)
print(f"fitted in {tmap.fit_time_:.1f} s, {tmap.n_iter_} steps; W2^2 = {tmap.w2(x):.4f}")

# %%
# Repaint both images
# -------------------
# ``transform`` gives china in flower's colours; ``inverse_transform`` (Newton's method on the
# convex conjugate) gives flower in china's colours. Clipping keeps the few colours that land
# just outside the cube displayable.
china_as_flower = np.clip(tmap.transform(china_rgb), 0, 1).reshape(china.shape)
flower_as_china = np.clip(tmap.inverse_transform(flower_rgb), 0, 1).reshape(flower.shape)

fig, axes = plt.subplots(2, 2, figsize=(9, 6))
panels = [
    (china, "china.jpg (source)"),
    (china_as_flower, "china with flower's colours: T(x)"),
    (flower, "flower.jpg (target)"),
    (flower_as_china, "flower with china's colours: T^-1(y)"),
]
for ax, (img, title) in zip(axes.ravel(), panels, strict=True):
    ax.imshow(img)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
fig.tight_layout()
fig.savefig(out / "colour_transfer.png", dpi=70)

# %%
# The palettes before and after
# -----------------------------
# Red-green projections of the colour clouds: the mapped china colours cover flower's palette.
# Flower's palette piles up on the cube's faces (red = 0); a short fit (the default, seconds)
# overshoots there, which the clipping above hides; ``--full`` fits closer.
sub = rng.choice(n_pixels, 2000, replace=False)
mapped = tmap.transform(x[sub])
fig, axes = plt.subplots(1, 3, figsize=(10, 3.3), sharex=True, sharey=True)
for ax, (pts, title) in zip(
    axes,
    [(x[sub], "china colours"), (mapped, "mapped colours"), (y[sub], "flower colours")],
    strict=True,
):
    ax.scatter(pts[:, 0], pts[:, 1], s=2, c=np.clip(pts, 0, 1))
    ax.set_title(title)
    ax.set_xlabel("red")
axes[0].set_ylabel("green")
fig.tight_layout()
fig.savefig(out / "colour_transfer_palettes.png", dpi=70)
print(f"wrote {out / 'colour_transfer.png'} and {out / 'colour_transfer_palettes.png'}")

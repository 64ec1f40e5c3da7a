"""Train the frozen potentials of the ``mix3to10`` benchmark pairs (run once; the outputs ship).

For each d in MIX3TO10_DIMS:

1. source P: Korotin et al.'s random mixture of 3 Gaussians (seed 0); two guides G1, G2: their
   mixture of 10 Gaussians (seeds 1 and 2), all with unit average variance per coordinate;
2. for each guide, exact discrete OT (POT's ``ot.emd``) between 8,192 samples of P and 8,192 of
   G_j: a matching x_i -> y_sigma(i) that splits each source component over several clusters;
3. for each guide a dense ICNN psi_j (rank-one quadratic skips into 3 layers, CELU, non-negative
   weights between layers, plus 0.01 |x|^2 / 2) whose gradient is regressed onto the matched
   points (Adam on the closed-form gradient; non-negative weights clamped after every step, as
   Korotin et al. do);
4. the sum, as Korotin et al. sum their v1 and v2 potentials, standardised:
   T = s (grad psi_1 + grad psi_2 - m), so that T#P has mean 0 and unit average variance per
   coordinate (2^14 source samples).

The target of the benchmark is T#P, whatever is left of the guide: T is a convex gradient, so it
is exactly the optimal map to its own pushforward. The weights are saved in float16, rounded
after the standardisation (the pair reads them into float64; the stored numbers are the
definition, and the rounding keeps every non-negative weight non-negative).

    python datasets/mix3to10/make_weights.py            # every dimension, about 20 minutes
    python datasets/mix3to10/make_weights.py --dims 2 8

Prints, per d, the regression's unexplained share and the linear map's L2-UVP (20,000 samples
per side, 16,384 fresh test points).

Variants (measured in benchmarks/RESULTS.md, "Making the pair harder"; their defaults make the
shipped files): ``--sharpness a`` trains with CELU_a in place of CELU (sharper kinks, folded back
into plain-CELU weights, so the pair's format is unchanged), ``--guide-std`` sets the guides'
within-component std, ``--width`` multiplies the hidden sizes.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import ot
import torch

from ot_gradnets.transport import LinearMap, l2_uvp
from ot_gradnets.transport._mix3to10 import (
    MIX3TO10_DIMS,
    DenseICNN,
    Mix3To10Pair,
    korotin_mixture,
)

N_OT = 8192
STEPS = 4000
LR = 3e-3
BATCH = 1024
STD = 0.4
MU = 0.01


@dataclass(frozen=True)
class Recipe:
    """How each network is trained; the defaults made the shipped files."""

    steps: int = STEPS  # regression steps per network
    lr: float = LR  # Adam's rate, cosine decay to 1%
    guide_std: float = STD  # within-component std of the 10-Gaussian guides
    sharpness: float = 1.0  # train with CELU_a, a = sharpness (folded into CELU_1 weights)
    width: float = 1.0  # multiplier of the hidden sizes


def hidden_sizes(dim: int) -> list[int]:
    """Korotin et al.'s [max(2d, 64), max(2d, 64), max(d, 32)], capped at 128 / 128 / 64 so that
    the largest file stays under a megabyte."""
    wide = min(max(2 * dim, 64), 128)
    return [wide, wide, min(max(dim, 32), 64)]


def sample(
    centers: torch.Tensor, maps: torch.Tensor, n: int, gen: torch.Generator, std: float = STD
) -> torch.Tensor:
    # The same draws as Mix3To10Pair's sampler, in the order that made the shipped files (the
    # pair's own per-component products round differently; kept here so reruns are bit-exact).
    k = torch.randint(centers.shape[0], (n,), generator=gen)
    z = torch.randn(n, centers.shape[1], generator=gen, dtype=torch.float64)
    return centers[k] + std * torch.einsum("nij,nj->ni", maps[k], z)


def untrained(dim: int, gen: torch.Generator, width: float = 1.0) -> DenseICNN:
    sizes = [int(width * m) for m in hidden_sizes(dim)]

    def randn(*shape: int, scale: float) -> torch.Tensor:
        return (scale * torch.randn(*shape, generator=gen)).requires_grad_(True)

    def rand(*shape: int) -> torch.Tensor:  # non-negative, averaging the layer below
        return (torch.rand(*shape, generator=gen) / shape[-1]).requires_grad_(True)

    return DenseICNN(
        tuple(randn(m, dim, scale=0.3 / math.sqrt(dim)) for m in sizes),
        tuple(randn(m, dim, scale=1.0 / math.sqrt(dim)) for m in sizes),
        tuple(randn(m, scale=0.1) for m in sizes),
        tuple(rand(m, k) for k, m in zip(sizes[:-1], sizes[1:], strict=True)),
        rand(sizes[-1]),
        MU,
    )


def folded(psi: DenseICNN, sharpness: float) -> DenseICNN:
    """The network ``psi`` with CELU_alpha, alpha = ``sharpness``, written as a CELU_1 network.

    celu_a(t) = a celu(t / a), so dividing every q_l by a (A_l by sqrt a, W_l and b_l by a) and
    multiplying f by a gives the same potential with the plain CELU of :class:`DenseICNN`."""
    if sharpness == 1.0:
        return psi
    r = math.sqrt(sharpness)
    return DenseICNN(
        tuple(a / r for a in psi.quadratic), tuple(w / sharpness for w in psi.linear),
        tuple(b / sharpness for b in psi.bias), psi.convex, psi.final * sharpness,
        psi.strong_convexity,
    )  # fmt: skip


def fit_to_guide(
    dim: int, x: torch.Tensor, guide_seed: int, init_seed: int, recipe: Recipe
) -> DenseICNN:
    """A DenseICNN whose gradient sends the source samples ``x`` onto a 10-Gaussian guide: exact
    discrete OT to as many guide samples, then least squares on the matched points."""
    std, steps, lr, sharpness = recipe.guide_std, recipe.steps, recipe.lr, recipe.sharpness
    guide = korotin_mixture(dim, 10, torch.Generator().manual_seed(guide_seed), std)
    y = sample(*guide, N_OT, torch.Generator().manual_seed(guide_seed + 100), std)
    weights = np.full(N_OT, 1 / N_OT)
    plan = ot.emd(weights, weights, ot.dist(x.numpy(), y.numpy()), numItermax=10**8)
    y_matched = y[torch.as_tensor(plan.argmax(1))].float()
    x = x.float()
    psi = untrained(dim, torch.Generator().manual_seed(init_seed), recipe.width)
    opt = torch.optim.Adam(psi.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr / 100)
    batches = torch.Generator().manual_seed(init_seed + 100)
    for _ in range(steps):
        idx = torch.randint(N_OT, (BATCH,), generator=batches)
        loss = ((folded(psi, sharpness).parts(x[idx])[1] - y_matched[idx]) ** 2).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():  # convexity: non-negative weights between layers
            for c in (*psi.convex, psi.final):
                c.clamp_(min=0)
    psi = folded(psi, sharpness)
    with torch.no_grad():
        resid = float(((psi.parts(x)[1] - y_matched) ** 2).sum(-1).mean())
    print(f"  guide {guide_seed}: unexplained {100 * resid / float(y_matched.var(0).sum()):.2f}%",
          flush=True)  # fmt: skip
    return DenseICNN(*(tuple(p.detach() for p in ps) for ps in
                       (psi.quadratic, psi.linear, psi.bias, psi.convex)),
                     psi.final.detach(), MU)  # fmt: skip


def train(dim: int, out: Path, recipe: Recipe) -> None:
    start = time.perf_counter()
    centers, maps = korotin_mixture(dim, 3, torch.Generator().manual_seed(0), STD)
    x = sample(centers, maps, N_OT, torch.Generator().manual_seed(3))
    # two networks, each towards its own 10-Gaussian guide, as Korotin et al.'s v1 + v2
    potentials = tuple(fit_to_guide(dim, x, j, 10 + j, recipe) for j in (1, 2))
    pair = Mix3To10Pair(centers.float(), maps.float(), STD, potentials, 1.0, torch.zeros(dim))
    with torch.no_grad():
        ys = pair.transport(sample(centers, maps, 2**14, torch.Generator().manual_seed(4)).float())
    scale = 1.0 / math.sqrt(float(ys.var(0).mean()))
    frozen = Mix3To10Pair(pair.centers, pair.maps, STD, potentials, scale, ys.mean(0))
    # stored in float16 (half the bytes of float32; non-negative weights stay non-negative, so
    # the rounded network is as convex as the trained one): the stored numbers define the pair
    arrays = {k: (v.astype(np.float16) if v.ndim else v) for k, v in frozen.arrays().items()}
    np.savez(out / f"d{dim}.npz", **arrays)

    # how hard: the best linear map, fitted on 20,000 samples per side, on fresh points
    with np.load(out / f"d{dim}.npz") as data:
        pair64 = Mix3To10Pair.from_arrays(dict(data))
    xs = pair64.sample_source(20_000, torch.Generator().manual_seed(7)).double()
    yt = pair64.sample_target(20_000, torch.Generator().manual_seed(8)).double()
    xt = pair64.sample_source(16_384, torch.Generator().manual_seed(9)).double()
    lin = LinearMap().fit(xs.numpy(), yt.numpy())
    with torch.no_grad():
        uvp = l2_uvp(lin.transform(xt.numpy()), pair64.transport(xt), pair64.target_variance())
    print(
        f"d={dim:4d}  {time.perf_counter() - start:5.1f} s  linear L2-UVP {uvp:5.1f}%  "
        f"Var(Q) {pair64.target_variance():7.2f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dims", type=int, nargs="+", default=list(MIX3TO10_DIMS))
    helps = ("regression steps per network", "Adam's rate (cosine decay to 1%%)",
             "within-component std of the 10-Gaussian guides",
             "train with CELU_a, a = this (folded into CELU_1 weights)",
             "multiplier of the hidden sizes")  # fmt: skip
    for f, text in zip(fields(Recipe), helps, strict=True):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default),
                            default=f.default, help=text)  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    for dim in args.dims:
        train(dim, args.out, Recipe(**{f.name: getattr(args, f.name) for f in fields(Recipe)}))


if __name__ == "__main__":
    main()

"""How much of a pair's gap is capacity: regress a BrenierMap network onto the known map.

    OMP_NUM_THREADS=1 python benchmarks/transport_capacity.py --pair mix3to10 --dim 16 \
        --nets 64x4 64x16 256x4 --steps 3000

Each network is the one ``BrenierMap(network=N, width=W, depth=K)`` trains (by default an
mGradNet-M with K softmax modules of width W; ``mgradnet-c``: a cascade of K layers), plus the
PSD quadratic term started at the linear Gaussian map, fitted by
least squares to the exact map T*(x) on fresh source samples (batch 1024 per step, Adam with a
cosine decay from ``--lr``). This is a measurement, not a method: it uses the known map, so it
says how well the architecture can represent T*, not how well a solver finds it. Prints one row
per network: parameters, seconds, L2-UVP on 16,384 fresh points; with ``--csv`` appends them.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

import torch

from ot_gradnets.core import GradientSum, QuadraticGradient
from ot_gradnets.transport import NETWORKS, gaussian_map, l2_uvp, make_pair


def regress(
    pair, network: str, width: int, modules: int, steps: int, lr: float, seed: int
) -> tuple[int, float, float]:
    torch.manual_seed(seed)
    dim = pair.dim
    net = GradientSum(NETWORKS[network](dim, width, modules, 0.0), QuadraticGradient(dim))
    g = torch.Generator().manual_seed(seed + 1)
    a, b = gaussian_map(pair.sample_source(20_000, g), pair.sample_target(20_000, g))
    net.terms[1].set_affine(a, b)
    x_test = pair.sample_source(16_384, torch.Generator().manual_seed(99))
    t_test = pair.transport(x_test)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr / 100)
    start = time.perf_counter()
    for _ in range(steps):
        x = pair.sample_source(1024, g)
        loss = ((net(x) - pair.transport(x)) ** 2).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        uvp = l2_uvp(net(x_test), t_test, pair.target_variance())
    return sum(p.numel() for p in net.parameters()), seconds, uvp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pair", default="mix3to10")
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--network", default="mgradnet-m", choices=sorted(NETWORKS))
    parser.add_argument(
        "--nets", nargs="+", default=["64x4"], help="WIDTHxDEPTH (modules or layers)"
    )
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    pair = make_pair(args.pair, args.dim, dtype=torch.float32)
    for spec in args.nets:
        width, modules = (int(v) for v in spec.split("x"))
        n_params, seconds, uvp = regress(
            pair, args.network, width, modules, args.steps, args.lr, args.seed
        )
        row = {"pair": args.pair, "d": args.dim, "network": args.network, "width": width,
               "depth": modules,
               "params": n_params, "steps": args.steps, "lr": args.lr,
               "seconds": round(seconds, 1), "L2-UVP %": round(uvp, 4)}  # fmt: skip
        print(row, flush=True)
        if args.csv is not None:
            new = not args.csv.exists()
            with args.csv.open("a", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(row))
                if new:
                    writer.writeheader()
                writer.writerow(row)
    assert math.isfinite(uvp)


if __name__ == "__main__":
    main()

"""Data-parallel scaling of ``ot-gradnets fit`` on one machine: 1 process against torchrun ranks.

On a known-map pair (``make_pair(PAIR, D, 0)``, 20,000 float32 samples per side written to
.npy), trains the same map three ways for STEPS steps of a global batch of GLOBAL samples:

- one process, one torch thread, ``--batch-size GLOBAL``;
- one process, RANKS torch threads, ``--batch-size GLOBAL``;
- ``torchrun --nproc-per-node RANKS``, one thread each, ``--batch-size GLOBAL / RANKS``.

The three compute the same steps (N ranks with batch b are one process with batch N b), so the
L2-UVP after STEPS steps is the same and the time to reach it is the fit time (the CLI's own
report, from the call to the end of training; the wall time adds start-up); the script prints
and appends to a CSV: mode, processes, threads, wall and fit seconds, steps per second,
speed-up against the one-thread process, L2-UVP (%).

    python benchmarks/transport_ddp_scaling.py [--pair gmm-convex] [--dim 16] [--steps 600]
        [--global-batch 1024] [--ranks 2] [--loss dual] [--csv benchmarks/transport_ddp_scaling.csv]
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ot_gradnets.transport import BrenierMap, l2_uvp, make_pair


def run(cmd: list[str], threads: int) -> tuple[float, str]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    return time.perf_counter() - start, out.stdout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pair", default="gmm-convex")
    p.add_argument("--dim", type=int, default=16)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--global-batch", type=int, default=1024)
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--loss", default="dual")
    p.add_argument("--csv", default="benchmarks/transport_ddp_scaling.csv")
    a = p.parse_args()
    pair = make_pair(a.pair, a.dim, 0, dtype=torch.float32)
    folder = Path(tempfile.mkdtemp())
    np.save(folder / "x.npy", pair.sample_source(20_000, torch.Generator().manual_seed(1)).numpy())
    np.save(folder / "y.npy", pair.sample_target(20_000, torch.Generator().manual_seed(2)).numpy())
    x_test = pair.sample_source(10_000, torch.Generator().manual_seed(3))
    true = pair.transport(x_test.double())
    fit = ["fit", str(folder / "x.npy"), str(folder / "y.npy"), "--loss", a.loss,
           "--max-iter", str(a.steps), "--seed", "0", "--time-limit", "100000"]  # fmt: skip
    per_rank = a.global_batch // a.ranks
    modes = [
        ("one process", 1, 1, [sys.executable, "-m", "ot_gradnets", *fit,
                               "--batch-size", str(a.global_batch), "--threads", "1"]),
        ("one process", 1, a.ranks, [sys.executable, "-m", "ot_gradnets", *fit,
                                     "--batch-size", str(a.global_batch), "--threads",
                                     str(a.ranks)]),
        ("torchrun", a.ranks, 1, [sys.executable, "-m", "torch.distributed.run",
                                  "--nproc-per-node", str(a.ranks), "-m", "ot_gradnets", *fit,
                                  "--batch-size", str(per_rank)]),
    ]  # fmt: skip
    path = Path(a.csv)
    new = not path.exists()
    base = None
    with path.open("a", newline="") as fh:
        w = csv.writer(fh)
        if new:
            w.writerow(["pair", "dim", "loss", "mode", "processes", "threads", "global_batch",
                        "steps", "wall_s", "fit_s", "steps_per_s", "speedup",
                        "l2_uvp_pct"])  # fmt: skip
        for mode, procs, threads, cmd in modes:
            out = folder / f"map_{procs}_{threads}.pt"
            wall, text = run([*cmd, "-o", str(out)], threads)
            fit_s = float(re.search(r"in ([0-9.]+) s, ", text).group(1))  # the CLI's fit time
            base = base or fit_s
            pred = torch.as_tensor(BrenierMap.load(out).transform(x_test)).double()
            uvp = l2_uvp(pred, true, pair.target_variance())
            row = [a.pair, a.dim, a.loss, mode, procs, threads, a.global_batch, a.steps,
                   round(wall, 1), round(fit_s, 1), round(a.steps / fit_s, 2),
                   round(base / fit_s, 2), round(uvp, 4)]  # fmt: skip
            w.writerow(row)
            fh.flush()
            print(*row, flush=True)  # noqa: T201


if __name__ == "__main__":
    main()

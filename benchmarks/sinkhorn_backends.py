"""GeomLoss's Sinkhorn divergence at large batches: the dense ``tensorized`` backend against the
KeOps ``online`` one (pykeops, the ``keops`` extra), as :class:`SinkhornLoss` uses them.

For each backend and batch size n (points per side, d = DIM, float32, blur 0.05, scaling 0.5,
debiased, as the ``"sinkhorn"`` loss), a fresh subprocess evaluates the divergence and its
gradient with respect to the first point cloud once, after one warm-up call at n = 100 (KeOps
compiles its kernels on first use). Each run gets a memory cap (``RLIMIT_AS``, ``--mem-gb``) and a
wall-clock limit (``--timeout``); the row says ``ok`` with the seconds and peak resident memory,
``out of memory``, or ``timeout``.

    python benchmarks/sinkhorn_backends.py [--ns 1000 3000 10000 30000 100000] [--dim 16]
        [--timeout 300] [--mem-gb 16] [--csv benchmarks/sinkhorn_backends.csv]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time, torch
from geomloss import SamplesLoss
backend, n, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(1)
loss = SamplesLoss("sinkhorn", p=2, blur=0.05, scaling=0.5, debias=True, backend=backend)
g = torch.Generator().manual_seed(0)
def once(m):
    x = torch.randn(m, dim, generator=g).requires_grad_()
    y = torch.randn(m, dim, generator=g) + 1.0
    value = loss(x, y)
    value.backward()
    return float(value)
once(100)  # compiles KeOps kernels; warms the allocator
start = time.perf_counter()
value = once(n)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak, "value": value}))
"""


def run(backend: str, n: int, dim: int, timeout: float, mem_gb: float) -> dict:
    def cap() -> None:
        limit = int(mem_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    start = time.perf_counter()
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, backend, str(n), str(dim)],
                             capture_output=True, text=True, timeout=timeout, preexec_fn=cap)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "wall_s": round(time.perf_counter() - start, 1)}
    if out.returncode == 0:
        res = json.loads(out.stdout.strip().splitlines()[-1])
        return {"status": "ok", "seconds": round(res["seconds"], 3),
                "peak_mb": round(res["peak_mb"]), "value": round(res["value"], 6)}  # fmt: skip
    text = out.stderr.lower()
    memory = any(w in text for w in ("memory", "alloc", "bad_alloc")) or out.returncode == -9
    last = out.stderr.strip().splitlines()[-1][:120] if out.stderr.strip() else ""
    return {"status": "out of memory" if memory else f"error {out.returncode}", "detail": last}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ns", type=int, nargs="+", default=[1000, 3000, 10_000, 30_000, 100_000])
    p.add_argument("--dim", type=int, default=16)
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--mem-gb", type=float, default=16)
    p.add_argument("--backends", nargs="+", default=["tensorized", "online"])
    p.add_argument("--csv", default="benchmarks/sinkhorn_backends.csv")
    a = p.parse_args()
    path = Path(a.csv)
    new = not path.exists()
    with path.open("a", newline="") as fh:
        w = csv.writer(fh)
        if new:
            w.writerow(["backend", "n", "dim", "status", "seconds", "peak_mb", "value", "detail"])
        for backend in a.backends:
            stopped = False
            for n in a.ns:
                res = (
                    {"status": "skipped: a smaller batch failed"}
                    if stopped
                    else run(backend, n, a.dim, a.timeout, a.mem_gb)
                )
                stopped = stopped or res["status"] != "ok"
                row = [backend, n, a.dim, res["status"], res.get("seconds", ""),
                       res.get("peak_mb", ""), res.get("value", ""), res.get("detail", "")]  # fmt: skip
                w.writerow(row)
                fh.flush()
                print(*row, flush=True)  # noqa: T201


if __name__ == "__main__":
    main()

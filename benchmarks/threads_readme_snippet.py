"""Wall time of the README's BrenierMap snippet with the default threads against explicit counts.

    python benchmarks/threads_readme_snippet.py [--max-iter 3000] [--limit 600] [--out benchmarks/threads_readme_snippet.csv]

Runs the README's snippet (``BrenierMap().fit(x, y)`` on 5,000 x 2 samples, then ``transform``,
``inverse_transform``, ``potential``, ``conjugate_potential``, ``log_density``) in a fresh
process per setting, ``threads`` = ``"auto"`` (the default), 1 and one per core, under two
conditions: the machine as it is, and with one busy process per core (a pure-Python spin
loop each, started before and stopped after the run). Each run is capped at ``--limit``
seconds (a capped run is reported as at least the cap). Prints a table and writes a CSV with
the wall times and each setting's ratio to the best explicit count in the same condition.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

SNIPPET = """
import sys, time, torch
from ot_gradnets.transport import BrenierMap
threads = sys.argv[1] if sys.argv[1] == "auto" else int(sys.argv[1])
g = torch.Generator().manual_seed(0)
x = torch.randn(5000, 2, generator=g)
y = torch.randn(5000, 2, generator=g) @ torch.tensor([[2.0, 0.0], [1.0, 0.5]]) + 3.0
start = time.perf_counter()
tmap = BrenierMap(threads=threads, max_iter=int(sys.argv[2]), random_state=0).fit(x, y)
tmap.transform(x); tmap.inverse_transform(y)
tmap.potential(x), tmap.conjugate_potential(y)
log_p = lambda z: -0.5 * (z**2).sum(-1) - z.shape[-1] * 0.9189385
tmap.log_density(y, log_p)
print(f"{time.perf_counter() - start:.3f} {tmap.n_iter_}")
"""


def _spin() -> None:
    while True:
        pass


def _run(threads: str, max_iter: int, limit: float) -> tuple[float, bool]:
    start = time.perf_counter()
    try:
        out = subprocess.run(
            [sys.executable, "-c", SNIPPET, threads, str(max_iter)],
            capture_output=True,
            text=True,
            timeout=limit,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return time.perf_counter() - start, True
    return float(out.stdout.split()[0]), False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-iter", type=int, default=3000)
    parser.add_argument("--limit", type=float, default=600.0)
    parser.add_argument("--out", default="benchmarks/threads_readme_snippet.csv")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    settings = ["auto", "1"] + ([str(cores)] if cores and cores > 1 else [])
    rows = []
    for condition in ("as is", f"{cores} busy processes"):
        spinners = []
        if condition != "as is":
            ctx = multiprocessing.get_context("spawn")
            spinners = [ctx.Process(target=_spin, daemon=True) for _ in range(cores or 1)]
            for p in spinners:
                p.start()
            time.sleep(2.0)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        times = {}
        for threads in settings:
            times[threads] = _run(threads, args.max_iter, args.limit)
        for p in spinners:
            p.terminate()
        best = min(t for k, (t, _) in times.items() if k != "auto")
        for threads, (wall, capped) in times.items():
            rows.append(
                {
                    "condition": condition,
                    "load at start": f"{load:.2f}",
                    "threads": threads,
                    "wall s": f"{wall:.1f}" + ("+" if capped else ""),
                    "ratio to best explicit": f"{wall / best:.2f}" + ("+" if capped else ""),
                }
            )
            print(" | ".join(rows[-1].values()), flush=True)  # noqa: T201
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()

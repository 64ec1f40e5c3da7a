"""Memory of ``ot-gradnets fit`` on streamed .npy files of 10^5 to 10^7 points per side.

For each n, writes float32 files ``x.npy`` (standard normal) and ``y.npy`` (its image under a
fixed linear map plus a cubic term) at d = 16, in chunks, then runs

    ot-gradnets fit x.npy y.npy -o map.pt --max-iter STEPS --threads 1

in a subprocess and samples its anonymous resident memory (``RssAnon`` in
``/proc/<pid>/status``: the heap, not the page cache of the memory-mapped files) every 20 ms.
Prints and appends one CSV row per n: mode, n, steps, peak RssAnon (MB), peak VmHWM (MB, page
cache of the mapped files included), wall seconds, exit code. ``--in-memory`` runs, for
comparison, ``BrenierMap(...).fit(np.load(x), np.load(y))`` on the same files.

    python benchmarks/transport_streaming_memory.py [--ns 100000 1000000 10000000]
        [--steps 200] [--dir /tmp/ot_stream] [--csv benchmarks/transport_streaming_memory.csv]
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DIM = 16
CHUNK = 1 << 18


def write_pair(folder: Path, n: int) -> tuple[Path, Path]:
    """Source and target samples of n points, written chunk by chunk (never whole in memory)."""
    folder.mkdir(parents=True, exist_ok=True)
    xs, ys = folder / f"x_{n}.npy", folder / f"y_{n}.npy"
    if xs.exists() and ys.exists():
        return xs, ys
    rng = np.random.default_rng(0)
    a = rng.normal(size=(DIM, DIM)) / DIM**0.5 + np.eye(DIM)
    x = np.lib.format.open_memmap(xs, mode="w+", dtype=np.float32, shape=(n, DIM))
    y = np.lib.format.open_memmap(ys, mode="w+", dtype=np.float32, shape=(n, DIM))
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        z = rng.normal(size=(m, DIM))
        x[start : start + m] = rng.normal(size=(m, DIM))
        y[start : start + m] = z @ a + 0.2 * z**3 + 1.0
    x.flush()
    y.flush()
    return xs, ys


def _status(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("RssAnon", "VmHWM"):
                    out[key] = int(value.split()[0])  # kB
    except OSError:
        pass
    return out


IN_MEMORY = (
    "import sys, numpy as np; from ot_gradnets.transport import BrenierMap; "
    "BrenierMap(max_iter=int(sys.argv[3]), threads=1, random_state=0)"
    ".fit(np.load(sys.argv[1]), np.load(sys.argv[2]))"
)


def measure(
    xs: Path, ys: Path, steps: int, out: Path, in_memory: bool = False
) -> tuple[float, float, float, int]:
    cmd = [sys.executable, "-m", "ot_gradnets", "fit", str(xs), str(ys), "-o", str(out),
           "--max-iter", str(steps), "--threads", "1"]  # fmt: skip
    if in_memory:  # the arrays loaded whole and passed to BrenierMap.fit, for comparison
        cmd = [sys.executable, "-c", IN_MEMORY, str(xs), str(ys), str(steps)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    anon = hwm = 0
    while proc.poll() is None:
        s = _status(proc.pid)
        anon, hwm = max(anon, s.get("RssAnon", 0)), max(hwm, s.get("VmHWM", 0))
        time.sleep(0.02)
    return anon / 1024, hwm / 1024, time.perf_counter() - start, proc.returncode


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ns", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--dir", default="/tmp/ot_stream")
    p.add_argument("--csv", default="benchmarks/transport_streaming_memory.csv")
    p.add_argument("--in-memory", action="store_true", help="load the arrays whole instead")
    a = p.parse_args()
    path = Path(a.csv)
    new = not path.exists()
    with path.open("a", newline="") as fh:
        w = csv.writer(fh)
        if new:
            w.writerow(["mode", "n", "dim", "steps", "rss_anon_mb", "vm_hwm_mb", "wall_s", "exit"])
        for n in a.ns:
            t0 = time.perf_counter()
            xs, ys = write_pair(Path(a.dir), n)
            made = time.perf_counter() - t0
            out = Path(a.dir) / f"map_{n}.pt"
            anon, hwm, wall, code = measure(xs, ys, a.steps, out, a.in_memory)
            mode = "in memory (np.load)" if a.in_memory else "streamed (ot-gradnets fit)"
            row = [mode, n, DIM, a.steps, round(anon, 1), round(hwm, 1), round(wall, 1), code]
            w.writerow(row)
            fh.flush()
            print(*row, f"(files written in {made:.0f} s)", flush=True)  # noqa: T201


if __name__ == "__main__":
    main()

"""Peak memory of ``ot-gradnets transform`` against the number of points (it should be flat).

    python benchmarks/transport_transform_memory.py --dims 2 64 --sizes 100000 1000000 10000000 \
        --csv benchmarks/transport_transform_memory.csv

For each dimension a map is fitted briefly (the map's quality does not matter here), then for
each size ``n`` a ``.npy`` file of ``n`` standard-normal points is written chunk by chunk and
``ot-gradnets transform map.pt x.npy -o y.npy`` (and ``--inverse``) runs in a child process,
whose peak resident memory is read from ``os.wait4``. The input is memory-mapped and the output
written through a memory map, so the peak should not grow with ``n``; pages of the mapped
files that the kernel keeps resident count in RSS, hence the page-cache note in RESULTS.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def peak_rss_mb(argv: list[str]) -> tuple[float, float, int]:
    """Run ``argv``; return (peak RSS in MB, wall seconds, exit status)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        print(err[-2000:], file=sys.stderr)
    return usage.ru_maxrss / 1024, time.perf_counter() - start, proc.returncode  # KB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 64])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10**5, 10**6, 10**7])
    parser.add_argument("--csv", type=Path)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "ot_gradnets"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for d in args.dims:
            rng = np.random.default_rng(0)
            np.save(folder / "fx.npy", rng.normal(size=(2000, d)).astype(np.float32))
            np.save(folder / "fy.npy", (2 * rng.normal(size=(2000, d)) + 1).astype(np.float32))
            subprocess.run([*cli, "fit", str(folder / "fx.npy"), str(folder / "fy.npy"), "-o",
                            str(folder / "m.pt"), "--max-iter", "20"], check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
            for n in args.sizes:
                x = np.lib.format.open_memmap(folder / "x.npy", "w+", np.float32, (n, d))
                for i in range(0, n, 1 << 18):
                    x[i : i + (1 << 18)] = rng.normal(size=(min(1 << 18, n - i), d))
                x.flush()
                del x
                for inverse in (False, True):
                    argv = [*cli, "transform", str(folder / "m.pt"), str(folder / "x.npy"),
                            "-o", str(folder / "y.npy"), "--threads", "1"]  # fmt: skip
                    argv += ["--inverse", "--allow-unconverged"] if inverse else []
                    mb, seconds, code = peak_rss_mb(argv)
                    row = {"d": d, "n": n, "inverse": inverse, "input_mb": round(n * d * 4 / 2**20),
                           "peak_rss_mb": round(mb), "seconds": round(seconds, 1), "exit": code}  # fmt: skip
                    print(row, flush=True)
                    rows.append(row)
                (folder / "y.npy").unlink(missing_ok=True)
    if args.csv:
        with args.csv.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()

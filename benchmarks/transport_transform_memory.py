"""Peak memory of ``ot-gradnets transform`` against the number of points (it should be flat).

    python benchmarks/transport_transform_memory.py --dims 2 64 --sizes 100000 1000000 10000000 \
        --csv benchmarks/transport_transform_memory.csv

For each dimension a map is fitted briefly (the map's quality does not matter here), then for
each size ``n`` a ``.npy`` file of ``n`` standard-normal points is written chunk by chunk and
``ot-gradnets transform map.pt x.npy -o y.npy`` (and ``--inverse``) runs in a child process,
whose peak resident memory is polled from ``/proc``. The input is memory-mapped and the output
written through a memory map, so the heap (anonymous memory) should not grow with ``n``; the
pages of the mapped files that the kernel keeps resident count in the total RSS, not in the
heap.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def peak_rss_mb(argv: list[str]) -> tuple[float, float, float, int]:
    """Run ``argv``; return its peak RSS and peak anonymous RSS (MB), wall seconds, exit status.

    Both are polled from ``/proc/PID/status`` every 20 ms: ``VmHWM`` (the peak RSS, which counts
    the resident pages of memory-mapped files) and ``RssAnon`` (the heap: tensors and buffers,
    which must stay flat in ``n``).
    """
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = anon = 0.0
    status_file = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            fields = dict(
                line.split(":", 1) for line in status_file.read_text().splitlines() if ":" in line
            )
            peak = max(peak, int(fields["VmHWM"].split()[0]) / 1024)
            anon = max(anon, int(fields["RssAnon"].split()[0]) / 1024)
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.02)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        print(err[-2000:], file=sys.stderr)
    return peak, anon, time.perf_counter() - start, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 64])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10**5, 10**6, 10**7])
    parser.add_argument(
        "--inverse-max-points",
        type=int,
        default=10**6,
        help="run --inverse only up to this many points at d = 64 (times 64 / d below) "
        "(Newton per point costs O(d^3): 10^7 points at d = 64 take about 16 minutes on a core)",
    )
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
                cap = args.inverse_max_points * 64 // d
                for inverse in (False, True) if n <= cap else (False,):
                    argv = [*cli, "transform", str(folder / "m.pt"), str(folder / "x.npy"),
                            "-o", str(folder / "y.npy"), "--threads", "1"]  # fmt: skip
                    argv += ["--inverse", "--allow-unconverged"] if inverse else []
                    mb, anon, seconds, code = peak_rss_mb(argv)
                    row = {"d": d, "n": n, "inverse": inverse, "input_mb": round(n * d * 4 / 2**20),
                           "peak_rss_mb": round(mb), "peak_anon_mb": round(anon), "seconds": round(seconds, 1), "exit": code}  # fmt: skip
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

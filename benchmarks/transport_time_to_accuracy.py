"""Time-to-accuracy curves of BrenierMap: L2-UVP against CPU seconds, as a CSV and a figure.

    OMP_NUM_THREADS=1 python benchmarks/transport_estimator_defaults.py 16 900 mode=sampler \
        pair=mix3to10 every=500 > out/tta/d16.txt       # and d = 64 with every=200, side by side
    python benchmarks/transport_time_to_accuracy.py out/tta/d16.txt out/tta/d64.txt \
        --csv benchmarks/transport_mix3to10_time_to_accuracy.csv \
        --png benchmarks/transport_mix3to10_time_to_accuracy.png

Each trace is the output of ``transport_estimator_defaults.py``: ``(step, wall s, CPU s,
L2-UVP %)`` probes and a ``FINAL`` line. The figure draws ENOT's published row at each
dimension as a dashed line, for orientation (it is on Korotin et al.'s own pairs, on a GPU).
"""

from __future__ import annotations

import argparse
import ast
import csv
import re
from pathlib import Path

# ENOT (Buzun et al., NeurIPS 2024), L2-UVP % on the field's Mix3toMix10 pairs
ENOT_PUBLISHED = {2: 0.02, 4: 0.03, 8: 0.14, 16: 0.24, 32: 0.67, 64: 0.56, 128: 0.30, 256: 0.51}


def read_trace(path: Path) -> tuple[dict, list[tuple[int, float, float, float]]]:
    probes, final = [], {}
    for line in path.read_text().splitlines():
        if line.startswith("("):
            step, wall, cpu, uvp = ast.literal_eval(line)
            probes.append((int(step), float(wall), float(cpu), float(uvp)))
        elif line.startswith("FINAL"):
            final = dict(re.findall(r"(\w+)=([^\s{}]+)", line))
            depth = re.search(r"'depth': (\d+)", line)
            final["depth"] = depth[1] if depth else "auto"
    if final:
        probes.append(
            (int(final["steps"]), float(final["time"]), float(final["cpu"]), float(final["l2uvp"]))
        )
    return final, probes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("traces", nargs="+", type=Path)
    parser.add_argument("--pair", default="mix3to10")
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--png", type=Path)
    args = parser.parse_args()
    curves = {}
    with args.csv.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["pair", "d", "depth", "mode", "step", "wall_s", "cpu_s", "l2_uvp_pct"])
        for path in args.traces:
            final, probes = read_trace(path)
            d, mode, depth = int(final["d"]), final.get("mode", ""), final["depth"]
            curves[(d, depth)] = probes
            out.writerows([args.pair, d, depth, mode, *p] for p in probes)
    if args.png is None:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    dims = sorted({d for d, _ in curves})
    for (d, depth), probes in sorted(curves.items()):
        probes = [p for p in probes if p[0] > 0]
        colour = f"C{dims.index(d)}"
        what = "BrenierMap()" if depth == "auto" else f"BrenierMap(depth={depth})"
        ax.plot([p[2] for p in probes], [p[3] for p in probes], ms=3, color=colour,
                marker="o" if depth == "auto" else "s", ls="-" if depth == "auto" else ":",
                label=f"{what}, d = {d}")  # fmt: skip
    for d in dims:
        if d in ENOT_PUBLISHED:
            ax.axhline(ENOT_PUBLISHED[d], ls="--", lw=1, color=f"C{dims.index(d)}")
    ax.set_yscale("log")
    ax.set_xlabel("CPU seconds (one thread)")
    ax.set_ylabel("L2-UVP %")
    ax.set_title(f"{args.pair}, fresh samples: time to accuracy\n"
                 "dashed: ENOT's published row (the field's pairs, GPU)", fontsize=9)  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.png, dpi=110)


if __name__ == "__main__":
    main()

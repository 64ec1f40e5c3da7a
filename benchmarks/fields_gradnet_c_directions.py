"""Where GradNet-C's stalled 2-D trials stand (issue #3, the non-convex reproduction row).

Trains GradNet-C on ``nonconvex-2d`` with the authors' protocol (``bench fields --recipe paper``,
one trial per seed) and prints, per seed, the test dB on the 100 x 100 grid, the validation dB at
each quarter of training, and the angles (degrees, mod 180) of the rows of ``W``. The target's
``sin(2 pi x1) cos(pi x2)`` term is a sum of two ridges along (2, 1) and (2, -1), at 26.6 and
153.4 degrees. Usage (about a minute per seed on one core)::

    OMP_NUM_THREADS=1 python benchmarks/fields_gradnet_c_directions.py 1,2,8,9
"""

from __future__ import annotations

import json
import math
import sys

import torch

from ot_gradnets.bench.fields import fit_paper_2d
from ot_gradnets.core.fields import field_error_db, make_target


def main(seeds: list[int]) -> None:
    torch.set_num_threads(1)
    target = make_target("nonconvex-2d")
    for seed in seeds:
        # the authors' protocol and recipe, as one trial of `bench fields --recipe paper`
        model, res = fit_paper_2d("gradnet-c", target, "paper", seed)
        model.eval()
        hist = res.history["val_db"]
        quarters = [hist[len(hist) * k // 4 - 1] for k in (1, 2, 3, 4)]
        angles = [math.degrees(math.atan2(float(w[1]), float(w[0]))) % 180 for w in model.W]
        row = {
            "seed": seed,
            "test_db": round(field_error_db(model, target, target.grid(100)), 2),
            "val_db_quarters": [round(v, 2) for v in quarters],
            "angles_deg": [round(a, 1) for a in angles],
        }
        print(json.dumps(row), flush=True)  # noqa: T201  (a script's output)


if __name__ == "__main__":
    main([int(s) for s in sys.argv[1].split(",")])

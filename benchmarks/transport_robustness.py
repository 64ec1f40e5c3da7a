"""BrenierMap on hostile data: the robustness rows of benchmarks/RESULTS.md (#12).

    OMP_NUM_THREADS=1 python benchmarks/transport_robustness.py [--time-limit 60] [--scale-steps 1000]

Each case fits ``BrenierMap(random_state=0)`` with every other setting at its default, capped
at ``--time-limit`` seconds (the scale rows: ``--scale-steps`` steps, so that they train alike) and reports the fit's wall time and steps, why it stopped, the warnings it raised, and
what a user would check:

* ``scale``: the ``gmm-icnn`` pair at d = 8 (5,000 samples per side, float32) multiplied by
  1e-30, 1 and 1e30 (plus a shift); L2-UVP against the exact map, scaled back. Equal rows mean
  the fit does not depend on the data's unit.
* ``digits``: scikit-learn's digits (1,797 images of 8 x 8 pixels, 3 pixels always 0), digits
  0-4 to digits 5-9; the inverse of the fitted map on the pushed-forward source: NaN rows and
  the largest error.
* ``d >> n``: 10 Gaussian samples per side in d = 5,000.
"""

from __future__ import annotations

import argparse
import csv
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits

from ot_gradnets.transport import BrenierMap, l2_uvp, make_pair


def _fit(x, y, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        tmap = BrenierMap(random_state=0, **kwargs).fit(x, y)
        wall = time.perf_counter() - start
    notes = sorted({f"{w.category.__name__}: {str(w.message)[:90]}" for w in caught})
    return tmap, wall, "; ".join(notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--scale-steps", type=int, default=1000)
    parser.add_argument("--out", default="benchmarks/transport_robustness.csv")
    args = parser.parse_args()
    rows = []

    def add(case, tmap, wall, result, notes):
        rows.append(
            {
                "case": case,
                "fit s": f"{wall:.1f}",
                "steps": tmap.n_iter_,
                "stop": tmap.stop_reason_,
                "fitted dims": getattr(tmap.network_, "inner", tmap.network_).dim,
                "result": result,
                "warnings": notes or "-",
            }
        )
        print(" | ".join(map(str, rows[-1].values())), flush=True)  # noqa: T201

    pair = make_pair("gmm-icnn", 8, seed=0)
    x = pair.sample_source(5000, torch.Generator().manual_seed(1))
    y = pair.sample_target(5000, torch.Generator().manual_seed(2))
    xt = pair.sample_source(10000, torch.Generator().manual_seed(3))
    true = pair.transport(xt.double())
    for a in (1e-30, 1.0, 1e30):
        shift = 3.0 * a
        # a step budget, not a time limit, so that the three rows train identically
        tmap, wall, notes = _fit(a * x + shift, a * y - shift, max_iter=args.scale_steps)
        pred = (torch.as_tensor(tmap.transform(a * xt + shift)).double() + shift) / a
        finite = bool(torch.isfinite(pred).all())
        uvp = l2_uvp(pred, true, pair.target_variance()) if finite else float("inf")
        add(f"scale: gmm-icnn d=8 x {a:g}", tmap, wall, f"L2-UVP {uvp:.3f}%", notes)

    images, label = load_digits(return_X_y=True)
    xs, ys = images[label < 5].astype(np.float32), images[label >= 5].astype(np.float32)
    tmap, wall, notes = _fit(xs, ys, time_limit=args.time_limit)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        back = tmap.inverse_transform(tmap.transform(xs))
        inv = time.perf_counter() - start
    nan_rows = int(np.isnan(back).any(axis=1).sum())
    err = float(np.nanmax(np.abs(back - xs)))
    add(
        "digits 0-4 -> 5-9 (64 pixels, 3 constant)",
        tmap,
        wall,
        f"inverse of T(x): {nan_rows} NaN rows of {len(xs)}, max |error| {err:.2g} (pixels 0-16), "
        f"{inv:.1f} s",
        notes + "".join(f"; {w.category.__name__}" for w in caught),
    )

    g = torch.Generator().manual_seed(0)
    xd = torch.randn(10, 5000, generator=g)
    yd = 2 * torch.randn(10, 5000, generator=g) + 1
    tmap, wall, notes = _fit(xd, yd, time_limit=args.time_limit)
    back = tmap.inverse_transform(tmap.transform(xd))
    err = float((back - xd).abs().max())
    add(
        "d >> n: 10 samples per side in d = 5,000",
        tmap,
        wall,
        f"inverse max |error| {err:.2g}",
        notes,
    )

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()

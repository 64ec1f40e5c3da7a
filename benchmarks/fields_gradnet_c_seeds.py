"""GradNet-C on the 2-D non-convex field over many seeds, two seeding schemes (#16).

``coupled`` is the benchmark's own trial, ``fit_paper_2d("gradnet-c", nonconvex-2d, "paper", t)``
(one generator seeded ``t`` for the data, the model built under ``manual_seed(t)``);
``decoupled`` draws the data from ``Generator().manual_seed(10**6 + t)`` instead, everything else
alike (``PROTOCOLS["paper-2d"]``: 100,000 / 10,000 points, batch 1,000, 20,000 Adam steps at
5e-3, best-validation weights). Prints one line per trial (test dB on the 100 x 100 grid, summed
over coordinates) and the mean, its standard error and the median.

    OMP_NUM_THREADS=1 python benchmarks/fields_gradnet_c_seeds.py coupled 0-39
    OMP_NUM_THREADS=1 python benchmarks/fields_gradnet_c_seeds.py decoupled 0-29
"""

from __future__ import annotations

import statistics
import sys
import time

import torch

from ot_gradnets.bench.fields import build_model, fit_paper_2d
from ot_gradnets.core.fields import PROTOCOLS, field_error_db, fit_field, make_target


def trial(scheme: str, t: int) -> float:
    target = make_target("nonconvex-2d")
    if scheme == "coupled":
        model, _ = fit_paper_2d("gradnet-c", target, "paper", t)
    else:
        p = PROTOCOLS["paper-2d"]
        gen = torch.Generator().manual_seed(10**6 + t)
        x_val = target.sample(p["n_val"], generator=gen)
        x_train = target.sample(p["n_train"], generator=gen)
        model = build_model("gradnet-c", 2, "paper", seed=t)
        fit_field(model, target, max_iter=p["max_iter"], batch_size=p["batch_size"], lr=p["lr"],
                  x_train=x_train, x_val=x_val, random_state=gen, keep_best=p["keep_best"],
                  validation_interval=p["validation_interval"])  # fmt: skip
    model.eval()
    return field_error_db(model, target, target.grid(100))


def main() -> None:
    scheme, span = sys.argv[1], sys.argv[2]
    if scheme not in ("coupled", "decoupled"):
        raise SystemExit("scheme must be 'coupled' or 'decoupled'")
    first, _, last = span.partition("-")
    torch.set_num_threads(1)
    dbs = []
    for t in range(int(first), int(last or first) + 1):
        tic = time.perf_counter()
        dbs.append(trial(scheme, t))
        print(
            f"{scheme} trial {t}: {dbs[-1]:.2f} dB ({time.perf_counter() - tic:.0f} s)", flush=True
        )  # noqa: T201
    se = statistics.stdev(dbs) / len(dbs) ** 0.5 if len(dbs) > 1 else float("nan")
    print(
        f"{scheme}: n={len(dbs)} mean {statistics.fmean(dbs):.2f} dB, SE {se:.2f}, "  # noqa: T201
        f"median {statistics.median(dbs):.2f}"
    )


if __name__ == "__main__":
    main()

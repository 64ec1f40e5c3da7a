"""Validation-only pilots behind the ``ours`` gradient-field recipe (issue #3).

Each call trains one configuration and prints JSON lines with the **validation** error in dB
(never the test error: the recipe is chosen on these numbers, then measured on the test sets by
``ot-gradnets bench fields --recipe ours`` with fresh trial seeds).

Two modes:

- ``paper-2d``: the authors' 2-D protocol (fixed 100,000-point training set, batch 1000,
  20,000 steps, best-validation checkpoint) for one model/target over several trial seeds;
- ``polymax``: one PolyMax fit (fresh batches, ``--steps`` steps of ``--batch`` points),
  optionally far beyond the protocol's budget (``--steps 100000 --batch 1000``) to measure
  what the architecture reaches with 100x the samples, and optionally started at the
  least-squares affine field (``--affine N``, mGradNet-C only: see :func:`affine_start`).

Examples (repository root; the results of the runs reported in ``benchmarks/RESULTS.md`` are in
``benchmarks/fields_pilots.csv``)::

    python benchmarks/fields_pilots.py paper-2d --model gradnet-m --target nonconvex-2d \\
        --lr 1e-2 --schedule cosine --beta2 0.99 --trials 0,1,2
    python benchmarks/fields_pilots.py paper-2d --model gradnet-m --target nonconvex-2d \\
        --lbfgs-fraction 0.5 --trials 5
    python benchmarks/fields_pilots.py polymax --dim 256 --model mgradnet-m --schedule cosine \\
        --lr 1e-3 --steps 100000 --batch 1000 --device cuda
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace

import torch

from ot_gradnets.bench.fields import INIT_POINTS, RECIPES, Recipe, build_model, fit_paper_2d
from ot_gradnets.core.fields import PROTOCOLS, field_error_db, fit_affine, fit_field, make_target


def affine_start(model: torch.nn.Module, target, n_samples: int, seed: int) -> None:
    r"""Set a *linear* mGradNet-C (authors' init: weighted tanh with a = b) to the affine fit.

    With the least-squares field :math:`Sx + b` (symmetrised, PSD part :math:`V\Lambda V^T`)
    and the network's constant diagonal :math:`D` (``J = W^T D W``), take
    :math:`W = D^{-1/2} Q \Lambda^{1/2} V^T` with :math:`Q` orthonormal columns, so
    :math:`W^T D W = V \Lambda V^T`, then shift ``c`` so that :math:`N(0) = b`.
    """
    lin = fit_affine(
        make_target(target.name, target.dim), n_samples, torch.Generator().manual_seed(777 + seed)
    )
    s, bias = lin.weight.detach().double().cpu(), lin.bias.detach().double().cpu()
    with torch.no_grad():
        m, d = model.W.shape
        diag = model._diag(torch.zeros(m, dtype=model.W.dtype, device=model.W.device))
        lam, v = torch.linalg.eigh(s)
        r = min(m, d)
        lam, v = lam.clamp_min(0)[-r:], v[:, -r:]
        q, _ = torch.linalg.qr(torch.randn(m, r, dtype=torch.float64))
        w = (q * lam.sqrt()) @ v.T / diag.double().cpu().sqrt()[:, None]
        model.W.copy_(w.to(model.W))
        n0 = model(torch.zeros(1, d, dtype=model.W.dtype, device=model.W.device))[0]
        model.c.add_(bias.to(n0) - n0)


def _emit(**row) -> None:
    print(json.dumps(row), flush=True)  # noqa: T201  (a script's output)


def run_polymax(a: argparse.Namespace) -> None:
    t = make_target(a.fresh_target, a.dim).to(a.device)
    kw = {a.model: {"activation": a.act}} if a.act else {}
    rec = Recipe("pilot", init=a.init or "authors", betas=(0.9, a.beta2), model_kwargs=kw)
    # unlabelled inputs for a data-dependent init, drawn as the benchmark runner draws them
    x_init = t.sample(INIT_POINTS, torch.Generator().manual_seed(30_000 + a.seed))
    model = build_model(a.model, a.dim, rec, suite="polymax", x_init=x_init, seed=a.seed)
    model = model.to(a.device)
    if a.affine:
        affine_start(model, t, a.affine, a.seed)
    x_val = t.sample(10_000, torch.Generator().manual_seed(10_000 + a.dim)).to(a.device)
    t0 = time.time()
    every = max(1, a.steps // 5)

    def progress(net: torch.nn.Module, step: int, loss: float) -> None:
        """The validation dB after every ``every`` steps (those fit_field scores too)."""
        if (step + 1) % every == 0:
            net.eval()
            val_db = field_error_db(net, t, x_val)
            net.train()
            _emit(step=step + 1, val_db=round(val_db, 3), s=round(time.time() - t0, 1))

    res = fit_field(
        model,
        t,
        max_iter=a.steps,
        batch_size=a.batch,
        lr=a.lr,
        schedule=a.schedule,
        betas=(0.9, a.beta2),
        x_val=x_val,
        validation_interval=every,
        random_state=torch.Generator(device=a.device).manual_seed(a.seed),
        callback=progress,
    )
    _emit(
        **vars(a),
        val_db=round(res.val_db, 3),
        history=[round(v, 2) for v in res.history["val_db"]],
        s=round(res.wall_time_s, 1),
    )


def run_paper_2d(a: argparse.Namespace) -> None:
    t = make_target(a.target)
    kw = {a.model: {"activation": a.act}} if a.act else {}
    rec = Recipe(
        "pilot",
        init=a.init or "authors",
        betas=(0.9, a.beta2),
        model_kwargs=kw,
        lr_2d=a.lr,
        schedule=a.schedule,
    )
    # the authors' 2-D settings (the rate comes from the pilot's arguments or the recipe)
    protocol = {k: v for k, v in PROTOCOLS["paper-2d"].items() if k != "lr"} | {"max_iter": a.steps}
    vals = []
    for trial in map(int, a.trials.split(",")):
        if a.lbfgs_fraction > 0:  # the `ours` recipe's two stages, with this L-BFGS share
            # the recipe's own L-BFGS points and initialisation unless given
            given = {"lbfgs_points": a.lbfgs_points, "init": a.init}
            run = replace(
                RECIPES["ours"].for_run("paper-2d", a.model),
                lbfgs_fraction=a.lbfgs_fraction,
                **{k: v for k, v in given.items() if v is not None},
            )
        else:
            run = rec
        _, res = fit_paper_2d(a.model, t, run, trial, protocol=protocol)
        vals.append(round(res.val_db, 2))
        _emit(**vars(a), trial=trial, val_db=vals[-1], s=round(res.wall_time_s, 1))
    _emit(**vars(a), summary=1, val_mean=round(statistics.fmean(vals), 2), vals=vals)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["paper-2d", "polymax"])
    p.add_argument("--model", default="mgradnet-c")
    p.add_argument("--target", default="convex-2d", help="paper-2d target")
    p.add_argument("--dim", type=int, default=256, help="polymax dimension")
    p.add_argument(
        "--fresh-target",
        default="polymax",
        help="polymax mode: the target (polymax, ridge-convex, ridge-nonconvex)",
    )
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--schedule", default="constant")
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument(
        "--init", default=None, help="a key of INITS (default: the recipe's, else authors)"
    )
    p.add_argument("--act", default=None, help="activation override")
    p.add_argument("--steps", type=int, default=None, help="default 20000 (2-D), 10000 (polymax)")
    p.add_argument("--batch", type=int, default=100, help="polymax batch")
    p.add_argument("--trials", default="0,1,2", help="paper-2d trial seeds")
    p.add_argument("--seed", type=int, default=0, help="polymax seed")
    p.add_argument("--affine", type=int, default=0, help="polymax: start at the affine fit")
    p.add_argument(
        "--lbfgs-fraction",
        type=float,
        default=0.0,
        help="paper-2d: run the `ours` recipe with this L-BFGS share instead",
    )
    p.add_argument(
        "--lbfgs-points", type=int, default=None, help="paper-2d: the L-BFGS stage's points"
    )
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    torch.set_num_threads(1)
    if a.steps is None:
        a.steps = 20_000 if a.mode == "paper-2d" else 10_000
    (run_paper_2d if a.mode == "paper-2d" else run_polymax)(a)


if __name__ == "__main__":
    main()

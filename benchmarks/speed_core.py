"""Speed of the core networks, as ratios against baselines measured in the same run.

(a) Closed-form ``jacobian`` + ``logdet_jacobian`` against ``vmap(jacrev(net))`` + ``slogdet``
    (d = 64, batch 1000).
(b) One Adam training step (forward, MSE loss on the gradient field, backward, step) of each
    gradient network against ICNN and PotentialMLP at the same parameter budget (1024 * d),
    d in {2, 32, 256}, batch 100.

Timings interleave the contenders round-robin and report the *fastest* of the repeats: on a
shared machine, load from other processes only ever adds time, so the minimum is the most
repeatable estimate of each contender's own cost (medians are printed beside it). Usage::

    python benchmarks/speed_core.py [--repeats 30] [--threads 2] [--csv benchmarks/speed_core.csv]
"""

from __future__ import annotations

import argparse
import csv
import platform
import statistics
import time

import torch

from ot_gradnets.core import count_parameters, model_for_budget


def _time(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def interleaved(fns: dict, repeats: int, warmup: int = 3) -> dict[str, float]:
    """Fastest seconds per call of each function, timed round-robin (medians under ``k + '/median'``)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k] += _time(fn, 1)
    best = {k: min(v) for k, v in times.items()}
    best.update({f"{k}/median": statistics.median(v) for k, v in times.items()})
    return best


def bench_jacobian(repeats: int, dim: int = 64, batch: int = 1000) -> list[dict]:
    rows = []
    for name in ["mgradnet-c", "mgradnet-m", "gradnet-c", "gradnet-m"]:
        torch.manual_seed(0)
        net = model_for_budget(name, dim, 1024 * dim)
        x = torch.randn(batch, dim)
        monotone = net.is_monotone

        def closed(net=net, x=x, monotone=monotone):
            with torch.no_grad():
                net.jacobian(x)
                if monotone:
                    net.logdet_jacobian(x)

        def autograd(net=net, x=x):
            with torch.no_grad():
                jac = torch.func.vmap(torch.func.jacrev(net))(x)
                torch.linalg.slogdet(jac)

        t = interleaved({"closed": closed, "autograd": autograd}, repeats)
        rows.append(
            dict(
                bench="jacobian+logdet" if monotone else "jacobian",
                model=name,
                dim=dim,
                batch=batch,
                params=count_parameters(net),
                seconds=t["closed"],
                baseline="vmap(jacrev)+slogdet",
                baseline_seconds=t["autograd"],
                speedup=t["autograd"] / t["closed"],
            )
        )
    return rows


def bench_training_step(repeats: int, dims=(2, 32, 256), batch: int = 100) -> list[dict]:
    rows = []
    for dim in dims:
        budget = 1024 * dim
        steps = {}
        params = {}
        for name in ["mgradnet-c", "mgradnet-m", "gradnet-c", "gradnet-m", "icnn", "potential-mlp"]:
            torch.manual_seed(0)
            net = model_for_budget(name, dim, budget)
            params[name] = count_parameters(net)
            opt = torch.optim.Adam(net.parameters(), lr=1e-3)
            x = torch.rand(batch, dim)
            target = torch.randn(batch, dim)

            def step(net=net, opt=opt, x=x, target=target):
                opt.zero_grad(set_to_none=True)
                loss = (net(x) - target).square().sum(-1).mean()
                loss.backward()
                opt.step()

            steps[name] = step
        t = interleaved(steps, repeats)
        for name in ["mgradnet-c", "mgradnet-m", "gradnet-c", "gradnet-m"]:
            for base in ["icnn", "potential-mlp"]:
                rows.append(
                    dict(
                        bench="adam-step",
                        model=name,
                        dim=dim,
                        batch=batch,
                        params=params[name],
                        seconds=t[name],
                        baseline=f"{base} ({params[base]} params)",
                        baseline_seconds=t[base],
                        speedup=t[base] / t[name],
                    )
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    # One thread by default: on a shared machine, multi-threaded timings swing wildly.
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--csv", default=None, help="write the rows to this CSV file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    rows = bench_jacobian(max(5, args.repeats // 3)) + bench_training_step(args.repeats)
    print(
        f"# machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    print("| bench | model | d | batch | params | ms | baseline | baseline ms | speedup |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['bench']} | {r['model']} | {r['dim']} | {r['batch']} | {r['params']} | "
            f"{1e3 * r['seconds']:.2f} | {r['baseline']} | {1e3 * r['baseline_seconds']:.2f} | "
            f"{r['speedup']:.2f}x |"
        )
    print(f"# wall time {time.perf_counter() - t0:.0f} s")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()

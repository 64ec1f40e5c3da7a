"""L2-UVP trace of BrenierMap on a known-map pair (the runs behind RESULTS.md, "Estimator defaults").

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/transport_estimator_defaults.py D 0 mode=array n=20000
    ... D 0 mode=array n=20000 loss=w2            # another loss
    ... D 600 mode=sampler                        # fresh samples each step, 600 s time limit
    ... 8 0 mode=array n=1000 pair=gaussian validation_fraction=0.1   # held-out checkpoint

Arguments: ``D`` the dimension, then the time limit in seconds (0: none, the step budget
``max_iter`` decides), then ``key=value`` pairs: ``mode`` (``array``: ``n`` training samples per
side, the benchmark's setting; ``sampler``: unlimited fresh data), ``n``, ``pair`` (``gmm-convex``
or ``gaussian``), ``dtype``, ``every`` (steps between L2-UVP probes), and any ``BrenierMap``
hyperparameter (JSON values). Prints ``(step, wall s, CPU s, L2-UVP %)`` per probe and a FINAL
line; CPU s is this process's CPU time, the wall time on an idle core.
"""

import json
import sys
import time

import torch

from ot_gradnets.transport import BrenierMap, gaussian_map, make_pair

torch.set_num_threads(1)
d = int(sys.argv[1])
T = float(sys.argv[2])
kw = {}
mode, n, pairname, dtype, every = "sampler", 0, "gmm-convex", torch.float32, 100
for a in sys.argv[3:]:
    k, v = a.split("=")
    if k == "mode":
        mode = v
    elif k == "n":
        n = int(v)
    elif k == "pair":
        pairname = v
    elif k == "dtype":
        dtype = getattr(torch, v)
    elif k == "every":
        every = int(v)
    else:
        try:
            kw[k] = json.loads(v)
        except json.JSONDecodeError:
            kw[k] = v
pair = make_pair(pairname, d, seed=0, dtype=dtype)
gx, gy = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
xt = pair.sample_source(20000, generator=torch.Generator().manual_seed(99))
tt = pair.transport(xt)
var = pair.target_variance()
if mode == "sampler":
    X = lambda m: pair.sample_source(m, generator=gx)  # noqa: E731
    Y = lambda m: pair.sample_target(m, generator=gy)  # noqa: E731
else:
    X, Y = pair.sample_source(n, generator=gx), pair.sample_target(n, generator=gy)
A, b = gaussian_map(
    pair.sample_source(20000, generator=gx), pair.sample_target(20000, generator=gy)
)
lin = 100 * float(((xt @ A + b - tt) ** 2).sum(1).mean()) / var
t0, c0 = time.perf_counter(), time.process_time()


def uvp(net):
    with torch.no_grad():
        return 100 * float(((net(xt) - tt) ** 2).sum(1).mean()) / var


def probe(est, step, loss):
    if step % every == 0:
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print((step, round(wall, 1), round(cpu, 1), round(uvp(est.network_), 3)), flush=True)


kw.setdefault("max_iter", 10**7 if T else 3000)
kw.setdefault("random_state", 0)
est = BrenierMap(time_limit=T or None, callback=probe, **kw).fit(X, Y)
ni = getattr(est.loss_fn_, "newton_iters", [])
print(
    f"FINAL d={d} {kw} mode={mode} n={n} steps={est.n_iter_} time={est.fit_time_:.1f} "
    f"cpu={time.process_time() - c0:.1f} l2uvp={uvp(est.network_):.3f} linear={lin:.2f} "
    f"newton_mean={sum(ni) / max(len(ni), 1):.2f}"
)

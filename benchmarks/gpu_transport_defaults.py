"""``BrenierMap(d)`` defaults on an accelerator: gmm-convex pair, L2-UVP and fit time.

Usage: ``python benchmarks/gpu_transport_defaults.py DEVICE TIME_LIMIT [D ...]`` (default
``D = 64 128``). Data are the benchmark's (20,000 samples per side, float32, seed 0) moved to
``DEVICE``; the fit is capped at ``TIME_LIMIT`` seconds; L2-UVP on 10,000 fresh source points.
"""

import sys

import torch

from ot_gradnets.transport import BrenierMap, l2_uvp, make_pair

dev, time_limit = sys.argv[1], float(sys.argv[2])
for d in [int(v) for v in sys.argv[3:]] or (64, 128):
    pair = make_pair("gmm-convex", d, 0, dtype=torch.float32)
    x = pair.sample_source(20000, torch.Generator().manual_seed(1)).to(dev)
    y = pair.sample_target(20000, torch.Generator().manual_seed(2)).to(dev)
    xt = pair.sample_source(10000, torch.Generator().manual_seed(3))
    m = BrenierMap(d, random_state=0, time_limit=time_limit).fit(x, y)
    pred = m.transform(xt.to(dev)).double().cpu()
    uvp = l2_uvp(pred, pair.transport(xt.double()), pair.target_variance())
    it = m.loss_fn_.newton_iters
    print(
        f"{dev} d={d}: L2-UVP {uvp:.3f}% steps {m.n_iter_} fit {m.fit_time_:.1f} s "
        f"({m.fit_time_ / m.n_iter_ * 1e3:.1f} ms/step, Newton mean {sum(it) / len(it):.2f}, "
        f"conjugates {m.loss_fn_._method})",
        flush=True,
    )

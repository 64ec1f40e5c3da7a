"""Seconds per ``BrenierMap`` training step with each conjugate solver (semi-dual loss).

Usage: ``OMP_NUM_THREADS=1 python benchmarks/transport_conjugate_methods.py D STEPS METHOD
[CG_RTOL [CG_ITER]]`` with METHOD in ``dense``, ``cg``, ``pcg``. Fits the default recipe on the
``gmm-convex`` pair (seed 0, 20,000 samples per side, float32) for STEPS steps and prints the
time per step, the Newton iterations per step, the last loss and the L2-UVP on 10,000 points.
"""

import sys
import time

import torch

from ot_gradnets.transport import BrenierMap, l2_uvp, make_pair

torch.set_num_threads(1)
d, steps, method = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rtol = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-6
cg_iter = int(sys.argv[5]) if len(sys.argv) > 5 else 20
pair = make_pair("gmm-convex", d, 0, dtype=torch.float32)
x = pair.sample_source(20000, torch.Generator().manual_seed(1))
y = pair.sample_target(20000, torch.Generator().manual_seed(2))
xt = pair.sample_source(10000, torch.Generator().manual_seed(3))
options = {"method": method, "cg_rtol": rtol, "cg_iter": cg_iter}
m = BrenierMap(d, max_iter=steps, random_state=0, loss_options=options)
start = time.perf_counter()
m.fit(x, y)
elapsed = time.perf_counter() - start
it = m.loss_fn_.newton_iters
uvp = l2_uvp(
    torch.as_tensor(m.transform(xt)).double(), pair.transport(xt.double()), pair.target_variance()
)
print(
    f"d={d} {method} rtol={rtol} cg_iter={cg_iter}: {elapsed / steps:.3f} s/step, "
    f"Newton {sum(it) / len(it):.2f}/step (last {it[-5:]}), loss {m.history_['loss'][-1]:.5f}, "
    f"L2-UVP {uvp:.3f}%"
)

"""Score the linear map and ``BrenierMap()``'s defaults on a candidate ``mix3to10`` potential.

How hard is a variant of the pair? Make its weights with ``datasets/mix3to10/make_weights.py``
into a folder, then score them (RESULTS.md, "Making the pair harder"):

    python datasets/mix3to10/make_weights.py --dims 16 --sharpness 0.02 --out out/s0.02
    OMP_NUM_THREADS=1 python benchmarks/transport_pair_variant.py out/s0.02 16
    OMP_NUM_THREADS=1 python benchmarks/transport_pair_variant.py datasets/mix3to10 16  # shipped

20,000 training samples per side (seeds 1 and 2), L2-UVP on 16,384 fresh source points (seed 99),
one thread; extra ``key=value`` arguments go to ``BrenierMap`` (ints or floats).
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch

from ot_gradnets.transport import BrenierMap, LinearMap, Mix3To10Pair, l2_uvp

torch.set_num_threads(1)
folder, d = Path(sys.argv[1]), int(sys.argv[2])
kw = {k: (int(v) if v.isdigit() else float(v)) for k, v in (a.split("=") for a in sys.argv[3:])}
with np.load(folder / f"d{d}.npz") as data:
    pair = Mix3To10Pair.from_arrays(dict(data), dtype=torch.float32)
gx, gy = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
X, Y = pair.sample_source(20_000, gx).numpy(), pair.sample_target(20_000, gy).numpy()
xt = pair.sample_source(16_384, torch.Generator().manual_seed(99))
tt, var = pair.transport(xt.double()), pair.target_variance()
linear = l2_uvp(LinearMap().fit(X, Y).transform(xt.numpy()), tt, var)
start = time.perf_counter()
est = BrenierMap(random_state=0, **kw).fit(X, Y)
brenier = l2_uvp(est.transform(xt.numpy()), tt, var)
print(
    f"{folder} d={d} {kw} linear={linear:.2f} brenier={brenier:.3f} steps={est.n_iter_} "
    f"time={time.perf_counter() - start:.0f}s",
    flush=True,
)

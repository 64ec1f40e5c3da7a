"""Where a ``BrenierMap`` training step spends its time, early and late in a fit.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/transport_conjugate_profile.py D START STOP
[PAIR [key=value ...]]``. Fits ``BrenierMap()`` with its defaults (and any ``key=value``
loss option, e.g. ``cg_rtol=1e-6``) on the pair (default ``gmm-icnn``, seed 0, 20,000 samples
per side), prints the CPU time and mean Newton iterations per step every 100 steps, profiles
steps START to STOP with cProfile, prints CPU seconds per step there, Newton iterations and CG
iterations per Newton step (network ``jvp`` calls per CG solve; 0 with dense Newton), and stops.
"""

import cProfile
import json
import pstats
import sys
import time

import torch

from ot_gradnets.transport import BrenierMap, make_pair

torch.set_num_threads(1)
d, start_at, stop_at = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
pair_name = sys.argv[4] if len(sys.argv) > 4 else "gmm-icnn"
options = {k: json.loads(v) for k, v in (a.split("=") for a in sys.argv[5:])}
pair = make_pair(pair_name, d, 0)
x = pair.sample_source(20000, generator=torch.Generator().manual_seed(1))
y = pair.sample_target(20000, generator=torch.Generator().manual_seed(2))
profile, marks = cProfile.Profile(), {}


def callback(est, step, loss):
    if step % 100 == 0:
        newton = est.loss_fn_.newton_iters[-100:]
        print(f"step {step}: CPU {time.process_time():.1f} s, Newton/step (last 100) "
              f"{sum(newton) / max(len(newton), 1):.2f}", flush=True)  # fmt: skip
    if step == start_at:
        marks["cpu"], marks["newton"] = time.process_time(), len(est.loss_fn_.newton_iters)
        profile.enable()
    if step == stop_at:
        profile.disable()
        steps = stop_at - start_at
        newton = est.loss_fn_.newton_iters[marks["newton"] :]
        stats = pstats.Stats(profile)
        # one network jvp per CG iteration (every jvp of the composed network has that count)
        cg = max((v[1] for f, v in stats.stats.items() if f[2] == "jvp"), default=0)
        solves = sum(v[1] for f, v in stats.stats.items() if f[2] == "_cg")
        print(f"steps {start_at}-{stop_at}: CPU {(time.process_time() - marks['cpu']) / steps:.3f}"
              f" s/step, Newton/step {sum(newton) / len(newton):.2f}, CG/Newton "
              f"{cg / max(solves, 1):.1f}")  # fmt: skip
        return True
    return False


BrenierMap(random_state=0, callback=callback, loss_options=options or None).fit(x, y)
pstats.Stats(profile).sort_stats("tottime").print_stats(12)

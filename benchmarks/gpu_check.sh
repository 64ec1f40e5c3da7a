#!/usr/bin/env bash
# GPU check of the rule "every public function works on CPU and GPU; dtype follows the input".
#
# Run from the repository root on the device machine, with .whl/ (POT + GeomLoss wheels for
# cp312, fetched with pip download as in the device README) carried: bash benchmarks/gpu_check.sh
# Writes $OUT/env.txt, $OUT/pip.log, $OUT/pytest_cuda.log, $OUT/junit_cuda.xml.
# Budget: pip ~10 s, imports ~10 s, pytest capped at 200 s: under 4 minutes in all.
#
# Local dry run of the pytest part (CPU, the venv already has pot/geomloss):
#   INSTALL=0 PY=.venv/bin/python DEVICE=cpu OUT=/tmp/gpu_check_out bash benchmarks/gpu_check.sh
set -u
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
SITE=${SITE:-/tmp/site}
INSTALL=${INSTALL:-1}
OUT=${OUT:-/tmp/gpu_check_out}
mkdir -p "$OUT"
t0=$(date +%s)

if [ "$INSTALL" = 1 ]; then
    # The package itself is not installed: PYTHONPATH=$PWD imports it from the tree (its version
    # is a literal in ot_gradnets/__init__.py; nothing reads installed metadata).
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" .whl/*.whl >"$OUT/pip.log" 2>&1 || { echo "pip install FAILED"; cat "$OUT/pip.log"; }
    export PYTHONPATH="$SITE:$PWD"
else
    export PYTHONPATH="$PWD"
fi
echo "install done after $(($(date +%s) - t0)) s"

"$PY" - "$DEVICE" <<'EOF' 2>&1 | tee "$OUT/env.txt"
import sys, platform
import torch, numpy, scipy, sklearn
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda,
      "numpy", numpy.__version__, "scipy", scipy.__version__, "sklearn", sklearn.__version__)
if sys.argv[1].startswith("cuda"):
    print("cuda available:", torch.cuda.is_available())
    if torch.cuda.is_available():
        print("device:", torch.cuda.get_device_name(0), "capability", torch.cuda.get_device_capability(0))
        print("tf32 matmul:", torch.backends.cuda.matmul.allow_tf32, "precision:", torch.get_float32_matmul_precision())
import ot, geomloss, ot_gradnets
print("pot", ot.__version__, ot.__file__)
print("geomloss", geomloss.__version__, geomloss.__file__)
print("ot_gradnets", ot_gradnets.__version__, ot_gradnets.__file__)
EOF
echo "env done after $(($(date +%s) - t0)) s"

# pyproject's addopts (--doctest-modules over the whole package, ...) are replaced by the options
# that matter here. No -x: one device run should show every failure (at most 25).
timeout 200 "$PY" -m pytest tests/test_devices.py tests/core/test_networks.py \
    --device "$DEVICE" -p no:cacheprovider -o addopts="" --import-mode=importlib \
    --strict-markers -m "not slow" -v -rfE --maxfail=25 --durations=15 \
    --junitxml="$OUT/junit_cuda.xml" 2>&1 | tee "$OUT/pytest_cuda.log"
rc=${PIPESTATUS[0]}
echo "pytest exit code $rc (124 = timed out) after $(($(date +%s) - t0)) s" | tee -a "$OUT/pytest_cuda.log"

# Part 2 (after the tests): the default BrenierMap recipe on the device, time-capped per fit.
timeout 170 "$PY" benchmarks/gpu_transport_defaults.py "$DEVICE" 70 2>&1 | grep -v "Warning" | tee "$OUT/gpu_bench.log"
echo "bench done after $(($(date +%s) - t0)) s"
exit "$rc"

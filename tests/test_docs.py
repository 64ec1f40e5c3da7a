"""The Sphinx documentation builds with warnings as errors (broken cross-references included).

Quick mode: the tutorials are rendered by sphinx-gallery but not run (``-D plot_gallery=0``).
The build runs on a copy of ``docs/`` and ``tutorials/``, so the generated sources (API pages,
rendered tutorials) stay out of the checkout.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("sphinx_gallery")
pytest.importorskip("furo")

pytestmark = pytest.mark.integration  # a Sphinx build in a subprocess: the second tier

ROOT = Path(__file__).resolve().parents[1]


def test_docs_build_without_warnings(tmp_path):
    generated = shutil.ignore_patterns("_build", "generated", "auto_tutorials", "__pycache__")
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=generated)
    shutil.copytree(ROOT / "tutorials", tmp_path / "tutorials", ignore=generated)
    out = tmp_path / "html"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    cmd += ["-D", "plot_gallery=0", str(tmp_path / "docs"), str(out)]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"sphinx-build failed:\n{proc.stderr[-8000:]}"
    api = out / "api" / "generated"
    for page in ["ot_gradnets.core.TrainingLoop", "ot_gradnets.transport.BrenierMap"]:
        assert (api / f"{page}.html").is_file(), page
    assert (out / "auto_tutorials" / "plot_transport_point_clouds.html").is_file()
    for guide in ["installation", "quickstart", "concepts", "cli", "reliability", "benchmarks"]:
        assert (out / "guide" / f"{guide}.html").is_file(), guide
    # every public method of BrenierMap is on its page, those of its private base included
    from ot_gradnets.transport import BrenierMap

    page = (api / "ot_gradnets.transport.BrenierMap.html").read_text()
    methods = _own_public_methods(BrenierMap)
    assert {"fit", "load", "transform", "inverse_transform", "potential", "w2"} <= set(methods)
    missing = [m for m in methods if f'id="ot_gradnets.transport.BrenierMap.{m}"' not in page]
    assert not missing, missing


def _own_public_methods(cls: type) -> list[str]:
    """Public methods that ``cls`` or one of this package's classes defines (not scikit-learn's
    or torch's, which their own documentation covers)."""
    names = []
    for klass in cls.__mro__:
        if not klass.__module__.startswith("ot_gradnets"):
            continue
        names += [
            n
            for n, v in vars(klass).items()
            if not n.startswith("_") and (callable(v) or isinstance(v, (classmethod, staticmethod)))
        ]
    return sorted(set(names))

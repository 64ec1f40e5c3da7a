"""Every tutorial runs end to end in its quick default mode and writes its figure."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("plot_*.py"))


def test_the_readme_names_every_tutorial_and_only_those():
    """Users find the tutorials through the README: each one it names exists, and each one
    that exists is named there."""
    named = set(re.findall(r"tutorials/(plot_\w+\.py)", (ROOT / "README.md").read_text()))
    assert TUTORIALS and named == {p.name for p in TUTORIALS}


@pytest.mark.parametrize("script", TUTORIALS, ids=lambda p: p.stem)
@pytest.mark.integration
def test_tutorial_runs(script, tmp_path, run_python):
    proc = run_python(str(script))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list(tmp_path.rglob("*.png")), f"{script.name} wrote no figure"

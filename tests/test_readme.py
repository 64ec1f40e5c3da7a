"""The README's front door works: its Python examples run as written, and its links resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
EXAMPLES = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_the_readme_has_an_example_per_use_and_stays_short():
    uses = ["BrenierMap", "fit_field", "fit_dynamics"]
    assert all(any(use in code for code in EXAMPLES) for use in uses), uses
    assert len(README.splitlines()) <= 200


def test_every_relative_link_of_the_readme_resolves():
    links = re.findall(r"\]\(([^)#]+)\)", README)
    local = [link for link in links if "://" not in link]
    assert local, "the README links to its guide pages"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, missing


@pytest.mark.integration
@pytest.mark.parametrize("code", EXAMPLES, ids=lambda c: re.findall(r"fit_\w+|BrenierMap", c)[0])
def test_readme_example_runs(code, run_python):
    proc = run_python("-c", code)
    assert proc.returncode == 0, proc.stderr[-3000:]

"""Shared test options: ``--device`` runs the same suite on another device (e.g. ``cuda``)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import settings

# Property tests run quick by default; set HYPOTHESIS_PROFILE=thorough for a longer search.
settings.register_profile("default", max_examples=15, deadline=None, derandomize=True)
settings.register_profile("thorough", max_examples=200, deadline=None)
settings.load_profile("default")

# One thread: the suite is many small ops, and on a shared machine threads only add contention.
torch.set_num_threads(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device", default="cpu", help="torch device to run the tests on")


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> torch.device:
    return torch.device(request.config.getoption("--device"))


@pytest.fixture
def run_python(tmp_path):  # noqa: ANN001, ANN201
    """Run ``python ARGS...`` in ``tmp_path`` as a user would (headless matplotlib, one thread,
    ten minutes at most) and return the finished process; the tutorial and README tests use it."""
    import os
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1")
        return subprocess.run(
            [sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=600, check=False,
        )  # fmt: skip

    return run

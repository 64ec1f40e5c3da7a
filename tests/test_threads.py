"""The library's thread policy: ``resolve_threads``, ``thread_limit``, ``threaded``, ``--threads``."""

from __future__ import annotations

import argparse

import pytest
import torch

import ot_gradnets._threads as threads_mod
from ot_gradnets import resolve_threads, thread_limit
from ot_gradnets._threads import (
    MAX_AUTO_THREADS,
    SMALL_WORK,
    add_threads_argument,
    model_step_work,
    threaded,
)


@pytest.fixture
def machine(monkeypatch):
    """A pretend machine: ``machine(cores, busy)``."""

    def set_machine(cores: int, busy: int) -> None:
        monkeypatch.setattr(threads_mod, "available_cores", lambda: cores)
        monkeypatch.setattr(threads_mod, "_busy_cores", lambda: busy)

    return set_machine


def test_small_work_gets_one_thread_whatever_the_machine(machine):
    machine(64, 0)
    assert resolve_threads("auto", SMALL_WORK / 2) == 1
    assert resolve_threads(None, 0.0) == 1


@pytest.mark.parametrize(
    ("cores", "busy", "expected"),
    [(2, 0, 2), (2, 1, 1), (2, 2, 1), (2, 5, 1), (16, 4, MAX_AUTO_THREADS), (6, 1, 5)],
)
def test_large_work_takes_the_idle_cores(machine, cores, busy, expected):
    machine(cores, busy)
    assert resolve_threads("auto", 10 * SMALL_WORK) == expected


def test_explicit_counts_are_used_as_given(machine):
    machine(2, 2)
    assert resolve_threads(7, 10 * SMALL_WORK) == 7
    for bad in (0, -2, 1.0, "8", True):
        with pytest.raises(ValueError, match="threads"):
            resolve_threads(bad)


def test_thread_limit_restores_the_count_even_on_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), thread_limit(before + 1):
        assert torch.get_num_threads() == before + 1
        raise RuntimeError
    assert torch.get_num_threads() == before


def test_threaded_runs_the_function_under_the_resolved_count(machine):
    machine(4, 0)
    seen = []

    @threaded(lambda a: a["work"])
    def job(work: float, threads: int | str = "auto") -> None:
        seen.append(torch.get_num_threads())

    before = torch.get_num_threads()
    job(1.0)
    job(10 * SMALL_WORK)
    job(1.0, threads=3)
    assert seen == [1, 4, 3] and torch.get_num_threads() == before
    with pytest.raises(TypeError, match="threads"):
        threaded(lambda a: 0.0)(lambda x: x)


def test_model_step_work_counts_parameters():
    net = torch.nn.Linear(10, 10)  # 110 parameters
    assert model_step_work(net, 100) == 6 * 110 * 100
    assert model_step_work({"a": net, "b": net}, 1) == 6 * 220


def test_threads_option():
    parser = argparse.ArgumentParser()
    add_threads_argument(parser)
    assert parser.parse_args([]).threads == "auto"
    assert parser.parse_args(["--threads", "3"]).threads == 3
    for bad in ("0", "x", "-1"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--threads", bad])

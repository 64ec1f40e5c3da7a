"""Data-parallel training on torch.distributed (gloo on the CPU): N ranks with batch b are one
process with batch N b, torchrun runs the CLI, rank 0 alone writes, a failing rank fails the job."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

HERE = Path(__file__).parent
pytestmark = [
    pytest.mark.integration,  # spawns processes: the second tier
    pytest.mark.skipif(
        not torch.distributed.is_available() or sys.platform == "win32",
        reason="needs torch.distributed with gloo (POSIX)",
    ),
]


@pytest.fixture
def workers(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    import ddp_workers

    return ddp_workers


@pytest.mark.parametrize("loss", ["w2", "sinkhorn", "dual"])
def test_two_ranks_with_batch_b_are_one_process_with_batch_2b(workers, tmp_path, loss):
    one = workers.fit(loss, batch_size=64, steps=50)
    for got in _two_ranks(workers, tmp_path, "fit", (loss, 32, 50)):
        # every rank ends with the same map, the one-process map
        torch.testing.assert_close(got["images"], one["images"], rtol=0, atol=1e-10)
        assert got["loss"] == pytest.approx(one["loss"], rel=1e-10)


def _two_ranks(workers, tmp_path, job: str, args: tuple) -> list:
    import torch.multiprocessing as mp

    out = str(tmp_path / job)
    mp.spawn(workers.run_rank, args=(2, str(tmp_path / "store"), job, args, out), nprocs=2)
    return [torch.load(f"{out}.{r}", weights_only=True) for r in (0, 1)]


@pytest.mark.parametrize("job", ["fit_field_weights", "fit_dynamics_weights"])
def test_field_and_hamiltonian_regression_share_the_data_parallel_loop(workers, tmp_path, job):
    one = getattr(workers, job)(batch_size=40)
    for got in _two_ranks(workers, tmp_path, job, (20,)):
        for a, b in zip(got, one, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", *args]
    return subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("ddp_cli")
    rng = np.random.default_rng(0)
    np.save(d / "x.npy", rng.normal(size=(2000, 3)))
    np.save(d / "y.npy", 0.5 * rng.normal(size=(2000, 3)) ** 3 + 1.0)
    return d


FIT = ["fit", "x.npy", "y.npy", "--max-iter", "30", "--seed", "0", "--float64"]


def _one_process_map(files: Path, batch: int) -> np.ndarray:
    from ot_gradnets.cli import main
    from ot_gradnets.transport import BrenierMap

    out = files / f"one_{batch}.pt"
    if not out.exists():
        cwd = os.getcwd()
        os.chdir(files)
        try:
            assert main([*FIT, "--batch-size", str(batch), "-o", out.name, "--threads", "1"]) == 0
        finally:
            os.chdir(cwd)
    return BrenierMap.load(out).transform(np.load(files / "x.npy")[:200])


def test_torchrun_fit_writes_one_map_from_rank_0(files):
    from ot_gradnets.transport import BrenierMap

    run = _torchrun("--nproc-per-node", "2", "--master-port", str(_free_port()), "-m",
                    "ot_gradnets", *FIT, "--batch-size", "64", "-o", "ddp.pt", cwd=files)  # fmt: skip
    out, _ = run.communicate(timeout=300)
    assert run.returncode == 0, out
    assert out.count("saved ddp.pt") == 1  # rank 0 alone reports and writes
    assert not list(files.glob(".ddp.pt*"))  # no temporary file left behind
    got = BrenierMap.load(files / "ddp.pt").transform(np.load(files / "x.npy")[:200])
    np.testing.assert_allclose(got, _one_process_map(files, 128), rtol=0, atol=1e-8)


def test_two_nodes_on_localhost_rendezvous_train_one_map(files):
    from ot_gradnets.transport import BrenierMap

    port = str(_free_port())
    common = ["--nnodes", "2", "--nproc-per-node", "1", "--master-addr", "127.0.0.1",
              "--master-port", port]  # fmt: skip
    nodes = [
        _torchrun(
            *common,
            "--node-rank",
            str(rank),
            "-m",
            "ot_gradnets",
            *FIT,
            "--batch-size",
            "64",
            "-o",
            f"node{rank}.pt",
            cwd=files,
        )  # fmt: skip
        for rank in (0, 1)
    ]
    outs = [node.communicate(timeout=300)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outs
    assert (files / "node0.pt").exists() and not (files / "node1.pt").exists()  # rank 0 writes
    got = BrenierMap.load(files / "node0.pt").transform(np.load(files / "x.npy")[:200])
    np.testing.assert_allclose(got, _one_process_map(files, 128), rtol=0, atol=1e-8)


def test_a_failing_rank_fails_the_job_with_its_error(files):
    run = _torchrun("--nproc-per-node", "2", "--master-port", str(_free_port()),
                    str(HERE / "ddp_workers.py"), *FIT, "-o", "fail.pt", cwd=files)  # fmt: skip
    out, _ = run.communicate(timeout=120)  # not a hang: torchrun stops the other rank
    assert run.returncode != 0
    assert "x.npy.missing" in out and "no such file" in out
    assert not (files / "fail.pt").exists()

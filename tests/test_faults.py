"""The fault table of benchmarks/RESULTS.md ("Faults"): every bad input, file or interruption
gets one clear error (CLI: one line, exit code 2), and nothing the user keeps is overwritten."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from ot_gradnets.cli import main
from ot_gradnets.transport import BrenierMap


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("faults")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    np.save(d / "x.npy", x)
    np.save(d / "y.npy", 2 * x + 1)
    BrenierMap(max_iter=3, random_state=0).fit(x, 2 * x + 1).save(d / "map.pt")
    (d / "empty.npy").write_bytes(b"")
    (d / "folder").mkdir()
    (d / "bad_first.csv").write_text("1.0,abc\n2.0,3.0\n")
    (d / "bad_third.csv").write_text("x,y\n1.0,2.0\n3.0\n")
    (d / "header.csv").write_text("x,y\n" + "\n".join(f"{a},{b}" for a, b in x) + "\n")
    return {p.name: p for p in d.iterdir()}


# (name, argv with {file} placeholders, the message's key words)
CLI_FAULTS = [
    ("empty .npy", ["fit", "{empty.npy}", "{y.npy}", "-o", "{out.pt}"], "is empty"),
    ("directory as input", ["fit", "{folder}", "{y.npy}", "-o", "{out.pt}"], "is a directory"),
    ("corrupt first CSV row", ["fit", "{bad_first.csv}", "{y.npy}", "-o", "{out.pt}"], "line 1"),
    ("short CSV row", ["fit", "{bad_third.csv}", "{y.npy}", "-o", "{out.pt}"], "line 3"),
    ("missing model", ["transform", "{nope.pt}", "{x.npy}", "-o", "{out.npy}"], "no such file"),
    ("directory as model", ["transform", "{folder}", "{x.npy}", "-o", "{out.npy}"], "directory"),
    ("npy as model", ["transform", "{x.npy}", "{x.npy}", "-o", "{out.npy}"], "not a readable"),
    ("output = input", ["fit", "{x.npy}", "{y.npy}", "-o", "{x.npy}"], "also an input file"),
    ("output = model", ["transform", "{map.pt}", "{x.npy}", "-o", "{map.pt}"], "also an input"),
]


@pytest.mark.parametrize("name, argv, words", CLI_FAULTS, ids=[f[0] for f in CLI_FAULTS])
def test_cli_faults_say_one_line_and_exit_2(files, tmp_path, capsys, name, argv, words) -> None:  # noqa: ANN001
    before = {k: p.read_bytes() for k, p in files.items() if p.is_file()}
    paths = {**{k: str(p) for k, p in files.items()}, "out.pt": str(tmp_path / "o.pt")}
    paths |= {"out.npy": str(tmp_path / "o.npy"), "nope.pt": str(tmp_path / "nope.pt")}
    argv = [paths[a[1:-1]] if a.startswith("{") else a for a in argv]
    assert main([*argv, "--max-iter", "2"] if argv[0] == "fit" else argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ot-gradnets: error:") and words in err[0], err
    assert {k: p.read_bytes() for k, p in files.items() if p.is_file()} == before


def test_a_csv_header_of_column_names_is_read(files, tmp_path) -> None:  # noqa: ANN001
    out = tmp_path / "m.pt"
    assert main(["fit", str(files["header.csv"]), str(files["y.npy"]), "-o", str(out),
                 "--max-iter", "2"]) == 0  # fmt: skip


@pytest.mark.parametrize(
    "data, words",
    [
        (np.ones((50, 2)) + 1j, "is complex"),
        (torch.ones(50, 2, dtype=torch.complex64), "is complex"),
        (np.ones((50, 2), dtype=bool), "is boolean"),
        (torch.ones(50, 2, dtype=torch.bool), "is boolean"),
        (torch.eye(50, 2).to_sparse(), "sparse input is not supported"),
    ],
    ids=["complex array", "complex tensor", "bool array", "bool tensor", "sparse tensor"],
)
def test_bad_inputs_are_refused_before_any_work(data, words) -> None:  # noqa: ANN001
    est = BrenierMap(max_iter=2)
    with pytest.raises(ValueError, match=words):
        est.fit(data, np.ones((50, 2)))
    assert not hasattr(est, "network_")


def test_scipy_sparse_is_refused() -> None:
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(ValueError, match=r"call \.toarray\(\)"):
        BrenierMap(max_iter=2).fit(sparse.random(50, 2, density=0.5), np.ones((50, 2)))


@pytest.mark.parametrize("kw, words", [({"dtype": torch.float16}, "lower precisions"),
                                       ({"device": "not-a-device"}, "is not a device")])  # fmt: skip
def test_settings_that_cannot_work_say_why_first(kw, words) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=words):
        BrenierMap(max_iter=2, **kw).fit(np.ones((50, 2)), np.ones((50, 2)))


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is available here")
def test_cuda_without_a_gpu_says_so() -> None:
    with pytest.raises(ValueError, match="no cuda device"):
        BrenierMap(max_iter=2, device="cuda").fit(np.ones((50, 2)), np.ones((50, 2)))


def test_a_failed_save_keeps_the_old_file(files, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    path = tmp_path / "map.pt"
    path.write_bytes(files["map.pt"].read_bytes())
    est = BrenierMap.load(path)

    def full_disk(obj, fh) -> None:  # noqa: ANN001 - a write that fails part-way
        fh.write(b"PK\x03\x04 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        est.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == files["map.pt"].read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["map.pt"]  # no temporary file left


def test_a_kill_during_save_keeps_the_old_file(files, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    path = tmp_path / "map.pt"
    path.write_bytes(files["map.pt"].read_bytes())

    def killed(src, dst) -> None:  # noqa: ANN001 - the process dies before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        BrenierMap.load(path).save(path)
    monkeypatch.undo()
    assert BrenierMap.load(path).n_features_in_ == 2


def test_a_checkpoint_of_another_fit_is_refused(tmp_path) -> None:  # noqa: ANN001
    rng = np.random.default_rng(0)
    ck = tmp_path / "ck.pt"
    x2, x3 = rng.normal(size=(100, 2)), rng.normal(size=(100, 3))
    BrenierMap(max_iter=4, checkpoint=ck, random_state=0).fit(x2, x2)
    with pytest.raises(ValueError, match="other config and data|other data|other config"):
        BrenierMap(max_iter=4, checkpoint=ck, random_state=0).fit(x3, x3, resume=True)
    with pytest.raises(ValueError, match="other config"):
        BrenierMap(max_iter=8, checkpoint=ck, random_state=0).fit(x2, x2, resume=True)
    ck.write_bytes(ck.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        BrenierMap(max_iter=4, checkpoint=ck, random_state=0).fit(x2, x2, resume=True)


def test_a_checkpoint_of_another_version_is_refused(tmp_path) -> None:  # noqa: ANN001
    x = np.random.default_rng(0).normal(size=(100, 2))
    ck = tmp_path / "ck.pt"
    BrenierMap(max_iter=4, checkpoint=ck, random_state=0).fit(x, x)
    data = torch.load(ck, weights_only=True)
    data["version"] = "0.0.1"
    torch.save(data, ck)
    with pytest.raises(ValueError, match="written by ot_gradnets 0.0.1"):
        BrenierMap(max_iter=4, checkpoint=ck, random_state=0).fit(x, x, resume=True)


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.integration
def test_a_killed_benchmark_resumes_keeping_its_finished_rows(tmp_path) -> None:  # noqa: ANN001
    """SIGKILL in the middle of ``bench transport``: the CSV holds whole rows only, and the
    same command with ``--resume`` keeps them as they were and adds the missing ones."""
    import csv
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "bench"
    argv = [sys.executable, "-m", "ot_gradnets", "bench", "transport", "--quick", "--pairs",
            "gaussian", "--dims", "2", "4", "--methods", "linear", "brenier", "--time-limit", "3",
            "--threads", "1", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    table = out / "transport.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        rows = list(csv.DictReader(table.open())) if table.exists() else []
        if rows:  # the first fit is written: kill during the second
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the benchmark finished before it was killed"
    kept = list(csv.DictReader(table.open()))
    assert 1 <= len(kept) < 4 and all(r["L2-UVP %"] for r in kept)
    assert main(argv[3:] + ["--resume"]) == 0
    final = list(csv.DictReader(table.open()))
    assert len(final) == 4
    assert all(r in final for r in kept)  # the finished rows as they were, fit times too


@pytest.mark.parametrize("text", ["", "a,b\n", "\n\n"], ids=["empty", "header alone", "blank"])
def test_convert_of_a_csv_without_data_says_so(tmp_path, capsys, text):
    (tmp_path / "x.csv").write_text(text)
    assert main(["convert", str(tmp_path / "x.csv"), "-o", str(tmp_path / "x.npy")]) == 2
    err = capsys.readouterr().err
    assert "holds no data rows" in err and "Warning" not in err
    assert not (tmp_path / "x.npy").exists()

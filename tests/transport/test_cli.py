"""The transport sub-commands of the ``ot-gradnets`` CLI (tiny runs)."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
import torch

from ot_gradnets.cli import build_parser, main
from ot_gradnets.transport import DEMO_DISTRIBUTIONS, BrenierMap, sample_demo


@pytest.mark.parametrize("name", sorted(DEMO_DISTRIBUTIONS))
def test_demo_distributions(name):
    x = sample_demo(name, 300, torch.Generator().manual_seed(0))
    assert x.shape == (300, 2) and x.dtype == torch.float64 and torch.isfinite(x).all()
    assert float(x.std(0).min()) > 0.1  # a genuine 2-D cloud
    with pytest.raises(ValueError, match="one of"):
        sample_demo("spiral-galaxy", 3)


def test_checkerboard_lies_on_the_odd_cells():
    x = sample_demo("checkerboard", 2000, torch.Generator().manual_seed(0))
    parity = (torch.floor(x[:, 0]) + torch.floor(x[:, 1])).remainder(2)
    assert bool((parity == 1).all()) and float(x.abs().max()) <= 2.0


def test_a_demo_that_has_not_learned_its_target_says_so_and_fails(tmp_path, capsys):
    """Five steps cannot turn a Gaussian into moons: the figure and the map are written, and the
    demo says that the map is not the target's, with exit status 3."""
    rc = main(["demo", "--quick", "--max-iter", "5", "--out", str(tmp_path)])
    assert rc == 3
    captured = capsys.readouterr()
    assert "closed" in captured.out and "of the gap" in captured.out and "5 steps" in captured.out
    assert "has not learned 'moons'" in captured.err and "--max-iter" in captured.err
    png = tmp_path / "demo.png"
    assert png.exists() and png.read_bytes()[:4] == b"\x89PNG"
    assert BrenierMap.load(tmp_path / "demo_map.pt").n_features_in_ == 2


@pytest.mark.integration
@pytest.mark.parametrize("target", ["moons", "ring", "checkerboard", "banana"])
def test_the_quick_demo_learns_every_built_in_target(tmp_path, capsys, target):
    assert main(["demo", "--quick", "--target", target, "--out", str(tmp_path)]) == 0
    closed = re.search(r"closed (\d+)% of the gap", capsys.readouterr().out)
    assert closed and int(closed[1]) >= 50


@pytest.mark.parametrize("ext", [".npy", ".csv", ".npz"])
def test_fit_then_transform_files(tmp_path, ext, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    y = 2.0 * rng.normal(size=(300, 3)) + 1.0
    paths = {}
    for name, arr in (("x", x), ("y", y)):
        paths[name] = tmp_path / f"{name}{ext}"
        if ext == ".npy":
            np.save(paths[name], arr)
        elif ext == ".npz":
            np.savez(paths[name], data=arr)
        else:
            np.savetxt(paths[name], arr, delimiter=",", header="a,b,c", comments="")
    map_path = tmp_path / "map.pt"
    assert (
        main(
            [
                "fit",
                str(paths["x"]),
                str(paths["y"]),
                "-o",
                str(map_path),
                "--max-iter",
                "20",
                "--float64",
            ]
        )
        == 0
    )
    assert "saved" in capsys.readouterr().out
    out_path = tmp_path / f"out{ext}"
    assert main(["transform", str(map_path), str(paths["x"]), "-o", str(out_path)]) == 0
    if ext == ".npy":
        out = np.load(out_path)
    elif ext == ".npz":
        out = np.load(out_path)["Y"]
    else:
        out = np.loadtxt(out_path, delimiter=",")
    expected = BrenierMap.load(map_path).transform(x)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-8)
    back_path = tmp_path / f"back{ext}"
    assert main(["transform", str(map_path), str(out_path), "-o", str(back_path), "--inverse"]) == 0


def test_cli_errors_return_1(tmp_path, capsys):
    assert main(["transform", str(tmp_path / "missing.pt"), "x.npy", "-o", "y.npy"]) == 2
    bad = tmp_path / "x.json"
    bad.write_text("[]")
    assert main(["fit", str(bad), str(bad), "-o", str(tmp_path / "m.pt")]) == 2
    assert "unsupported file type" in capsys.readouterr().err
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full((10, 2), np.nan))
    assert main(["fit", str(nan), str(nan), "-o", str(tmp_path / "m.pt")]) == 2
    assert "non-finite" in capsys.readouterr().err


def test_bench_transport_is_registered():
    args = build_parser().parse_args(["bench", "transport", "--quick", "--dims", "2", "8"])
    assert args.quick and args.dims == [2, 8] and args.out == "out/bench_transport"
    assert args.methods is None and args.time_limit is None and callable(args.func)
    args = build_parser().parse_args(
        ["bench", "transport", "--methods", "brenier-dual,brenier-w2", "linear", "--out", "o"]
    )  # one list syntax: spaces, commas, or both
    assert args.methods == ["brenier-dual", "brenier-w2", "linear"] and args.out == "o"
    with pytest.raises(SystemExit) as err:  # an unknown method is refused before any work
        build_parser().parse_args(["bench", "transport", "--methods", "dual"])
    assert err.value.code == 2


def test_fit_with_a_held_out_share(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(size=(300, 2)))
    np.save(tmp_path / "y.npy", 2.0 * rng.normal(size=(300, 2)) + 1.0)
    args = ["fit", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "-o", str(tmp_path / "m.pt")]
    args += ["--max-iter", "250", "--validation-fraction", "0.2", "--n-iter-no-change", "1"]
    assert main(args) == 0
    tmap = BrenierMap.load(tmp_path / "m.pt")
    assert tmap.validation_fraction == 0.2 and tmap.n_iter_no_change == 1


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and select on pipes")
@pytest.mark.integration
def test_ctrl_c_during_fit_saves_the_map_and_exits_130(tmp_path):
    import os
    import select
    import signal
    import subprocess
    import time

    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(size=(2000, 2)))
    np.save(tmp_path / "y.npy", 2.0 * rng.normal(size=(2000, 2)) + 1.0)
    out = tmp_path / "m.pt"
    cmd = [sys.executable, "-m", "ot_gradnets", "fit", str(tmp_path / "x.npy")]
    cmd += [str(tmp_path / "y.npy"), "-o", str(out), "--max-iter", "1000000", "--threads", "1"]
    proc = subprocess.Popen([*cmd, "-v"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen, deadline = b"", time.monotonic() + 120
    while b"BrenierMap[" not in seen and time.monotonic() < deadline:  # training has started
        ready, _, _ = select.select([proc.stderr], [], [], 1.0)
        if ready:
            seen += os.read(proc.stderr.fileno(), 4096)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    err = (seen + rest).decode(errors="replace")
    assert proc.returncode == 130, err
    assert "interrupted after" in err and "Traceback" not in err
    assert BrenierMap.load(out).n_iter_ > 0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.integration
def test_fit_killed_and_resumed_ends_with_the_uninterrupted_map(tmp_path):
    import signal
    import subprocess
    import time

    rng = np.random.default_rng(0)
    x, y = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(x, rng.normal(size=(2000, 2)))
    np.save(y, rng.normal(size=(2000, 2)) ** 3 + 1.0)
    common = [str(x), str(y), "--max-iter", "600", "--seed", "0", "--threads", "1"]
    assert main(["fit", *common, "-o", str(tmp_path / "full.pt")]) == 0

    ck, part = tmp_path / "ck.pt", tmp_path / "part.pt"
    resumable = [*common, "-o", str(part), "--checkpoint", str(ck), "--checkpoint-every", "50"]
    proc = subprocess.Popen([sys.executable, "-m", "ot_gradnets", "fit", *resumable])
    step, deadline = 0, time.monotonic() + 120
    while step < 100 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
        if ck.exists():
            step = torch.load(ck, weights_only=True)["state"]["loop"]["step"]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and not part.exists()  # killed mid-fit
    kept = torch.load(ck, weights_only=True)["state"]["loop"]["step"]
    assert 100 <= kept < 600 and kept % 50 == 0

    assert main(["fit", *resumable, "--resume"]) == 0
    full, resumed = BrenierMap.load(tmp_path / "full.pt"), BrenierMap.load(part)
    pts = np.load(x)[:500].astype(np.float32)
    np.testing.assert_array_equal(resumed.transform(pts), full.transform(pts))
    assert resumed.history_["loss"] == full.history_["loss"]


def test_an_npz_of_several_arrays_needs_a_key(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "x.npz", train=rng.normal(size=(60, 2)), test=rng.normal(size=(9, 2)))
    np.save(tmp_path / "y.npy", rng.normal(size=(60, 2)))
    args = ["fit", str(tmp_path / "x.npz"), str(tmp_path / "y.npy"), "-o", str(tmp_path / "m.pt")]
    assert main(args) == 2
    assert "holds 2 arrays (train, test); say which with --key NAME" in capsys.readouterr().err
    assert main([*args, "--key", "train", "--max-iter", "2"]) == 0


def test_fit_errors_name_the_files_not_the_estimators_arguments(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "pts.npy", rng.normal(size=(50, 2)))
    np.save(tmp_path / "one.npy", np.ones((50, 2)))
    args = [
        "fit",
        str(tmp_path / "one.npy"),
        str(tmp_path / "pts.npy"),
        "-o",
        str(tmp_path / "m.pt"),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"The source ({tmp_path / 'one.npy'}) has no variance" in err
    assert f"while the target ({tmp_path / 'pts.npy'}) has" in err


def test_device_option_and_defaults_in_help(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(size=(80, 2)))
    np.save(tmp_path / "y.npy", 2 * rng.normal(size=(80, 2)))
    fit = ["fit", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "-o", str(tmp_path / "m.pt")]
    assert main([*fit, "--max-iter", "2", "--device", "cpu"]) == 0
    out = ["transform", str(tmp_path / "m.pt"), str(tmp_path / "x.npy"), "-o"]
    assert main([*out, str(tmp_path / "t.npy"), "--device", "cpu"]) == 0
    if not torch.cuda.is_available():
        capsys.readouterr()
        assert main([*fit, "--max-iter", "2", "--device", "cuda"]) == 2
        assert "no cuda device" in capsys.readouterr().err
    text = build_parser().parse_args(["fit", "a", "b", "-o", "c"])  # parses
    assert text.device is None
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["fit"]
    help_text = " ".join(sub.format_help().split())
    assert "(default 3,000)" in help_text and "(default 512)" in help_text

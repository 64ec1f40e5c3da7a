"""Writing never destroys: links are written through, special files and unwritable places are
refused before any work, and the API and the command line agree on missing folders."""

from __future__ import annotations

import os
import stat
import sys

import numpy as np
import pytest
import torch

from ot_gradnets import BrenierMap
from ot_gradnets._io import atomic_open, check_output_path
from ot_gradnets.cli import main

posix = pytest.mark.skipif(sys.platform == "win32", reason="POSIX links and FIFOs")


@pytest.fixture(scope="module")
def tmap():
    x = torch.randn(200, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return BrenierMap(max_iter=5, random_state=0).fit(x, 2 * x + 1)


@posix
def test_a_link_is_written_through_and_stays_a_link(tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    with atomic_open(link) as fh:
        fh.write("new")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.txt", "real.txt"]  # no leftovers


@posix
def test_a_fifo_is_refused_and_left_alone(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="is a FIFO, not a regular file"):
        check_output_path(fifo)
    with pytest.raises(ValueError, match="FIFO"), atomic_open(fifo, "wb"):
        pass
    assert stat.S_ISFIFO(fifo.stat().st_mode)


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_a_device_is_refused(tmap):
    with pytest.raises(ValueError, match="is a device"):
        tmap.save("/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(ValueError, match="is a folder"):
        check_output_path(tmp_path)


def test_save_creates_missing_folders_as_the_cli_does(tmap, tmp_path):
    tmap.save(tmp_path / "new" / "dir" / "m.pt")
    assert BrenierMap.load(tmp_path / "new" / "dir" / "m.pt").n_features_in_ == 2


@posix
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_folder_is_named_before_any_work(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OSError, match="cannot write .*m.pt"):
            check_output_path(folder / "m.pt")
    finally:
        folder.chmod(0o700)


def test_the_cli_refuses_an_unwritable_output_before_fitting(tmp_path, capsys, monkeypatch):
    x = np.random.default_rng(0).normal(size=(100, 2))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", 2 * x)

    def no_fit(*args, **kwargs):
        raise AssertionError("the fit ran before the output was checked")

    monkeypatch.setattr(BrenierMap, "fit", no_fit)
    # a path under a regular file can never be created, for root too
    bad = tmp_path / "x.npy" / "m.pt"
    code = main(["fit", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "-o", str(bad)])
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "m.pt" in err and ".tmp" not in err and ".probe" not in err


def test_a_checkpoint_path_is_checked_when_the_fit_starts(tmp_path):
    x = torch.randn(100, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    est = BrenierMap(max_iter=5, checkpoint=tmp_path / "x.pt" / "c.ckpt", random_state=0)
    (tmp_path / "x.pt").write_text("a file, not a folder")
    with pytest.raises(OSError, match="cannot write"):
        est.fit(x, 2 * x)

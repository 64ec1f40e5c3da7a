"""Saved maps: round trip, and a clear error for every kind of bad file."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from ot_gradnets.cli import main
from ot_gradnets.transport import BrenierMap


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[BrenierMap, bytes]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 3, generator=g, dtype=torch.float64)
    tmap = BrenierMap(max_iter=5, random_state=0).fit(x, 2 * x + 1)
    path = tmp_path_factory.mktemp("m") / "map.pt"
    tmap.save(path)
    return tmap, path.read_bytes()


def test_round_trip(saved: tuple[BrenierMap, bytes], tmp_path) -> None:  # noqa: ANN001
    tmap, data = saved
    (tmp_path / "m.pt").write_bytes(data)
    back = BrenierMap.load(tmp_path / "m.pt")
    x = torch.randn(20, 3, dtype=torch.float64)
    assert torch.equal(back.transform(x), tmap.transform(x))


def _damaged(data: bytes) -> dict[str, bytes]:
    flipped = bytearray(data)
    for i in range(len(flipped) // 3, len(flipped) // 3 + 64):
        flipped[i] ^= 0xFF
    return {"empty": b"", "truncated": data[: len(data) // 2], "bit-flipped": bytes(flipped)}


@pytest.mark.parametrize("kind", ["empty", "truncated", "bit-flipped"])
def test_damaged_files_give_one_clear_error(saved, tmp_path, kind: str) -> None:  # noqa: ANN001
    path = tmp_path / "m.pt"
    path.write_bytes(_damaged(saved[1])[kind])
    with pytest.raises(ValueError, match="not a readable map file|damaged"):
        BrenierMap.load(path)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_other_files_are_refused_and_code_is_never_run(tmp_path) -> None:  # noqa: ANN001
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    (tmp_path / "x.npy").rename(tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a readable map file") as err:
        BrenierMap.load(tmp_path / "x.pt")
    assert "do not load a file you did not write with weights_only=False" in str(err.value)
    ran = tmp_path / "ran"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(_Evil(str(ran))))
    with pytest.raises(ValueError, match="not a readable map file"):
        BrenierMap.load(evil)
    assert not ran.exists()
    with pytest.raises(ValueError, match="is a directory"):
        BrenierMap.load(tmp_path)
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a file written by BrenierMap.save"):
        BrenierMap.load(tmp_path / "other.pt")


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):  # noqa: ANN204
        return (open, (self.path, "w"))


def test_non_finite_weights_are_never_saved_nor_loaded(saved, tmp_path) -> None:  # noqa: ANN001
    import copy

    from ot_gradnets.transport._persistence import _checksum

    tmap, data = saved
    broken = copy.deepcopy(tmap)
    with torch.no_grad():
        next(broken.network_.parameters()).fill_(float("nan"))
    with pytest.raises(ValueError, match="non-finite weights .* was not saved"):
        broken.save(tmp_path / "nan.pt")
    assert not (tmp_path / "nan.pt").exists()
    # a file written otherwise (by hand, by another tool) is refused when loaded
    (tmp_path / "ok.pt").write_bytes(data)
    state = torch.load(tmp_path / "ok.pt", weights_only=True)
    first = next(iter(state["state_dict"]))
    state["state_dict"][first] = torch.full_like(state["state_dict"][first], float("nan"))
    state["checksum"] = _checksum(state["state_dict"])
    torch.save(state, tmp_path / "nan.pt")
    with pytest.raises(ValueError, match="non-finite weights"):
        BrenierMap.load(tmp_path / "nan.pt")


def test_cli_refuses_to_overwrite_an_input(tmp_path, capsys) -> None:  # noqa: ANN001
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(0).normal(size=(50, 2)))
    before = x.read_bytes()
    assert main(["fit", str(x), str(x), "-o", str(x), "--max-iter", "2"]) == 2
    assert "is also an input file" in capsys.readouterr().err
    assert x.read_bytes() == before
    assert (
        main(["transform", str(tmp_path / "none.pt"), str(x), "-o", str(tmp_path / "y.npy")]) == 2
    )
    assert "no such file" in capsys.readouterr().err

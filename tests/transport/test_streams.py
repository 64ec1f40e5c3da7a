"""Streamed samples: memory-mapped .npy files and datasets give the in-memory fit, in bounded
memory (``ot_gradnets.transport._streams``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ot_gradnets.cli import main
from ot_gradnets.transport import BrenierMap
from ot_gradnets.transport._streams import StreamedSource, open_stream


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("streams")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 4))
    y = 0.5 * rng.normal(size=(2500, 4)) ** 3 + 1.0
    np.save(d / "x.npy", x)
    np.save(d / "y.npy", y)
    return d, x, y


@pytest.mark.parametrize("loss", ["w2", "sinkhorn", "dual"])
def test_a_memory_mapped_fit_is_the_in_memory_fit(files, loss):
    d, x, y = files
    kw = dict(loss=loss, max_iter=50, batch_size=64, random_state=0)
    memory = BrenierMap(**kw).fit(torch.tensor(x), torch.tensor(y))
    streamed = BrenierMap(**kw).fit(str(d / "x.npy"), np.load(d / "y.npy", mmap_mode="r"))
    pts = torch.tensor(x[:300])
    # the same batches; only the moments' rounding (chunked sums) differs
    torch.testing.assert_close(streamed.transform(pts), memory.transform(pts), rtol=0, atol=1e-10)
    assert streamed.history_["loss"] == pytest.approx(memory.history_["loss"], rel=1e-10)


class Rows(torch.utils.data.Dataset):
    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(self.array[i])


def test_a_dataset_is_streamed_like_the_array(files):
    _, x, y = files
    kw = dict(loss="w2", max_iter=20, batch_size=32, random_state=1)
    memory = BrenierMap(**kw).fit(x, y)
    streamed = BrenierMap(**kw).fit(Rows(x), Rows(y))
    pts = x[:100]
    np.testing.assert_allclose(streamed.transform(pts), memory.transform(pts), atol=1e-10)


def test_an_iterable_dataset_is_read_in_order_as_a_sampler(files):
    _, x, y = files

    class Stream(torch.utils.data.IterableDataset):
        def __init__(self, array):
            self.array = array

        def __iter__(self):
            return iter(torch.from_numpy(self.array))

    tmap = BrenierMap(loss="w2", max_iter=10, batch_size=32, random_state=0)
    tmap.fit(Stream(x), Stream(y))
    assert tmap.n_iter_ == 10 and np.isfinite(tmap.transform(x[:10])).all()


def test_a_long_stream_keeps_a_bounded_pool_and_resumes_exactly(files, tmp_path, monkeypatch):
    from ot_gradnets.transport import _losses

    monkeypatch.setattr(_losses, "WHOLE_STREAM_ROWS", 100)  # 2,500 rows count as long here
    d, x, _ = files
    kw = dict(max_iter=40, batch_size=64, random_state=0, loss_options={"pool_size": 256})
    full = BrenierMap(**kw).fit(str(d / "x.npy"), str(d / "y.npy"))
    assert full.loss_fn_.pool.shape == (256, 4) and full.loss_fn_._sampled_pool
    ck = tmp_path / "ck.pt"

    def kill(_: object, step: int, loss: float) -> None:  # stands for a kill mid-fit
        if step == 25:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        BrenierMap(**kw, checkpoint=str(ck), checkpoint_every=10, callback=kill).fit(
            str(d / "x.npy"), str(d / "y.npy")
        )
    resumed = BrenierMap(**kw, checkpoint=str(ck), checkpoint_every=10)
    resumed.fit(str(d / "x.npy"), str(d / "y.npy"), resume=True)
    pts = x[:200]
    np.testing.assert_array_equal(resumed.transform(pts), full.transform(pts))


def test_held_out_rows_are_never_drawn_for_training():
    arr = np.arange(40, dtype=np.float64).reshape(20, 2)
    src = open_stream(_memmap(arr), "X", None, None, None)
    held = src.hold_out_rows(5, torch.Generator().manual_seed(0))
    skipped = set(src.skip.tolist())
    assert len(skipped) == 5 and src.size == 15
    assert {int(r) for r in held[:, 0].tolist()} == {2 * i for i in skipped}
    batch, idx = src.draw(2000, torch.Generator().manual_seed(1))
    rows = {int(v) // 2 for v in batch[:, 0].tolist()}
    assert idx is None and rows == set(range(20)) - skipped  # every other row, and only those
    assert [int(v) // 2 for v in src.head(15)[:, 0].tolist()] == sorted(rows)


def _memmap(arr: np.ndarray) -> np.memmap:
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "a.npy"
    np.save(path, arr)
    return np.load(path, mmap_mode="r")


def test_moments_are_those_of_the_data_and_follow_the_affine_map():
    rng = np.random.default_rng(3)
    arr = rng.normal(size=(1000, 3)) @ np.diag([1.0, 2.0, 3.0]) + 5.0
    src = open_stream(_memmap(arr), "X", None, None, None)
    m = src.moments()
    t = torch.tensor(arr)
    torch.testing.assert_close(m.mean, t.mean(0))
    torch.testing.assert_close(m.cov, torch.cov(t.T))
    w, c = torch.randn(3, 2, dtype=torch.float64), torch.randn(2, dtype=torch.float64)
    mapped = src.mapped(2, w, c)
    z = t @ w + c
    torch.testing.assert_close(mapped.moments().mean, z.mean(0))
    torch.testing.assert_close(mapped.moments().cov, torch.cov(z.T))
    torch.testing.assert_close(mapped.head(7), z[:7])
    assert isinstance(mapped, StreamedSource) and mapped.dim == 2


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda a: np.where(np.arange(len(a))[:, None] == 7, np.nan, a), "row 7"),
        (lambda a: a.astype(np.complex128), "complex"),
        (lambda a: a[:, 0], "2-D"),
        (lambda a: a[:1], "at least 2"),
    ],
)
def test_bad_streams_say_what_is_wrong(make, words):
    arr = make(np.ones((10, 2)))
    with pytest.raises(ValueError, match=words):
        open_stream(_memmap(arr), "X", None, None, None)


def test_bad_paths_say_what_is_wrong(tmp_path):
    (tmp_path / "x.txt").write_text("1,2\n")
    with pytest.raises(ValueError, match="only .npy files"):
        BrenierMap().fit(str(tmp_path / "x.txt"), str(tmp_path / "x.txt"))
    with pytest.raises(IsADirectoryError):
        BrenierMap().fit(str(tmp_path), str(tmp_path))
    with pytest.raises(FileNotFoundError):
        BrenierMap().fit(str(tmp_path / "nope.npy"), str(tmp_path / "nope.npy"))


def test_cli_converts_a_csv_and_fits_the_npy_streamed(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 2))
    np.savetxt(tmp_path / "x.csv", x, delimiter=",", header="a,b", comments="")
    assert main(["convert", str(tmp_path / "x.csv"), "-o", str(tmp_path / "x.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "x.npy"), x.astype(np.float32))
    np.save(tmp_path / "y.npy", (2 * x + 1).astype(np.float32))
    out = tmp_path / "m.pt"
    argv = ["fit", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "-o", str(out)]
    assert main([*argv, "--max-iter", "30", "--threads", "1"]) == 0
    tmap = BrenierMap.load(out)
    assert np.abs(tmap.transform(x[:50].astype(np.float32)) - (2 * x[:50] + 1)).mean() < 0.5


def test_a_csv_larger_than_memory_says_how_to_convert_it(tmp_path, monkeypatch, capsys):
    from ot_gradnets.cli import _files

    (tmp_path / "x.csv").write_text("1,2\n3,4\n")
    monkeypatch.setattr(_files, "_available_memory", lambda: 10)
    argv = ["fit", str(tmp_path / "x.csv"), str(tmp_path / "x.csv"), "-o", str(tmp_path / "m.pt")]
    assert main(argv) == 2
    assert "ot-gradnets convert" in capsys.readouterr().err


def test_held_samples_samplers_and_streams_answer_the_same_methods():
    from ot_gradnets.transport._samples import as_source

    rng = np.random.default_rng(5)
    arr = rng.normal(size=(300, 3)) * np.array([1.0, 2.0, 0.5]) + 1.0
    held, x_ref = as_source(torch.tensor(arr), "X", None, None, None)
    stream = open_stream(_memmap(arr), "X", None, None, None)
    sampler, s_ref = as_source(lambda n: torch.tensor(arr[:n]), "X", 3, torch.float64, None)
    assert (held.needs_moments, sampler.needs_moments, stream.needs_moments) == (False, False, True)
    s_head = stream.head(len(arr))
    for a, b in zip(
        (held.moments(x_ref).mean, held.moments(x_ref).cov),
        (stream.moments(s_head).mean, stream.moments(s_head).cov),
        strict=True,
    ):
        torch.testing.assert_close(a, b)
    fn = lambda z: z**2  # noqa: E731
    torch.testing.assert_close(held.mean_output(fn, x_ref), stream.mean_output(fn, s_head))
    assert torch.equal(sampler.mean_output(fn, s_ref), fn(s_ref).mean(0))
    assert len(held.fingerprint_data()) == 1 and sampler.fingerprint_data() == []
    assert len(stream.fingerprint_data()) == 2
    gen = torch.Generator().manual_seed(0)
    for src in (held, sampler):  # no generator of their own: seeding draws nothing
        src.seed_from(gen)
    assert torch.equal(gen.get_state(), torch.Generator().manual_seed(0).get_state())
    for src, ref in ((held, x_ref), (stream, s_head), (sampler, s_ref)):
        train, train_ref, val = src.hold_out(ref, 0.1, 4096, 20, torch.Generator().manual_seed(1))
        assert val.shape == ((20, 3) if src is sampler else (30, 3))
        assert train.size in (None, 270) and train_ref.shape[1] == 3


def test_no_module_switches_on_streamed_sources():
    import ast
    from pathlib import Path

    import ot_gradnets.transport as transport

    switches = []
    for path in sorted(Path(transport.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("isinstance", "issubclass")
                and "StreamedSource" in ast.unparse(node)
            ):
                switches.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert not switches, "sources answer methods, not type checks:\n" + "\n".join(switches)

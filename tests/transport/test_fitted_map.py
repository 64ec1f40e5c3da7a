"""The fitted map's methods in chunks, on memory maps, and under autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ot_gradnets import BrenierMap


@pytest.fixture(scope="module")
def tmap():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 3, generator=g, dtype=torch.float64)
    y = torch.randn(400, 3, generator=g, dtype=torch.float64) @ torch.tensor(
        [[1.5, 0.2, 0.0], [0.0, 0.7, 0.3], [0.1, 0.0, 1.2]], dtype=torch.float64
    ) + torch.tanh(2 * x)
    return BrenierMap(max_iter=30, random_state=0).fit(x, y)


def _points(n: int = 103, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _calls(tm, z):
    log_p = lambda v: -0.5 * (v**2).sum(-1)  # noqa: E731
    return {
        "transform": tm.transform(z),
        "inverse_transform": tm.inverse_transform(z),
        "potential": tm.potential(z),
        "conjugate_potential": tm.conjugate_potential(z),
        "interpolate": tm.interpolate(z, 0.3),
        "log_density": tm.log_density(z, log_p),
        "w2": torch.tensor(tm.w2(z)),
    }


def test_chunks_give_the_one_piece_results(tmap, monkeypatch):
    z = _points()
    whole = _calls(tmap, z)
    monkeypatch.setattr(type(tmap), "_chunk_rows", lambda self, solve=False: 7)
    chunked = _calls(tmap, z)
    for name, value in whole.items():
        torch.testing.assert_close(chunked[name], value, rtol=1e-12, atol=1e-12, msg=name)


def test_a_memory_map_is_read_chunk_by_chunk(tmap, monkeypatch, tmp_path):
    z = _points(50)
    np.save(tmp_path / "z.npy", z.numpy())
    mapped = np.load(tmp_path / "z.npy", mmap_mode="r")
    expected = tmap.transform(z).numpy()
    seen = []
    original = type(tmap)._input

    def recording(self, X, name="X"):
        seen.append(len(X))
        return original(self, X, name)

    monkeypatch.setattr(type(tmap), "_chunk_rows", lambda self, solve=False: 8)
    monkeypatch.setattr(type(tmap), "_input", recording)
    out = tmap.transform(mapped)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert max(seen) <= 8 and sum(seen) >= 50  # never the whole file at once
    back = tmap.inverse_transform(np.load(tmp_path / "z.npy", mmap_mode="r"))
    np.testing.assert_allclose(back, tmap.inverse_transform(z).numpy(), rtol=1e-10, atol=1e-10)


def test_transform_is_differentiable_and_the_gradient_of_the_potential(tmap):
    z = _points(11).requires_grad_()
    # d/dz sum_i F(z_i) = T(z): the potential's autograd gradient is the map
    (grad,) = torch.autograd.grad(tmap.potential(z).sum(), z)
    torch.testing.assert_close(grad, tmap.transform(z.detach()), rtol=1e-10, atol=1e-10)
    # the map's vector-Jacobian product is the closed-form (symmetric) Jacobian's
    v = _points(11, seed=2)
    (vjp,) = torch.autograd.grad(tmap.transform(z), z, grad_outputs=v)
    jac = tmap.network_.jacobian(z.detach())
    torch.testing.assert_close(vjp, torch.einsum("nij,ni->nj", jac, v), rtol=1e-9, atol=1e-9)
    # without grad, or under no_grad, nothing is recorded
    assert not tmap.transform(z.detach()).requires_grad
    with torch.no_grad():
        assert not tmap.transform(z).requires_grad


def test_a_float32_tensor_that_requires_grad_keeps_its_dtype(tmap):
    z = _points(5).float().requires_grad_()
    out = tmap.interpolate(z, 0.5)
    assert out.dtype == torch.float32 and out.requires_grad
    out.sum().backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()


class _Frame:
    """A DataFrame's interface as scikit-learn reads it (``columns``, ``__array__``), so that the
    tests need no pandas."""

    def __init__(self, values: np.ndarray, columns: list[str]) -> None:
        self.values, self.columns = values, columns

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)

    def __len__(self) -> int:
        return len(self.values)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape


def _linear_pair(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    return x, x @ np.array([[2.0, 0.3], [0.3, 1.0]]) + 1.0


def test_feature_names_follow_the_columns_and_set_output_works():
    x, y = _linear_pair()
    tm = BrenierMap(max_iter=5, random_state=0).fit(_Frame(x, ["a", "b"]), y)
    assert list(tm.feature_names_in_) == ["a", "b"]
    assert list(tm.get_feature_names_out()) == ["a", "b"]
    assert tm.set_output(transform="default") is tm
    with pytest.raises(ValueError, match=r"columns \['b', 'a'\], but the map was fitted on"):
        tm.transform(_Frame(x, ["b", "a"]))
    assert not hasattr(BrenierMap(max_iter=5).fit(x, y), "feature_names_in_")
    assert list(BrenierMap(max_iter=5).fit(x, y).get_feature_names_out()) == ["x0", "x1"]


def test_score_is_the_semi_dual_lower_bound_of_w2():
    """score = E|x|^2 + E|y|^2 - 2 (E F + E F*) <= W2^2, with equality for Brenier's potential:
    for a linear pair the linear start is already the optimum, and the bound is W2^2."""
    from ot_gradnets.transport import gaussian_map

    x, y = _linear_pair(2000)
    a, b = gaussian_map(torch.as_tensor(x), torch.as_tensor(y))
    w2 = float(((torch.as_tensor(x) @ a + b - torch.as_tensor(x)) ** 2).sum(-1).mean())
    tm = BrenierMap(max_iter=50, random_state=0).fit(x, y)
    assert tm.score(x, y) == pytest.approx(w2, rel=1e-2)
    assert BrenierMap(max_iter=1, random_state=0).fit(x, y).score(x, y) <= w2 + 1e-9


def test_grid_search_uses_score_without_a_scoring_argument():
    from sklearn.model_selection import GridSearchCV

    x, y = _linear_pair(300)
    search = GridSearchCV(BrenierMap(max_iter=10, random_state=0), {"lr": [1e-3, 3e-2]}, cv=2)
    search.fit(x, y)
    assert search.best_params_["lr"] in (1e-3, 3e-2) and np.isfinite(search.best_score_)


def test_out_receives_the_result_chunk_by_chunk(tmap, monkeypatch, tmp_path):
    z = _points(40)
    expected, back = tmap.transform(z).numpy(), tmap.inverse_transform(z).numpy()
    monkeypatch.setattr(type(tmap), "_chunk_rows", lambda self, solve=False: 6)
    out = np.lib.format.open_memmap(tmp_path / "o.npy", mode="w+", dtype=np.float64, shape=(40, 3))
    assert tmap.transform(z.numpy(), out=out) is out
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert tmap.inverse_transform(z.numpy(), out=out) is out
    np.testing.assert_allclose(out, back, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="writable numpy array of 40 rows"):
        tmap.transform(z, out=np.empty((39, 3)))
    with pytest.raises(ValueError, match="out has shape"):
        tmap.transform(z, out=np.empty((40, 2)))

"""Targets: exact gradients, normalisation, convexity, sampling, registry."""

import math

import pytest
import torch

from ot_gradnets.core.fields import (
    TARGETS,
    ConvexPolynomial2D,
    NonConvex2D,
    PolyMax,
    RidgeConvex,
    RidgeNonConvex,
    make_target,
)

CASES = [
    ("convex-2d", 2),
    ("nonconvex-2d", 2),
    ("polymax", 2),
    ("polymax", 7),
    ("ridge-convex", 5),
    ("ridge-nonconvex", 5),
]


@pytest.mark.parametrize(("name", "dim"), CASES)
def test_grad_is_autograd_of_potential(name, dim):
    target = make_target(name, dim).double()
    x = target.sample(64, torch.Generator().manual_seed(0)).requires_grad_(True)
    (auto,) = torch.autograd.grad(target.potential(x).sum(), x)
    # float64 closed forms: agreement to rounding (1e-12 leaves 1e4 ulps of headroom)
    torch.testing.assert_close(target(x), auto, rtol=1e-12, atol=1e-12)
    assert torch.equal(target.grad(x), target(x))


@pytest.mark.parametrize(("name", "dim"), CASES)
def test_shapes_batch_and_unbatched(name, dim):
    target = make_target(name, dim)
    x = target.sample(3, torch.Generator().manual_seed(1))
    assert target(x).shape == (3, dim)
    assert target.potential(x).shape == (3,)
    assert target(x[0]).shape == (dim,)
    torch.testing.assert_close(target(x[0]), target(x)[0])


@pytest.mark.parametrize("dim", [2, 16, 64])
def test_polymax_mean_gradient_norm_is_one(dim):
    target = PolyMax(dim)
    x = target.sample(20_000, torch.Generator().manual_seed(123))
    mean_norm = torch.linalg.vector_norm(target(x), dim=-1).mean().item()
    # c is estimated on 10,000 other points; the relative MC error of both means is below ~1%
    # (the norm's coefficient of variation is < 0.5 here), so 3% is a > 3-sigma bound.
    assert abs(mean_norm - 1.0) < 0.03


def test_polymax_matrices_match_the_formula():
    d = 3
    t = PolyMax(d, dtype=torch.float64)
    i, j = 1, 3  # 1-based entry (1, 3): a = (1 + 3 - 2) / (2*3 - 2) = 0.5, r = log(3) * 3
    a, r = 0.5, math.log(3) * 3
    S, P, Q = t.matrices[:, i - 1, j - 1].tolist()
    assert S == pytest.approx((2 + math.sin(4 * math.pi * a)) / r, rel=1e-12)
    assert P == pytest.approx((1 + 2 * a) / r, rel=1e-12)
    assert Q == pytest.approx((3 - 2 * a) / r, rel=1e-12)
    assert torch.linalg.eigvalsh(t.matrices).min() > 0  # the three matrices are PD


def test_polymax_is_max_of_quadratics_over_c():
    t = PolyMax(5, dtype=torch.float64)
    x = t.sample(10, torch.Generator().manual_seed(2))
    y = x - 0.5
    q = torch.stack([((y @ A) * y).sum(-1) for A in t.matrices], -1)
    torch.testing.assert_close(t.potential(x), q.amax(-1) / t.norm_constant)
    assert torch.all(t(torch.full((5,), 0.5, dtype=torch.float64)) == 0)


def _hessian_eigs(target, x):
    h = torch.func.vmap(torch.func.jacrev(target))(x)
    torch.testing.assert_close(h, h.mT)  # a gradient field has a symmetric Jacobian
    return torch.linalg.eigvalsh(h)


@pytest.mark.parametrize("cls", [ConvexPolynomial2D, RidgeConvex])
def test_convex_targets_have_psd_hessian(cls):
    target = cls(2).double() if cls is ConvexPolynomial2D else cls(6).double()
    x = target.sample(200, torch.Generator().manual_seed(3))
    assert target.is_convex
    assert _hessian_eigs(target, x).min() > -1e-12


@pytest.mark.parametrize("cls", [NonConvex2D, RidgeNonConvex])
def test_nonconvex_targets_have_negative_curvature(cls):
    target = cls(2).double() if cls is NonConvex2D else cls(6).double()
    x = target.sample(200, torch.Generator().manual_seed(4))
    assert not target.is_convex
    assert _hessian_eigs(target, x).min() < -0.1


def test_sampler_is_seeded_and_in_domain():
    target = RidgeConvex(4, seed=0)
    a = target.sample(100, torch.Generator().manual_seed(7))
    b = target.sample(100, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    assert a.min() >= target.low and a.max() <= target.high
    assert target.domain == (0.0, 1.0)
    assert a.dtype == torch.float32
    assert target.double().sample(2).dtype == torch.float64


def test_ridge_targets_depend_on_seed_only():
    x = torch.rand(5, 4)
    torch.testing.assert_close(RidgeNonConvex(4, seed=3)(x), RidgeNonConvex(4, seed=3)(x))
    assert not torch.allclose(RidgeNonConvex(4, seed=3)(x), RidgeNonConvex(4, seed=4)(x))


def test_grid_layout():
    t = ConvexPolynomial2D()
    g = t.grid(5)
    assert g.shape == (25, 2)
    # row-major with x1 along columns: point (i, j) -> (t_j, t_i)
    torch.testing.assert_close(g[1], torch.tensor([0.25, 0.0]))
    torch.testing.assert_close(g[5], torch.tensor([0.0, 0.25]))
    with pytest.raises(ValueError, match="2-D"):
        PolyMax(3).grid()


def test_registry_and_errors():
    assert set(TARGETS) == {
        "convex-2d",
        "nonconvex-2d",
        "polymax",
        "ridge-convex",
        "ridge-nonconvex",
    }
    with pytest.raises(ValueError, match="target='nope' is not known"):
        make_target("nope")
    with pytest.raises(ValueError, match="dim must be 2"):
        make_target("convex-2d", 3)
    with pytest.raises(ValueError, match="dim"):
        PolyMax(0)
    with pytest.raises(ValueError, match="shape"):
        PolyMax(3)(torch.zeros(4, 2))
    assert "norm_constant" in repr(PolyMax(3))

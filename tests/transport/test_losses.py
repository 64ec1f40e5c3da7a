"""Training losses of BrenierMap (ot_gradnets.transport._losses)."""

from __future__ import annotations

import pytest
import torch

from ot_gradnets.core import GradientSum, MGradNetM, QuadraticGradient
from ot_gradnets.transport import LOSSES, SampleSource, make_loss, solve_conjugate

F64 = torch.float64


def _src(data, dim=2):
    return SampleSource(data, dim, F64, torch.device("cpu"), "X")


def _identity(dim=2):
    return QuadraticGradient(dim).double()  # starts at the identity map


def test_registry_and_unknown_name():
    assert set(LOSSES) == {"dual", "w2", "sinkhorn", "monge-ampere"}
    with pytest.raises(ValueError, match="'dual'.*'w2'|one of"):
        make_loss("wasserstein")
    with pytest.raises(ValueError, match="loss_options"):
        make_loss("w2", blur=0.1)  # an option the loss does not take


def test_w2_is_zero_on_identical_batches_and_has_gradients():
    x = torch.randn(32, 2, dtype=F64)
    net = _identity()
    loss = make_loss("w2")
    loss.start(net, _src(lambda n: x), _src(lambda n: x), None)
    assert float(loss.step(net, 32, None).detach()) == pytest.approx(0.0, abs=1e-12)
    # shifted target: the exact OT cost is |v|^2 (POT's |x - y|^2, no half)
    v = torch.tensor([1.0, -2.0], dtype=F64)
    loss.start(net, _src(lambda n: x), _src(lambda n: x + v), None)
    value = loss.step(net, 32, None)
    assert float(value.detach()) == pytest.approx(5.0, rel=1e-9)
    value.backward()
    assert net.b.grad is not None and float(net.b.grad.norm()) > 0


def test_sinkhorn_uses_the_half_squared_cost():
    # debiased Sinkhorn divergence between a cloud and its translate by v is exactly |v|^2 / 2
    # (the translation's linear cost term is absorbed by the dual potentials)
    x = torch.randn(64, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
    v = torch.tensor([0.5, 0.5], dtype=F64)
    net = _identity()
    loss = make_loss("sinkhorn", blur=0.05)
    loss.start(net, _src(lambda n: x), _src(lambda n: x + v), None)
    value = loss.step(net, 64, None)
    assert float(value.detach()) == pytest.approx(0.25, rel=1e-3)  # GeomLoss' inner tolerance
    value.backward()
    assert float(net.b.grad.norm()) > 0


def test_monge_ampere_residual_vanishes_at_the_true_map():
    # p = N(0, I), T(x) = 2x + 1: q = N(1, 4I); log q(T x) = log p(x) - d log 2
    net = _identity()
    with torch.no_grad():
        net.set_affine(2 * torch.eye(2, dtype=F64), torch.ones(2, dtype=F64))

    def log_p(x):
        return -0.5 * (x * x).sum(-1)

    def log_q(y):
        return -0.5 * ((y - 1) ** 2).sum(-1) / 4 - 2 * torch.log(torch.tensor(2.0, dtype=F64))

    loss = make_loss("monge-ampere", source_log_density=log_p, target_log_density=log_q)
    assert not loss.needs_target_samples
    x = torch.randn(16, 2, dtype=F64)
    loss.start(net, _src(lambda n: x), None, None)
    assert float(loss.step(net, 16, None).detach()) == pytest.approx(0.0, abs=1e-20)
    with torch.no_grad():
        net.set_affine(3 * torch.eye(2, dtype=F64), torch.ones(2, dtype=F64))
    assert float(loss.step(net, 16, None).detach()) > 1e-3


def test_dual_gradient_is_the_envelope_gradient():
    # d/dtheta [mean F(x) + mean F*(y)] with F*(y) = max_x <x,y> - F(x): compare the loss's
    # autograd gradient with central finite differences of the exactly re-solved objective.
    torch.manual_seed(0)
    net = GradientSum(MGradNetM(2, width=8, num_modules=2), QuadraticGradient(2)).double()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(64, 2, dtype=F64, generator=g)
    y = 1.5 * torch.randn(64, 2, dtype=F64, generator=g) + 0.3
    loss = make_loss("dual", tol=1e-12, max_iter=100)
    loss.start(net, _src(x), _src(y), None)
    value = loss.step(net, 64, torch.Generator().manual_seed(7))
    value.backward()
    param = net.terms[1].b
    grad = param.grad.clone()

    def objective():
        gen = torch.Generator().manual_seed(7)
        idx_x = torch.randint(64, (64,), generator=gen)
        idx_y = torch.randint(64, (64,), generator=gen)
        xs, ys = x[idx_x], y[idx_y]
        sol = solve_conjugate(net, ys, tol=1e-13, max_iter=100).x
        with torch.no_grad():
            conj = (sol * ys).sum(-1) - net.potential(sol)
            return float(net.potential(xs).mean() + conj.mean())

    assert value.item() == pytest.approx(objective(), rel=1e-10)
    h = 1e-6
    for i in range(2):
        with torch.no_grad():
            param[i] += h
        up = objective()
        with torch.no_grad():
            param[i] -= 2 * h
        down = objective()
        with torch.no_grad():
            param[i] += h
        assert grad[i].item() == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-8)


def test_dual_sampler_pool_refreshes():
    torch.manual_seed(0)
    net = GradientSum(MGradNetM(2, width=8, num_modules=2), QuadraticGradient(2)).double()
    g = torch.Generator().manual_seed(0)
    loss = make_loss("dual", pool_size=64, refresh=8)
    loss.start(
        net,
        _src(lambda n: torch.randn(n, 2, dtype=F64, generator=g)),
        _src(lambda n: 2 * torch.randn(n, 2, dtype=F64, generator=g)),
        None,
    )
    before = loss.pool.clone()
    value = loss.step(net, 16, None)
    assert torch.isfinite(value)
    changed = (loss.pool != before).any(-1).sum()
    assert 1 <= int(changed) <= 8


def test_potential_gap_by_segment_quadrature_matches_the_potential():
    from ot_gradnets.core import MGradNetC
    from ot_gradnets.transport._losses import _potential_gap

    torch.manual_seed(0)
    net = MGradNetC(3, width=8, depth=3).double()
    g = torch.Generator().manual_seed(0)
    x, xs = torch.randn(64, 3, dtype=F64, generator=g), torch.randn(64, 3, dtype=F64, generator=g)
    exact = net.potential(x).mean() - net.potential(xs).mean()
    # 8-node Gauss-Legendre on segments of length ~2.4 through a tanh cascade: ~1e-4 relative
    # (measured), plenty for a stochastic training signal; a wrong sign/half would be O(1) off
    assert float(_potential_gap(net, x, xs).detach()) == pytest.approx(
        float(exact.detach()), rel=1e-3
    )

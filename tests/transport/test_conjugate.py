"""Newton conjugates / inverses of monotone gradient networks (ot_gradnets.transport._conjugate)."""

from __future__ import annotations

import pytest
import torch

from ot_gradnets.core import GradientSum, MGradNetC, MGradNetM, QuadraticGradient
from ot_gradnets.transport import solve_conjugate


def _net(kind: str, dim: int, mu: float = 0.1) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "m":
        net = MGradNetM(dim, width=16, num_modules=3, strong_convexity=mu)
    elif kind == "c":
        net = MGradNetC(dim, width=16, depth=3, strong_convexity=mu)
    else:
        net = GradientSum(MGradNetM(dim, width=16, num_modules=3), QuadraticGradient(dim))
    return net.double()


@pytest.mark.parametrize("kind", ["m", "c", "sum"])
@pytest.mark.parametrize("method", ["dense", "cg", "pcg", "chord"])
def test_inverts_the_network(kind, method):
    net = _net(kind, 5)
    x = torch.randn(64, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = net(x)
    reuse = method == "chord"
    method = "dense" if reuse else method
    res = solve_conjugate(net, y, tol=1e-10, method=method, cg_iter=50, reuse_hessian=reuse)
    assert res.converged
    # strongly monotone (mu = 0.1 or a PD quadratic): the inverse is unique, so x is recovered;
    # |x - x*| <= |N(x) - N(x*)| / mu = 1e-9 at most.
    torch.testing.assert_close(res.x, x, rtol=0, atol=1e-8)
    assert float(res.residual.max()) <= 1e-10


def test_mean_hessian_preconditioner_fixes_an_ill_conditioned_quadratic():
    # A quadratic with condition number 1e4 plus a small curved part: plain CG with 5 iterations
    # per Newton step crawls, CG preconditioned by the batch-mean Hessian (which is nearly every
    # sample's Hessian here) takes as many Newton steps as exact (dense) Newton.
    dim = 20
    quad = QuadraticGradient(dim).double()
    g = torch.Generator().manual_seed(4)
    q, _ = torch.linalg.qr(torch.randn(dim, dim, dtype=torch.float64, generator=g))
    spectrum = torch.logspace(-2, 2, dim, dtype=torch.float64)
    with torch.no_grad():
        quad.set_affine(q @ torch.diag(spectrum) @ q.T, torch.zeros(dim, dtype=torch.float64))
    net = GradientSum(_net("m", dim, mu=0.0), quad)
    x = torch.randn(32, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        y = net(x)
    kwargs = dict(tol=1e-8, max_iter=30, cg_iter=5)
    exact = solve_conjugate(net, y, method="dense", **kwargs)
    plain = solve_conjugate(net, y, method="cg", **kwargs)
    pre = solve_conjugate(net, y, method="pcg", **kwargs)
    assert exact.converged and pre.converged and pre.n_iter <= exact.n_iter + 1
    assert not plain.converged
    torch.testing.assert_close(pre.x, x, rtol=0, atol=1e-6)


def test_conjugate_is_a_maximum_and_fenchel_young():
    net = _net("m", 3)
    g = torch.Generator().manual_seed(2)
    y = torch.randn(32, 3, dtype=torch.float64, generator=g)
    res = solve_conjugate(net, y, tol=1e-12)
    with torch.no_grad():
        conj = (res.x * y).sum(-1) - net.potential(res.x)
        for _ in range(5):  # F*(y) = max_x <x, y> - F(x) >= the value at any other x
            other = res.x + 0.3 * torch.randn(32, 3, dtype=torch.float64, generator=g)
            assert bool(((other * y).sum(-1) - net.potential(other) <= conj + 1e-12).all())


def test_warm_start_at_the_solution_takes_no_iteration():
    net = _net("m", 4)
    x = torch.randn(8, 4, dtype=torch.float64)
    with torch.no_grad():
        y = net(x)
    res = solve_conjugate(net, y, x, tol=1e-8)
    assert res.n_iter == 0 and res.converged


@pytest.mark.parametrize("reuse", [False, True])
def test_far_start_converges_with_line_search(reuse):
    net = _net("c", 2, mu=0.05)
    y = torch.tensor([[30.0, -20.0], [0.0, 0.0]], dtype=torch.float64)
    res = solve_conjugate(
        net, y, torch.full_like(y, 50.0), tol=1e-9, max_iter=100, reuse_hessian=reuse
    )
    assert res.converged
    with torch.no_grad():
        torch.testing.assert_close(net(res.x), y, rtol=0, atol=1e-8)


def test_damping_handles_a_singular_hessian():
    # mu = 0 and a rank-deficient quadratic: J is singular; damping keeps the step finite.
    net = QuadraticGradient(3, rank=1).double()
    y = torch.randn(4, 3, dtype=torch.float64)
    res = solve_conjugate(net, y, max_iter=5, damping=1e-3)
    assert torch.isfinite(res.x).all()


def test_unknown_method_raises():
    with pytest.raises(ValueError, match="method"):
        solve_conjugate(_net("m", 2), torch.zeros(1, 2, dtype=torch.float64), method="lbfgs")

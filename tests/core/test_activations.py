"""Each activation knows its derivative, antiderivative or potential, and Jacobian structure."""

from __future__ import annotations

import math

import pytest
import torch

from ot_gradnets.core import ACTIVATIONS, make_activation
from ot_gradnets.core._activations import softplus_integral

ELEMENTWISE = ["tanh", "softplus", "sigmoid", "sin", "weighted-tanh"]


def _z(seed=0, shape=(4, 3, 6)):
    g = torch.Generator().manual_seed(seed)
    return 4.0 * torch.randn(*shape, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("monotone", [True, False])
def test_elementwise_derivative_and_antiderivative(name, monotone):
    if monotone and name == "sin":
        pytest.skip("sin is not monotone")
    act = make_activation(name, (6,), monotone).double()
    z = _z().requires_grad_(True)
    (d_fwd,) = torch.autograd.grad(act(z).sum(), z)
    torch.testing.assert_close(act.derivative(z), d_fwd, rtol=1e-12, atol=1e-12)
    (d_anti,) = torch.autograd.grad(act.antiderivative(z).sum(), z)
    torch.testing.assert_close(d_anti, act(z), rtol=1e-12, atol=1e-12)
    if monotone:
        assert (act.derivative(z) >= 0).all()


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_jacobian_factors_rebuild_the_autograd_jacobian(name):
    monotone = ACTIVATIONS[name]((), True).is_monotone  # the monotone version where one exists
    act = make_activation(name, (3, 1), monotone).double()
    z = _z(1, (2, 3, 5))
    diag, terms = act.jacobian_factors(z)
    jac = torch.diag_embed(diag)
    for coef, u in terms:
        coef = torch.broadcast_to(coef, u.shape[:-1] + (1,))
        jac = jac + coef.unsqueeze(-1) * u.unsqueeze(-1) * u.unsqueeze(-2)
    flat = z.reshape(-1, 5)
    # Parameters have shape (3, 1): evaluate the autograd Jacobian module by module.
    ref = torch.stack(
        [
            torch.func.jacrev(lambda v, k=k: act(v.expand(3, 5))[k])(flat[i])
            for i, k in zip(range(6), [0, 1, 2] * 2, strict=True)
        ]
    ).reshape(2, 3, 5, 5)
    torch.testing.assert_close(jac, ref, rtol=1e-12, atol=1e-12)
    z.requires_grad_(True)
    (grad_psi,) = torch.autograd.grad(act.potential(z).sum(), z)
    torch.testing.assert_close(grad_psi, act(z), rtol=1e-12, atol=1e-12)


def test_softplus_integral_against_scipy():
    """S(z) = int_0^z log(1 + e^t) dt, checked by adaptive quadrature over [-40, 40]."""
    from scipy.integrate import quad

    for z in [-40.0, -7.5, -2.0001, -1.0, -1e-3, 0.0, 0.5, 1.9999, 2.0, 3.0, 12.0, 40.0]:
        ref, _ = quad(lambda t: math.log1p(math.exp(t)), 0.0, z, epsabs=1e-13, epsrel=1e-13)
        got = float(softplus_integral(torch.tensor(z, dtype=torch.float64)))
        assert abs(got - ref) <= 1e-12 * max(1.0, abs(ref)), z


def test_activation_errors_name_the_problem():
    with pytest.raises(
        ValueError, match="activation='relu6' is not known; .* or an Activation instance"
    ):
        make_activation("relu6", (3,), True)
    with pytest.raises(ValueError, match="not monotone"):
        make_activation("sin", (3,), True)
    with pytest.raises(ValueError, match="vector activation"):
        make_activation("softmax", (3,), True, elementwise=True)


def test_inverse_multiquadric_is_radial_with_its_closed_forms():
    """psi(z) = -(1 + |z|^2)^(-1/2): radial, Plummer-like tail, the curvature's sign change."""
    act = make_activation("inverse-multiquadric", (), False).double()
    assert act.radial and not act.is_monotone and not act.elementwise
    with pytest.raises(ValueError, match="not monotone"):
        make_activation("inverse-multiquadric", (), True)
    # A 3-4-5 triangle: |z| = 5, so psi = -1/sqrt(26) and sigma = z / 26^(3/2).
    z = torch.tensor([3.0, 4.0], dtype=torch.float64)
    torch.testing.assert_close(act.potential(z), torch.tensor(-(26**-0.5), dtype=torch.float64))
    torch.testing.assert_close(act(z), z / 26**1.5)
    # Rotating z rotates sigma and leaves psi alone.
    rot = torch.tensor([[0.6, -0.8], [0.8, 0.6]], dtype=torch.float64)
    torch.testing.assert_close(act(z @ rot.T), act(z) @ rot.T)
    torch.testing.assert_close(act.potential(z @ rot.T), act.potential(z))
    # Far away the potential is -1/|z| (a Coulomb tail): relative error ~ 1/(2|z|^2).
    far = torch.tensor([300.0, 400.0], dtype=torch.float64)
    assert abs(float(act.potential(far)) * 500 + 1) < 1e-5
    # Radial curvature (1 - 2r^2)(1 + r^2)^(-5/2): positive inside r = 1/sqrt(2), negative beyond.
    for r, sign in ((0.5, 1.0), (1.0, -1.0)):
        u = torch.tensor([r, 0.0], dtype=torch.float64)
        diag, ((coef, v),) = act.jacobian_factors(u)
        radial = float(diag[0] + coef[0] * v[0] ** 2)
        assert math.isclose(radial, (1 - 2 * r * r) * (1 + r * r) ** -2.5, rel_tol=1e-12)
        assert math.copysign(1.0, radial) == sign

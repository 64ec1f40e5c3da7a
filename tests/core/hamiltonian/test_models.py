"""Learned fields: exactly J times a gradient, energies, shapes, budgets."""

from __future__ import annotations

import pytest
import torch

from ot_gradnets.core import GradNetC, GradNetM, MGradNetC, MGradNetM, MLPField, PotentialMLP
from ot_gradnets.core.hamiltonian import (
    HamiltonianField,
    make_hamiltonian_model,
    symplectic_matrix,
)

NETS = {
    "gradnet-c": lambda d: GradNetC(d, width=8, depth=3),
    "gradnet-m": lambda d: GradNetM(d, width=6, num_modules=3),
    "mgradnet-c": lambda d: MGradNetC(d, width=8, depth=3),
    "mgradnet-m": lambda d: MGradNetM(d, width=6, num_modules=3),
    "hnn": lambda d: PotentialMLP(d, width=16, depth=2),
}


@pytest.mark.parametrize("name", sorted(NETS))
@pytest.mark.parametrize("batch", [(), (5,), (2, 3)])
def test_field_is_exactly_j_times_gradient_of_energy(name, batch):
    torch.manual_seed(0)
    dim = 6
    field = HamiltonianField(NETS[name](dim)).double()
    s = torch.randn(*batch, dim, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(field.hamiltonian(s).sum(), s)
    expected = grad @ symplectic_matrix(3, dtype=torch.float64).T  # J grad H, row-wise
    out = field(s)
    assert out.shape == (*batch, dim) and out.dtype == torch.float64
    # The cascade's potential is a 128-node Gauss-Legendre quadrature (~1e-10 relative in
    # float64); the others are closed forms or autograd: rounding only.
    tol = 1e-8 if name.endswith("-c") else 1e-11
    torch.testing.assert_close(out, expected, rtol=tol, atol=tol)
    torch.testing.assert_close(field.grad_hamiltonian(s), grad, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(NETS))
def test_field_jacobian_is_hamiltonian(name):
    torch.manual_seed(1)
    field = HamiltonianField(NETS[name](4)).double()
    s = torch.randn(3, 4, dtype=torch.float64)
    jac = field.jacobian(s)
    auto = torch.func.vmap(torch.func.jacrev(field))(s)
    torch.testing.assert_close(jac, auto)
    # A Hamiltonian field's Jacobian A = J S with S symmetric, i.e. J^T A symmetric and A^T J + J A = 0.
    jmat = symplectic_matrix(2, dtype=torch.float64)
    torch.testing.assert_close(
        jac.mT @ jmat + jmat @ jac, torch.zeros_like(jac), atol=1e-12, rtol=0
    )


def test_mlp_field_is_not_hamiltonian():
    torch.manual_seed(0)
    field = HamiltonianField(MLPField(4, width=8)).double()
    assert not field.is_hamiltonian
    with pytest.raises(NotImplementedError, match="not a gradient network"):
        field.hamiltonian(torch.randn(2, 4, dtype=torch.float64))
    jac = field.jacobian(torch.randn(2, 4, dtype=torch.float64))
    jmat = symplectic_matrix(2, dtype=torch.float64)
    # the baseline's field is generic: its Jacobian is not Hamiltonian
    assert (jac.mT @ jmat + jmat @ jac).abs().max() > 1e-3


def test_field_follows_input_dtype_and_validates():
    field = HamiltonianField(GradNetM(4, width=4, num_modules=2))
    assert field(torch.randn(2, 4)).dtype == torch.float32
    assert field.dim == 4 and field.n_dof == 2
    with pytest.raises(ValueError, match="even dim"):
        HamiltonianField(GradNetM(3, width=4, num_modules=2))
    with pytest.raises(ValueError, match=r"shape \(\*, 4\)"):
        field(torch.randn(2, 5))


def test_gradient_reaches_every_parameter():
    torch.manual_seed(0)
    field = HamiltonianField(PotentialMLP(4, width=8, depth=2))  # HNN: double backward
    field(torch.randn(5, 4)).pow(2).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in field.parameters())


@pytest.mark.parametrize("name", ["hnn", "mlp", "gradnet-m", "gradnet-c", "mgradnet-m"])
def test_make_model_at_budget(name):
    model = make_hamiltonian_model(name, 8, budget=3000)
    n = sum(p.numel() for p in model.parameters())
    assert n <= 3000
    wider = make_hamiltonian_model(name, 8, width=model.net.width + 1)
    assert sum(p.numel() for p in wider.parameters()) > 3000  # the widest under budget


def test_make_model_rejects_unknown_name():
    with pytest.raises(ValueError, match="model='transformer' is not known; choose one of .*'hnn'"):
        make_hamiltonian_model("transformer", 4)
    with pytest.raises(ValueError, match="model='transformer[+]quadratic' is not known"):
        make_hamiltonian_model("transformer+quadratic", 4)

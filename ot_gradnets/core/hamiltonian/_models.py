r"""Learned Hamiltonian vector fields built from the core networks.

A gradient network :math:`N = \nabla F` becomes a Hamiltonian vector field by one fixed matrix,

.. math::

    \dot s = J N(s), \qquad H_\theta(s) = F(s), \qquad
    J = \begin{pmatrix} 0 & I \\ -I & 0 \end{pmatrix},

so the learned dynamics are *exactly* Hamiltonian for the learned energy :math:`H_\theta`, and the
field costs one forward pass (no double backpropagation). The Hamiltonian Neural Network (HNN) is
the same construction with an MLP potential whose gradient comes from autograd
(:class:`~ot_gradnets.core.PotentialMLP`); the unconstrained baseline uses an MLP field
(:class:`~ot_gradnets.core.MLPField`), for which no energy exists.

References:
    S. Greydanus, M. Dzamba, J. Yosinski, "Hamiltonian Neural Networks", NeurIPS 2019,
    arXiv:1906.01563.
    S. Chaudhari, S. Pranav, J. M. F. Moura, "Gradient Networks", IEEE TSP 73 (2025),
    arXiv:2404.07361.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ot_gradnets._registry import unknown_name
from ot_gradnets._validation import check_last_dim, check_positive_int

from ._systems import apply_j

__all__ = ["HamiltonianField", "MODEL_NAMES", "make_hamiltonian_model"]


class HamiltonianField(nn.Module):
    r"""The vector field :math:`\dot s = J N(s)` of a core network :math:`N` on :math:`\mathbb{R}^{2n}`.

    With a gradient network (:attr:`is_hamiltonian` true) the field is Hamiltonian with energy
    :math:`H(s) =` ``net.potential(s)`` and :meth:`grad_hamiltonian` is ``net(s)`` itself; with the
    :class:`~ot_gradnets.core.MLPField` baseline it is an arbitrary field and :meth:`hamiltonian`
    raises.

    Args:
        net: a core network of even ``dim`` (``GradNetC``, ``GradNetM``, ``MGradNetC``,
            ``MGradNetM``, ``PotentialMLP`` for HNN, ``MLPField``, ...).

    Shape:
        input ``(*, 2n)``; ``forward`` and ``grad_hamiltonian`` ``(*, 2n)``; ``hamiltonian``
        ``(*,)``; ``jacobian`` ``(*, 2n, 2n)``.

    Example:
        >>> from ot_gradnets.core import GradNetM
        >>> field = HamiltonianField(GradNetM(4, width=8, num_modules=2))
        >>> s = torch.randn(3, 4)
        >>> field(s).shape, field.hamiltonian(s).shape
        (torch.Size([3, 4]), torch.Size([3]))
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        dim = getattr(net, "dim", None)
        if not isinstance(dim, int) or dim % 2:
            raise ValueError(
                f"net must be a core network with an even dim (state (q, p)), got dim={dim!r}."
            )
        self.net = net

    @property
    def dim(self) -> int:
        """State dimension :math:`2n`."""
        return int(self.net.dim)

    @property
    def n_dof(self) -> int:
        """Degrees of freedom :math:`n`."""
        return self.dim // 2

    @property
    def is_hamiltonian(self) -> bool:
        """Whether the field is :math:`J\\nabla H` for the energy :meth:`hamiltonian`."""
        return bool(getattr(self.net, "is_gradient", True))

    def grad_hamiltonian(self, s: Tensor) -> Tensor:
        r""":math:`N(s)`, the learned :math:`\nabla H` (for the MLP baseline, :math:`-J\dot s`)."""
        check_last_dim(s, self.dim, "s")
        return self.net(s)

    def forward(self, s: Tensor) -> Tensor:
        r"""The time derivative :math:`\dot s = J N(s)`."""
        return apply_j(self.grad_hamiltonian(s))

    def hamiltonian(self, s: Tensor) -> Tensor:
        """The learned energy ``net.potential(s)`` (defined up to an additive constant)."""
        if not self.is_hamiltonian:
            raise NotImplementedError(
                f"{type(self.net).__name__} is not a gradient network, so the field has no energy; "
                "use a gradient network or PotentialMLP (HNN)."
            )
        check_last_dim(s, self.dim, "s")
        return self.net.potential(s)

    def jacobian(self, s: Tensor) -> Tensor:
        r"""Jacobian of the field, :math:`J\,J_N(s)` (closed form where the net has one)."""
        check_last_dim(s, self.dim, "s")
        jac = self.net.jacobian(s)
        n = self.n_dof
        return torch.cat([jac[..., n:, :], -jac[..., :n, :]], dim=-2)


#: Short names of the baselines, mapped to core model names; any core ``MODELS`` name also works.
MODEL_NAMES: dict[str, str] = {
    "hnn": "potential-mlp",
    "mlp": "mlp-field",
}

_QUADRATIC = "+quadratic"


def make_hamiltonian_model(
    name: str, dim: int, budget: int | None = None, **kwargs: Any
) -> HamiltonianField:
    r"""Build a :class:`HamiltonianField` from a model name, optionally at a parameter budget.

    A name ending in ``"+quadratic"`` (e.g. ``"gradnet-m+quadratic"``, ``"hnn+quadratic"``) adds
    a learned PSD quadratic energy :math:`\tfrac12 s^T A s + b\cdot s`
    (:class:`~ot_gradnets.core.QuadraticGradient`, started at :math:`A = I`) to the network
    through :class:`~ot_gradnets.core.GradientSum`; its :math:`d^2 + d` parameters count against
    the budget.

    Args:
        name: ``"hnn"`` (MLP potential, field by autograd), ``"mlp"`` (MLP field baseline), or any
            name of :data:`ot_gradnets.core.MODELS` (``"gradnet-m"``, ``"mgradnet-c"``, ...),
            optionally with the ``"+quadratic"`` suffix (gradient models only).
        dim: state dimension :math:`2n`.
        budget: if given, the widest model whose parameter count is at most ``budget``
            (:func:`ot_gradnets.core.model_for_budget`); else the model built from ``kwargs``.
        **kwargs: architecture options passed to the core constructor (``depth``,
            ``num_modules``, ``activation``, ...).

    Example:
        >>> model = make_hamiltonian_model("gradnet-m", 4, budget=500, num_modules=2)
        >>> sum(p.numel() for p in model.parameters()) <= 500
        True
        >>> type(make_hamiltonian_model("hnn+quadratic", 4, width=8).net).__name__
        'GradientSum'
    """
    from ot_gradnets.core import MODELS, GradientSum, QuadraticGradient, model_for_budget

    check_positive_int(dim, "dim")
    base = name.removesuffix(_QUADRATIC) if isinstance(name, str) else name
    if base not in (known := {**MODEL_NAMES, **MODELS}):  # the message quotes the whole name
        raise unknown_name("model", name, known, f", optionally with the suffix {_QUADRATIC!r}")
    key = MODEL_NAMES.get(base, base)
    quadratic = None
    if base != name:
        if not getattr(MODELS[key], "is_gradient", True):
            raise ValueError(f"{name!r}: only gradient networks take a quadratic energy term.")
        quadratic = QuadraticGradient(dim)
        if budget is not None:
            budget -= sum(p.numel() for p in quadratic.parameters())
    if budget is None:
        net = MODELS[key](dim, **kwargs)
    else:
        net = model_for_budget(key, dim, check_positive_int(budget, "budget"), **kwargs)
    return HamiltonianField(net if quadratic is None else GradientSum(net, quadratic))

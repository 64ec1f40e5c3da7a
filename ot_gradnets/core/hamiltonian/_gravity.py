r"""The planar gravitational N-body systems: HNN's two- and three-body tasks.

Bodies have unit masses and :math:`G = 1`; the state is ``(x_1, y_1, ..., x_N, y_N, px_1, py_1,
..., px_N, py_N)``. The energy is separable but not convex, and ground truth comes from
``solve_ivp`` (see :class:`HamiltonianSystem`).

References:
    S. Greydanus, M. Dzamba, J. Yosinski, "Hamiltonian Neural Networks", NeurIPS 2019,
    arXiv:1906.01563 (the two- and three-body protocols).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ot_gradnets._validation import check_positive_int

from ._systems import HamiltonianSystem, _Protocol, _uniform

__all__ = ["NBodyGravity", "TwoBody", "ThreeBody"]


class NBodyGravity(HamiltonianSystem):
    r"""Planar gravitational N-body problem with unit masses and :math:`G = 1`.

    .. math::

        H(q, p) = \sum_i \frac{|p_i|^2}{2 m_i} - \sum_{i<j} \frac{G m_i m_j}{|q_i - q_j|},

    with state ``(x_1, y_1, ..., x_N, y_N, px_1, py_1, ..., px_N, py_N)`` (dimension :math:`4N`).
    :math:`H` is separable but not convex. Ground truth from ``solve_ivp`` (DOP853,
    ``rtol = atol = 1e-10``).

    Args:
        n_bodies: number of bodies :math:`N \ge 2`.
    """

    name = "n-body"
    separable = True
    convex = False
    protocol = _Protocol(1000, (0.0, 20.0), 50, 0.2)

    def __init__(self, n_bodies: int) -> None:
        n_bodies = check_positive_int(n_bodies, "n_bodies")
        if n_bodies < 2:
            raise ValueError(f"n_bodies must be >= 2, got {n_bodies}.")
        self.n_bodies = n_bodies
        super().__init__(2 * n_bodies)

    def _pairs(self, q: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        pos = q.reshape(*q.shape[:-1], self.n_bodies, 2)
        i, j = torch.triu_indices(self.n_bodies, self.n_bodies, offset=1, device=q.device)
        diff = pos[..., i, :] - pos[..., j, :]  # (*, P, 2)
        return diff, i, j

    def hamiltonian(self, s: Tensor) -> Tensor:
        q, p = s[..., : self.n_dof], s[..., self.n_dof :]
        diff, _, _ = self._pairs(q)
        return 0.5 * (p * p).sum(-1) - (1.0 / diff.norm(dim=-1)).sum(-1)

    def grad_hamiltonian(self, s: Tensor) -> Tensor:
        q, p = s[..., : self.n_dof], s[..., self.n_dof :]
        diff, i, j = self._pairs(q)
        r3 = diff.norm(dim=-1, keepdim=True) ** 3
        f = diff / r3  # dV/dq_i for the pair term -1/|q_i - q_j| is +diff/r^3
        grad = torch.zeros(*q.shape[:-1], self.n_bodies, 2, dtype=s.dtype, device=s.device)
        grad = grad.index_add(-2, i, f).index_add(-2, j, -f)
        return torch.cat([grad.reshape(q.shape), p], dim=-1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_bodies={self.n_bodies})"


class TwoBody(NBodyGravity):
    r"""HNN's two-body task: near-circular orbits, 8-D state.

    Body 1 starts at a position uniform in :math:`[0.5, 1.5]^2`, body 2 at its mirror image,
    with the circular-orbit speed :math:`1/(2\sqrt r)` scaled by :math:`1 + 0.05\,\xi`,
    :math:`\xi\sim N(0,1)` (one factor per orbit). Protocol: 1000 trajectories of 50 points on
    ``t in [0, 20]``, 20% of the trajectories for testing, no noise.

    Example:
        >>> sys = TwoBody()
        >>> s = sys.sample_initial_states(4, torch.Generator().manual_seed(0))
        >>> s.shape, bool(torch.allclose(s[:, :2], -s[:, 2:4]))
        (torch.Size([4, 8]), True)
    """

    name = "two-body"

    def __init__(self) -> None:
        super().__init__(2)

    def sample_initial_states(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        n = check_positive_int(n, "n")
        pos = 0.5 + torch.rand(n, 2, generator=generator, dtype=torch.float64)
        r = pos.norm(dim=1, keepdim=True)
        vel = torch.stack([-pos[:, 1], pos[:, 0]], dim=1) / (2 * r**1.5)
        vel = vel * (1 + 0.05 * torch.randn(n, 1, generator=generator, dtype=torch.float64))
        return torch.cat([pos, -pos, vel, -vel], dim=1)

    def __repr__(self) -> str:
        return "TwoBody()"


def _rotate(v: Tensor, theta: float) -> Tensor:
    c, s = math.cos(theta), math.sin(theta)
    return torch.stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1]], dim=1)


class ThreeBody(NBodyGravity):
    r"""HNN's three-body task: perturbed circular three-body orbits, 12-D state.

    Body 1 starts at radius uniform in ``[0.9, 1.2]`` in a uniform direction, bodies 2 and 3 at
    its rotations by 120 and 240 degrees, with circular-orbit velocities each scaled coordinatewise
    by :math:`1 + 0.2\,u`, :math:`u\sim U[-1, 1]`. Protocol: 5000 trajectories of 20 points on
    ``t in [0, 5]``, 20% for testing.
    """

    name = "three-body"
    protocol = _Protocol(5000, (0.0, 5.0), 20, 0.2)

    def __init__(self) -> None:
        super().__init__(3)

    def sample_initial_states(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        n = check_positive_int(n, "n")
        p1 = 2 * torch.rand(n, 2, generator=generator, dtype=torch.float64) - 1
        r = _uniform(n, 0.9, 1.2, generator)[:, None]
        p1 = p1 / p1.norm(dim=1, keepdim=True) * r
        p2, p3 = _rotate(p1, 2 * math.pi / 3), _rotate(p1, 4 * math.pi / 3)
        v1 = _rotate(p1, math.pi / 2) / r**1.5
        v1 = v1 * math.sqrt(math.sin(math.pi / 3) / (2 * math.cos(math.pi / 6) ** 2))
        v2, v3 = _rotate(v1, 2 * math.pi / 3), _rotate(v1, 4 * math.pi / 3)
        vs = [
            v * (1 + 0.2 * (2 * torch.rand(n, 2, generator=generator, dtype=torch.float64) - 1))
            for v in (v1, v2, v3)
        ]
        return torch.cat([p1, p2, p3, *vs], dim=1)

    def __repr__(self) -> str:
        return "ThreeBody()"

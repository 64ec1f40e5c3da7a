r"""Hamiltonian systems with exact energies and ground-truth trajectories.

Every system works in canonical coordinates :math:`s = (q, p) \in \mathbb{R}^{2n}` (all positions
first, then all momenta) and evolves by Hamilton's equations

.. math::

    \dot s = J \nabla H(s), \qquad J = \begin{pmatrix} 0 & I_n \\ -I_n & 0 \end{pmatrix}.

Each system knows :math:`H` and :math:`\nabla H` in closed form, samples initial conditions from a
``torch.Generator`` and integrates ground truth either exactly (linear systems) or with scipy's
``solve_ivp`` at ``rtol = atol = 1e-10`` (DOP853). Ground truth is computed in float64.

This module holds the base class and the one-body and chain systems; the gravitational N-body
systems are in ``_gravity`` and the registry :data:`SYSTEMS` in ``_catalog``.

References:
    S. Greydanus, M. Dzamba, J. Yosinski, "Hamiltonian Neural Networks", NeurIPS 2019,
    arXiv:1906.01563 (mass-spring, pendulum and gravity protocols).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ot_gradnets._validation import check_positive_int

__all__ = [
    "HamiltonianSystem",
    "MassSpring",
    "Pendulum",
    "SpringChain",
    "DoublePendulum",
    "ChargedDoubleWell",
    "symplectic_matrix",
    "apply_j",
]


def symplectic_matrix(
    n_dof: int, dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> Tensor:
    r"""The canonical symplectic matrix :math:`J = [[0, I], [-I, 0]]` of size :math:`2n`.

    Example:
        >>> symplectic_matrix(1)
        tensor([[ 0.,  1.],
                [-1.,  0.]])
    """
    n = check_positive_int(n_dof, "n_dof")
    eye = torch.eye(n, dtype=dtype, device=device)
    zero = torch.zeros(n, n, dtype=dtype, device=device)
    return torch.cat([torch.cat([zero, eye], 1), torch.cat([-eye, zero], 1)], 0)


def apply_j(g: Tensor) -> Tensor:
    r"""Return :math:`J g` for ``g = (g_q, g_p)`` of shape ``(*, 2n)``: that is :math:`(g_p, -g_q)`.

    Example:
        >>> apply_j(torch.tensor([1.0, 2.0]))
        tensor([ 2., -1.])
    """
    n = g.shape[-1] // 2
    return torch.cat([g[..., n:], -g[..., :n]], dim=-1)


@dataclass(frozen=True)
class _Protocol:
    """Default data protocol of a system (the HNN settings where HNN defines one)."""

    n_trajectories: int
    t_span: tuple[float, float]
    n_points: int
    test_split: float
    noise_std: float = 0.0


class HamiltonianSystem(abc.ABC):
    r"""Abstract base of a Hamiltonian system with a closed-form energy.

    Subclasses implement :meth:`hamiltonian`, :meth:`grad_hamiltonian` and
    :meth:`sample_initial_states`; ground truth comes from :meth:`trajectories` (exact flow where
    a subclass defines ``_exact_flow``, else ``solve_ivp`` with DOP853 at ``rtol = atol = 1e-10``).

    Attributes:
        name: registry name.
        n_dof: number of degrees of freedom :math:`n`; the state has ``dim = 2 n`` coordinates.
        separable: whether :math:`H(q, p) = T(p) + V(q)` (leapfrog is symplectic then).
        convex: whether :math:`H` is convex on all of :math:`\mathbb{R}^{2n}` (an mGradNet fits).
        protocol: default data settings used by :func:`make_dataset`.
    """

    name: str = ""
    separable: bool = True
    convex: bool = False
    protocol: _Protocol

    def __init__(self, n_dof: int) -> None:
        self.n_dof = check_positive_int(n_dof, "n_dof")

    @property
    def dim(self) -> int:
        """State dimension :math:`2n`."""
        return 2 * self.n_dof

    # -- physics ---------------------------------------------------------------------------
    @abc.abstractmethod
    def hamiltonian(self, s: Tensor) -> Tensor:
        """Energy :math:`H(s)`, shape ``(*,)`` for ``s`` of shape ``(*, dim)``."""

    @abc.abstractmethod
    def grad_hamiltonian(self, s: Tensor) -> Tensor:
        r"""Closed-form :math:`\nabla H(s) = (\partial_q H, \partial_p H)`, shape ``(*, dim)``."""

    def time_derivative(self, s: Tensor) -> Tensor:
        r"""Hamilton's vector field :math:`\dot s = J\nabla H(s)`, shape ``(*, dim)``."""
        return apply_j(self.grad_hamiltonian(s))

    @abc.abstractmethod
    def sample_initial_states(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` initial states (float64, shape ``(n, dim)``) from the protocol's law."""

    # -- ground truth ----------------------------------------------------------------------
    def trajectories(self, initial_states: Tensor, t: Tensor, chunk_size: int = 32) -> Tensor:
        r"""Ground-truth trajectories from ``initial_states`` at times ``t``.

        Args:
            initial_states: ``(B, dim)`` states at time ``t[0]``.
            t: ``(T,)`` increasing times.
            chunk_size: number of trajectories integrated together by ``solve_ivp`` (its error
                norm is an RMS over the chunk, so small chunks keep each trajectory accurate).

        Returns:
            ``(B, T, dim)`` float64 tensor on the device of ``initial_states``.
        """
        s0 = torch.as_tensor(initial_states)
        if s0.ndim != 2 or s0.shape[-1] != self.dim:
            raise ValueError(
                f"initial_states must have shape (B, {self.dim}), got {tuple(s0.shape)}."
            )
        tt = torch.as_tensor(t, dtype=torch.float64).reshape(-1)
        if tt.numel() > 1 and not bool((tt[1:] > tt[:-1]).all()):
            raise ValueError("t must be strictly increasing.")
        device = s0.device
        s0 = s0.detach().to("cpu", torch.float64)
        tt = tt.to("cpu")
        exact = getattr(self, "_exact_flow", None)
        if exact is not None:
            out = exact(s0, tt - tt[0])
        else:
            out = self._solve_ivp(s0, tt, chunk_size)
        out[:, 0] = s0  # exactly the initial state (the exact flows round it at t = 0)
        return out.to(device)

    def _numpy_field(self, y: np.ndarray) -> np.ndarray:
        s = torch.from_numpy(y.reshape(-1, self.dim))
        return self.time_derivative(s).numpy().reshape(-1)

    def _solve_ivp(self, s0: Tensor, t: Tensor, chunk_size: int) -> Tensor:
        from scipy.integrate import solve_ivp  # lazy: scipy's import is slow

        t_np = t.numpy()
        chunks = []
        for start in range(0, s0.shape[0], chunk_size):
            y0 = s0[start : start + chunk_size].numpy()
            if t_np.size == 1:
                chunks.append(torch.from_numpy(y0.copy())[:, None])
                continue
            sol = solve_ivp(
                lambda _t, y: self._numpy_field(y),
                (float(t_np[0]), float(t_np[-1])),
                y0.reshape(-1),
                method="DOP853",
                t_eval=t_np,
                rtol=1e-10,
                atol=1e-10,
            )
            if not sol.success:  # pragma: no cover - scipy failure is exceptional
                raise RuntimeError(f"solve_ivp failed on {self.name}: {sol.message}")
            ys = sol.y.T.reshape(t_np.size, -1, self.dim).transpose(1, 0, 2)
            chunks.append(torch.from_numpy(np.ascontiguousarray(ys)))
        return torch.cat(chunks, 0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_dof={self.n_dof})"


def _uniform(n: int, low: float, high: float, generator: torch.Generator | None) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)


def _ring_states(n: int, r_min: float, r_max: float, generator: torch.Generator | None) -> Tensor:
    """HNN's 1-DOF initial law: a uniform point of [-1, 1]^2 rescaled to a uniform radius."""
    y0 = 2 * torch.rand(n, 2, generator=generator, dtype=torch.float64) - 1
    radius = _uniform(n, r_min, r_max, generator)
    return y0 / y0.norm(dim=1, keepdim=True) * radius[:, None]


class MassSpring(HamiltonianSystem):
    r"""Ideal mass-spring, HNN's task 1: :math:`H(q, p) = q^2 + p^2`.

    The flow is a rotation at angular frequency 2,
    :math:`q(t) = q_0\cos 2t + p_0 \sin 2t`, :math:`p(t) = p_0\cos 2t - q_0\sin 2t`, used as exact
    ground truth. Initial states have radius uniform in ``[0.1, 1]``; the HNN protocol uses 50
    trajectories of 30 points on ``t in [0, 3]``, half for testing, with input noise 0.1.

    Example:
        >>> sys = MassSpring()
        >>> float(sys.hamiltonian(torch.tensor([1.0, 2.0])))
        5.0
    """

    name = "mass-spring"
    separable = True
    convex = True
    protocol = _Protocol(50, (0.0, 3.0), 30, 0.5, noise_std=0.1)

    def __init__(self) -> None:
        super().__init__(1)

    def hamiltonian(self, s: Tensor) -> Tensor:
        return (s * s).sum(-1)

    def grad_hamiltonian(self, s: Tensor) -> Tensor:
        return 2 * s

    def sample_initial_states(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return _ring_states(check_positive_int(n, "n"), 0.1, 1.0, generator)

    def _exact_flow(self, s0: Tensor, t: Tensor) -> Tensor:
        c, s = torch.cos(2 * t)[None, :], torch.sin(2 * t)[None, :]
        q0, p0 = s0[:, :1], s0[:, 1:]
        return torch.stack([q0 * c + p0 * s, p0 * c - q0 * s], dim=-1)


class Pendulum(HamiltonianSystem):
    r"""Ideal pendulum, HNN's task 2: :math:`H(q, p) = 3(1 - \cos q) + p^2`.

    Initial states have radius uniform in ``[1.3, 2.3]``; the HNN protocol uses 50 trajectories
    of 45 points on ``t in [0, 3]``, half for testing, with input noise 0.1. Ground truth from
    ``solve_ivp``.

    Example:
        >>> sys = Pendulum()
        >>> sys.time_derivative(torch.tensor([0.0, 1.0]))
        tensor([2., -0.])
    """

    name = "pendulum"
    separable = True
    convex = False
    protocol = _Protocol(50, (0.0, 3.0), 45, 0.5, noise_std=0.1)

    def __init__(self) -> None:
        super().__init__(1)

    def hamiltonian(self, s: Tensor) -> Tensor:
        q, p = s[..., 0], s[..., 1]
        return 3 * (1 - torch.cos(q)) + p * p

    def grad_hamiltonian(self, s: Tensor) -> Tensor:
        q, p = s[..., 0], s[..., 1]
        return torch.stack([3 * torch.sin(q), 2 * p], dim=-1)

    def sample_initial_states(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return _ring_states(check_positive_int(n, "n"), 1.3, 2.3, generator)


class SpringChain(HamiltonianSystem):
    r"""A chain of :math:`n` masses joined by :math:`n+1` springs between two fixed walls.

    .. math::

        H(q, p) = \sum_{i=1}^{n} \frac{p_i^2}{2 m_i}
                  + \sum_{i=0}^{n} \frac{k_i}{2} (q_{i+1} - q_i)^2,
        \qquad q_0 = q_{n+1} = 0,

    that is :math:`H = \tfrac12 p^T M^{-1} p + \tfrac12 q^T K q` with :math:`K` tridiagonal and
    positive definite, so :math:`H` is a convex quadratic (an mGradNet can represent
    :math:`\nabla H`). Ground truth is the exact flow in normal modes
    (:math:`M^{-1/2} K M^{-1/2} = U \operatorname{diag}(\omega^2) U^T`). Stiffnesses and masses are
    drawn uniformly from ``[0.5, 2]`` with ``seed`` unless given. Initial states are
    :math:`N(0, 0.5^2 I)`; protocol: 1000 trajectories of 50 points on ``t in [0, 10]``, 20% for
    testing. ``n = 20`` gives the 40-D state.

    Args:
        n_masses: number of moving masses :math:`n`.
        stiffness: ``(n + 1,)`` spring constants, or ``None`` to draw them.
        mass: ``(n,)`` masses, or ``None`` to draw them.
        seed: seed of the draw of missing stiffnesses and masses.

    Example:
        >>> chain = SpringChain(3, stiffness=torch.ones(4), mass=torch.ones(3))
        >>> chain.dim
        6
        >>> float(chain.hamiltonian(torch.tensor([1.0, 0, 0, 0, 0, 0])))
        1.0
    """

    name = "spring-chain"
    separable = True
    convex = True
    protocol = _Protocol(1000, (0.0, 10.0), 50, 0.2)

    def __init__(
        self,
        n_masses: int = 20,
        stiffness: Tensor | None = None,
        mass: Tensor | None = None,
        seed: int = 0,
    ) -> None:
        n = check_positive_int(n_masses, "n_masses")
        super().__init__(n)
        gen = torch.Generator().manual_seed(int(seed))
        k = _uniform(n + 1, 0.5, 2.0, gen) if stiffness is None else stiffness
        m = _uniform(n, 0.5, 2.0, gen) if mass is None else mass
        k = torch.as_tensor(k, dtype=torch.float64).reshape(-1)
        m = torch.as_tensor(m, dtype=torch.float64).reshape(-1)
        if k.numel() != n + 1 or not bool((k > 0).all()):
            raise ValueError(f"stiffness must hold {n + 1} positive values, got {k.tolist()}.")
        if m.numel() != n or not bool((m > 0).all()):
            raise ValueError(f"mass must hold {n} positive values, got {m.tolist()}.")
        self.stiffness, self.mass = k, m
        stiff = torch.diag(k[:-1] + k[1:])
        if n > 1:
            off = torch.diag(-k[1:-1], 1)
            stiff = stiff + off + off.T
        self.stiffness_matrix = stiff
        d = m.rsqrt()
        omega2, modes = torch.linalg.eigh(d[:, None] * stiff * d[None, :])
        self._omega = omega2.clamp_min(0).sqrt()
        self._modes = modes

    def hessian(
        self, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
    ) -> Tensor:
        r"""The constant Hessian :math:`\operatorname{diag}(K, M^{-1})`, shape ``(dim, dim)``."""
        n = self.n_dof
        h = torch.zeros(2 * n, 2 * n, dtype=torch.float64)
        h[:n, :n] = self.stiffness_matrix
        h[n:, n:] = torch.diag(1 / self.mass)
        return h.to(dtype=dtype, device=device)

    def hamiltonian(self, s: Tensor) -> Tensor:
        n = self.n_dof
        q, p = s[..., :n], s[..., n:]
        k = self.stiffness.to(dtype=s.dtype, device=s.device)
        m = self.mass.to(dtype=s.dtype, device=s.device)
        zero = torch.zeros_like(q[..., :1])
        ext = torch.cat([zero, q, zero], dim=-1)
        stretch = ext[..., 1:] - ext[..., :-1]
        return 0.5 * (p * p / m).sum(-1) + 0.5 * (k * stretch * stretch).sum(-1)

    def grad_hamiltonian(self, s: Tensor) -> Tensor:
        n = self.n_dof
        q, p = s[..., :n], s[..., n:]
        k = self.stiffness.to(dtype=s.dtype, device=s.device)
        m = self.mass.to(dtype=s.dtype, device=s.device)
        zero = torch.zeros_like(q[..., :1])
        ext = torch.cat([zero, q, zero], dim=-1)
        force = k * (ext[..., 1:] - ext[..., :-1])  # tension in spring i, (*, n + 1)
        dq = force[..., :-1] - force[..., 1:]
        return torch.cat([dq, p / m], dim=-1)

    def sample_initial_states(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        n = check_positive_int(n, "n")
        return 0.5 * torch.randn(n, self.dim, generator=generator, dtype=torch.float64)

    def _exact_flow(self, s0: Tensor, t: Tensor) -> Tensor:
        n = self.n_dof
        sq = self.mass.sqrt()
        x0 = s0[:, :n] * sq  # M^{1/2} q
        y0 = s0[:, n:] / sq  # M^{-1/2} p
        a0, b0 = x0 @ self._modes, y0 @ self._modes  # (B, n)
        w = self._omega[None, None, :]
        wt = w * t[None, :, None]
        c, s = torch.cos(wt), torch.sin(wt)
        a = a0[:, None] * c + b0[:, None] / w * s
        b = -a0[:, None] * w * s + b0[:, None] * c
        q = (a @ self._modes.T) / sq
        p = (b @ self._modes.T) * sq
        return torch.cat([q, p], dim=-1)

    def __repr__(self) -> str:
        return f"SpringChain(n_masses={self.n_dof})"


class DoublePendulum(HamiltonianSystem):
    r"""The planar double pendulum with unit masses and rods and :math:`g = 1`: non-separable.

    With :math:`\Delta = q_1 - q_2` (angles from the downward vertical) and canonical momenta
    :math:`p_1, p_2`,

    .. math::

        H(q, p) = \frac{p_1^2 + 2p_2^2 - 2p_1p_2\cos\Delta}{2(1 + \sin^2\Delta)}
                  - 2\cos q_1 - \cos q_2 .

    The kinetic energy is :math:`\tfrac12 p^T M(q)^{-1} p` with a mass matrix that depends on
    the angles, so :math:`H` is not :math:`T(p) + V(q)` (leapfrog is not symplectic for it), and
    the cosines make it non-convex. Initial angles are uniform in ``[-1, 1]`` rad and momenta
    :math:`N(0, 0.5^2)`, kept when :math:`H \le` :attr:`max_energy` :math:`= -1.2` (rejection
    sampling): below :math:`H = -1`, the least energy at which the outer rod can swing over the
    top, no pendulum turns over, so the angles stay in the range the data cover. Protocol: 1000
    trajectories of 50 points on ``t in [0, 10]``, 20% for testing. Ground truth from
    ``solve_ivp``.

    Example:
        >>> sys = DoublePendulum()
        >>> float(sys.hamiltonian(torch.zeros(4)))
        -3.0
    """

    name = "double-pendulum"
    separable = False
    convex = False
    protocol = _Protocol(1000, (0.0, 10.0), 50, 0.2)
    #: Initial states above this energy are redrawn (no rod can turn over below -1).
    max_energy = -1.2

    def __init__(self) -> None:
        super().__init__(2)

    @staticmethod
    def _parts(s: Tensor) -> tuple[Tensor, ...]:
        q1, q2, p1, p2 = s.unbind(-1)
        delta = q1 - q2
        c, sn = torch.cos(delta), torch.sin(delta)
        denom = 1 + sn * sn
        numer = p1 * p1 + 2 * p2 * p2 - 2 * p1 * p2 * c
        return q1, q2, p1, p2, c, sn, denom, numer

    def hamiltonian(self, s: Tensor) -> Tensor:
        q1, q2, _, _, _, _, denom, numer = self._parts(s)
        return numer / (2 * denom) - 2 * torch.cos(q1) - torch.cos(q2)

    def grad_hamiltonian(self, s: Tensor) -> Tensor:
        q1, q2, p1, p2, c, sn, denom, numer = self._parts(s)
        # d/dDelta of the kinetic energy N / (2D): N' = 2 p1 p2 sin, D' = 2 sin cos.
        d_delta = p1 * p2 * sn / denom - numer * sn * c / (denom * denom)
        return torch.stack(
            [
                d_delta + 2 * torch.sin(q1),
                -d_delta + torch.sin(q2),
                (p1 - p2 * c) / denom,
                (2 * p2 - p1 * c) / denom,
            ],
            dim=-1,
        )

    def sample_initial_states(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        n = check_positive_int(n, "n")
        kept: list[Tensor] = []
        while sum(len(k) for k in kept) < n:  # about 3% of the draws are redrawn
            q = 2 * torch.rand(n, 2, generator=generator, dtype=torch.float64) - 1
            p = 0.5 * torch.randn(n, 2, generator=generator, dtype=torch.float64)
            s = torch.cat([q, p], dim=1)
            kept.append(s[self.hamiltonian(s) <= self.max_energy])
        return torch.cat(kept)[:n]

    def __repr__(self) -> str:
        return "DoublePendulum()"


class ChargedDoubleWell(HamiltonianSystem):
    r"""A charged particle in a uniform magnetic field and a double-well potential: non-separable.

    With the symmetric gauge :math:`A(q) = \tfrac B2(-q_y, q_x)`, :math:`B = 1`, unit mass and
    charge,

    .. math::

        H(q, p) = \tfrac12\,|p - A(q)|^2 + (q_x^2 - 1)^2 + \tfrac12 q_y^2 .

    The magnetic term couples :math:`p` to :math:`q` (:math:`H` is not :math:`T(p) + V(q)`), and
    the quartic double well along :math:`x` makes :math:`H` non-convex; orbits hop between the
    wells at :math:`x = \pm 1` and drift along the level sets. Initial positions are uniform in
    ``[-1.5, 1.5] x [-1, 1]`` and momenta :math:`N(0, 0.5^2)`; protocol: 1000 trajectories of 50
    points on ``t in [0, 10]``, 20% for testing. Ground truth from ``solve_ivp``.

    Example:
        >>> sys = ChargedDoubleWell()
        >>> float(sys.hamiltonian(torch.tensor([1.0, 0.0, 0.0, 0.0])))
        0.125
    """

    name = "charged-double-well"
    separable = False
    convex = False
    protocol = _Protocol(1000, (0.0, 10.0), 50, 0.2)
    field_strength = 1.0

    def __init__(self) -> None:
        super().__init__(2)

    def _velocity(self, s: Tensor) -> Tensor:
        """Kinetic momentum :math:`p - A(q) = (p_x + By/2, p_y - Bx/2)`."""
        half_b = 0.5 * self.field_strength
        x, y, px, py = s.unbind(-1)
        return torch.stack([px + half_b * y, py - half_b * x], dim=-1)

    def hamiltonian(self, s: Tensor) -> Tensor:
        u = self._velocity(s)
        x, y = s[..., 0], s[..., 1]
        return 0.5 * (u * u).sum(-1) + (x * x - 1) ** 2 + 0.5 * y * y

    def grad_hamiltonian(self, s: Tensor) -> Tensor:
        half_b = 0.5 * self.field_strength
        u = self._velocity(s)
        x, y = s[..., 0], s[..., 1]
        dx = -half_b * u[..., 1] + 4 * x * (x * x - 1)
        dy = half_b * u[..., 0] + y
        return torch.stack([dx, dy, u[..., 0], u[..., 1]], dim=-1)

    def sample_initial_states(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        n = check_positive_int(n, "n")
        u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
        q = torch.stack([3 * u[:, 0] - 1.5, 2 * u[:, 1] - 1], dim=1)
        p = 0.5 * torch.randn(n, 2, generator=generator, dtype=torch.float64)
        return torch.cat([q, p], dim=1)

    def __repr__(self) -> str:
        return "ChargedDoubleWell()"

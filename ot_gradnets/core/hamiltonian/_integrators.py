r"""Integrators for Hamiltonian vector fields :math:`\dot s = J g(s)`, batched in torch.

All integrators take ``grad_h``, a callable returning :math:`g(s) = \nabla H(s)` (shape
``(*, 2n)`` in, same shape out), and integrate :math:`\dot s = J g(s)`. A learned model's
``grad_hamiltonian`` or a system's closed form can be passed; for the unconstrained MLP baseline
:math:`g` is not a gradient and the symplectic schemes are then ordinary second-order methods.

Methods (registry :data:`INTEGRATORS`):

- ``"leapfrog"``: Stoermer-Verlet (kick-drift-kick), explicit, order 2; symplectic and
  time-reversible when :math:`H(q, p) = T(p) + V(q)` is separable.
- ``"implicit-midpoint"``: :math:`s_{k+1} = s_k + h J g((s_k + s_{k+1})/2)`, order 2, symplectic
  for every :math:`H` (it conserves quadratic invariants exactly); the implicit equation is solved
  by fixed-point iteration.
- ``"rk4"``: classical fixed-step Runge-Kutta, order 4, not symplectic.
- ``"rk45"``: adaptive Dormand-Prince 5(4) with PI-free standard step control (torch, batched; one
  step size for the whole batch), not symplectic.

References:
    E. Hairer, C. Lubich, G. Wanner, "Geometric Numerical Integration", Springer 2006,
    chapters II.1 and VI.3.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch
from torch import Tensor

from ot_gradnets._registry import check_choice

from ._systems import apply_j

__all__ = [
    "leapfrog_step",
    "implicit_midpoint_step",
    "rk4_step",
    "integrate",
    "rollout",
    "INTEGRATORS",
]

GradH = Callable[[Tensor], Tensor]


def leapfrog_step(grad_h: GradH, s: Tensor, h: float) -> Tensor:
    r"""One Stoermer-Verlet step (kick-drift-kick) of size ``h``.

    .. math::

        p_{1/2} = p - \tfrac h2 \partial_q H(q, p),\quad
        q' = q + h\,\partial_p H(q, p_{1/2}),\quad
        p' = p_{1/2} - \tfrac h2 \partial_q H(q', p_{1/2}).

    Symplectic when :math:`H` is separable (then :math:`\partial_q H` ignores :math:`p` and
    :math:`\partial_p H` ignores :math:`q`).

    Example:
        >>> s = torch.tensor([1.0, 0.0])
        >>> [round(v, 6) for v in leapfrog_step(lambda s: s, s, 0.1).tolist()]  # H = |s|^2/2
        [0.995, -0.09975]
    """
    n = s.shape[-1] // 2
    q, p = s[..., :n], s[..., n:]
    p_half = p - 0.5 * h * grad_h(s)[..., :n]
    q_new = q + h * grad_h(torch.cat([q, p_half], -1))[..., n:]
    p_new = p_half - 0.5 * h * grad_h(torch.cat([q_new, p_half], -1))[..., :n]
    return torch.cat([q_new, p_new], -1)


def implicit_midpoint_step(
    grad_h: GradH, s: Tensor, h: float, tol: float | None = None, max_iter: int = 100
) -> Tensor:
    r"""One implicit-midpoint step :math:`s' = s + h J\nabla H((s + s')/2)`.

    The stage :math:`m = (s + s')/2` solves :math:`m = s + \tfrac h2 J\nabla H(m)`, found by
    fixed-point iteration from the explicit-midpoint guess; it converges when
    :math:`\tfrac h2 \operatorname{Lip}(\nabla H) < 1`. Iteration stops when the largest change is
    below ``tol`` (default: 10 machine epsilons of the dtype times the state's scale).

    Example:
        >>> s = torch.tensor([1.0, 0.0], dtype=torch.float64)
        >>> s1 = implicit_midpoint_step(lambda s: s, s, 0.1)
        >>> round(float((s1 * s1).sum()), 12)  # |s|^2 is conserved exactly
        1.0
    """
    if tol is None:
        tol = 10 * torch.finfo(s.dtype).eps
    half = 0.5 * h
    m = s + half * apply_j(grad_h(s))
    scale = 1.0 + float(s.detach().abs().max())
    for _ in range(max_iter):
        m_new = s + half * apply_j(grad_h(m))
        delta = float((m_new - m).detach().abs().max())
        m = m_new
        if delta <= tol * scale:
            break
    else:
        warnings.warn(
            f"implicit midpoint: fixed-point iteration did not converge in {max_iter} iterations "
            f"(last change {delta:.2e}); reduce step_size.",
            RuntimeWarning,
            stacklevel=3,
        )
    return 2 * m - s


def rk4_step(grad_h: GradH, s: Tensor, h: float) -> Tensor:
    r"""One classical Runge-Kutta step of :math:`\dot s = J\nabla H(s)`.

    Example:
        >>> [round(v, 6) for v in rk4_step(lambda s: s, torch.tensor([1.0, 0.0]), 0.1).tolist()]
        [0.995004, -0.099833]
    """

    def f(x: Tensor) -> Tensor:
        return apply_j(grad_h(x))

    k1 = f(s)
    k2 = f(s + 0.5 * h * k1)
    k3 = f(s + 0.5 * h * k2)
    k4 = f(s + h * k3)
    return s + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


# Dormand-Prince 5(4) tableau (the nodes c_i are not needed: the field does not depend on t).
_DP_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_DP_B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_DP_E = (
    71 / 57600,
    0.0,
    -71 / 16695,
    71 / 1920,
    -17253 / 339200,
    22 / 525,
    -1 / 40,
)  # b - b_hat


def _rk45_segment(
    f: Callable[[Tensor], Tensor],
    s: Tensor,
    t0: float,
    t1: float,
    h: float,
    rtol: float,
    atol: float,
    max_steps: int,
) -> tuple[Tensor, float]:
    """Integrate from t0 to t1 with adaptive Dormand-Prince; returns (state, last step size)."""
    t = t0
    n_steps = 0
    while t < t1 - 1e-14 * max(1.0, abs(t1)):
        h = min(h, t1 - t)
        k = [f(s)]
        for i in range(1, 7):
            ds = sum(a * kj for a, kj in zip(_DP_A[i], k, strict=False))
            k.append(f(s + h * ds))
        s_new = s + h * sum(b * ki for b, ki in zip(_DP_B, k, strict=True))
        err = h * sum(e * ki for e, ki in zip(_DP_E, k, strict=True))
        scale = atol + rtol * torch.maximum(s.abs(), s_new.abs())
        err_norm = float(((err / scale) ** 2).mean().sqrt())
        if err_norm <= 1.0:
            t += h
            s = s_new
        factor = 0.9 * (1.0 / max(err_norm, 1e-10)) ** 0.2
        h = h * min(5.0, max(0.2, factor))
        n_steps += 1
        if n_steps > max_steps:
            raise RuntimeError(
                f"rk45 took more than {max_steps} steps between t={t0} and t={t1}; "
                "loosen rtol/atol or raise max_steps."
            )
    return s, h


_STEPPERS: dict[str, Callable[[GradH, Tensor, float], Tensor]] = {
    "leapfrog": leapfrog_step,
    "implicit-midpoint": implicit_midpoint_step,
    "rk4": rk4_step,
}

#: Integrators by name. ``symplectic`` tells whether the method is symplectic (for separable
#: :math:`H` only, in the case of leapfrog); ``adaptive`` whether it controls its step.
INTEGRATORS: dict[str, dict[str, bool]] = {
    "leapfrog": {"symplectic": True, "adaptive": False, "needs_separable": True},
    "implicit-midpoint": {"symplectic": True, "adaptive": False, "needs_separable": False},
    "rk4": {"symplectic": False, "adaptive": False, "needs_separable": False},
    "rk45": {"symplectic": False, "adaptive": True, "needs_separable": False},
}


def integrate(
    grad_h: GradH,
    s0: Tensor,
    t: Tensor,
    method: str = "implicit-midpoint",
    step_size: float | None = None,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    max_steps: int = 1_000_000,
) -> Tensor:
    r"""Integrate :math:`\dot s = J\nabla H(s)` from ``s0`` and return the states at times ``t``.

    Fixed-step methods take steps of at most ``step_size`` (each output interval is split into
    equal sub-steps); ``"rk45"`` chooses its steps to meet ``rtol``/``atol`` (RMS norm over the
    batch). Runs without building an autograd graph through the trajectory: each step's states
    are detached, so models whose gradient needs autograd (HNN) still work.

    Args:
        grad_h: callable :math:`s \mapsto \nabla H(s)` on ``(*, 2n)`` tensors.
        s0: ``(*, 2n)`` initial states (any batch shape).
        t: ``(T,)`` increasing output times; ``t[0]`` is the time of ``s0``.
        method: one of :data:`INTEGRATORS`.
        step_size: largest step of the fixed-step methods (default: the output spacing).
        rtol, atol: tolerances of ``"rk45"``.
        max_steps: safety cap on the number of ``"rk45"`` steps.

    Returns:
        ``(*, T, 2n)`` states, ``out[..., 0, :] == s0``. If a fixed-step integration blows up,
        the outputs after that time are NaN (with a warning).

    Example:
        >>> t = torch.linspace(0, 1, 3, dtype=torch.float64)
        >>> s0 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
        >>> out = integrate(lambda s: s, s0, t, method="rk45", rtol=1e-10, atol=1e-12)
        >>> out.shape, round(float(out[0, -1, 0]), 6)  # cos(1)
        (torch.Size([1, 3, 2]), 0.540302)
    """
    check_choice(method, INTEGRATORS, "method")
    if not isinstance(s0, Tensor) or s0.ndim == 0 or s0.shape[-1] % 2:
        raise ValueError(
            "s0 must be a tensor of shape (*, 2n) with an even last dimension, got "
            f"{getattr(s0, 'shape', type(s0).__name__)}."
        )
    tt = torch.as_tensor(t, dtype=torch.float64).reshape(-1).tolist()
    if any(b <= a for a, b in zip(tt[:-1], tt[1:], strict=True)):
        raise ValueError("t must be strictly increasing.")
    if step_size is not None and not step_size > 0:
        raise ValueError(f"step_size must be positive, got {step_size!r}.")

    def g(x: Tensor) -> Tensor:
        return grad_h(x).detach()

    s = s0.detach()
    out = [s]
    if method == "rk45":
        h = (tt[-1] - tt[0]) / 100 if len(tt) > 1 else 1.0
        h = step_size or h
        for a, b in zip(tt[:-1], tt[1:], strict=True):
            s, h = _rk45_segment(lambda x: apply_j(g(x)), s, a, b, h, rtol, atol, max_steps)
            out.append(s)
        return torch.stack(out, dim=-2)
    step = _STEPPERS[method]
    for a, b in zip(tt[:-1], tt[1:], strict=True):
        n_sub = 1 if step_size is None else max(1, math.ceil((b - a) / step_size - 1e-9))
        h = (b - a) / n_sub
        for _ in range(n_sub):
            s = step(g, s, h).detach()
        out.append(s)
        if not bool(torch.isfinite(s).all()):  # blown up: the rest is undefined
            warnings.warn(
                f"{method}: the state became non-finite at t={b:g}; the remaining outputs are "
                "NaN. Reduce step_size (or the model is unstable there).",
                RuntimeWarning,
                stacklevel=2,
            )
            out.extend(torch.full_like(s, math.nan) for _ in range(len(tt) - len(out)))
            break
    return torch.stack(out, dim=-2)


def rollout(
    model: object,
    s0: Tensor,
    t: Tensor,
    method: str = "implicit-midpoint",
    step_size: float | None = None,
    **kwargs: float,
) -> Tensor:
    r"""Batched rollout of a learned model (or a system) from many initial states.

    ``model`` is anything with a ``grad_hamiltonian(s)`` method (a :class:`HamiltonianField` or a
    :class:`HamiltonianSystem`); the rollout integrates :math:`\dot s = J\,`
    ``model.grad_hamiltonian(s)`` with :func:`integrate`, in the dtype and on the device of ``s0``.

    Args:
        model: the vector field's source.
        s0: ``(B, 2n)`` initial states.
        t: ``(T,)`` output times.
        method, step_size, \*\*kwargs: see :func:`integrate`.

    Returns:
        ``(B, T, 2n)`` trajectories.

    Example:
        >>> from ot_gradnets.core.hamiltonian import MassSpring
        >>> out = rollout(MassSpring(), torch.ones(5, 2), torch.linspace(0, 1, 4), step_size=0.01)
        >>> out.shape
        torch.Size([5, 4, 2])
    """
    grad_h = getattr(model, "grad_hamiltonian", None)
    if grad_h is None:
        raise TypeError(
            f"model must have a grad_hamiltonian(s) method, got {type(model).__name__}; wrap a "
            "core network in HamiltonianField."
        )

    def g(s: Tensor) -> Tensor:
        with torch.enable_grad():  # potential-based models (HNN) differentiate their potential
            return grad_h(s)

    return integrate(g, s0, t, method=method, step_size=step_size, **kwargs)

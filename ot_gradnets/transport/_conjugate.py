r"""Convex conjugates and inverses of monotone gradient networks, by Newton's method.

For a convex potential :math:`F` with gradient :math:`N = \nabla F` (a monotone gradient network),
the convex conjugate and its maximiser are

.. math::

    F^*(y) = \max_x \; \langle x, y\rangle - F(x), \qquad
    x^*(y) = \operatorname*{argmin}_x \; F(x) - \langle x, y\rangle = N^{-1}(y)
    = \nabla F^*(y).

So one solver gives three things: the conjugate potential, the inverse of the map, and the
maximisers needed by the semi-dual loss. It is Newton's method on the strongly convex problem
:math:`\min_x G(x) = F(x) - \langle x, y\rangle`, whose gradient is :math:`N(x) - y` and whose
Hessian is the network's closed-form Jacobian :math:`J_N(x)`; every sample of the batch is an
independent problem and is solved in parallel (one batched factorisation per iteration). Steps are
damped by a backtracking line search on the residual :math:`|N(x) - y|`, along which the Newton
direction is always a descent direction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["ConjugateResult", "solve_conjugate"]


@dataclass
class ConjugateResult:
    """Result of :func:`solve_conjugate`.

    Attributes:
        x: the maximisers :math:`x^*(y) = N^{-1}(y)`, shape ``(n, dim)``.
        residual: :math:`|N(x^*) - y|_2` per sample, shape ``(n,)``.
        n_iter: Newton iterations taken (the slowest sample's count).
        converged: whether every residual is below ``tol``.
    """

    x: Tensor
    residual: Tensor
    n_iter: int
    converged: bool


def _factor(net: nn.Module, x: Tensor, damping: float) -> Tensor:
    """Cholesky factors of :math:`J_N(x) + \\lambda I` per sample (relative jitter if singular)."""
    jac = net.jacobian(x)
    if damping:
        jac = jac + damping * torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)
    chol, info = torch.linalg.cholesky_ex(jac)
    if bool((info > 0).any()):  # singular or indefinite Hessians: add a relative jitter
        scale = jac.diagonal(dim1=-2, dim2=-1).abs().mean(-1).clamp_min(1e-12)
        eye = torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)
        chol, _ = torch.linalg.cholesky_ex(jac + 1e-6 * scale[..., None, None] * eye)
    return chol


def _shared_preconditioner(net: nn.Module, x: Tensor, damping: float, n_probe: int = 64) -> Tensor:
    r"""Cholesky factor of the batch-mean Hessian :math:`\bar J = \operatorname{mean}_i J_N(x_i)`.

    One :math:`d\times d` factorisation shared by every sample, from the Jacobians of at most
    ``n_probe`` evenly spaced samples. For a network that is a fixed quadratic plus a smaller
    curved part (the Brenier maps of :mod:`ot_gradnets.transport`) it captures most of each
    sample's Hessian, and conjugate gradients preconditioned by it converge in a few iterations.
    """
    step = max(1, x.shape[0] // n_probe)
    jac = net.jacobian(x[::step][:n_probe]).mean(0)
    eye = torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)
    if damping:
        jac = jac + damping * eye
    chol, info = torch.linalg.cholesky_ex(jac)
    if int(info) > 0:  # singular mean Hessian: a relative jitter keeps it usable
        scale = jac.diagonal().abs().mean().clamp_min(1e-12)
        chol, _ = torch.linalg.cholesky_ex(jac + 1e-6 * scale * eye)
    return chol


def _cg(
    net: nn.Module,
    x: Tensor,
    g: Tensor,
    damping: float,
    max_iter: int,
    rtol: float = 1e-6,
    precond: Tensor | None = None,
) -> Tensor:
    r"""Matrix-free (preconditioned) conjugate gradients on :math:`(J_N(x) + \lambda I) p = g`.

    Uses ``net.jvp``; stops when every sample's residual is below ``rtol`` times its start.
    ``precond`` is the Cholesky factor of a shared SPD preconditioner (or ``None``).
    """

    def apply(r: Tensor) -> Tensor:
        return r if precond is None else torch.cholesky_solve(r.T, precond).T

    p = torch.zeros_like(g)
    r = g.clone()
    z = apply(r)
    d = z.clone()
    rz = (r * z).sum(-1)
    stop = rtol**2 * (r * r).sum(-1).clamp_min(1e-300)
    for _ in range(max_iter):
        hd = net.jvp(x, d)
        if damping:
            hd = hd + damping * d
        dhd = (d * hd).sum(-1).clamp_min(1e-300)
        a = rz / dhd
        p = p + a[:, None] * d
        r = r - a[:, None] * hd
        if bool(((r * r).sum(-1) <= stop).all()):
            break
        z = apply(r)
        rz_new = (r * z).sum(-1)
        d = z + (rz_new / rz.clamp_min(1e-300))[:, None] * d
        rz = rz_new
    return p


@torch.no_grad()
def solve_conjugate(
    net: nn.Module | Callable[[Tensor], Tensor],
    y: Tensor,
    x0: Tensor | None = None,
    *,
    tol: float = 1e-6,
    max_iter: int = 50,
    damping: float = 0.0,
    method: str = "dense",
    cg_iter: int = 20,
    cg_rtol: float = 1e-6,
    max_backtrack: int = 20,
    reuse_hessian: bool = False,
) -> ConjugateResult:
    r"""Solve :math:`N(x) = y` for a monotone gradient network, i.e. :math:`x = \nabla F^*(y)`.

    Newton's method on :math:`G(x) = F(x) - \langle x, y\rangle` with the exact Hessian
    :math:`J_N(x)` (``method="dense"``: one batched Cholesky per iteration, cost
    :math:`O(d^3)` per sample) or Hessian-vector products with conjugate gradients
    (``method="cg"``: ``net.jvp``, no per-sample :math:`d\times d` matrix; ``method="pcg"``: the
    same, preconditioned by one Cholesky factorisation of the batch-mean Hessian at the starting
    points, shared by all samples and iterations, :math:`O(d^2)` per sample and CG iteration). Each iteration tries the full
    step and halves it, per sample, until the residual :math:`|N(x) - y|` decreases. Samples that
    have converged stop moving.

    The solution exists and is unique when :math:`F` is strongly convex (``strong_convexity > 0``
    on the network, or a positive definite quadratic term); otherwise ``damping`` adds
    :math:`\lambda I` to the Hessian (a Levenberg-Marquardt step) so that flat directions do not
    blow up.

    Args:
        net: a monotone gradient network (``net(x)`` and ``net.jacobian(x)``, and ``net.jvp``
            for ``method="cg"`` or ``"pcg"``).
        y: points to invert, shape ``(n, dim)``.
        x0: starting points, shape ``(n, dim)``; defaults to ``y`` (exact when :math:`N` is the
            identity). Warm starts from a previous solution make a few iterations enough.
        tol: stop when every residual :math:`|N(x) - y|_2` is below ``tol`` (absolute).
        max_iter: the most Newton iterations.
        damping: :math:`\lambda\ge 0` added to the Hessian's diagonal.
        method: ``"dense"``, ``"cg"`` or ``"pcg"``.
        cg_iter: the most conjugate-gradient iterations per Newton step (``"cg"``, ``"pcg"``).
        cg_rtol: conjugate gradients stop at this residual relative to the Newton step's
            right-hand side (an inexact Newton method: looser is cheaper per step, and the
            line search on :math:`|N(x) - y|` keeps every accepted step a descent step).
        max_backtrack: the most step halvings per iteration.
        reuse_hessian: keep each sample's factorised Hessian while it converges fast (residual
            at least 4x smaller per step), refactorising only samples that slow down or fail (a
            chord / Shamanskii variant of Newton, ``method="dense"`` only). Each reuse saves a
            Jacobian and a Cholesky factorisation, the dominant cost; useful with warm starts.

    Returns:
        A :class:`ConjugateResult` with the solutions, residuals, iteration count and a
        convergence flag.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> class Cubic(nn.Module):  # N(x) = x + x^3 = grad(|x|^2/2 + sum x^4/4)
        ...     def forward(self, x):
        ...         return x + x**3
        ...     def jacobian(self, x):
        ...         return torch.diag_embed(1 + 3 * x**2)
        >>> res = solve_conjugate(Cubic(), torch.tensor([[2.0, 10.0]], dtype=torch.float64))
        >>> res.x.allclose(torch.tensor([[1.0, 2.0]], dtype=torch.float64))  # 1+1=2, 2+8=10
        True
        >>> res.converged
        True
    """
    if method not in ("dense", "cg", "pcg"):
        raise ValueError(f"method must be 'dense', 'cg' or 'pcg', got {method!r}.")
    x = (y if x0 is None else x0).clone()
    precond = _shared_preconditioner(net, x, damping) if method == "pcg" else None
    res_vec = net(x) - y
    res = res_vec.norm(dim=-1)
    frozen = torch.zeros_like(res, dtype=torch.bool)  # samples that can no longer progress
    stale = torch.ones_like(res, dtype=torch.bool)  # samples whose kept Hessian must be redone
    chol: Tensor | None = None
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        active = (res > tol) & ~frozen
        if not bool(active.any()):
            n_iter -= 1
            break
        idx = active.nonzero().squeeze(-1)
        xa, ga, ra = x[idx], res_vec[idx], res[idx]
        ya = y[idx]
        if method != "dense":
            step = _cg(net, xa, ga, damping, cg_iter, cg_rtol, precond)
            fresh = torch.ones_like(ra, dtype=torch.bool)
        else:
            fresh = stale[idx]
            if chol is None or not reuse_hessian:
                chol_a = _factor(net, xa, damping)
                fresh = torch.ones_like(ra, dtype=torch.bool)
            else:
                chol_a = chol[idx]
                if bool(fresh.any()):
                    chol_a[fresh] = _factor(net, xa[fresh], damping)
            if reuse_hessian:
                if chol is None:
                    chol = torch.empty(x.shape + (x.shape[-1],), dtype=x.dtype, device=x.device)
                chol[idx] = chol_a
                stale[idx] = False
            step = torch.cholesky_solve(ga.unsqueeze(-1), chol_a).squeeze(-1)
        t = torch.ones(xa.shape[0], dtype=x.dtype, device=x.device)
        x_new = xa - step
        g_new = net(x_new) - ya
        r_new = g_new.norm(dim=-1)
        for _ in range(max_backtrack):
            bad = ~(r_new < ra)  # also true where r_new is NaN
            if reuse_hessian:  # an old Hessian that fails: refactorise instead of backtracking
                stale[idx[bad & ~fresh]] = True
                bad = bad & fresh
            if not bool(bad.any()):
                break
            t = torch.where(bad, 0.5 * t, t)
            bi = bad.nonzero().squeeze(-1)
            x_new[bi] = xa[bi] - t[bi, None] * step[bi]
            g_new[bi] = net(x_new[bi]) - ya[bi]
            r_new[bi] = g_new[bi].norm(dim=-1)
        ok = torch.isfinite(r_new) & (r_new <= ra)
        keep = ok.nonzero().squeeze(-1)
        x[idx[keep]] = x_new[keep]
        res_vec[idx[keep]] = g_new[keep]
        res[idx[keep]] = r_new[keep]
        if reuse_hessian:
            slow = ok & (r_new > 0.25 * ra)  # linear convergence: time for a new Hessian
            stale[idx[slow]] = True
            frozen[idx[~ok & fresh]] = True  # a fresh Newton step that fails: no progress left
        else:
            frozen[idx[~ok]] = True  # e.g. at machine precision: stop iterating on them
    return ConjugateResult(x=x, residual=res, n_iter=n_iter, converged=bool((res <= tol).all()))

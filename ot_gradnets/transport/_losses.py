r"""Training losses for Brenier maps, behind the registry :data:`LOSSES`.

Every loss fits a monotone gradient network :math:`T = \nabla F` so that it transports a source
:math:`P` onto a target :math:`Q`; by Brenier's theorem the convex gradient doing so is the optimal
map for the squared cost. Each loss is a small object with the same two methods:
``start(net, source, target, generator)`` once before training, then ``step(net, batch_size,
generator)`` returning the scalar to minimise (each loss draws its own minibatches, which lets the
semi-dual keep warm starts per target sample).

==================== ==========================================================================
name                 objective
==================== ==========================================================================
``"dual"``           Kantorovich semi-dual :math:`\mathbb{E}_P[F(x)] + \mathbb{E}_Q[F^*(y)]`,
                     conjugates by Newton with the exact Hessian, envelope-theorem gradient
``"w2"``             exact minibatch OT, :math:`W_2^2(T_\#\hat P_B, \hat Q_B)` by POT
                     ``ot.emd2`` on the cost :math:`|T(x)-y|^2`, differentiable through the cost
``"sinkhorn"``       debiased Sinkhorn divergence of GeomLoss, ``SamplesLoss("sinkhorn", p=2)``
                     (cost :math:`|x-y|^2/2`, :math:`\varepsilon = \text{blur}^2`)
``"monge-ampere"``   squared residual of :math:`\log\det J_T(x) = \log p(x) - \log q(T(x))` on
                     source samples, for log-densities instead of target samples
==================== ==========================================================================

References:
    B. Amos, "On amortizing convex conjugates for optimal transport", ICLR 2023, arXiv:2210.12153.
    K. Fatras et al., "Learning with minibatch Wasserstein", AISTATS 2020, arXiv:1910.04091.
    J. Feydy et al., "Interpolating between optimal transport and MMD using Sinkhorn
    divergences", AISTATS 2019, arXiv:1810.08278.
"""

from __future__ import annotations

import abc
import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ot_gradnets import _distributed as dist
from ot_gradnets.core import GradientSum, GradNetM, MGradNetM, QuadraticGradient
from ot_gradnets.transport._conjugate import solve_conjugate
from ot_gradnets.transport._gaussian import gaussian_map
from ot_gradnets.transport._samples import SampleSource

__all__ = ["LOSSES", "TransportLoss", "make_loss"]


class TransportLoss(abc.ABC):
    """A training objective for :class:`~ot_gradnets.transport.BrenierMap`.

    ``needs_target_samples`` is false for losses that use log-densities instead.
    """

    needs_target_samples: bool = True

    def start(
        self,
        net: nn.Module,
        source: SampleSource,
        target: SampleSource | None,
        generator: torch.Generator | None,
    ) -> None:
        """Keep the data; called once before the first step."""
        self.source = source
        self.target = target

    @abc.abstractmethod
    def step(self, net: nn.Module, batch_size: int, generator: torch.Generator | None) -> Tensor:
        """Draw minibatches and return the scalar loss to minimise (with a graph)."""

    def evaluate(self, net: nn.Module, x: Tensor, y: Tensor | None) -> float:
        """The objective on fixed held-out samples ``x`` (source) and ``y`` (target), no graph.

        Lower is better, on the same scale as :meth:`step`'s value; used by
        :class:`~ot_gradnets.transport.BrenierMap`'s ``validation_fraction``. A loss that does
        not define it cannot be used with a hold-out.
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no evaluate(net, x, y): BrenierMap cannot score it on "
            "held-out samples; leave validation_fraction=None."
        )

    def state_dict(self) -> dict[str, Any]:
        """What the loss keeps between steps (for checkpoints); stateless losses keep nothing."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027 - stateless default
        """Continue from :meth:`state_dict`, after :meth:`start`."""


class W2Loss(TransportLoss):
    r"""Exact minibatch OT: :math:`\min_\pi \sum_{ij}\pi_{ij}|T(x_i)-y_j|^2` by POT ``ot.emd2``.

    The cost is POT's ``ot.dist`` (:math:`|x-y|^2`, no half). The value is differentiable in the
    cost matrix through POT's torch backend (the gradient is the optimal plan), hence in the
    network's parameters. In data-parallel training the coupling is over the *global* batch:
    every rank gathers all ranks' mapped points and targets and solves the same problem, so
    :math:`N` ranks with ``batch_size`` :math:`b` give the loss (and, after the gradient
    average, the gradient) of one process with batch :math:`Nb`.
    """

    def step(self, net: nn.Module, batch_size: int, generator: torch.Generator | None) -> Tensor:
        import ot

        x, _ = self.source.draw(batch_size, generator)
        y, _ = self.target.draw(batch_size, generator)  # type: ignore[union-attr]
        tx, y = dist.gather_with_grad(net(x)), dist.gather(y)  # the global batch
        cost = ot.dist(tx, y)
        n = tx.shape[0]
        w = torch.full((n,), 1.0 / n, dtype=x.dtype, device=x.device)
        return ot.emd2(w, w, cost)

    @torch.no_grad()
    def evaluate(self, net: nn.Module, x: Tensor, y: Tensor | None) -> float:
        r""":math:`W_2^2(T_\#\hat P, \hat Q)` between the held-out samples (exact, POT)."""
        import ot

        assert y is not None
        a = torch.full((x.shape[0],), 1.0 / x.shape[0], dtype=x.dtype, device=x.device)
        b = torch.full((y.shape[0],), 1.0 / y.shape[0], dtype=y.dtype, device=y.device)
        return float(ot.emd2(a, b, ot.dist(net(x), y)))


def _keops_available() -> bool:
    return importlib.util.find_spec("pykeops") is not None


class SinkhornLoss(TransportLoss):
    r"""Debiased Sinkhorn divergence of GeomLoss between :math:`T_\#\hat P_B` and :math:`\hat Q_B`.

    GeomLoss ``SamplesLoss("sinkhorn", p=2, blur=blur, scaling=scaling, debias=True)``: its cost
    is :math:`|x-y|^2/2` and its entropic regularisation :math:`\varepsilon = \text{blur}^2`;
    ``scaling`` sets GeomLoss's :math:`\varepsilon`-annealing schedule (from the data's diameter
    down to ``blur``); the default 0.5 is GeomLoss's own: a coarser annealing makes each step
    several times cheaper than a fine one (0.9), which buys more steps, and more accuracy, in a
    given time (``benchmarks/RESULTS.md``, "Estimator defaults").
    The KeOps ``"online"`` backend is used when pykeops is installed and the
    batch is large (more than 5,000 x 5,000 pairs), the dense ``"tensorized"`` one otherwise.
    In data-parallel training the divergence is between the *global* batches, gathered from all
    ranks, as for ``"w2"``.
    """

    def __init__(self, blur: float = 0.05, scaling: float = 0.5) -> None:
        self.blur = blur
        self.scaling = scaling
        self._losses: dict[str, Any] = {}

    def _loss(self, backend: str) -> Any:
        if backend not in self._losses:
            from geomloss import SamplesLoss

            self._losses[backend] = SamplesLoss(
                "sinkhorn", p=2, blur=self.blur, scaling=self.scaling, debias=True, backend=backend
            )
        return self._losses[backend]

    def step(self, net: nn.Module, batch_size: int, generator: torch.Generator | None) -> Tensor:
        x, _ = self.source.draw(batch_size, generator)
        y, _ = self.target.draw(batch_size, generator)  # type: ignore[union-attr]
        tx, y = dist.gather_with_grad(net(x)), dist.gather(y)  # the global batch
        online = _keops_available() and tx.shape[0] * y.shape[0] > 5000**2
        return self._loss("online" if online else "tensorized")(tx, y)

    @torch.no_grad()
    def evaluate(self, net: nn.Module, x: Tensor, y: Tensor | None) -> float:
        """The Sinkhorn divergence between the held-out samples."""
        assert y is not None
        online = _keops_available() and x.shape[0] * y.shape[0] > 5000**2
        return float(self._loss("online" if online else "tensorized")(net(x), y))


class MongeAmpereLoss(TransportLoss):
    r"""Squared Monge-Ampere residual on source samples, from log-densities.

    A map :math:`T` pushes :math:`p` onto :math:`q` iff, on the support of :math:`p`,

    .. math::

        r(x) = \log\det J_T(x) - \log p(x) + \log q(T(x)) = 0,

    so the loss is :math:`\mathbb{E}_{x\sim P}[r(x)^2]`, with the closed-form log-determinant of
    the monotone network (``net.logdet_jacobian``). The densities may be unnormalised only if
    both miss the same constant; a free constant is not fitted.

    Args:
        source_log_density: :math:`\log p`, a callable ``(n, dim) -> (n,)``.
        target_log_density: :math:`\log q`, a callable ``(n, dim) -> (n,)``, differentiable in its
            input (torch operations).
    """

    needs_target_samples = False

    def __init__(
        self,
        source_log_density: Callable[[Tensor], Tensor],
        target_log_density: Callable[[Tensor], Tensor],
    ) -> None:
        self.source_log_density = source_log_density
        self.target_log_density = target_log_density

    def step(self, net: nn.Module, batch_size: int, generator: torch.Generator | None) -> Tensor:
        x, _ = self.source.draw(batch_size, generator)
        return self._residual_sq(net, x)

    def _residual_sq(self, net: nn.Module, x: Tensor) -> Tensor:
        r = (
            net.logdet_jacobian(x)
            - self.source_log_density(x).reshape(-1)
            + self.target_log_density(net(x)).reshape(-1)
        )
        return (r * r).mean()

    def evaluate(self, net: nn.Module, x: Tensor, y: Tensor | None) -> float:
        """The mean squared residual on the held-out source samples (``y`` is not used)."""
        with torch.no_grad():
            return float(self._residual_sq(net, x))


class DualLoss(TransportLoss):
    r"""Kantorovich semi-dual with exact conjugates (Newton) and envelope-theorem gradients.

    .. math::

        \min_F\; \mathbb{E}_{x\sim P}[F(x)] + \mathbb{E}_{y\sim Q}[F^*(y)], \qquad
        F^*(y) = \langle x^*(y), y\rangle - F(x^*(y)), \quad x^*(y) = (\nabla F)^{-1}(y).

    Its minimiser over convex :math:`F` is the Brenier potential. By the envelope theorem
    :math:`\partial_\theta F^*(y) = -\partial_\theta F(x^*(y))`, so the step differentiates
    :math:`\operatorname{mean} F(x) - \operatorname{mean} F(\operatorname{sg}[x^*])` (``sg`` =
    stop-gradient) and adds the constant :math:`\langle x^*, y\rangle` so that the value is the
    semi-dual objective. Each :math:`x^*(y)` is found by :func:`solve_conjugate` (Newton with the
    network's closed-form Hessian), warm-started from the last solution kept *per target sample*
    in a pool: the whole target array (or a streamed one of at most 131,072 rows), or for a
    sampler or a longer stream a pool of ``pool_size`` samples of which ``refresh`` are
    replaced by fresh ones at each step, so that memory stays bounded whatever the number of
    samples. New pool entries start at the linear (Gaussian, Bures) map from the target back to
    the source.

    Args:
        tol: Newton stops at :math:`|\nabla F(x) - y| \le` ``tol`` times the target's RMS scale.
        max_iter: the most Newton iterations per step.
        method: ``"dense"`` (batched Cholesky of the Hessian), ``"cg"`` (Hessian-vector
            products) or ``"pcg"`` (the same, preconditioned by the batch-mean Hessian);
            ``"auto"`` picks ``"dense"`` on accelerators (batched factorisations are cheap
            there), and on the CPU ``"dense"`` up to ``dim = 64`` and ``"pcg"`` above: a dense
            Newton step costs :math:`O(d^3)` per sample, a preconditioned CG step
            :math:`O(d^2)` per sample and CG iteration, and the batch-mean preconditioner
            needs more CG iterations as the map grows more curved during training.
        cg_iter, cg_rtol: conjugate-gradient iterations and relative tolerance per Newton step.
            The default ``cg_rtol=1e-2`` makes it an inexact Newton method: Newton still stops
            on the absolute residual ``tol``, and solving each step's linear system only to 1%
            takes about half the CG iterations of a 1e-6 solve for the same Newton count.
        pool_size: pool size for a target sampler or a stream of more rows.
        refresh: pool entries replaced per step in a sampled pool (``None``: batch / 8).

    Attributes:
        newton_iters: Newton iterations of each step's conjugate solve.
        unconverged: share of the last step's conjugates left more than 100x above the
            tolerance (their gradient terms are wrong; ``BrenierMap`` treats a step with more
            than 10% as a divergence).
    """

    def __init__(
        self,
        tol: float = 1e-5,
        max_iter: int = 20,
        method: str = "auto",
        pool_size: int = 16384,
        refresh: int | None = None,
        cg_iter: int = 20,
        cg_rtol: float = 1e-2,
    ) -> None:
        self.tol = tol
        self.max_iter = max_iter
        self.method = method
        self.pool_size = pool_size
        self.refresh = refresh
        self.cg_iter = cg_iter
        self.cg_rtol = cg_rtol
        self.newton_iters: list[int] = []

    def start(
        self,
        net: nn.Module,
        source: SampleSource,
        target: SampleSource | None,
        generator: torch.Generator | None,
    ) -> None:
        super().start(net, source, target, generator)
        assert target is not None
        # the pool: every target sample when they fit (stored, or a short stream), else a
        # sample of pool_size refreshed as training goes (a sampler, or a long stream)
        self._sampled_pool = not _whole(target, max(self.pool_size, WHOLE_STREAM_ROWS))
        pool = target.sample(self.pool_size) if self._sampled_pool else _all_rows(target)
        self.pool: Tensor = dist.broadcast_object(pool)  # a sampler's draws are rank 0's
        if _whole(source, max(self.pool_size, WHOLE_STREAM_ROWS)):
            ref_x = _all_rows(source)
        else:
            ref_x = dist.broadcast_object(source.sample(max(4096, 4 * source.dim)))
        self._inverse_affine = gaussian_map(pool, ref_x)  # Q -> P, Bures
        self.warm = self._cold_start(pool)
        scale = float(pool.var(0).sum().sqrt()) / max(pool.shape[1], 1) ** 0.5
        self._abs_tol = self.tol * max(scale, 1e-12)
        dim = pool.shape[1]
        if self.method != "auto":
            self._method = self.method
        elif pool.device.type != "cpu":  # batched factorisations are cheap on accelerators
            self._method = "dense"
        else:
            self._method = "pcg" if dim > 64 else "dense"

    def _cold_start(self, y: Tensor) -> Tensor:
        a, b = self._inverse_affine
        return y @ a + b

    def step(self, net: nn.Module, batch_size: int, generator: torch.Generator | None) -> Tensor:
        if self._sampled_pool:
            n_new = self.refresh if self.refresh is not None else max(1, batch_size // 8)
            slots = torch.randint(self.pool.shape[0], (n_new,), generator=generator)
            # the same refresh on every rank: a sampler's draws are rank 0's
            fresh = dist.broadcast_object(self.target.sample(n_new))  # type: ignore[union-attr]
            slots = slots.to(self.pool.device)
            self.pool[slots] = fresh
            self.warm[slots] = self._cold_start(fresh)
        x, _ = self.source.draw(batch_size, generator)
        idx = dist.share_of_draw(self.pool.shape[0], batch_size, generator)
        idx = idx.to(self.pool.device)
        y = self.pool[idx]
        res = solve_conjugate(
            net,
            y,
            self.warm[idx],
            tol=self._abs_tol,
            max_iter=self.max_iter,
            method=self._method,
            cg_iter=self.cg_iter,
            cg_rtol=self.cg_rtol,
        )
        self.newton_iters.append(res.n_iter)
        # a conjugate clearly unsolved (100x the tolerance) makes its gradient term wrong
        self.unconverged = float((res.residual > 100 * self._abs_tol).float().mean())
        xs = res.x
        # every rank keeps every rank's solutions, so the warm starts stay the same on all
        self.warm[dist.gather(idx)] = dist.gather(xs)
        inner = (xs * y).sum(-1).mean()
        return _potential_gap(net, x, xs) + inner

    def state_dict(self) -> dict[str, Any]:
        """Each target sample's warm start, the Newton counts, and a sampler's pool (stored
        targets are the data itself)."""
        state = {"warm": self.warm, "newton_iters": list(self.newton_iters)}
        if self._sampled_pool:
            state["pool"] = self.pool
        stream = getattr(self.target, "generator", None)  # a stream's own draws of fresh rows
        if stream is not None:
            state["stream_generator"] = stream.get_state()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["warm"].shape != self.warm.shape:
            raise ValueError(
                f"the checkpoint's conjugate warm starts have shape {tuple(state['warm'].shape)}, "
                f"not {tuple(self.warm.shape)}: it was written for other data."
            )
        if "pool" in state:
            self.pool[:] = state["pool"].to(self.pool)
        if "stream_generator" in state:
            self.target.generator.set_state(state["stream_generator"])  # type: ignore[union-attr]
        self.warm[:] = state["warm"].to(self.warm)
        self.newton_iters = list(state["newton_iters"])

    @torch.no_grad()
    def evaluate(self, net: nn.Module, x: Tensor, y: Tensor | None) -> float:
        r"""The semi-dual :math:`\operatorname{mean} F(x) + \operatorname{mean} F^*(y)` on the
        held-out samples, each :math:`F^*(y)` by Newton, warm-started from the last evaluation's
        solutions (kept while the same ``y`` comes back)."""
        assert y is not None
        warm = getattr(self, "_eval_warm", None)
        if warm is None or getattr(self, "_eval_y", None) is not y:
            warm, self._eval_y = self._cold_start(y), y
        res = solve_conjugate(
            net,
            y,
            warm,
            tol=self._abs_tol,
            max_iter=self.max_iter,
            method=self._method,
            cg_iter=self.cg_iter,
            cg_rtol=self.cg_rtol,
        )
        self._eval_warm = res.x
        conj = (res.x * y).sum(-1) - net.potential(res.x)
        return float(net.potential(x).mean() + conj.mean())


# Networks whose ``potential`` is a cheap closed form; others (cascades, whose potential is a
# high-accuracy quadrature) get the potential gap by a short quadrature along segments.
_CLOSED_FORM = (MGradNetM, GradNetM, QuadraticGradient)
_SEGMENT_NODES = 8


#: A stream of at most this many rows is kept whole by the semi-dual (every row with its own warm
#: start, as for data in memory: 8 MB per side at d = 16 in float32); longer ones get a pool.
WHOLE_STREAM_ROWS = 1 << 17


def _whole(source: SampleSource, cap: int) -> bool:
    """Whether every sample of ``source`` is kept (stored, or a stream of at most ``cap`` rows)."""
    return source.stored or (source.size is not None and source.size <= cap)


def _all_rows(source: SampleSource) -> Tensor:
    return source.data if source.stored else source.all()  # type: ignore[attr-defined,return-value]


def _potential_gap(net: nn.Module, x: Tensor, xs: Tensor) -> Tensor:
    r""":math:`\operatorname{mean}_i F(x_i) - \operatorname{mean}_i F(x^*_i)`, differentiable in the
    network's parameters.

    Closed-form potentials are evaluated directly. Otherwise the difference of means is the mean
    of :math:`F(x_i) - F(x^*_i) = \int_0^1 \langle N(x^*_i + t(x_i - x^*_i)), x_i - x^*_i
    \rangle\,dt`, by 8-node Gauss-Legendre quadrature on the network's forward pass: a training
    signal needs far less accuracy than ``potential``'s 1e-12, at a fraction of its cost.
    """
    if isinstance(net, GradientSum):
        return sum(_potential_gap(t, x, xs) for t in net.terms)  # type: ignore[return-value]
    if isinstance(net, _CLOSED_FORM):
        return net.potential(x).mean() - net.potential(xs).mean()
    nodes, weights = np.polynomial.legendre.leggauss(_SEGMENT_NODES)
    t = torch.as_tensor((nodes + 1) / 2, dtype=x.dtype, device=x.device)
    w = torch.as_tensor(weights / 2, dtype=x.dtype, device=x.device)
    step = x - xs
    pts = xs.unsqueeze(0) + t[:, None, None] * step.unsqueeze(0)  # (Q, B, d)
    field = net(pts.reshape(-1, x.shape[-1])).reshape(pts.shape)
    return (w[:, None] * (field * step).sum(-1)).sum(0).mean()


#: Registry of training losses: name -> class.
LOSSES: dict[str, type[TransportLoss]] = {
    "dual": DualLoss,
    "w2": W2Loss,
    "sinkhorn": SinkhornLoss,
    "monge-ampere": MongeAmpereLoss,
}


def make_loss(name: str, **options: Any) -> TransportLoss:
    """Instantiate the loss ``name`` of :data:`LOSSES` with ``options``.

    Raises:
        ValueError: if ``name`` is unknown (the message lists the valid names) or an option is not
            accepted by that loss.
    """
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {name!r}.")
    try:
        return LOSSES[name](**options)
    except TypeError as err:
        raise ValueError(f"invalid loss_options for loss={name!r}: {err}") from None

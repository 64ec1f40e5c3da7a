r"""What a fitted Brenier map does: push forward, pull back, potentials, interpolation, W2.

:class:`_FittedMap` holds the methods of :class:`~ot_gradnets.transport.BrenierMap` that use the
fitted network :math:`T = \nabla F` only (``network_``, ``n_features_in_``), so that the
estimator's module holds the fitting. Every method takes arrays or tensors and returns the
caller's type: a tensor on the input's device and dtype, else a numpy array.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted
from torch import Tensor

from ot_gradnets._threads import resolve_threads, thread_limit
from ot_gradnets._validation import as_samples
from ot_gradnets.core import GradientSum, StandardizedGradient
from ot_gradnets.transport._conjugate import solve_conjugate
from ot_gradnets.transport._samples import output_like

__all__ = ["_FittedMap"]


class _FittedMap:
    """The fitted-map methods of :class:`~ot_gradnets.transport.BrenierMap` (a mixin: it needs
    ``network_``, ``n_features_in_``, ``linear_term``, ``threads`` and ``_depth``/``width`` for
    the thread heuristic)."""

    def _input(self, X: Any, name: str = "X") -> Tensor:
        check_is_fitted(self, "network_")
        ref = next(self.network_.parameters())
        return as_samples(X, name, dim=self.n_features_in_, dtype=ref.dtype, device=ref.device)

    def _threads(self, n: int, solve: bool = False) -> Any:
        """A :func:`thread_limit` for a call on ``n`` points (``solve``: Newton inverses)."""
        d = self.n_features_in_
        work = n * d * (self.width * self._depth(d) + d) * (10 * d if solve else 1)
        return thread_limit(resolve_threads(self.threads, work))

    def transform(self, X: Any) -> Any:
        r"""Push points forward: :math:`T(x) = \nabla F(x)`.

        Args:
            X: points ``(n, d)``, array or tensor.

        Returns:
            ``(n, d)``, a tensor (same device and dtype as ``X``) for tensor input, else a numpy
            array.
        """
        x = self._input(X)
        with self._threads(x.shape[0]), torch.no_grad():
            return output_like(self.network_(x), X)

    def inverse_transform(
        self, Y: Any, *, tol: float | None = None, max_iter: int = 100, damping: float = 0.0
    ) -> Any:
        r"""Pull points back: :math:`T^{-1}(y) = \nabla F^*(y) = \operatorname{argmin}_x F(x) -
        \langle x, y\rangle`.

        Solved per point by Newton's method with the exact Hessian
        (:func:`~ot_gradnets.transport.solve_conjugate`), started at the inverse of the linear
        part, in the standardised coordinates the network was fitted in. The inverse exists and
        is unique when the map is strongly monotone: the default network has a positive definite
        quadratic term; otherwise set ``strong_convexity > 0`` or pass ``damping > 0``.

        Args:
            Y: points ``(n, d)`` in the target space.
            tol: residual :math:`|T(x) - y|` to reach (default: 100 machine epsilons, relative
                to the largest coordinate of the standardised ``Y``).
            max_iter: the most Newton iterations.
            damping: Levenberg-Marquardt damping added to the Hessian.

        Returns:
            ``(n, d)`` like ``Y``'s type. **Rows whose residual** :math:`|T(x) - y|` **did not
            reach** ``tol`` **are NaN** (no trustworthy inverse was found), and a
            :class:`~sklearn.exceptions.ConvergenceWarning` counts them; test with
            ``np.isnan(out).any(axis=1)``.
        """
        y = self._input(Y, "Y")
        with self._threads(y.shape[0], solve=True):
            return output_like(self._solve(y, tol, max_iter, damping), Y)

    def _solve(self, y: Tensor, tol: float | None, max_iter: int, damping: float) -> Tensor:
        """:math:`T^{-1}(y)` with NaN rows where Newton failed (warned)."""
        net = self.network_
        wrapped = isinstance(net, StandardizedGradient)
        inner = net.inner if wrapped else net
        z = net.target_to_inner(y) if wrapped else y
        # residuals in the inner coordinates are those of the data divided by the scale
        unit = float(net.scale) if wrapped else 1.0
        if tol is None:
            big = float(z.abs().max()) if z.numel() else 1.0
            tol_inner = 100 * torch.finfo(y.dtype).eps * max(big, 1.0)
        else:
            tol_inner = float(tol) / unit
        x0 = z
        if self.linear_term and isinstance(inner, GradientSum):
            quad = inner.terms[-1]
            chol, info = torch.linalg.cholesky_ex(quad.matrix().detach())
            if int(info) == 0:
                x0 = torch.cholesky_solve((z - quad.b.detach()).T, chol).T
        res = solve_conjugate(inner, z, x0, tol=tol_inner, max_iter=max_iter, damping=damping)
        failed = ~(res.residual <= tol_inner)  # NaN residuals fail too
        if bool(failed.any()) and x0 is not z:
            # Newton's residual line search can stall from one start and not from another:
            # retry the failed points from y itself
            rows = failed.nonzero().squeeze(-1)
            again = solve_conjugate(
                inner, z[rows], z[rows], tol=tol_inner, max_iter=max_iter, damping=damping
            )
            better = again.residual < res.residual[rows]
            res.x[rows[better]] = again.x[better]
            res.residual[rows[better]] = again.residual[better]
            failed = ~(res.residual <= tol_inner)
        x = net.from_inner(res.x, y) if wrapped else res.x
        if bool(failed.any()):
            worst = float(res.residual[failed].max()) * unit
            x = x.masked_fill(failed.unsqueeze(-1), float("nan"))
            warnings.warn(
                f"inverse_transform: Newton did not reach tol={tol_inner * unit:.3g} for "
                f"{int(failed.sum())} of {y.shape[0]} points (largest residual {worst:.3g}); "
                "those rows are NaN. Raise max_iter, add damping, or check that the points "
                "lie where the map was fitted.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return x

    def potential(self, X: Any) -> Any:
        """The convex potential :math:`F(x)` with :math:`T = \\nabla F`, shape ``(n,)``."""
        x = self._input(X)
        with self._threads(x.shape[0]), torch.no_grad():
            return output_like(self.network_.potential(x), X)

    def conjugate_potential(self, Y: Any, *, max_iter: int = 100) -> Any:
        r"""The convex conjugate :math:`F^*(y) = \langle x^*, y\rangle - F(x^*)`,
        :math:`x^* = T^{-1}(y)`, shape ``(n,)`` (NaN where the inverse failed, as in
        :meth:`inverse_transform`)."""
        y = self._input(Y, "Y")
        with self._threads(y.shape[0], solve=True):
            x = self._solve(y, None, max_iter, 0.0)
            with torch.no_grad():
                out = (x * y).sum(-1) - self.network_.potential(x)
        return output_like(out, Y)

    def interpolate(self, X: Any, t: float) -> Any:
        r"""McCann's displacement interpolation :math:`x_t = (1 - t)\,x + t\,T(x)`.

        The points :math:`x_t` for :math:`x\sim P` follow the :math:`W_2` geodesic from
        :math:`P` (:math:`t=0`) to :math:`Q` (:math:`t=1`).

        Args:
            X: source points ``(n, d)``.
            t: time in :math:`[0, 1]`.
        """
        try:
            t = float(t)
        except (TypeError, ValueError):
            raise ValueError(f"t must be a number in [0, 1], got {t!r}.") from None
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"t must be in [0, 1], got {t}.")
        x = self._input(X)
        with self._threads(x.shape[0]), torch.no_grad():
            return output_like((1 - t) * x + t * self.network_(x), X)

    def w2(self, X: Any) -> float:
        r"""Monte Carlo estimate of the squared Wasserstein distance between source and target.

        .. math::

            W_2^2(P, Q) = \mathbb{E}_{x\sim P}\,|x - T(x)|^2

        with the cost :math:`|x - y|^2` (POT's ``ot.dist`` convention, *not* GeomLoss's
        :math:`|x-y|^2/2`), so it compares with ``ot.gaussian.bures_wasserstein_distance(...)**2``.

        Args:
            X: source samples ``(n, d)``.

        Returns:
            The mean of :math:`|x - T(x)|^2` over ``X``.
        """
        x = self._input(X)
        with self._threads(x.shape[0]), torch.no_grad():
            return float(((self.network_(x) - x) ** 2).sum(-1).mean())

    def log_density(self, Y: Any, source_log_density: Callable[[Tensor], Tensor]) -> Any:
        r"""Log-density of the pushforward :math:`T_\# P` at ``Y``, by change of variables.

        .. math::

            \log q(y) = \log p(x) - \log\det J_T(x), \qquad x = T^{-1}(y).

        Args:
            Y: points ``(n, d)`` in the target space.
            source_log_density: :math:`\log p`, a callable taking a tensor ``(n, d)`` and
                returning ``(n,)``.

        Returns:
            ``(n,)`` like ``Y``'s type (NaN where the inverse failed, as in
            :meth:`inverse_transform`).
        """
        if not callable(source_log_density):
            raise ValueError(
                f"source_log_density must be a callable (n, dim) -> (n,), got {source_log_density!r}."
            )
        y = self._input(Y, "Y")
        with self._threads(y.shape[0], solve=True):
            x = self._solve(y, None, 100, 0.0)
            ok = ~torch.isnan(x).any(-1)
            out = torch.full_like(x[:, 0], float("nan"))
            with torch.no_grad():
                out[ok] = source_log_density(x[ok]).reshape(-1) - self.network_.logdet_jacobian(
                    x[ok]
                )
        return output_like(out, Y)

r"""What a fitted Brenier map does: push forward, pull back, potentials, interpolation, W2.

:class:`_FittedMap` holds the methods of :class:`~ot_gradnets.transport.BrenierMap` that use the
fitted network :math:`T = \nabla F` only (``network_``, ``n_features_in_``), so that the
estimator's module holds the fitting. Every method takes arrays or tensors and returns the
caller's type: a tensor on the input's device and dtype, else a numpy array.

Every method works through its points in chunks of rows, so that the memory it needs beyond its
input and output does not grow with the number of points, and reads a read-only (memory-mapped)
array chunk by chunk rather than copying it whole. A tensor that requires grad goes through
:meth:`~_FittedMap.transform`, :meth:`~_FittedMap.potential` and
:meth:`~_FittedMap.interpolate` with autograd recording, so a fitted map can sit inside a
PyTorch model or loss.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted
from torch import Tensor

from ot_gradnets._threads import resolve_threads, thread_limit
from ot_gradnets._validation import as_samples
from ot_gradnets.core import GradientSum, StandardizedGradient
from ot_gradnets.transport._conjugate import solve_conjugate
from ot_gradnets.transport._samples import output_like

__all__ = ["_FittedMap", "feature_names"]


class _FittedMap:
    """The fitted-map methods of :class:`~ot_gradnets.transport.BrenierMap` (a mixin: it needs
    ``network_``, ``n_features_in_``, ``linear_term``, ``threads`` and ``_depth``/``width`` for
    the thread heuristic and the chunk size)."""

    def _input(self, X: Any, name: str = "X") -> Tensor:
        check_is_fitted(self, "network_")
        fitted, given = getattr(self, "feature_names_in_", None), feature_names(X)
        if fitted is not None and given is not None and list(given) != list(fitted):
            raise ValueError(
                f"{name} has the columns {list(given)}, but the map was fitted on "
                f"{list(fitted)}; give the columns in the fitted order."
            )
        ref = next(self.network_.parameters())
        return as_samples(X, name, dim=self.n_features_in_, dtype=ref.dtype, device=ref.device)

    def _threads(self, n: int, solve: bool = False) -> Any:
        """A :func:`thread_limit` for a call on ``n`` points (``solve``: Newton inverses)."""
        d = self.n_features_in_
        work = n * d * (self.width * self._depth(d) + d) * (10 * d if solve else 1)
        return thread_limit(resolve_threads(self.threads, work))

    def _chunk_rows(self, solve: bool = False) -> int:
        """Rows per chunk: about 2**22 intermediate numbers (32 MB in float64) each.

        A forward pass keeps about ``width * modules + d`` numbers per point; a Newton solve
        (inverse, conjugate, log-density) also a ``d x d`` Jacobian and its Cholesky factor.
        """
        d = self.n_features_in_
        per_row = self.width * self._depth(d) + d + (2 * d * d if solve else 0)
        return int(min(max(2**22 // per_row, 256), 65536))

    def _chunks(self, X: Any, name: str, solve: bool = False) -> tuple[int, Iterator[Tensor]]:
        """The number of rows of ``X`` and its rows as checked tensors, chunk by chunk.

        A read-only array (a memory map such as ``np.load(path, mmap_mode="r")``) is read and
        checked one chunk at a time; anything else is checked whole, then sliced.
        """
        check_is_fitted(self, "network_")
        rows = self._chunk_rows(solve)
        if _mapped(X):
            self._input(X[:1], name)  # shape and dtype errors before any work
            return len(X), (self._input(X[i : i + rows], name) for i in range(0, len(X), rows))
        x = self._input(X, name)
        return x.shape[0], (x[i : i + rows] for i in range(0, x.shape[0], rows))

    def _map_rows(
        self, fn: Callable[[Tensor], Tensor], X: Any, name: str = "X", out: Any = None
    ) -> Any:
        """``fn`` applied to the rows of ``X`` chunk by chunk, as the caller's type.

        A tensor that requires grad, with grad mode on, goes through ``fn`` in one piece with
        autograd recording (the result is differentiable in ``X`` and in the network's
        parameters); everything else runs under ``torch.no_grad``.
        """
        if isinstance(X, Tensor) and X.requires_grad and torch.is_grad_enabled():
            self._input(X.detach(), name)  # the checks, on the values
            ref = next(self.network_.parameters())
            x = X.to(dtype=ref.dtype, device=ref.device)
            with self._threads(x.shape[0]):
                out = fn(x)
            return out.to(device=X.device, dtype=X.dtype)
        n, chunks = self._chunks(X, name)
        with self._threads(n), torch.no_grad():
            return _collect((fn(x) for x in chunks), X, n, out)

    def transform(self, X: Any, *, out: np.ndarray | None = None) -> Any:
        r"""Push points forward: :math:`T(x) = \nabla F(x)`.

        Args:
            X: points ``(n, d)``, array or tensor. A tensor that requires grad gives a result
                that is differentiable in it (and in ``network_``'s parameters).
            out: a writable numpy array ``(n, d)`` (e.g. a ``np.memmap`` on disk) that receives
                the result chunk by chunk and is returned, so that neither the input (when
                memory-mapped) nor the output is ever held whole in memory.

        Returns:
            ``(n, d)``, a tensor (same device and dtype as ``X``) for tensor input, else a numpy
            array.

        Example:
            >>> import torch
            >>> from ot_gradnets import BrenierMap
            >>> g = torch.Generator().manual_seed(0)
            >>> x = torch.randn(200, 2, generator=g, dtype=torch.float64)
            >>> tmap = BrenierMap(max_iter=5, random_state=0).fit(x, 2 * x + 1)
            >>> z = x[:3].clone().requires_grad_()
            >>> tmap.transform(z).sum().backward()  # d/dz of sum T(z): the rows of J_T summed
            >>> z.grad.shape
            torch.Size([3, 2])
        """
        return self._map_rows(lambda x: self.network_(x), X, out=out)

    def inverse_transform(
        self,
        Y: Any,
        *,
        tol: float | None = None,
        max_iter: int = 100,
        damping: float = 0.0,
        out: np.ndarray | None = None,
    ) -> Any:
        r"""Pull points back: :math:`T^{-1}(y) = \nabla F^*(y) = \operatorname{argmin}_x F(x) -
        \langle x, y\rangle`.

        Solved per point by Newton's method with the exact Hessian
        (:func:`~ot_gradnets.transport.solve_conjugate`), started at the inverse of the linear
        part, in the standardised coordinates the network was fitted in. The inverse exists and
        is unique when the map is strongly monotone: the default network has a positive definite
        quadratic term; otherwise set ``strong_convexity > 0`` or pass ``damping > 0``. The
        result is not differentiable (a tensor input is detached).

        Args:
            Y: points ``(n, d)`` in the target space.
            tol: residual :math:`|T(x) - y|` to reach (default: 100 machine epsilons, relative
                to the largest coordinate of the standardised ``Y``).
            max_iter: the most Newton iterations.
            damping: Levenberg-Marquardt damping added to the Hessian.
            out: a writable numpy array ``(n, d)`` for the result, as in :meth:`transform`.

        Returns:
            ``(n, d)`` like ``Y``'s type (``out`` when given). **Rows whose residual** :math:`|T(x) - y|` **did not
            reach** ``tol`` **are NaN** (no trustworthy inverse was found), and a
            :class:`~sklearn.exceptions.ConvergenceWarning` counts them; test with
            ``np.isnan(out).any(axis=1)``.
        """
        return self._solve_rows(Y, lambda x, y: x, tol, max_iter, damping, out)

    def _solve_rows(
        self,
        Y: Any,
        then: Callable[[Tensor, Tensor], Tensor],
        tol: float | None,
        max_iter: int,
        damping: float,
        out: Any = None,
    ) -> Any:
        """``then(x, y)`` with :math:`x = T^{-1}(y)` (NaN rows where Newton failed, warned once
        for the whole call), chunk by chunk over the rows of ``Y``."""
        if isinstance(Y, Tensor):
            Y = Y.detach()
        n, chunks = self._chunks(Y, "Y", solve=True)
        if tol is not None:
            tol_inner = float(tol) / self._unit()
        else:  # 100 eps of the largest standardised coordinate of all of Y, chunked or not
            if _mapped(Y):
                big_chunks = self._chunks(Y, "Y", solve=True)[1]  # a second pass over the file
            else:
                chunks = big_chunks = list(chunks)  # views of one tensor
            big = max([1.0] + [float(self._to_inner(y).abs().max()) for y in big_chunks])
            tol_inner = 100 * torch.finfo(next(self.network_.parameters()).dtype).eps * big
        n_failed, worst = 0, 0.0

        def solved() -> Iterator[Tensor]:
            nonlocal n_failed, worst
            for y in chunks:
                x, failed, residual = self._solve(y, tol_inner, max_iter, damping)
                if bool(failed.any()):
                    n_failed += int(failed.sum())
                    worst = max(worst, float(residual[failed].max()) * self._unit())
                with torch.no_grad():
                    yield then(x, y)

        with self._threads(n, solve=True):
            result = _collect(solved(), Y, n, out)
        if n_failed:
            warnings.warn(
                f"inverse: Newton did not reach tol={tol_inner * self._unit():.3g} for {n_failed} of {n} "
                f"points (largest residual {worst:.3g}); those rows are NaN. Raise max_iter, add "
                "damping, or check that the points lie where the map was fitted.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return result

    def _unit(self) -> float:
        """The data's unit in the inner (standardised) coordinates: residuals there are those
        of the data divided by it."""
        net = self.network_
        return float(net.scale) if isinstance(net, StandardizedGradient) else 1.0

    def _to_inner(self, y: Tensor) -> Tensor:
        net = self.network_
        return net.target_to_inner(y) if isinstance(net, StandardizedGradient) else y

    def _solve(
        self, y: Tensor, tol_inner: float, max_iter: int, damping: float
    ) -> tuple[Tensor, Tensor, Tensor]:
        """:math:`T^{-1}(y)` with NaN rows where Newton failed, the failed rows and the
        residuals (in the inner coordinates)."""
        net = self.network_
        wrapped = isinstance(net, StandardizedGradient)
        inner = net.inner if wrapped else net
        z = self._to_inner(y)
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
        with torch.no_grad():
            x = net.from_inner(res.x, y) if wrapped else res.x
        return x.masked_fill(failed.unsqueeze(-1), float("nan")), failed, res.residual

    def potential(self, X: Any) -> Any:
        """The convex potential :math:`F(x)` with :math:`T = \\nabla F`, shape ``(n,)``
        (differentiable in a tensor that requires grad, as :meth:`transform`)."""
        return self._map_rows(lambda x: self.network_.potential(x), X)

    def conjugate_potential(self, Y: Any, *, max_iter: int = 100) -> Any:
        r"""The convex conjugate :math:`F^*(y) = \langle x^*, y\rangle - F(x^*)`,
        :math:`x^* = T^{-1}(y)`, shape ``(n,)`` (NaN where the inverse failed, as in
        :meth:`inverse_transform`)."""

        def conjugate(x: Tensor, y: Tensor) -> Tensor:
            return (x * y).sum(-1) - self.network_.potential(x)

        return self._solve_rows(Y, conjugate, None, max_iter, 0.0)

    def interpolate(self, X: Any, t: float) -> Any:
        r"""McCann's displacement interpolation :math:`x_t = (1 - t)\,x + t\,T(x)`.

        The points :math:`x_t` for :math:`x\sim P` follow the :math:`W_2` geodesic from
        :math:`P` (:math:`t=0`) to :math:`Q` (:math:`t=1`).

        Args:
            X: source points ``(n, d)`` (a tensor that requires grad gives a differentiable
                result, as in :meth:`transform`).
            t: time in :math:`[0, 1]`.
        """
        try:
            t = float(t)
        except (TypeError, ValueError):
            raise ValueError(f"t must be a number in [0, 1], got {t!r}.") from None
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"t must be in [0, 1], got {t}.")
        return self._map_rows(lambda x: (1 - t) * x + t * self.network_(x), X)

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
        if isinstance(X, Tensor):
            X = X.detach()
        n, chunks = self._chunks(X, "X")
        with self._threads(n), torch.no_grad():
            total = sum(float(((self.network_(x) - x) ** 2).sum()) for x in chunks)
        return total / n

    def score(self, X: Any, Y: Any) -> float:
        r"""The semi-dual lower bound of :math:`W_2^2(P, Q)` on samples of both sides: higher is
        a better map.

        .. math::

            \mathbb{E}|x|^2 + \mathbb{E}|y|^2 - 2\,\big(\mathbb{E}_x F(x) + \mathbb{E}_y
            F^*(y)\big) \;\le\; W_2^2(P, Q),

        by the Fenchel-Young inequality :math:`F(x) + F^*(y) \ge \langle x, y\rangle`, with
        equality for Brenier's potential alone. So it ranks fitted maps on held-out samples
        without a known map, as scikit-learn's model selection expects of ``score``
        (``GridSearchCV(BrenierMap(), grid).fit(X, Y)``: pass ``Y`` as the second argument).
        NaN where a conjugate did not converge (see :meth:`inverse_transform`).

        Args:
            X: source samples ``(n, d)``; Y: target samples ``(m, d)``.
        """
        x, y = self._input(X), self._input(Y, "Y")
        f = torch.as_tensor(self.potential(x))
        f_star = torch.as_tensor(self.conjugate_potential(y))
        second = (x * x).sum(-1).mean() + (y * y).sum(-1).mean()
        return float(second - 2 * (f.mean() + f_star.mean()))

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

        def log_q(x: Tensor, y: Tensor) -> Tensor:
            ok = ~torch.isnan(x).any(-1)
            out = torch.full_like(x[:, 0], float("nan"))
            out[ok] = source_log_density(x[ok]).reshape(-1) - self.network_.logdet_jacobian(x[ok])
            return out

        return self._solve_rows(Y, log_q, None, 100, 0.0)


def _mapped(X: Any) -> bool:
    """Whether ``X`` is a read-only 2-D array with rows (a memory map, read chunk by chunk)."""
    return isinstance(X, np.ndarray) and not X.flags.writeable and X.ndim == 2 and len(X) > 0


def feature_names(X: Any) -> np.ndarray | None:
    """The column names of ``X`` as an object array when they are all strings (a DataFrame's),
    else ``None``, as scikit-learn reads them."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = np.asarray(list(columns), dtype=object)
    return names if len(names) and all(isinstance(n, str) for n in names) else None


def _collect(parts: Iterator[Tensor], ref: Any, n: int, out: Any) -> Any:
    """The chunks ``parts`` of a result of ``n`` rows: concatenated as the caller's type (like
    ``ref``), or written into ``out`` (a numpy array) as they come and ``out`` returned."""
    if out is None:
        return output_like(torch.cat(list(parts)), ref)
    if not isinstance(out, np.ndarray) or not out.flags.writeable or len(out) != n:
        raise ValueError(
            f"out must be a writable numpy array of {n} rows, got "
            f"{type(out).__name__}{getattr(out, 'shape', '')}."
        )
    start = 0
    for part in parts:
        if tuple(out.shape[1:]) != tuple(part.shape[1:]):
            raise ValueError(
                f"out has shape {out.shape}; the result has rows of {tuple(part.shape[1:])}."
            )
        out[start : start + len(part)] = part.detach().cpu().numpy()
        start += len(part)
    return out

r"""Target gradient fields :math:`\nabla F` with known potentials, for regression benchmarks.

Every target is an ``nn.Module`` with the interface of the networks: ``target(x)`` is
:math:`\nabla F(x)`, ``target.potential(x)`` is :math:`F(x)` (both in the dtype and on the device
of ``x``), constant matrices are buffers (so ``.to()`` moves them), and :meth:`Target.sample`
draws uniform points of its box domain from a ``torch.Generator``. The registry :data:`TARGETS` maps names to classes; :func:`make_target`
builds one by name.

The two 2-D targets and PolyMax are those of Chaudhari, Pranav and Moura (2025); the two
``ridge-*`` targets are ours, for high dimension. Targets whose scale grows with ``dim`` are
divided by a constant :math:`c` so that :math:`\mathbb{E}\|\nabla F(x)\| = 1` for uniform
:math:`x`; predicting zero then scores about 0 dB (strictly :math:`10\log_{10}\mathbb{E}
\|\nabla F\|^2 \ge 0`, see :func:`~ot_gradnets.core.fields.error_db`).
"""

from __future__ import annotations

import abc
import math

import torch
from torch import Tensor, nn

from ot_gradnets._registry import lookup
from ot_gradnets._validation import check_last_dim, check_positive_int

__all__ = [
    "TARGETS",
    "ConvexPolynomial2D",
    "NonConvex2D",
    "PolyMax",
    "RidgeConvex",
    "RidgeNonConvex",
    "Target",
    "make_target",
]

# Monte-Carlo sample size and seed of the normalising constants (PolyMax, ridge targets). The
# authors use 10,000 points; the relative standard error of the mean norm is then below 0.3% at
# the benchmarked dimensions, i.e. below 0.03 dB on an error in dB.
_NORM_SAMPLES = 10_000
_NORM_SEED = 1


class Target(nn.Module, abc.ABC):
    r"""A gradient field :math:`\nabla F` on a box, with its potential and a uniform sampler.

    Attributes:
        name: registry name.
        dim: dimension :math:`d`.
        low, high: the domain is the box :math:`[\text{low}, \text{high}]^d`.
        is_convex: whether :math:`F` is convex on the domain (so a monotone network can fit it).
    """

    name: str = ""
    is_convex: bool = False
    low: float = 0.0
    high: float = 1.0

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = check_positive_int(dim, "dim")
        # an empty non-persistent buffer: new tensors follow its dtype/device through .to()
        self.register_buffer("_anchor", torch.zeros(0), persistent=False)

    @abc.abstractmethod
    def forward(self, x: Tensor) -> Tensor:
        r"""The field :math:`\nabla F(x)`, shape ``(*, dim)``."""

    @abc.abstractmethod
    def potential(self, x: Tensor) -> Tensor:
        r"""The potential :math:`F(x)`, shape ``(*,)``."""

    def grad(self, x: Tensor) -> Tensor:
        r"""Alias of ``self(x)``: the exact gradient :math:`\nabla F(x)`, shape ``(*, dim)``."""
        return self(x)

    @property
    def domain(self) -> tuple[float, float]:
        """The domain as ``(low, high)``: the box ``[low, high]^dim``."""
        return (self.low, self.high)

    def _ref(self) -> Tensor:
        """The buffer whose dtype/device new tensors follow by default."""
        return self._anchor

    def sample(
        self,
        n_samples: int,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        r"""Draw ``n_samples`` uniform points of the domain.

        Args:
            n_samples: number of points.
            generator: source of randomness (a ``torch.Generator`` on any device); the global
                generator when ``None``. Points are drawn on the generator's device and then
                moved to ``device``, so a CPU generator gives the same points on every device.
            dtype, device: of the result; by default the target's dtype (float32 unless moved
                with ``.to()``/``.double()``) and the generator's device (the target's without
                a generator).

        Returns:
            Tensor of shape ``(n_samples, dim)``.
        """
        n = check_positive_int(n_samples, "n_samples")
        ref = self._ref()
        dtype = dtype or ref.dtype
        if device is None:
            device = generator.device if generator is not None else ref.device
        draw_on = generator.device if generator is not None else device
        u = torch.rand(n, self.dim, generator=generator, dtype=dtype, device=draw_on)
        return self.low + (self.high - self.low) * u.to(device)

    def grid(self, n: int = 100) -> Tensor:
        r"""The ``n x n`` grid of the 2-D domain (``indexing="xy"``), shape ``(n * n, 2)``.

        Point ``k = i * n + j`` is ``(t_j, t_i)`` with ``t`` = ``linspace(low, high, n)``, so
        reshaping a per-point value to ``(n, n)`` gives an image with :math:`x_1` along columns.
        """
        if self.dim != 2:
            raise ValueError(f"grid() needs a 2-D target, this one has dim={self.dim}.")
        ref = self._ref()
        t = torch.linspace(
            self.low, self.high, check_positive_int(n, "n"), dtype=ref.dtype, device=ref.device
        )
        x1, x2 = torch.meshgrid(t, t, indexing="xy")
        return torch.stack([x1.reshape(-1), x2.reshape(-1)], dim=-1)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, domain=[{self.low}, {self.high}]^{self.dim}"


class ConvexPolynomial2D(Target):
    r"""The 2-D convex polynomial of the GradNet paper (convex on :math:`[0, 1]^2`).

    .. math::
        F(x) = x_1^4 + \tfrac12 x_1^2 + \tfrac12 x_1 x_2 + \tfrac32 x_2^2 - \tfrac13 x_2^3,
        \qquad
        \nabla F(x) = \begin{pmatrix} 4x_1^3 + x_1 + x_2/2 \\ x_1/2 + 3x_2 - x_2^2 \end{pmatrix}.

    Its Hessian :math:`\begin{pmatrix} 12x_1^2 + 1 & 1/2 \\ 1/2 & 3 - 2x_2\end{pmatrix}` is
    positive definite on :math:`[0,1]^2`.

    Args:
        dim: must be 2 (accepted for a uniform constructor signature).

    References:
        S. Chaudhari, S. Pranav, J. M. F. Moura, "Gradient Networks", IEEE TSP 73 (2025),
        arXiv:2404.07361, section VI.

    Example:
        >>> t = ConvexPolynomial2D()
        >>> t(torch.tensor([1.0, 1.0]))
        tensor([5.5000, 2.5000])
    """

    name = "convex-2d"
    is_convex = True

    def __init__(self, dim: int = 2) -> None:
        if dim != 2:
            raise ValueError(f"dim must be 2 for {type(self).__name__}, got {dim!r}.")
        super().__init__(2)

    def forward(self, x: Tensor) -> Tensor:
        check_last_dim(x, 2)
        x1, x2 = x[..., 0], x[..., 1]
        return torch.stack([4 * x1**3 + x1 + 0.5 * x2, 0.5 * x1 + 3 * x2 - x2**2], dim=-1)

    def potential(self, x: Tensor) -> Tensor:
        check_last_dim(x, 2)
        x1, x2 = x[..., 0], x[..., 1]
        return x1**4 + 0.5 * x1**2 + 0.5 * x1 * x2 + 1.5 * x2**2 - x2**3 / 3


class NonConvex2D(Target):
    r"""The 2-D non-convex function of the GradNet paper.

    .. math::
        G(x) = \tfrac14 \sin(2\pi x_1)\cos(\pi x_2) + \tfrac12 x_1 x_2 - \tfrac12 x_2^2,
        \qquad
        \nabla G(x) = \begin{pmatrix}
            \tfrac{\pi}{2}\cos(2\pi x_1)\cos(\pi x_2) + x_2/2 \\
            -\tfrac{\pi}{4}\sin(2\pi x_1)\sin(\pi x_2) + x_1/2 - x_2
        \end{pmatrix}.

    Args:
        dim: must be 2.

    Example:
        >>> t = NonConvex2D()
        >>> t(torch.tensor([0.0, 0.0]))
        tensor([1.5708, 0.0000])
    """

    name = "nonconvex-2d"
    is_convex = False

    def __init__(self, dim: int = 2) -> None:
        if dim != 2:
            raise ValueError(f"dim must be 2 for {type(self).__name__}, got {dim!r}.")
        super().__init__(2)

    def forward(self, x: Tensor) -> Tensor:
        check_last_dim(x, 2)
        x1, x2 = x[..., 0], x[..., 1]
        pi = math.pi
        g1 = 0.5 * pi * torch.cos(2 * pi * x1) * torch.cos(pi * x2) + 0.5 * x2
        g2 = -0.25 * pi * torch.sin(2 * pi * x1) * torch.sin(pi * x2) + 0.5 * x1 - x2
        return torch.stack([g1, g2], dim=-1)

    def potential(self, x: Tensor) -> Tensor:
        check_last_dim(x, 2)
        x1, x2 = x[..., 0], x[..., 1]
        pi = math.pi
        return 0.25 * torch.sin(2 * pi * x1) * torch.cos(pi * x2) + 0.5 * x1 * x2 - 0.5 * x2**2


def _mean_grad_norm(field: nn.Module, dim: int, low: float, high: float) -> float:
    """Monte-Carlo mean of ``|field(x)|`` over uniform points (fixed seed, float64)."""
    g = torch.Generator().manual_seed(_NORM_SEED)
    total, done = 0.0, 0
    while done < _NORM_SAMPLES:
        n = min(2048, _NORM_SAMPLES - done)
        x = low + (high - low) * torch.rand(n, dim, generator=g, dtype=torch.float64)
        total += float(torch.linalg.vector_norm(field(x), dim=-1).sum())
        done += n
    return total / _NORM_SAMPLES


class PolyMax(Target):
    r"""PolyMax: the maximum of three convex quadratics on :math:`[0,1]^d`, normalised.

    With :math:`a_{ij} = (i + j - 2)/(2d - 2)` and :math:`r_{ij} = \log(d)(1 + |i - j|)`
    (indices from 1):

    .. math::
        S_{ij} = \frac{2 + \sin(4\pi a_{ij})}{r_{ij}},\quad
        P_{ij} = \frac{1 + 2a_{ij}}{r_{ij}},\quad
        Q_{ij} = \frac{3 - 2a_{ij}}{r_{ij}},

    .. math::
        F(x) = \frac1c \max_{A\in\{S,P,Q\}} (x - \tfrac12)^T A (x - \tfrac12),\qquad
        \nabla F(x) = \frac2c A^\star (x - \tfrac12),

    where :math:`A^\star` attains the max and :math:`c` makes the mean gradient norm over uniform
    points equal to 1: :math:`c = \mathbb{E}_{x\sim U[0,1]^d}\|2A^\star(x)(x - \tfrac12)\|`,
    estimated in float64 on 10,000 points drawn from a generator seeded with 1 (as the authors do;
    relative standard error below 0.3%). :math:`F` is convex (a max of convex quadratics; the
    three matrices are positive definite) and differentiable almost everywhere.

    At ``dim=1`` the formula divides by :math:`\log 1 = 0`; we use :math:`r_{ij} = 1 + |i-j|`
    there (any positive scale cancels in :math:`c`).

    Args:
        dim: dimension :math:`d`.
        dtype: dtype of the stored matrices (float32 by default, as the networks).

    Attributes:
        norm_constant: the constant :math:`c`.

    References:
        S. Chaudhari, S. Pranav, J. M. F. Moura, "Gradient Networks", IEEE TSP 73 (2025),
        arXiv:2404.07361 (public code ``Nd_field/test_functions.py``).

    Example:
        >>> t = PolyMax(4)
        >>> t(torch.full((4,), 0.5))
        tensor([0., 0., 0., 0.])
    """

    name = "polymax"
    is_convex = True

    def __init__(self, dim: int, dtype: torch.dtype | None = None) -> None:
        super().__init__(dim)
        d = self.dim
        idx = torch.arange(1, d + 1, dtype=torch.float64)
        a = (idx[:, None] + idx[None, :] - 2) / max(2 * d - 2, 1)
        r = (math.log(d) if d > 1 else 1.0) * (1 + (idx[:, None] - idx[None, :]).abs())
        mats = torch.stack([(2 + torch.sin(4 * math.pi * a)) / r, (1 + 2 * a) / r, (3 - 2 * a) / r])
        self.register_buffer("matrices", mats)  # float64 while computing c
        self.norm_constant = 1.0
        self.norm_constant = _mean_grad_norm(self, d, self.low, self.high)
        self.matrices = mats.to(dtype or torch.get_default_dtype())
        self._anchor = self._anchor.to(self.matrices.dtype)

    def _quad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        y = x - 0.5
        ay = torch.einsum("kij,...j->...ki", self.matrices.to(x), y)  # (*, 3, d)
        q = (ay * y.unsqueeze(-2)).sum(-1)  # (*, 3)
        return ay, q

    def forward(self, x: Tensor) -> Tensor:
        check_last_dim(x, self.dim)
        ay, q = self._quad(x)
        k = q.argmax(dim=-1, keepdim=True)  # (*, 1)
        best = torch.gather(ay, -2, k.unsqueeze(-1).expand(*k.shape[:-1], 1, self.dim))
        return (2.0 / self.norm_constant) * best.squeeze(-2)

    def potential(self, x: Tensor) -> Tensor:
        check_last_dim(x, self.dim)
        _, q = self._quad(x)
        return q.amax(dim=-1) / self.norm_constant

    def extra_repr(self) -> str:
        return super().extra_repr() + f", norm_constant={self.norm_constant:.6g}"


class _Ridge(Target):
    r"""Shared parts of the ridge targets: a quadratic plus ``num_ridges`` ridge functions."""

    low = 0.0
    high = 1.0

    def __init__(self, dim: int, num_ridges: int | None, seed: int) -> None:
        super().__init__(dim)
        d = self.dim
        k = d if num_ridges is None else check_positive_int(num_ridges, "num_ridges")
        g = torch.Generator().manual_seed(int(seed))
        u = torch.randn(k, d, generator=g, dtype=torch.float64)
        u = u / torch.linalg.vector_norm(u, dim=-1, keepdim=True)
        gm = torch.randn(d, d, generator=g, dtype=torch.float64)
        self.register_buffer("quadratic", gm @ gm.T / d)  # A = G G^T / d, PSD
        self.register_buffer("directions", u)  # u_k, unit rows
        self.register_buffer("offsets", torch.rand(k, generator=g, dtype=torch.float64) - 0.5)
        self.num_ridges = k
        self.seed = int(seed)

    def _finish(self, dtype: torch.dtype | None) -> None:
        self.norm_constant = 1.0
        self.norm_constant = _mean_grad_norm(self, self.dim, self.low, self.high)
        dt = dtype or torch.get_default_dtype()
        for name in ("quadratic", "directions", "offsets", "_anchor"):
            setattr(self, name, getattr(self, name).to(dt))

    @abc.abstractmethod
    def _ridge(self, s: Tensor) -> tuple[Tensor, Tensor]:
        """Return (g(s), g'(s)) of the ridge profile at the projections ``s`` (*, K)."""

    def forward(self, x: Tensor) -> Tensor:
        check_last_dim(x, self.dim)
        y = x - 0.5
        s = y @ self.directions.to(x).T  # (*, K)
        _, dg = self._ridge(s)
        out = y @ self.quadratic.to(x) + dg @ self.directions.to(x)
        return out / self.norm_constant

    def potential(self, x: Tensor) -> Tensor:
        check_last_dim(x, self.dim)
        y = x - 0.5
        s = y @ self.directions.to(x).T
        gv, _ = self._ridge(s)
        quad = 0.5 * ((y @ self.quadratic.to(x)) * y).sum(-1)
        return (quad + gv.sum(-1)) / self.norm_constant

    def extra_repr(self) -> str:
        return (
            super().extra_repr() + f", num_ridges={self.num_ridges}, seed={self.seed}, "
            f"norm_constant={self.norm_constant:.6g}"
        )


class RidgeConvex(_Ridge):
    r"""Our convex high-dimensional target: a weak quadratic plus sharp log-cosh ridges.

    With :math:`y = x - \tfrac12`, :math:`A = GG^T/d` (:math:`G` a standard Gaussian
    :math:`d\times d` matrix), unit directions :math:`u_k` (normalised Gaussian vectors),
    offsets :math:`t_k\sim U[-\tfrac12,\tfrac12]`, :math:`K` = ``num_ridges`` (default
    :math:`d`), quadratic weight :math:`\lambda = 0.1` and sharpness :math:`s = 16`:

    .. math::
        F(x) = \frac1c\Big[\tfrac\lambda2 y^T A y
               + \sum_{k=1}^K \tfrac1s \log\cosh\big(s(u_k\cdot y - t_k/2)\big)\Big],
        \qquad
        \nabla F(x) = \frac1c\Big[\lambda A y
               + \sum_k \tanh\big(s(u_k\cdot y - t_k/2)\big) u_k\Big].

    :math:`F` is convex everywhere (and strongly convex through the quadratic). Since
    :math:`u_k\cdot y` has standard deviation :math:`\approx 0.29` whatever :math:`d`, each
    ridge's gradient is close to a step :math:`\pm u_k` across a kink of width about
    :math:`1/s` placed at random, and the difficulty per ridge does not fade with dimension:
    the best affine field scores only about -8 dB (against about -12 dB on PolyMax).
    :math:`c` makes the mean gradient norm over :math:`U[0,1]^d` equal to 1 (estimated as for
    :class:`PolyMax`).

    Args:
        dim: dimension :math:`d`.
        num_ridges: :math:`K`, default ``dim``.
        seed: seed of the random draws; the same seed gives the same target.
        dtype: dtype of the stored buffers.

    Example:
        >>> t = RidgeConvex(3, seed=0)
        >>> t(torch.rand(5, 3)).shape
        torch.Size([5, 3])
    """

    name = "ridge-convex"
    is_convex = True
    sharpness = 16.0
    quadratic_weight = 0.1

    def __init__(
        self,
        dim: int,
        num_ridges: int | None = None,
        seed: int = 0,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(dim, num_ridges, seed)
        self.quadratic.mul_(self.quadratic_weight)
        self._finish(dtype)

    def _ridge(self, s: Tensor) -> tuple[Tensor, Tensor]:
        z = self.sharpness * (s - 0.5 * self.offsets.to(s))
        a = z.abs()
        log_cosh = a + nn.functional.softplus(-2.0 * a) - math.log(2.0)  # stable log cosh
        return log_cosh / self.sharpness, torch.tanh(z)


class RidgeNonConvex(_Ridge):
    r"""Our non-convex high-dimensional target: a quadratic plus cosine ridges.

    With :math:`y`, :math:`A`, :math:`u_k`, :math:`t_k` as in :class:`RidgeConvex` and frequency
    :math:`\omega = 2\pi`:

    .. math::
        F(x) = \frac1c\Big[\tfrac12 y^T A y
               + \sum_{k=1}^K \tfrac1\omega\cos\big(\omega\, u_k\cdot y + 2\pi t_k\big)\Big],
        \qquad
        \nabla F(x) = \frac1c\Big[A y
               - \sum_k \sin\big(\omega\, u_k\cdot y + 2\pi t_k\big) u_k\Big].

    Each ridge adds curvature :math:`-\omega\cos(\cdot)` of magnitude up to :math:`2\pi` along
    :math:`u_k`, larger than the quadratic's (:math:`u^T A u\approx 1`), so :math:`F` is
    non-convex, with about two oscillation periods across the domain along every ridge direction
    and in every dimension. :math:`c` normalises the mean gradient norm to 1.

    Args:
        dim: dimension :math:`d`.
        num_ridges: :math:`K`, default ``dim``.
        seed: seed of the random draws.
        dtype: dtype of the stored buffers.

    Example:
        >>> t = RidgeNonConvex(3, seed=0)
        >>> t.potential(torch.rand(5, 3)).shape
        torch.Size([5])
    """

    name = "ridge-nonconvex"
    is_convex = False
    frequency = 2 * math.pi

    def __init__(
        self,
        dim: int,
        num_ridges: int | None = None,
        seed: int = 0,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(dim, num_ridges, seed)
        self._finish(dtype)

    def _ridge(self, s: Tensor) -> tuple[Tensor, Tensor]:
        arg = self.frequency * s + 2 * math.pi * self.offsets.to(s)
        return torch.cos(arg) / self.frequency, -torch.sin(arg)


TARGETS: dict[str, type[Target]] = {
    "convex-2d": ConvexPolynomial2D,
    "nonconvex-2d": NonConvex2D,
    "polymax": PolyMax,
    "ridge-convex": RidgeConvex,
    "ridge-nonconvex": RidgeNonConvex,
}


def make_target(name: str, dim: int = 2, **kwargs: object) -> Target:
    """Build a registered target by name.

    Args:
        name: one of :data:`TARGETS` (``"convex-2d"``, ``"nonconvex-2d"``, ``"polymax"``,
            ``"ridge-convex"``, ``"ridge-nonconvex"``).
        dim: dimension (must be 2 for the 2-D targets).
        **kwargs: passed to the target's constructor (e.g. ``seed`` for the ridge targets).

    Raises:
        ValueError: if ``name`` is not registered.

    Example:
        >>> make_target("polymax", dim=8).norm_constant > 0
        True
    """
    return lookup(TARGETS, name, "target")(dim, **kwargs)  # type: ignore[arg-type]

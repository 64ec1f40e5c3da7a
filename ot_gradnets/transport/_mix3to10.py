r"""The field's benchmark pairs: a 3-Gaussian mixture sent onto about ten clusters by a trained ICNN.

Built the way the continuous Wasserstein-2 benchmark of Korotin et al. (NeurIPS 2021) builds its
high-dimensional ``Mix3toMix10`` pairs:

* the source :math:`P` is a mixture of 3 Gaussians (centres on a shuffled grid, random linear
  maps with unit rows, standard deviation 0.4, the whole scaled to unit average variance per
  coordinate);
* the potential is the sum of two dense input-convex networks :math:`\psi_1 + \psi_2`
  (quadratic skip connections of rank one into every layer, CELU activations, non-negative
  weights between layers, plus :math:`0.01|x|^2/2`), each *trained* so that its gradient pushes
  :math:`P` onto a mixture of 10 Gaussians of its own, then frozen and standardised,
  :math:`T^\star(x) = s\,(\nabla\psi_1(x) + \nabla\psi_2(x) - m)`, so that
  :math:`Q = T^\star_\# P` has mean zero and unit average variance per coordinate.

:math:`T^\star` is the gradient of the convex :math:`s(\psi_1 + \psi_2 - m\cdot x)`, so by
Brenier's theorem it is exactly the optimal map from :math:`P` to its own pushforward :math:`Q`,
whatever the training left of the 10-cluster guides: the target has about ten clusters and the
map splits each source component into several, which the best linear map cannot do.

The potentials are trained once by ``datasets/mix3to10/make_weights.py`` (exact discrete OT
between 8,192 source and guide samples with POT, then a regression of each :math:`\nabla\psi_j`
onto its matched points) and ship as small ``.npz`` files beside it, one per dimension
(:data:`MIX3TO10_DIMS`); nothing is downloaded or trained at run time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ot_gradnets._validation import check_positive_int
from ot_gradnets.transport._pair_base import TransportPair, _monte_carlo_variance

__all__ = ["MIX3TO10_DIMS", "DenseICNN", "Mix3To10Pair", "mix3to10_pair", "weights_folder"]

#: Dimensions whose frozen potential ships with the library (the benchmark's, as in Korotin et al.).
MIX3TO10_DIMS = (2, 4, 8, 16, 32, 64, 128, 256)


def weights_folder() -> Path:
    """The folder of the frozen ``mix3to10`` potentials: ``datasets/mix3to10`` in the checkout."""
    return Path(__file__).resolve().parents[2] / "datasets" / "mix3to10"


def _dense_icnn_parts(
    x: Tensor,
    quadratic: tuple[Tensor, ...],
    linear: tuple[Tensor, ...],
    bias: tuple[Tensor, ...],
    convex: tuple[Tensor, ...],
    final: Tensor,
    mu: float,
) -> tuple[Tensor, Tensor]:
    r"""Potential and closed-form gradient of the dense ICNN of :class:`Mix3To10Pair`.

    Forward: :math:`q_l(x) = (A_l x)^{\odot 2} + W_l x + b_l`, :math:`z_0 = q_0(x)`,
    :math:`z_l = \operatorname{celu}(C_l z_{l-1} + q_l(x))`, :math:`\psi = f\cdot z_{L-1} +
    \mu|x|^2/2`. Backward by hand (one pass, no autograd): :math:`\delta_{L-1} = f \odot
    \operatorname{celu}'`, :math:`\delta_{l-1} = (C_l^\top \delta_l) \odot \operatorname{celu}'`
    (no activation on layer 0), :math:`\nabla\psi = \mu x + \sum_l A_l^\top(2 A_l x \odot
    \delta_l) + W_l^\top \delta_l`.
    """
    ax = [x @ a.T for a in quadratic]
    q = [u * u + x @ w.T + b for u, w, b in zip(ax, linear, bias, strict=True)]
    z, pre = q[0], []
    for c, ql in zip(convex, q[1:], strict=True):
        pre.append(z @ c.T + ql)
        z = F.celu(pre[-1])
    pot = z @ final + 0.5 * mu * (x * x).sum(-1)
    delta = final.expand_as(z)
    deltas = [delta] * len(q)
    for layer in range(len(q) - 1, 0, -1):
        t = pre[layer - 1]
        delta = delta * torch.where(t > 0, torch.ones_like(t), torch.exp(t.clamp_max(0)))
        deltas[layer] = delta
        delta = delta @ convex[layer - 1]
    deltas[0] = delta
    grad = mu * x
    for u, a, w, dl in zip(ax, quadratic, linear, deltas, strict=True):
        grad = grad + (2.0 * u * dl) @ a + dl @ w
    return pot, grad


@dataclass(frozen=True, eq=False)
class DenseICNN:
    r"""A frozen dense input-convex network :math:`\psi` with rank-one quadratic skips.

    :math:`q_l(x) = (A_l x)^{\odot 2} + W_l x + b_l`, :math:`z_0 = q_0(x)`,
    :math:`z_l = \operatorname{celu}(C_l z_{l-1} + q_l(x))`,
    :math:`\psi(x) = f^\top z_{L-1} + \mu|x|^2/2`, with :math:`C_l \ge 0` and :math:`f \ge 0`:
    each unit is a non-negative combination of convex functions passed through a convex,
    non-decreasing activation, so :math:`\psi` is :math:`\mu`-strongly convex (the
    ``DenseICNN`` of Korotin et al., 2021).

    Attributes:
        quadratic, linear, bias: per layer :math:`A_l` ``(m_l, d)``, :math:`W_l` ``(m_l, d)``,
            :math:`b_l` ``(m_l,)``.
        convex: :math:`C_l \ge 0`, ``(m_l, m_{l-1})`` for ``l = 1..L-1``.
        final: :math:`f \ge 0`, ``(m_{L-1},)``.
        strong_convexity: :math:`\mu`.
    """

    quadratic: tuple[Tensor, ...]
    linear: tuple[Tensor, ...]
    bias: tuple[Tensor, ...]
    convex: tuple[Tensor, ...]
    final: Tensor
    strong_convexity: float

    def parts(self, x: Tensor) -> tuple[Tensor, Tensor]:
        r""":math:`(\psi(x), \nabla\psi(x))` in ``x``'s dtype and device."""

        def cast(ts: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
            return tuple(t.to(dtype=x.dtype, device=x.device) for t in ts)

        return _dense_icnn_parts(
            x, cast(self.quadratic), cast(self.linear), cast(self.bias), cast(self.convex),
            self.final.to(dtype=x.dtype, device=x.device), self.strong_convexity,
        )  # fmt: skip

    def parameters(self) -> list[Tensor]:
        return [*self.quadratic, *self.linear, *self.bias, *self.convex, self.final]

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}final": self.final}
        for name in ("quadratic", "linear", "bias", "convex"):
            out.update({f"{prefix}{name}_{i}": t for i, t in enumerate(getattr(self, name))})
        arrays = {k: v.detach().cpu().numpy() for k, v in out.items()}
        arrays[f"{prefix}strong_convexity"] = np.asarray(self.strong_convexity, dtype=np.float64)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> DenseICNN:
        def t(key: str) -> Tensor:
            return torch.as_tensor(np.asarray(arrays[prefix + key]), dtype=torch.float64)

        def layers(name: str) -> tuple[Tensor, ...]:
            n = sum(1 for k in arrays if k.startswith(f"{prefix}{name}_"))
            return tuple(t(f"{name}_{i}") for i in range(n))

        return cls(layers("quadratic"), layers("linear"), layers("bias"), layers("convex"),
                   t("final"), float(arrays[prefix + "strong_convexity"]))  # fmt: skip


@dataclass(frozen=True, eq=False)
class Mix3To10Pair(TransportPair):
    r"""A 3-Gaussian mixture and its image under a frozen sum of trained dense ICNN gradients.

    Source: :math:`P = \frac13\sum_k N(c_k, \sigma^2 M_k M_k^\top)`, sampled as
    :math:`x = c_k + \sigma M_k z`, :math:`z \sim N(0, I)`. Map (exact, Brenier):

    .. math::

        T^\star(x) = s\,\Big(\sum_j \nabla\psi_j(x) - m\Big),

    with each :math:`\psi_j` a :class:`DenseICNN` (two, as in Korotin et al.: each trained
    towards its own 10-Gaussian mixture). :math:`T^\star` is the gradient of the convex
    :math:`s(\sum_j \psi_j(x) - m\cdot x)`, :math:`s > 0`, so it is the optimal map from
    :math:`P` to :math:`Q = T^\star_\# P`. The gradient is in closed form (one hand-written
    backward pass per network, tested against autograd).

    Build one with :func:`mix3to10_pair` (or ``make_pair("mix3to10", d)``).

    Attributes:
        centers, maps, std: the source's centres ``(3, d)``, linear maps ``(3, d, d)`` and
            standard deviation :math:`\sigma`.
        potentials: the networks :math:`\psi_j`.
        scale, shift: :math:`s` and :math:`m` ``(d,)`` of the standardisation.
    """

    centers: Tensor
    maps: Tensor
    std: float
    potentials: tuple[DenseICNN, ...]
    scale: float
    shift: Tensor
    sample_dtype: torch.dtype = torch.get_default_dtype()
    sample_device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    variance_seed: int = 0
    name: str = field(init=False, default="mix3to10")

    def __post_init__(self) -> None:
        object.__setattr__(self, "_target_variance", None)

    @property
    def dim(self) -> int:
        return int(self.centers.shape[1])

    @property
    def strong_convexity(self) -> float:
        r"""The strong convexity of :math:`T^\star`'s potential, :math:`s\sum_j\mu_j`."""
        return self.scale * sum(p.strong_convexity for p in self.potentials)

    def _sample_source64(self, n: int, generator: torch.Generator | None) -> Tensor:
        k = torch.randint(self.centers.shape[0], (n,), generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        x = torch.empty_like(z)
        for c in range(self.centers.shape[0]):  # one matrix product per component
            rows = k == c
            x[rows] = self.centers[c].double() + self.std * z[rows] @ self.maps[c].double().T
        return x

    def _parts(self, x: Tensor) -> tuple[Tensor, Tensor]:
        shift = self.shift.to(dtype=x.dtype, device=x.device)
        pot, grad = -(x @ shift), -shift
        for psi in self.potentials:
            p, g = psi.parts(x)
            pot, grad = pot + p, grad + g
        return self.scale * pot, self.scale * grad

    def potential(self, x: Tensor) -> Tensor:
        r"""The convex potential :math:`s(\sum_j\psi_j(x) - m\cdot x)`, shape ``(*,)``, dtype
        and device of ``x``."""
        return self._parts(x)[0]

    def transport(self, x: Tensor) -> Tensor:
        return self._parts(x)[1]

    def target_variance(self) -> float:
        """Monte Carlo estimate of the summed per-dimension target variance: 100,000 float64
        samples from a seed fixed by the pair (computed once, then cached); the relative standard
        error is below 1%."""
        if self._target_variance is None:
            object.__setattr__(self, "_target_variance", _monte_carlo_variance(self))
        return self._target_variance

    def arrays(self) -> dict[str, np.ndarray]:
        """The pair as plain arrays (the layout of the shipped ``.npz`` files)."""
        arrays = {"centers": self.centers, "maps": self.maps, "shift": self.shift}
        out = {k: v.detach().cpu().numpy() for k, v in arrays.items()}
        out["std"] = np.asarray(self.std, dtype=np.float64)
        out["scale"] = np.asarray(self.scale, dtype=np.float64)
        for j, psi in enumerate(self.potentials):
            out.update(psi.arrays(f"psi{j}_"))
        return out

    @classmethod
    def from_arrays(
        cls,
        arrays: dict[str, np.ndarray],
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        variance_seed: int = 0,
    ) -> Mix3To10Pair:
        """The pair from :meth:`arrays`' layout (parameters kept in float64 on the CPU)."""

        def t(key: str) -> Tensor:
            return torch.as_tensor(np.asarray(arrays[key]), dtype=torch.float64)

        n_psi = sum(1 for k in arrays if k.endswith("_strong_convexity"))
        potentials = tuple(DenseICNN.from_arrays(arrays, f"psi{j}_") for j in range(n_psi))
        return cls(
            t("centers"), t("maps"), float(arrays["std"]), potentials, float(arrays["scale"]),
            t("shift"), sample_dtype=dtype or torch.get_default_dtype(),
            sample_device=torch.device(device or "cpu"), variance_seed=variance_seed,
        )  # fmt: skip


def korotin_mixture(
    dim: int, n_components: int, generator: torch.Generator, std: float = 0.4
) -> tuple[Tensor, Tensor]:
    r"""Centres and maps of the random Gaussian mixtures of Korotin et al. (2021).

    Along every coordinate the centres take the values :math:`0, 1, \dots, K-1` in a random
    order, shifted to mean zero; each component's linear map :math:`M_k` has Gaussian entries
    with rows scaled to unit norm; then centres and maps are divided by
    :math:`\sqrt{(\operatorname{mean}_k |c_k|^2 + d\sigma^2)/d}`, so the mixture has unit average
    variance per coordinate.

    Returns:
        ``(centers (K, d), maps (K, d, d))`` in float64; sample as
        :math:`c_k + \sigma M_k z`.
    """
    dim = check_positive_int(dim, "dim")
    perms = torch.stack(
        [torch.randperm(n_components, generator=generator) for _ in range(dim)], dim=1
    )
    centers = perms.to(torch.float64) - (n_components - 1) / 2
    maps = torch.randn(n_components, dim, dim, generator=generator, dtype=torch.float64)
    maps = maps / maps.norm(dim=2, keepdim=True)
    mult = math.sqrt((float((centers**2).sum(1).mean()) + dim * std**2) / dim)
    return centers / mult, maps / mult


def mix3to10_pair(
    dim: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Mix3To10Pair:
    r"""The frozen ``mix3to10`` pair in dimension ``dim`` (the field's ``Mix3toMix10`` kind).

    Every parameter comes from the shipped file ``datasets/mix3to10/d{dim}.npz`` (see
    :class:`Mix3To10Pair` and ``datasets/README.md``); there is one pair per dimension.

    Args:
        dim: one of :data:`MIX3TO10_DIMS`.
        generator: accepted for the registry's signature; only seeds the Monte Carlo estimate of
            ``target_variance`` (the pair itself is fixed; ``make_pair`` refuses seeds other
            than 0 for it).
        dtype: dtype of drawn samples (default ``torch.get_default_dtype()``).
        device: device of drawn samples (default CPU).

    Raises:
        ValueError: for a dimension without a shipped potential.
        FileNotFoundError: if the weights are not there (an install without the ``datasets``
            folder).

    Example:
        >>> pair = mix3to10_pair(2)
        >>> x = pair.sample_source(3, generator=torch.Generator().manual_seed(0))
        >>> pair.transport(x).shape
        torch.Size([3, 2])
    """
    dim = check_positive_int(dim, "dim")
    if dim not in MIX3TO10_DIMS:
        raise ValueError(
            f"the mix3to10 pair ships frozen potentials for d in {list(MIX3TO10_DIMS)}, "
            f"got dim={dim}."
        )
    path = weights_folder() / f"d{dim}.npz"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: the mix3to10 potentials ship in the repository's "
            "datasets/mix3to10 folder (install ot-gradnets from a checkout, pip install -e .)."
        )
    with np.load(path) as data:
        arrays = dict(data)
    seed = 0 if generator is None else int(torch.randint(2**31 - 1, (), generator=generator))
    return Mix3To10Pair.from_arrays(arrays, dtype=dtype, device=device, variance_seed=seed)

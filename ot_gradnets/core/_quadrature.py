"""Gauss-Legendre rules on [0, 1], cached per (order, panels) and made like the data."""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor


@functools.lru_cache(maxsize=32)
def _rule(order: int, panels: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(order)
    x, w = (x + 1.0) / 2.0, w / 2.0  # on [0, 1], weights sum to 1
    starts = np.arange(panels) / panels
    nodes = (starts[:, None] + x[None, :] / panels).ravel()
    weights = np.tile(w / panels, panels)
    return nodes, weights


def gauss_legendre(
    order: int,
    panels: int = 1,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    r"""Composite Gauss-Legendre nodes and weights on :math:`[0, 1]`.

    :math:`\int_0^1 f(t)\,dt \approx \sum_q w_q f(t_q)`, exact for polynomials of degree
    ``2 * order - 1`` on each of the ``panels`` equal sub-intervals.

    Example:
        >>> t, w = gauss_legendre(4, panels=2, dtype=torch.float64)
        >>> round(float((w * t**3).sum()), 12)  # int_0^1 t^3 dt
        0.25
    """
    nodes, weights = _rule(order, panels)
    return (
        torch.as_tensor(nodes, dtype=dtype, device=device),
        torch.as_tensor(weights, dtype=dtype, device=device),
    )

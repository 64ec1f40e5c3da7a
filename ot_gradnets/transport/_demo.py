"""Built-in 2-D distributions for demos and tutorials (``ot-gradnets demo``).

Each is a sampler ``(n, generator) -> (n, 2)`` float64 tensor, drawn in closed form from the
generator (nothing is downloaded): ``gaussian`` (standard normal), ``moons`` (two interleaved
half circles with noise), ``ring`` (radius 2, radial noise 0.25), ``checkerboard`` (uniform on
the 8 cells of the unit grid on [-2, 2]^2 where floor(x) + floor(y) is odd) and ``banana`` (a
bent Gaussian). Their exact definitions are in ``datasets/README.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = ["DEMO_DISTRIBUTIONS", "sample_demo"]


def _gaussian(n: int, g: torch.Generator) -> torch.Tensor:
    return torch.randn(n, 2, generator=g, dtype=torch.float64)


def _moons(n: int, g: torch.Generator) -> torch.Tensor:
    upper = torch.rand(n, generator=g, dtype=torch.float64) < 0.5
    t = math.pi * torch.rand(n, generator=g, dtype=torch.float64)
    x = torch.where(upper, torch.cos(t), 1 - torch.cos(t))
    y = torch.where(upper, torch.sin(t), 0.5 - torch.sin(t))
    pts = torch.stack([x - 0.5, y - 0.25], 1) * 1.6
    return pts + 0.12 * torch.randn(n, 2, generator=g, dtype=torch.float64)


def _ring(n: int, g: torch.Generator) -> torch.Tensor:
    t = 2 * math.pi * torch.rand(n, generator=g, dtype=torch.float64)
    r = 2.0 + 0.25 * torch.randn(n, generator=g, dtype=torch.float64)
    return torch.stack([r * torch.cos(t), r * torch.sin(t)], 1)


def _checkerboard(n: int, g: torch.Generator) -> torch.Tensor:
    u = 4 * torch.rand(n, 2, generator=g, dtype=torch.float64) - 2  # [-2, 2]^2
    cell = (torch.floor(u[:, 0]) + torch.floor(u[:, 1])).remainder(2)
    u[:, 1] = torch.where(cell == 1, u[:, 1], torch.where(u[:, 1] < 1, u[:, 1] + 1, u[:, 1] - 3))
    return u


def _banana(n: int, g: torch.Generator) -> torch.Tensor:
    z = torch.randn(n, 2, generator=g, dtype=torch.float64)
    return torch.stack([1.5 * z[:, 0], 0.5 * z[:, 1] + 0.4 * z[:, 0] ** 2 - 1.0], 1)


#: The built-in 2-D distributions: name -> sampler ``(n, generator) -> (n, 2)`` float64 tensor.
DEMO_DISTRIBUTIONS: dict[str, Callable[[int, torch.Generator], torch.Tensor]] = {
    "gaussian": _gaussian,
    "moons": _moons,
    "ring": _ring,
    "checkerboard": _checkerboard,
    "banana": _banana,
}


def sample_demo(name: str, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw ``n`` samples of the built-in 2-D distribution ``name`` (float64, ``(n, 2)``).

    Example:
        >>> sample_demo("moons", 5, torch.Generator().manual_seed(0)).shape
        torch.Size([5, 2])
    """
    if name not in DEMO_DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {sorted(DEMO_DISTRIBUTIONS)}, got {name!r}.")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    return DEMO_DISTRIBUTIONS[name](n, generator)

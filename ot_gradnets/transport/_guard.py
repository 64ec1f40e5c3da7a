"""How a :class:`~ot_gradnets.transport.BrenierMap` fit tells that it failed.

:func:`health_check` is the per-step guard the shared training loop calls (unsolved conjugates,
outputs far beyond the target's scale): a problem it names sends training back to the last
healthy weights. :func:`ended_worse` looks at the whole fit once it is over: slow damage that no
single step shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["ended_worse", "health_check"]

CHECK_EVERY = 10  # steps between checks of the map's output scale
OUTPUT_GROWTH = 100.0  # mean |T(x)|^2 above this many times the target's: diverged
MAX_UNCONVERGED = 0.1  # share of unsolved conjugates in a step above which it diverged


def health_check(
    net: nn.Module, loss_fn: Any, x_probe: Tensor, reference: float
) -> Callable[[int], str | None]:
    """The semi-dual's and the map's own signs of divergence at a step, as one line (or
    ``None``): more than 10% of the step's conjugate solves unsolved, or, every 10 steps, the
    mean :math:`|T(x)|^2` of the probe points above 100 times ``reference`` (the target's)."""

    def health(step: int) -> str | None:
        failed = float(getattr(loss_fn, "unconverged", 0.0))
        if failed > MAX_UNCONVERGED:
            return f"{100 * failed:.0f}% of the conjugate solves did not converge"
        if step % CHECK_EVERY == 0:
            with torch.no_grad():
                out = float((net(x_probe) ** 2).sum(-1).mean())
            if not out <= OUTPUT_GROWTH * reference:
                growth = math.sqrt(out / max(reference, 1e-300)) if out == out else out
                return f"the map's outputs grew to {growth:.3g} times the target's scale"
        return None

    return health


def ended_worse(losses: list[float], window: int = 100) -> str | None:
    """``"start ... , end ..."`` when the mean loss of the last steps is clearly above that of
    the first ones (by three standard errors and 1%), else ``None``.

    A loss that training *raised* means the fit failed, whatever the guard saw: e.g. a
    semi-dual whose conjugates went unsolved in some region, which lowers the computed loss
    while the true one grows, until the guard rolls back to weights already damaged.
    Fits of fewer than ``4 * window`` steps use windows of a quarter of their steps.
    """
    k = min(window, len(losses) // 4)
    if k < 10:
        return None
    first = torch.tensor(losses[:k], dtype=torch.float64)
    last = torch.tensor(losses[-k:], dtype=torch.float64)
    if not (bool(torch.isfinite(first).all()) and bool(torch.isfinite(last).all())):
        return None
    gap = float(last.mean() - first.mean())
    noise = math.sqrt(float(first.var() + last.var()) / k)
    if gap > 3 * noise and gap > 0.01 * abs(float(first.mean())):
        return f"mean loss {float(first.mean()):.4g} over the first {k} steps, {float(last.mean()):.4g} over the last {k}"
    return None

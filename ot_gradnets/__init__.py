"""ot_gradnets: optimal transport and convex potentials with gradient networks.

Gradient networks (GradNets) are neural networks whose Jacobian is symmetric by construction, so
each one *is* the gradient of a scalar potential; monotone gradient networks (mGradNets) also have
a positive semidefinite Jacobian, so the potential is convex. By Brenier's theorem a convex
gradient that pushes a source onto a target is the optimal transport map for the squared cost.

The names used most are importable from here: :class:`~ot_gradnets.transport.BrenierMap` and
the four networks :class:`~ot_gradnets.core.GradNetC`, :class:`~ot_gradnets.core.GradNetM`,
:class:`~ot_gradnets.core.MGradNetC` and :class:`~ot_gradnets.core.MGradNetM`.

Subpackages:
    :mod:`ot_gradnets.core`: the networks, their potentials and Jacobians, baselines,
    gradient-field regression and Hamiltonian dynamics.
    :mod:`ot_gradnets.transport`: Brenier maps learned from samples, metrics, known-map pairs.
    :mod:`ot_gradnets.bench`: the benchmarks behind ``ot-gradnets bench``, built on the two.

Example:
    >>> import torch
    >>> from ot_gradnets import MGradNetM
    >>> net = MGradNetM(dim=3, width=16, num_modules=2)
    >>> net(torch.randn(5, 3)).shape
    torch.Size([5, 3])

References:
    S. Chaudhari, S. Pranav, J. M. F. Moura, "Gradient Networks", IEEE Trans. Signal Process. 73,
    324-339 (2025), arXiv:2404.07361.
"""

from __future__ import annotations

import importlib
from typing import Any

from ot_gradnets._threads import resolve_threads, thread_limit

__version__ = "0.1.0"

# What users call most, importable from the top level (``from ot_gradnets import BrenierMap``).
# Loaded on first use (PEP 562), so that ``import ot_gradnets`` and ``ot-gradnets --version``
# do not pay for POT, GeomLoss and scikit-learn.
_LAZY = {
    "BrenierMap": "ot_gradnets.transport",
    "GradNetC": "ot_gradnets.core",
    "GradNetM": "ot_gradnets.core",
    "MGradNetC": "ot_gradnets.core",
    "MGradNetM": "ot_gradnets.core",
}

__all__ = [
    "BrenierMap",
    "GradNetC",
    "GradNetM",
    "MGradNetC",
    "MGradNetM",
    "__version__",
    "resolve_threads",
    "thread_limit",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

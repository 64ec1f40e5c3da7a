"""Saving and loading fitted :class:`~ot_gradnets.transport.BrenierMap` objects.

A saved map is one ``torch.save`` file holding a dict of plain data: tensors, numbers,
strings, lists and dicts of them, never pickled code, so that it loads with
``torch.load(..., weights_only=True)``. Its keys: ``format`` (``"ot_gradnets.BrenierMap"``),
``version``, ``config`` (the estimator's JSON-like hyperparameters), ``n_features_in``,
``dtype``, ``state_dict`` (the fitted network's), ``history``, and, for a map fitted on
standardised data, ``inner_dim`` (the trained network's dimension) and ``has_basis`` (whether
it works in a subspace), plus ``strong_convexity`` (the fitted value).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

import ot_gradnets
from ot_gradnets.core import StandardizedGradient

if TYPE_CHECKING:
    from ot_gradnets.transport._brenier import BrenierMap

__all__ = ["FORMAT", "load_map", "save_map"]

#: The ``format`` tag of a saved map.
FORMAT = "ot_gradnets.BrenierMap"


def _config(est: BrenierMap) -> dict[str, Any]:
    """The hyperparameters of ``est`` as plain data (callables and instances left out)."""
    params = est.get_params()
    params["callback"] = None
    if not isinstance(params["random_state"], (int, type(None))):
        params["random_state"] = None
    if isinstance(params["network"], nn.Module):
        params["network"] = None  # the caller passes the architecture again to load()
    if params["device"] is not None:
        params["device"] = str(params["device"])
    if params["dtype"] is not None:
        params["dtype"] = str(params["dtype"]).removeprefix("torch.")
    opts = params["loss_options"]
    if opts is not None:
        params["loss_options"] = {
            k: v for k, v in opts.items() if isinstance(v, (int, float, str, bool, type(None)))
        }
    return params


def save_map(est: BrenierMap, path: str | Path) -> None:
    """Write the fitted ``est`` to ``path`` atomically (a temporary file renamed over it)."""
    net = est.network_
    ref = next(net.parameters())
    wrapped = isinstance(net, StandardizedGradient)
    state = {
        "format": FORMAT,
        "version": ot_gradnets.__version__,
        "config": _config(est),
        "n_features_in": int(est.n_features_in_),
        "dtype": str(ref.dtype).removeprefix("torch."),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "history": {k: list(map(float, v)) for k, v in est.history_.items()},
        "inner_dim": int(net.inner.dim) if wrapped else None,
        "has_basis": bool(wrapped and net.basis is not None),
        "strong_convexity": float(est.strong_convexity_),
    }
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_map(
    cls: type[BrenierMap],
    path: str | Path,
    *,
    network: nn.Module | None = None,
    device: str | torch.device | None = None,
) -> BrenierMap:
    """Read a map written by :func:`save_map` into a new ``cls`` instance (see
    :meth:`BrenierMap.load <ot_gradnets.transport.BrenierMap.load>`)."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a file written by BrenierMap.save.")
    config = dict(state["config"])
    if config.get("dtype") is not None:
        config["dtype"] = getattr(torch, config["dtype"])
    if config["network"] is None:
        if network is None:
            raise ValueError(
                f"{path} was fitted with a custom network instance: pass network=<the same "
                "architecture> to BrenierMap.load."
            )
        config["network"] = network
    est = cls(**config)
    dim = int(state["n_features_in"])
    dtype = getattr(torch, state["dtype"])
    inner_dim = state.get("inner_dim")
    mu = float(state.get("strong_convexity", config.get("strong_convexity", 0.0)))
    net = est._build_network(inner_dim or dim, dtype, torch.device(device or "cpu"), mu)
    if inner_dim is not None:
        zeros = torch.zeros(dim, dtype=dtype, device=next(net.parameters()).device)
        basis = torch.zeros(dim, inner_dim, dtype=dtype, device=zeros.device)
        net = StandardizedGradient(
            net, zeros, zeros, 1.0, basis if state.get("has_basis") else None
        )
    net.load_state_dict(state["state_dict"])
    est.network_ = net
    est.n_features_in_ = dim
    est.strong_convexity_ = mu
    est.history_ = {k: list(v) for k, v in state["history"].items()}
    est.n_iter_ = len(est.history_.get("loss", []))
    return est

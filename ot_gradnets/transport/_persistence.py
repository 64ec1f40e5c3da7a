"""Saving and loading fitted :class:`~ot_gradnets.transport.BrenierMap` objects.

A saved map is one ``torch.save`` file holding a dict of plain data: tensors, numbers,
strings, lists and dicts of them, never pickled code, so that it loads with
``torch.load(..., weights_only=True)``. Its keys: ``format`` (``"ot_gradnets.BrenierMap"``),
``version``, ``config`` (the estimator's JSON-like hyperparameters), ``n_features_in``,
``dtype``, ``state_dict`` (the fitted network's), ``history``, and, for a map fitted on
standardised data, ``inner_dim`` (the trained network's dimension) and ``has_basis`` (whether
it works in a subspace), ``strong_convexity`` (the fitted value), ``stop_reason`` (why training stopped) and ``checksum`` (SHA-256 of the
weights, checked on loading).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

import ot_gradnets
from ot_gradnets._io import atomic_open
from ot_gradnets.core import StandardizedGradient
from ot_gradnets.core._checkpoint import read_training_checkpoint, write_training_checkpoint
from ot_gradnets.transport._network import build_network

if TYPE_CHECKING:
    from ot_gradnets.transport._brenier import BrenierMap

__all__ = [
    "FORMAT",
    "atomic_save",
    "data_digest",
    "load_map",
    "read_checkpoint",
    "save_config",
    "save_map",
    "write_checkpoint",
]

_KEYS = ("config", "n_features_in", "dtype", "state_dict", "history")

#: The ``format`` tag of a saved map.
FORMAT = "ot_gradnets.BrenierMap"


def save_config(est: BrenierMap) -> dict[str, Any]:
    """The hyperparameters of ``est`` as plain data (callables and instances left out)."""
    params = est.get_params()
    params["callback"] = None
    if not isinstance(params["random_state"], (int, type(None))):
        params["random_state"] = None
    if isinstance(params["network"], nn.Module):
        params["network"] = None  # the caller passes the architecture again to load()
    if params["device"] is not None:
        params["device"] = str(params["device"])
    params["checkpoint"] = None  # a run-time file of the fit, not part of the map
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
        "config": save_config(est),
        "n_features_in": int(est.n_features_in_),
        "dtype": str(ref.dtype).removeprefix("torch."),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "history": {k: list(map(float, v)) for k, v in est.history_.items()},
        "inner_dim": int(net.inner.dim) if wrapped else None,
        "has_basis": bool(wrapped and net.basis is not None),
        "strong_convexity": float(est.strong_convexity_),
        "stop_reason": str(getattr(est, "stop_reason_", "")),
    }
    bad = [k for k, v in state["state_dict"].items() if not bool(torch.isfinite(v).all())]
    if bad:  # the map would return NaN: refuse it, as load does
        raise ValueError(
            f"the map has non-finite weights ({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}) "
            f"and was not saved to {path}: it would return NaN; refit it."
        )
    state["checksum"] = _checksum(state["state_dict"])
    atomic_save(state, path)


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file next to ``path``, flushed to disk, then renamed over
    it: a crash or a full disk never leaves half a file, and the old file stays until then."""
    with atomic_open(path, "wb") as fh:
        torch.save(obj, fh)


def data_digest(tensors: list[torch.Tensor], probe: torch.Tensor) -> str:
    """SHA-256 of stored training samples (or, for samplers, only of the shapes): a checkpoint
    resumes only the fit it was written for."""
    digest = hashlib.sha256(f"{tuple(probe.shape[1:])}".encode())
    for t in tensors:
        t = t.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{t.dtype}:{t.numel()};".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def write_checkpoint(
    path: Path, loop: Any, generator: torch.Generator, loss: Any, fingerprint: dict[str, Any]
) -> None:
    """Write what a resumed :meth:`BrenierMap.fit` needs (atomically)."""
    state = {
        "fingerprint": fingerprint,
        "loop": loop.state_dict(),
        "generator": generator.get_state(),
        "loss": loss.state_dict(),
    }
    write_training_checkpoint(path, "BrenierMap", state)


def read_checkpoint(
    path: Path, loop: Any, generator: torch.Generator, loss: Any, fingerprint: dict[str, Any]
) -> None:
    """Load a checkpoint of the same fit into the training loop, generator and loss."""
    state = read_training_checkpoint(path, "BrenierMap", fingerprint)
    loop.load_state_dict(state["loop"])
    generator.set_state(state["generator"])
    loss.load_state_dict(state["loss"])


def _checksum(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the weights (names, dtypes, shapes and bytes): the zip archive of
    ``torch.save`` does not check its tensor records, so a flipped bit there would otherwise
    load as a silently different map."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous().reshape(-1)  # 0-d tensors too
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def _read(path: Path) -> dict[str, Any]:
    """The saved dict, or a ValueError that says what is wrong with the file."""
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a map file written by BrenierMap.save.")
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        # weights_only: plain data only, so a file holding code is refused, never run
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad archive
        kind = "empty" if path.stat().st_size == 0 else "truncated, damaged or of another kind"
        raise ValueError(
            f"{path} is not a readable map file written by BrenierMap.save: it is {kind} "
            f"({type(err).__name__}). A map written by BrenierMap.save loads as plain data; do "
            "not load a file you did not write with weights_only=False."
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a file written by BrenierMap.save.")
    missing = [k for k in _KEYS if k not in state]
    if missing:
        raise ValueError(f"{path} is a damaged BrenierMap file: it lacks {', '.join(missing)}.")
    if "checksum" in state and state["checksum"] != _checksum(state["state_dict"]):
        raise ValueError(f"{path} is a damaged BrenierMap file: its weights fail their checksum.")
    return state


def load_map(
    cls: type[BrenierMap],
    path: str | Path,
    *,
    network: nn.Module | None = None,
    device: str | torch.device | None = None,
) -> BrenierMap:
    """Read a map written by :func:`save_map` into a new ``cls`` instance (see
    :meth:`BrenierMap.load <ot_gradnets.transport.BrenierMap.load>`)."""
    state = _read(Path(path))
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
    params = est.get_params()  # the saved configuration, as the estimator's parameters
    net = build_network(
        params["network"],
        inner_dim or dim,
        width=params["width"],
        depth=params["depth"],
        strong_convexity=mu,
        linear_term=params["linear_term"],
        dtype=dtype,
        device=torch.device(device or "cpu"),
    )
    if inner_dim is not None:
        zeros = torch.zeros(dim, dtype=dtype, device=next(net.parameters()).device)
        basis = torch.zeros(dim, inner_dim, dtype=dtype, device=zeros.device)
        net = StandardizedGradient(
            net, zeros, zeros, 1.0, basis if state.get("has_basis") else None
        )
    try:
        net.load_state_dict(state["state_dict"])
    except RuntimeError as err:  # missing or misshapen tensors: a damaged or foreign state
        raise ValueError(
            f"{path} holds weights that do not fit its own configuration: {err}"
        ) from None
    bad = [k for k, v in net.state_dict().items() if not bool(torch.isfinite(v).all())]
    if bad:
        raise ValueError(
            f"{path} holds non-finite weights ({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}): "
            "the map would return NaN; refit it."
        )
    est.network_ = net
    est.n_features_in_ = dim
    est.strong_convexity_ = mu
    est.history_ = {k: list(v) for k, v in state["history"].items()}
    est.n_iter_ = len(est.history_.get("loss", []))
    if state.get("stop_reason"):
        est.stop_reason_ = state["stop_reason"]  # e.g. "time_limit": the fit was cut short
    return est

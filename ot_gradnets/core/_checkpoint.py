"""Checkpoint files of the trainers: one format for every trainer of the package.

A checkpoint is a ``torch.save`` archive of plain data (read back with ``weights_only=True``):
a format marker, the trainer's kind, the library version, and the trainer's state (its
:meth:`~ot_gradnets.core.TrainingLoop.state_dict`, random generator states, whatever its loss
keeps) with a fingerprint of the settings and data it was written for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

__all__ = ["CHECKPOINT_FORMAT", "read_training_checkpoint", "write_training_checkpoint"]

CHECKPOINT_FORMAT = "ot_gradnets.checkpoint"


def write_training_checkpoint(path: str | Path, kind: str, state: dict[str, Any]) -> None:
    """Write a trainer's checkpoint atomically: ``state`` (plain data: tensors, numbers,
    strings, lists and dicts, e.g. :meth:`TrainingLoop.state_dict` and a generator's state)
    with the format marker, the trainer's ``kind`` and the library version."""
    import ot_gradnets
    from ot_gradnets._io import atomic_open

    payload = {"format": CHECKPOINT_FORMAT, "kind": kind, "version": ot_gradnets.__version__}
    with atomic_open(path, "wb") as fh:
        torch.save({**payload, "state": state}, fh)


def read_training_checkpoint(
    path: str | Path, kind: str, fingerprint: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`write_training_checkpoint` for the same ``kind`` of
    trainer, library version and ``fingerprint`` (the settings that shape training, stored as
    ``state["fingerprint"]``); anything else is a ``ValueError`` that says what differs."""
    import ot_gradnets

    try:
        data = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad archive
        raise ValueError(
            f"{path} is not a readable checkpoint: it is empty, truncated or damaged "
            f"({type(err).__name__}); delete it to start afresh."
        ) from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a checkpoint written by ot_gradnets.")
    if data.get("kind") != kind:
        raise ValueError(f"{path} is a checkpoint of {data.get('kind')}, not of {kind}.")
    if data.get("version") != ot_gradnets.__version__:
        raise ValueError(
            f"{path} was written by ot_gradnets {data.get('version')}, not "
            f"{ot_gradnets.__version__}: resume with that version, or delete it to start afresh."
        )
    state = data["state"]
    if fingerprint is not None and state.get("fingerprint") != fingerprint:
        old = state.get("fingerprint") or {}
        what = sorted(k for k in set(old) | set(fingerprint) if old.get(k) != fingerprint.get(k))
        raise ValueError(
            f"{path} was written by a fit with other {' and '.join(what)}; resume with the same "
            "settings and data, or use another checkpoint file."
        )
    return state

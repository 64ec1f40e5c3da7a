"""The row store: a benchmark's rows in one CSV, written as they come, resumable by key.

A benchmark makes *rows* (dicts of plain values). :class:`RowStore` keeps them in a CSV whose
columns and cell types it is told, rewrites the file atomically after every row (a killed run
keeps every finished row, and the file is never half a row), and reads it back with the types
restored. Beside the CSV, ``<name>.settings.json`` records the *settings* that change every
row's value (sizes, seeds, learning rates, quick mode) and their fingerprint, and the
environment they were made in (library versions, the CPU's instruction set). A resumed run
keeps the rows of an earlier run made with the same settings, skips the work they cover and
refuses, naming the differences, an earlier run made with other settings. What a run covers
(which pairs, dimensions, models, trials) is not part of the settings: a run that asks for
more adds rows to the ones kept.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ot_gradnets._io import atomic_open, atomic_write_text

__all__ = ["RowStore", "fingerprint", "read_rows"]

#: Cell types a column may have; an empty cell reads back as ``None``.
CELL_TYPES = (int, float, str)


def fingerprint(settings: Mapping[str, Any]) -> str:
    """A short hash of ``settings`` (JSON with sorted keys), stable across runs and machines.

    Example:
        >>> fingerprint({"seed": 0, "quick": True}) == fingerprint({"quick": True, "seed": 0})
        True
    """
    text = json.dumps(_plain(settings), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def environment() -> dict[str, str]:
    """What the rows' floating-point results depend on besides the settings: library versions,
    the CPU's vector instruction set (which kernels torch runs) and the platform. Recorded
    beside each table, not fingerprinted: a resume on another machine is allowed."""
    import platform

    import torch

    from ot_gradnets import __version__

    return {
        "ot_gradnets": __version__,
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else "",
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _plain(value: Any) -> Any:
    """``value`` as JSON-able data (tuples become lists, other objects their ``str``)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _cell(value: Any, spec: str) -> str:
    """One value as CSV text: ``None`` is an empty cell, numbers follow ``spec``."""
    if value is None:
        return ""
    if spec and isinstance(value, int | float) and not isinstance(value, bool):
        return format(value, spec)
    return str(value)


def _parse(text: str, kind: type) -> Any:
    if text == "":
        return None
    if kind is int:
        try:
            return int(text)
        except ValueError:  # written as a float ("3.0"), or "nan"/"inf": keep it a float
            value = float(text)
            return int(value) if value.is_integer() else value
    return kind(text)


def read_rows(path: str | Path, columns: Mapping[str, type]) -> list[dict[str, Any]]:
    """Rows of a CSV written by :class:`RowStore`, with the cell types of ``columns``.

    Columns of the file that ``columns`` does not name are read as text; empty cells are ``None``.
    """
    with Path(path).open(newline="") as fh:
        return [
            {k: _parse(v or "", columns.get(k, str)) for k, v in rec.items()}
            for rec in csv.DictReader(fh)
        ]


class RowStore:
    """The rows of one benchmark table, kept in ``path`` (CSV) as they come.

    Args:
        path: the CSV file (its folder is created).
        columns: column name -> cell type (``int``, ``float`` or ``str``), in file order.
        key: the columns that identify a row; adding a row whose key is present replaces it.
        settings: what changes every row's value; recorded beside the CSV and fingerprinted.
        resume: keep the rows an earlier run with the same settings wrote to ``path`` (a run
            made with other settings raises ``ValueError``). Without it the table starts empty
            and the file is written anew.
        formats: optional format specs per column for the CSV text (e.g. ``{"cos": ".5f"}``).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "rows.csv"
        >>> store = RowStore(path, {"d": int, "err": float}, key=["d"], settings={"seed": 0})
        >>> store.add({"d": 2, "err": 0.5})
        >>> RowStore(path, {"d": int, "err": float}, ["d"], {"seed": 0}, resume=True).rows
        [{'d': 2, 'err': 0.5}]
    """

    def __init__(
        self,
        path: str | Path,
        columns: Mapping[str, type],
        key: Sequence[str],
        settings: Mapping[str, Any],
        *,
        resume: bool = False,
        formats: Mapping[str, str] | None = None,
    ) -> None:
        bad = [c for c, t in columns.items() if t not in CELL_TYPES]
        if bad:
            raise ValueError(f"column types must be int, float or str; {bad} are not.")
        missing = [k for k in key if k not in columns]
        if missing:
            raise ValueError(f"key columns {missing} are not among the columns.")
        self.path = Path(path)
        self.columns = dict(columns)
        self.key = tuple(key)
        self.settings = _plain(dict(settings))
        self.fingerprint = fingerprint(self.settings)
        self.formats = dict(formats or {})
        self.settings_path = self.path.with_name(self.path.stem + ".settings.json")
        self._rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.n_kept = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume and self.path.exists():
            self._check_settings()
            for row in read_rows(self.path, self.columns):
                self._rows[self.row_key(row)] = row
            self.n_kept = len(self._rows)
        # the table first, then its settings: a kill between them leaves an empty table
        self._write()
        record = {"fingerprint": self.fingerprint, "settings": self.settings,
                  "environment": environment()}  # fmt: skip
        atomic_write_text(self.settings_path, json.dumps(record, indent=1) + "\n")

    def _check_settings(self) -> None:
        if not self.settings_path.exists():
            raise ValueError(
                f"cannot resume from {self.path}: it has no record of its settings "
                f"({self.settings_path.name}); run without --resume, or use another folder."
            )
        before = json.loads(self.settings_path.read_text())
        if before.get("fingerprint") == self.fingerprint:
            return
        old = before.get("settings", {})
        diff = [
            f"{k}: {old.get(k)!r} then, {self.settings.get(k)!r} now"
            for k in sorted({*old, *self.settings})
            if old.get(k) != self.settings.get(k)
        ]
        raise ValueError(
            f"cannot resume from {self.path}: it was made with other settings ("
            + "; ".join(diff)
            + "); use the same settings, or another output folder."
        )

    def row_key(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """The key of ``row``: its values in the key columns."""
        return tuple(row[k] for k in self.key)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Every row, kept and new, in the order they were added."""
        return list(self._rows.values())

    def done(self, unit: Sequence[Any]) -> bool:
        """Whether some row's key starts with ``unit`` (a unit of work may make several rows)."""
        unit = tuple(unit)
        return any(k[: len(unit)] == unit for k in self._rows)

    def add(self, row: Mapping[str, Any]) -> None:
        """Add (or replace, by key) one row and rewrite the file."""
        self.extend([row])

    def extend(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Add (or replace, by key) rows and rewrite the file once (``""`` is stored as
        ``None``, as an empty cell reads back)."""
        for row in rows:
            unknown = [k for k in row if k not in self.columns]
            if unknown:
                raise ValueError(f"row has columns {unknown} that {self.path.name} does not.")
            full = {c: None if row.get(c) == "" else row.get(c) for c in self.columns}
            self._rows[self.row_key(full)] = full
        self._write()

    def sort(self, order: Callable[[dict[str, Any]], Any]) -> None:
        """Reorder the rows by ``order`` (a sort key) and rewrite the file."""
        self._rows = dict(sorted(self._rows.items(), key=lambda kv: order(kv[1])))
        self._write()

    def sort_like(self, units: Sequence[Sequence[Any]]) -> None:
        """Reorder the rows as ``units`` lists the work (a row follows the first unit its key
        starts with; rows of no unit keep their order, after the others) and rewrite the file."""
        rank: dict[tuple[Any, ...], int] = {}
        for i, unit in enumerate(units):
            rank.setdefault(tuple(unit), i)
        lengths = sorted({len(u) for u in rank})

        def position(row: dict[str, Any]) -> int:
            key = self.row_key(row)
            return min((rank[key[:n]] for n in lengths if key[:n] in rank), default=len(rank))

        self.sort(position)

    def _write(self) -> None:
        with atomic_open(self.path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(self.columns)
            for row in self._rows.values():
                writer.writerow(_cell(row[c], self.formats.get(c, "")) for c in self.columns)


def is_missing(value: Any) -> bool:
    """Whether a cell holds no number: ``None``, empty text or NaN."""
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))

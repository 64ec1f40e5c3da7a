"""A row maker for the runner's tests, importable by the workers of ``jobs > 1`` (which
import it by name, so it lives in a plain module that the tests put on ``sys.path``)."""

from __future__ import annotations

from typing import Any


def square(unit: tuple[Any, ...], fail_on: int | None = None) -> list[dict[str, Any]]:
    """The row of unit ``(pair, d)``: ``err = d ** 2``; raises for ``d == fail_on``."""
    if unit[1] == fail_on:
        raise RuntimeError(f"unit {unit} failed")
    return [{"pair": unit[0], "d": unit[1], "err": float(unit[1] ** 2)}]

"""What every benchmark suite reports with: one markdown table writer and shared plot helpers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Column", "markdown_table", "plot_lines", "pyplot"]

Getter = str | Callable[[dict[str, Any]], Any]


def _get(row: dict[str, Any], getter: Getter) -> Any:
    return getter(row) if callable(getter) else row.get(getter)


@dataclass(frozen=True)
class Column:
    """One column of a markdown table.

    Attributes:
        header: the column's title.
        value: a row's key, or a function of the row.
        fmt: format spec of numbers (e.g. ``".2f"``); text is written as it is.
        right: align right (numbers).
    """

    header: str
    value: Getter
    fmt: str = ""
    right: bool = False

    def cell(self, row: dict[str, Any], missing: str) -> str:
        """The cell of ``row``: ``missing`` for ``None`` and NaN, else the formatted value."""
        v = _get(row, self.value)
        if v is None or v == "" or (isinstance(v, float) and math.isnan(v)):
            return missing
        if self.fmt and isinstance(v, int | float) and not isinstance(v, bool):
            return format(v, self.fmt)
        return str(v)


def markdown_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[Column], *, missing: str = "-"
) -> str:
    """Rows as a markdown table (``missing`` fills ``None`` and NaN cells).

    Example:
        >>> print(markdown_table([{"d": 2, "err": 0.1234}],
        ...                      [Column("d", "d", right=True), Column("err", "err", ".2f")]), end="")
        | d | err |
        |---:|---|
        | 2 | 0.12 |
    """
    lines = [
        "| " + " | ".join(c.header for c in columns) + " |",
        "|" + "".join("---:|" if c.right else "---|" for c in columns),
    ]
    lines += ["| " + " | ".join(c.cell(r, missing) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def pyplot() -> Any:
    """matplotlib's ``pyplot`` on the file-only ``Agg`` backend (figures are written, not shown)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_lines(
    rows: Sequence[dict[str, Any]],
    path: str | Path,
    *,
    panel: Getter,
    series: Getter,
    x: Getter,
    y: Getter,
    xlabel: str,
    ylabel: str,
    xlog: float | None = 2,
    ylog: bool = False,
    dashed: Callable[[Any], bool] = lambda s: False,
    order: Sequence[Any] = (),
) -> Path:
    """One panel per ``panel`` value, one line per ``series`` value: ``y`` against ``x``.

    Rows whose ``y`` is missing, not finite or (with ``ylog``) not positive are left out.
    ``xlog`` is the base of a log x axis (``None``: linear); ``dashed(series)`` picks dashed
    lines (baselines, say); ``order`` lists series to draw first, in that order.
    """
    plt = pyplot()
    panels = sorted({_get(r, panel) for r in rows}, key=str)
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(5 * max(1, len(panels)), 4),
                             squeeze=False)  # fmt: skip
    colours = plt.get_cmap("tab20").colors  # more lines than tab10's ten colours
    for ax, name in zip(axes[0], panels, strict=False):
        sub = [r for r in rows if _get(r, panel) == name]
        names = {_get(r, series) for r in sub}
        ranked = [s for s in order if s in names] + sorted(names - set(order), key=str)
        for i, s in enumerate(ranked):
            pts = sorted(
                (_get(r, x), _get(r, y))
                for r in sub
                if _get(r, series) == s and _finite(_get(r, y), positive=ylog)
            )
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "--" if dashed(s) else "-",
                        marker="o", color=colours[i % len(colours)], label=str(s))  # fmt: skip
        if xlog:
            ax.set_xscale("log", base=xlog)
        if ylog:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(str(name))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def _finite(v: Any, positive: bool) -> bool:
    if not isinstance(v, int | float) or not math.isfinite(v):
        return False
    return v > 0 if positive else True

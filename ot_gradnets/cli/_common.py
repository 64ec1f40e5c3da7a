"""What every ``ot-gradnets`` command shares: the common flags and the one list syntax.

Lists are given the same way in every command: space-separated values after the flag
(``--dims 2 8 32``), where commas also separate (``--dims 2,8,32``), so that both spellings
found in the older commands keep working. Defaults that belong to a library function are not
restated here: a flag left out passes nothing, and the function's own default applies
(:func:`defaults_of` reads them for the help texts).
"""

from __future__ import annotations

import argparse
import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from ot_gradnets._threads import add_threads_argument, resolve_threads, thread_limit

__all__ = [
    "add_bench_arguments",
    "add_common_arguments",
    "add_list_argument",
    "defaults_of",
    "given",
    "with_threads",
]


class _ListAction(argparse.Action):
    """Collect space- and comma-separated values into one list, converted and checked."""

    def __init__(
        self, *args: Any, item_type: Callable[[str], Any] = str, commas: bool = True, **kwargs: Any
    ) -> None:
        self.item_type = item_type
        self.commas = commas
        self.item_choices = kwargs.pop("choices", None)
        super().__init__(*args, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        items = []
        for token in values:
            for part in str(token).split(",") if self.commas else [str(token)]:
                if not part:
                    continue
                try:
                    item = self.item_type(part)
                except ValueError:
                    parser.error(f"{option_string}: {part!r} is not a valid {self.metavar}")
                if self.item_choices is not None and item not in self.item_choices:
                    parser.error(
                        f"{option_string}: {part!r} is not one of {sorted(self.item_choices)}"
                    )
                items.append(item)
        if not items:
            parser.error(f"{option_string} needs at least one value")
        setattr(namespace, self.dest, items)


def add_list_argument(
    parser: argparse.ArgumentParser,
    flag: str,
    *,
    type: Callable[[str], Any] = str,  # noqa: A002 - argparse's own name
    choices: Sequence[Any] | None = None,
    default: Any = None,
    metavar: str | None = None,
    commas: bool = True,
    help: str,  # noqa: A002
    **kwargs: Any,
) -> None:
    """Add a list option: ``flag V1 V2 ...`` or ``flag V1,V2,...`` (``commas=False``: values
    that contain commas themselves, such as model specs, are separated by spaces only)."""
    parser.add_argument(
        flag,
        nargs="+",
        action=_ListAction,
        item_type=type,
        commas=commas,
        choices=choices,
        default=default,
        metavar=metavar or flag.lstrip("-").upper().replace("-", "_").rstrip("S"),
        help=f"{help} ({'space- or comma-separated' if commas else 'space-separated'})",
        **kwargs,
    )


def add_common_arguments(
    parser: argparse.ArgumentParser,
    *,
    out: str | None = None,
    quick: str | None = None,
    seed: str | None = "random seed",
    verbose: str | None = "show progress bars",
) -> None:
    """Add the flags every command spells the same way: ``--out``, ``--quick``, ``--seed``,
    ``--threads`` and ``--verbose`` (a ``None`` leaves that flag out; strings are help texts)."""
    if out is not None:
        parser.add_argument("--out", default=out, help=f"output folder (default {out})")
    if quick is not None:
        parser.add_argument("--quick", action="store_true", help=quick)
    if seed is not None:
        parser.add_argument("--seed", type=int, default=0, help=f"{seed} (default 0)")
    add_threads_argument(parser)
    if verbose is not None:
        parser.add_argument("-v", "--verbose", action="store_true", help=verbose)


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags every ``bench`` command shares: ``--jobs`` and ``--resume`` (see
    :func:`ot_gradnets.bench.run_units` and :class:`ot_gradnets.bench.RowStore`)."""
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="worker processes, each with one torch thread, taking the runs from one queue "
        "(default 1; 2 on a 2-core machine)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the rows an earlier (killed or finished) run with the same settings wrote to "
        "--out and make only the missing ones; without it the tables start anew",
    )


def defaults_of(func: Callable[..., Any]) -> dict[str, Any]:
    """The keyword defaults of ``func``, to quote in help texts without restating them."""
    return {
        name: p.default
        for name, p in inspect.signature(func).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def given(args: argparse.Namespace, **names: str) -> dict[str, Any]:
    """``{keyword: value}`` for the flags that were given: ``given(args, n_steps="steps")`` maps
    ``args.steps`` to ``n_steps`` when it is not ``None``, so the called function's own default
    applies otherwise."""
    return {
        key: getattr(args, attr) for key, attr in names.items() if getattr(args, attr) is not None
    }


def with_threads(
    command: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    """``command`` run under its ``--threads`` (``"auto"``: these commands' steps are small, so
    one thread; see :func:`ot_gradnets.resolve_threads`)."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        with thread_limit(resolve_threads(args.threads)):
            return command(args)

    return run

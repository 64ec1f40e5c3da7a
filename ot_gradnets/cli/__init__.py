"""The ``ot-gradnets`` command line.

One package: the sub-commands of each part of the library are registered by a
``register(subparsers, bench_subparsers)`` function in a module of their own (``_transport``,
``_fields``, ``_hamiltonian``), and ``_common`` holds what they share (the common flags and the
one list syntax), so this file only assembles them:

    ot-gradnets demo                               # fit a 2-D map on built-in data
    ot-gradnets fit SOURCE TARGET -o map.pt        # learn a Brenier map from files
    ot-gradnets transform map.pt X -o Y            # apply it
    ot-gradnets bench {fields,hamiltonian,transport} [--quick]
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import ot_gradnets

# Modules that contribute sub-commands; each defines ``register(subparsers, bench_subparsers)``.
_REGISTRARS = (
    "ot_gradnets.cli._transport",
    "ot_gradnets.cli._fields",
    "ot_gradnets.cli._hamiltonian",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the full argument parser (one sub-command per registered task)."""
    parser = argparse.ArgumentParser(
        prog="ot-gradnets",
        description="Optimal transport and convex potentials with gradient networks.",
    )
    parser.add_argument("--version", action="version", version=ot_gradnets.__version__)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    bench = sub.add_parser("bench", help="run a named benchmark and write tables and figures")
    bench_sub = bench.add_subparsers(dest="suite", metavar="SUITE")
    for name in _REGISTRARS:
        importlib.import_module(name).register(sub, bench_sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ot-gradnets`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--version"]:  # before the sub-commands import torch: instant
        print(ot_gradnets.__version__)
        return 0
    try:
        parser = build_parser()  # imports torch, POT and scikit-learn: seconds
    except KeyboardInterrupt:  # Ctrl-C while importing: no traceback
        print("ot-gradnets: interrupted", file=sys.stderr)
        return 130
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except (ValueError, OSError) as err:  # bad input, files or settings: one line, exit 2
        if args.debug:
            raise
        message = err.strerror if isinstance(err, OSError) and err.filename else err
        where = f"{err.filename}: " if isinstance(err, OSError) and err.filename else ""
        print(f"ot-gradnets: error: {where}{message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # outside training (which stops cleanly), or a second Ctrl-C
        print("ot-gradnets: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

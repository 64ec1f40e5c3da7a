"""The benchmark runner: units of work in, rows out, in one process or sharded over ``jobs``.

A suite lists its *units* (tuples that lead its store's key: ``(pair, d, method)`` for one row,
``(system,)`` for every row of one system) and gives a function that makes a unit's rows.
:func:`run_units` skips the units the store already holds (a resumed run), makes the others and
adds their rows to the store as each unit finishes. With ``jobs > 1`` the units go to ``jobs``
worker processes, each with one torch thread, taken from one queue as workers come free; only
this process writes the store, so the CSV stays whole whatever order the units finish in.
Every unit is seeded on its own, so its rows do not depend on ``jobs`` (up to floating-point
differences between thread counts).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import pickle
from collections.abc import Callable, Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from ot_gradnets._validation import check_positive_int
from ot_gradnets.bench._store import RowStore

__all__ = ["run_units"]

Unit = tuple[Any, ...]
MakeRows = Callable[[Unit], Sequence[dict[str, Any]]]


def _init_worker() -> None:
    # benchmark steps are small: a second thread per worker speeds one up little, and the
    # workers together already use the cores
    torch.set_num_threads(1)


def run_units(
    units: Sequence[Unit],
    make_rows: MakeRows,
    store: RowStore,
    *,
    jobs: int = 1,
    progress: bool = False,
    desc: str = "bench",
) -> list[Unit]:
    """Make the rows of every unit the store does not hold yet, and add them to the store.

    Args:
        units: units of work, each a tuple of values of the store's leading key columns.
        make_rows: ``make_rows(unit)`` returns the unit's rows (dicts with the store's columns).
            With ``jobs > 1`` it must pickle (a module-level function or a
            :func:`functools.partial` of one).
        store: where the rows go (see :class:`~ot_gradnets.bench.RowStore`).
        jobs: worker processes (``1``: this process, under its own thread settings).
        progress: show a progress bar over the units.
        desc: the progress bar's label.

    Returns:
        The units that were run (the others were in the store already).

    A unit that raises stops the run: the rows of the units finished before it stay in the
    store, and the error (with a note naming the unit, from a worker) reaches the caller.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> store = RowStore(Path(tempfile.mkdtemp()) / "sq.csv", {"n": int, "sq": int}, ["n"], {})
        >>> run_units([(2,), (3,)], lambda u: [{"n": u[0], "sq": u[0] ** 2}], store)
        [(2,), (3,)]
        >>> [r["sq"] for r in store.rows]
        [4, 9]
    """
    jobs = check_positive_int(jobs, "jobs")
    todo = [tuple(u) for u in units if not store.done(u)]
    bar = tqdm(total=len(todo), desc=desc, disable=not progress or not todo)
    try:
        if jobs == 1 or len(todo) <= 1:
            for unit in todo:
                bar.set_postfix_str(" ".join(map(str, unit)))
                store.extend(make_rows(unit))
                bar.update()
        else:
            _run_sharded(todo, make_rows, store, min(jobs, len(todo)), bar)
    finally:
        bar.close()
    return todo


def _run_sharded(
    todo: list[Unit], make_rows: MakeRows, store: RowStore, jobs: int, bar: Any
) -> None:
    try:
        pickle.dumps(make_rows)
    except Exception as err:
        raise ValueError(
            "jobs > 1 needs a make_rows function that pickles (a module-level function or a "
            f"functools.partial of one): {err}"
        ) from err
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that holds torch threads
    pool = concurrent.futures.ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker)
    try:
        futures = {pool.submit(make_rows, unit): unit for unit in todo}
        for future in concurrent.futures.as_completed(futures):
            unit = futures[future]
            try:
                rows = future.result()
            except Exception as err:
                err.add_note(f"in benchmark unit {unit}")
                raise
            store.extend(rows)
            bar.set_postfix_str(" ".join(map(str, unit)))
            bar.update()
    finally:  # on an error or Ctrl-C, drop the units not started and wait for the running ones
        pool.shutdown(wait=True, cancel_futures=True)

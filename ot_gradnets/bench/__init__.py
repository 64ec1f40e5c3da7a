"""One benchmark framework for every suite of ``ot-gradnets bench``.

A suite is a small module that lists its units of work and makes one unit's rows; this package
does the rest the same way for all of them:

- :class:`RowStore`: the rows in one CSV, written atomically as they come, read back with their
  types, and resumed by key when the settings' fingerprint matches (``--resume``);
- :func:`run_units`: runs the units the store lacks, in this process or on ``jobs`` worker
  processes (``--jobs``);
- :func:`markdown_table` with :class:`Column`, and :func:`plot_lines`: the tables and the
  line figures of the reports.

The suites are the subpackages :mod:`ot_gradnets.bench.fields`,
:mod:`ot_gradnets.bench.hamiltonian` and :mod:`ot_gradnets.bench.transport`, imported only when
used (``import ot_gradnets.bench`` loads the framework alone). They build on the library
packages (:mod:`ot_gradnets.core`, :mod:`ot_gradnets.transport`), which never import this one.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> out = Path(tempfile.mkdtemp())
    >>> store = RowStore(out / "sq.csv", {"n": int, "sq": int}, key=["n"], settings={"p": 2})
    >>> _ = run_units([(1,), (2,)], lambda u: [{"n": u[0], "sq": u[0] ** 2}], store)
    >>> print(markdown_table(store.rows, [Column("n", "n"), Column("n^2", "sq")]), end="")
    | n | n^2 |
    |---|---|
    | 1 | 1 |
    | 2 | 4 |
"""

from ot_gradnets.bench._report import Column, markdown_table, plot_lines, pyplot
from ot_gradnets.bench._runner import run_units
from ot_gradnets.bench._store import RowStore, fingerprint, read_rows

__all__ = [
    "Column",
    "RowStore",
    "fingerprint",
    "markdown_table",
    "plot_lines",
    "pyplot",
    "read_rows",
    "run_units",
]

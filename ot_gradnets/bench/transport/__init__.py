"""The transport benchmark behind ``ot-gradnets bench transport``.

Every map estimator (:data:`METHODS`: the classical baselines, ``BrenierMap`` with each loss, on
arrays and on samplers) on every pair with a known optimal map
(:data:`~ot_gradnets.transport.PAIRS`) and dimension: the fit time, and the L2-UVP and cosine
similarity of the fitted map against the exact one on fresh source points.

=============================  ================================================================
:func:`run_benchmark`          fit and score the methods; rows to ``transport.csv``
:func:`write_report`           ``transport.md`` and the figures from ``transport.csv``
                               (:func:`markdown_table`, :func:`read_csv`)
:data:`DIMS`                   the dimensions of a default run
:class:`BenchResult`           one (method, pair, d) row
:data:`PEER_METHODS`           methods of other libraries, run only when named: OTT-JAX's ENOT
                               (:class:`OTTExpectileMap`, needs ``pip install
                               "ot-gradnets[compare]"``; :func:`ott_available`)
=============================  ================================================================

Example:
    >>> from ot_gradnets.bench.transport import METHODS, PEER_METHODS
    >>> list(METHODS)[:3], set(PEER_METHODS) <= set(METHODS)
    (['linear', 'entropic', 'barycentric'], True)
"""

from ot_gradnets.bench.transport._ott_enot import OTTExpectileMap, ott_available
from ot_gradnets.bench.transport._suite import (
    DIMS,
    METHODS,
    PEER_METHODS,
    BenchResult,
    markdown_table,
    read_csv,
    run_benchmark,
    write_report,
)

__all__ = [
    "DIMS",
    "METHODS",
    "PEER_METHODS",
    "BenchResult",
    "OTTExpectileMap",
    "markdown_table",
    "ott_available",
    "read_csv",
    "run_benchmark",
    "write_report",
]

"""The Hamiltonian-dynamics benchmark behind ``ot-gradnets bench hamiltonian``.

It trains HNN, gradient networks and an MLP field on the systems of
:mod:`ot_gradnets.core.hamiltonian` with the HNN protocol and the same data, batches, steps and
seed, then measures the test derivative error (dB summed over coordinates, and HNN's
per-coordinate MSE), step time, the time to reach HNN's accuracy, and the energy error, energy
drift and trajectory error of long rollouts.

=============================  ================================================================
:func:`run_benchmark`          run it; write ``hamiltonian.md``/``.csv``, curves and figures
:class:`BenchRow`              one (system, model) row of the table
:func:`format_table`           the markdown table of the rows, as the command prints it
:func:`parse_model_spec`       a :class:`ModelSpec` from ``NAME[:key=value,...]``
:data:`DEFAULT_LR_GRID`        the candidate rates of ``lr=auto`` specs
=============================  ================================================================

Example:
    >>> from ot_gradnets.bench.hamiltonian import parse_model_spec
    >>> spec = parse_model_spec("gradnet-m:num_modules=8,lr=auto")
    >>> spec.name, spec.lr, spec.kwargs
    ('gradnet-m', 'auto', {'num_modules': 8})
"""

from ot_gradnets.bench.hamiltonian._specs import (
    DEFAULT_MODEL_KWARGS,
    TRAINING_OPTIONS,
    ModelSpec,
    parse_model_spec,
)
from ot_gradnets.bench.hamiltonian._suite import (
    DEFAULT_LR_GRID,
    FLOOR_LABEL,
    BenchRow,
    format_table,
    run_benchmark,
)

__all__ = [
    "DEFAULT_LR_GRID",
    "DEFAULT_MODEL_KWARGS",
    "FLOOR_LABEL",
    "TRAINING_OPTIONS",
    "BenchRow",
    "ModelSpec",
    "format_table",
    "parse_model_spec",
    "run_benchmark",
]

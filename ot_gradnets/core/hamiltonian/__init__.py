r"""Hamiltonian dynamics learned with gradient networks.

A gradient network :math:`N = \nabla F` on the phase space :math:`s = (q, p)` defines the exactly
Hamiltonian vector field :math:`\dot s = J N(s)` with energy :math:`H = F`. This subpackage holds
the systems with exact Hamiltonians and ground truth, the learned fields and their baselines
(HNN, MLP field), symplectic and classical integrators, the metrics and the trainers. The
benchmark behind ``ot-gradnets bench hamiltonian`` is in :mod:`ot_gradnets.bench.hamiltonian`.

Example:
    >>> import torch
    >>> from ot_gradnets.core.hamiltonian import make_dataset, make_hamiltonian_model, fit_dynamics
    >>> data = make_dataset("mass-spring", n_trajectories=6, n_points=10, noise_std=0.0)
    >>> model = make_hamiltonian_model("gradnet-m", 2, budget=200, num_modules=2)
    >>> res = fit_dynamics(model, data.train_states, data.train_derivatives, max_iter=5)
    >>> res.steps
    [0, 5]
"""

from ._catalog import SYSTEMS, make_system
from ._data import HamiltonianDataset, make_dataset, split_validation
from ._gravity import NBodyGravity, ThreeBody, TwoBody
from ._integrators import (
    INTEGRATORS,
    implicit_midpoint_step,
    integrate,
    leapfrog_step,
    rk4_step,
    rollout,
)
from ._metrics import (
    derivative_error_db,
    derivative_mse,
    energy_mse,
    mse_to_db,
    relative_energy_drift,
    trajectory_error,
)
from ._models import MODEL_NAMES, HamiltonianField, make_hamiltonian_model
from ._select import DynamicsLRSelection, select_lr
from ._systems import (
    ChargedDoubleWell,
    DoublePendulum,
    HamiltonianSystem,
    MassSpring,
    Pendulum,
    SpringChain,
    apply_j,
    symplectic_matrix,
)
from ._train import (
    DynamicsFitResult,
    fit_dynamics,
    fit_dynamics_models,
    predict_field,
)

__all__ = [
    "HamiltonianSystem",
    "MassSpring",
    "Pendulum",
    "NBodyGravity",
    "TwoBody",
    "ThreeBody",
    "SpringChain",
    "DoublePendulum",
    "ChargedDoubleWell",
    "SYSTEMS",
    "make_system",
    "symplectic_matrix",
    "apply_j",
    "HamiltonianDataset",
    "make_dataset",
    "split_validation",
    "HamiltonianField",
    "MODEL_NAMES",
    "make_hamiltonian_model",
    "leapfrog_step",
    "implicit_midpoint_step",
    "rk4_step",
    "integrate",
    "rollout",
    "INTEGRATORS",
    "derivative_error_db",
    "derivative_mse",
    "mse_to_db",
    "energy_mse",
    "relative_energy_drift",
    "trajectory_error",
    "DynamicsFitResult",
    "fit_dynamics",
    "fit_dynamics_models",
    "predict_field",
    "DynamicsLRSelection",
    "select_lr",
]

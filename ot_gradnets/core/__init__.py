"""Gradient networks, their potentials and Jacobians, and the baselines they are compared with.

========================  =========================================================================
:class:`GradNetC`         cascaded gradient network (symmetric Jacobian)
:class:`GradNetM`         modular gradient network (symmetric Jacobian, universal for smooth F)
:class:`MGradNetC`        monotone cascaded network (PSD Jacobian, convex F)
:class:`MGradNetM`        monotone modular network (PSD Jacobian, convex F)
:class:`CMGN`             C-MGN (ICASSP 2023)
:class:`MMGN`             M-MGN (ICASSP 2023)
:class:`ICNN`             input-convex potential, field by autograd
:class:`PotentialMLP`     MLP potential, field by autograd
:class:`MLPField`         unconstrained MLP field (a VectorField, not a gradient)
:class:`VectorField`      base of every model: ``dim``, ``forward``, ``jacobian``, ``jvp``
:class:`GradientNetwork`  base of the gradient networks: adds ``potential``
:class:`TrainingLoop`     the training loop every trainer of the package shares
========================  =========================================================================
"""

from ot_gradnets.core._activations import (
    ACTIVATIONS,
    Activation,
    InverseMultiquadric,
    Sigmoid,
    Sin,
    Softmax,
    Softplus,
    Tanh,
    WeightedSoftmax,
    WeightedTanh,
    make_activation,
)
from ot_gradnets.core._base import GradientNetwork, VectorField
from ot_gradnets.core._baselines import ICNN, MLPField, PotentialMLP
from ot_gradnets.core._budget import MODELS, count_parameters, model_for_budget
from ot_gradnets.core._cascaded import GradNetC, MGradNetC
from ot_gradnets.core._compose import GradientSum, QuadraticGradient, StandardizedGradient
from ot_gradnets.core._modular import GradNetM, MGradNetM
from ot_gradnets.core._predecessors import CMGN, MMGN
from ot_gradnets.core._training import OPTIMIZERS, SCHEDULES, TrainingLoop

__all__ = [
    "ACTIVATIONS",
    "CMGN",
    "ICNN",
    "MMGN",
    "MODELS",
    "OPTIMIZERS",
    "SCHEDULES",
    "Activation",
    "GradNetC",
    "GradNetM",
    "GradientNetwork",
    "GradientSum",
    "InverseMultiquadric",
    "MGradNetC",
    "MGradNetM",
    "MLPField",
    "PotentialMLP",
    "QuadraticGradient",
    "StandardizedGradient",
    "Sigmoid",
    "Sin",
    "Softmax",
    "Softplus",
    "Tanh",
    "TrainingLoop",
    "VectorField",
    "WeightedSoftmax",
    "WeightedTanh",
    "count_parameters",
    "make_activation",
    "model_for_budget",
]

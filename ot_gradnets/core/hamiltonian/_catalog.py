"""The registry of the Hamiltonian systems by name, and :func:`make_system`.

It sits apart from the systems' modules so that it can import all of them: the base class and
the other systems in ``_systems``, the gravity systems in ``_gravity`` (which imports its base
class from ``_systems``).
"""

from __future__ import annotations

from ot_gradnets._registry import lookup

from ._gravity import ThreeBody, TwoBody
from ._systems import (
    ChargedDoubleWell,
    DoublePendulum,
    HamiltonianSystem,
    MassSpring,
    Pendulum,
    SpringChain,
)

__all__ = ["SYSTEMS", "make_system"]


#: Registry of systems by name; each value builds the system with its default parameters.
SYSTEMS: dict[str, type[HamiltonianSystem]] = {
    "mass-spring": MassSpring,
    "pendulum": Pendulum,
    "two-body": TwoBody,
    "three-body": ThreeBody,
    "spring-chain": SpringChain,
    "double-pendulum": DoublePendulum,
    "charged-double-well": ChargedDoubleWell,
}


def make_system(name: str | HamiltonianSystem) -> HamiltonianSystem:
    """Build a system from its registry name (an instance passes through).

    Example:
        >>> make_system("two-body").dim
        8
    """
    if isinstance(name, HamiltonianSystem):
        return name
    return lookup(SYSTEMS, name, "system")()

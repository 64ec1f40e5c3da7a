"""Looking names up in the package's registries, with one error message for an unknown name.

Every registry of :mod:`ot_gradnets.core` (``MODELS``, ``ACTIVATIONS``, ``TARGETS``, ``SYSTEMS``,
``INTEGRATORS``, ``RECIPES``, ...) is a plain ``dict`` from a name to what it builds; a name that
is not registered is always reported the same way, as the shared training loop reports an
unknown schedule or optimiser::

    model='transformer' is not known; choose one of ['c-mgn', 'gradnet-c', ...].
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TypeVar

__all__ = ["check_choice", "lookup", "unknown_name"]

_V = TypeVar("_V")


def unknown_name(what: str, name: object, choices: Collection[str], note: str = "") -> ValueError:
    """The error for a ``name`` that is not among ``choices``.

    ``note`` is appended to the list of choices (e.g. ``" or an Activation instance"``).

    Example:
        >>> print(unknown_name("target", "cubic", {"polymax": 1, "convex-2d": 2}))
        target='cubic' is not known; choose one of ['convex-2d', 'polymax'].
    """
    return ValueError(f"{what}={name!r} is not known; choose one of {sorted(choices)}{note}.")


def lookup(registry: Mapping[str, _V], name: object, what: str, note: str = "") -> _V:
    """``registry[name]``, or :func:`unknown_name`'s ``ValueError`` when ``name`` is not there.

    Args:
        registry: the registry, a mapping from names to values.
        name: the name asked for (anything: an unhashable or non-string name is unknown too).
        what: what a name designates, as the caller's argument calls it (``"model"``).
        note: appended to the list of choices in the message.

    Example:
        >>> lookup({"tanh": 1}, "tanh", "activation")
        1
        >>> lookup({"tanh": 1}, "relu", "activation")
        Traceback (most recent call last):
        ...
        ValueError: activation='relu' is not known; choose one of ['tanh'].
    """
    try:
        return registry[name]  # type: ignore[index]
    except (KeyError, TypeError):
        raise unknown_name(what, name, registry, note) from None


def check_choice(name: object, choices: Collection[str], what: str, note: str = "") -> str:
    """Return ``name`` if it is one of ``choices`` (a registry or a tuple of names), else raise
    :func:`unknown_name`'s ``ValueError``.

    Example:
        >>> check_choice("rk4", ("leapfrog", "rk4"), "method")
        'rk4'
    """
    try:
        known = name in choices
    except TypeError:  # an unhashable name in a mapping or set
        known = False
    if not known or not isinstance(name, str):
        raise unknown_name(what, name, choices, note)
    return name

"""Old names kept for one release: module attributes and keyword arguments that warn.

A renamed public object stays importable under its old name through the module's
``__getattr__`` (:pep:`562`), which :func:`deprecated_attributes` builds; the old name is not in
``__all__``, so star imports and the API reference only show the new one. A renamed keyword
argument is accepted by :func:`renamed_keywords`. Both emit a ``DeprecationWarning`` that names
the replacement.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["deprecated_attributes", "renamed_keywords"]

_F = TypeVar("_F", bound=Callable[..., Any])


def deprecated_attributes(
    module: str, aliases: Mapping[str, tuple[str, Any]]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving ``old name -> (new name, object)`` with a warning.

    Example:
        >>> __getattr__ = deprecated_attributes("pkg", {"old": ("new", 42)})
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     value = __getattr__("old")
        >>> value, str(caught[0].message)
        (42, 'pkg.old is deprecated and will be removed in the next release; use pkg.new.')
    """

    def __getattr__(name: str) -> Any:
        if name in aliases:
            new, value = aliases[name]
            warnings.warn(
                f"{module}.{name} is deprecated and will be removed in the next release; "
                f"use {module}.{new}.",
                DeprecationWarning,
                stacklevel=2,
            )
            return value
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


def renamed_keywords(**renames: str) -> Callable[[_F], _F]:
    """Accept each ``old=value`` keyword as ``new=value`` (``old="new"``), with a warning.

    Passing both the old and the new keyword is a ``TypeError``.

    Example:
        >>> @renamed_keywords(val_fraction="validation_fraction")
        ... def split(validation_fraction=0.2):
        ...     return validation_fraction
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     value = split(val_fraction=0.5)
        >>> value, caught[0].category.__name__
        (0.5, 'DeprecationWarning')
    """

    def decorate(fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise TypeError(
                        f"{fn.__name__}() got both {old!r} (deprecated) and {new!r}; pass {new!r}."
                    )
                warnings.warn(
                    f"{fn.__name__}({old}=...) is deprecated and will be removed in the next "
                    f"release; use {new}=... instead.",
                    DeprecationWarning,
                    stacklevel=2,
                )
                kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate

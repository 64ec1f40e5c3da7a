"""Model specs of the ``hamiltonian`` benchmark: ``NAME[:key=value,...]`` strings, parsed into
:class:`ModelSpec` by :func:`parse_model_spec`, with the architecture defaults per model and the
options that are about training rather than the architecture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ot_gradnets._registry import check_choice
from ot_gradnets.core._training import SCHEDULES

__all__ = [
    "ModelSpec",
    "parse_model_spec",
    "DEFAULT_MODEL_KWARGS",
    "TRAINING_OPTIONS",
]

#: Architecture defaults per model name; ``"hnn"`` is HNN's MLP (two hidden layers of 200 tanh
#: units) and sets the parameter budget of the others unless a budget is given.
DEFAULT_MODEL_KWARGS: dict[str, dict[str, Any]] = {
    "hnn": {"width": 200, "depth": 2},
    "mlp": {"depth": 2},
    "gradnet-m": {"num_modules": 4},
    "mgradnet-m": {"num_modules": 4},
    "gradnet-c": {"depth": 4},
    "mgradnet-c": {"depth": 4},
}


#: Spec options that are about training rather than the architecture, with their defaults:
#: ``schedule`` (a name of :data:`ot_gradnets.core.SCHEDULES`), ``init`` (``"data"`` calls the
#: network's ``init_from_data`` on the training states) and ``grow`` (the size that the parameter
#: budget sets, ``"width"`` or ``"num_modules"``; see :func:`ot_gradnets.core.model_for_budget`).
TRAINING_OPTIONS: dict[str, str] = {"schedule": "constant", "init": "default", "grow": "width"}


@dataclass
class ModelSpec:
    """A model to benchmark: registry ``name``, learning rate and architecture options.

    ``lr="auto"`` selects the learning rate on a validation split of the training data
    (:func:`~ot_gradnets.core.hamiltonian.select_lr`). ``kwargs`` also carries the
    ``TRAINING_OPTIONS`` it sets.
    """

    name: str
    lr: float | str = 1e-3
    kwargs: dict[str, Any] = field(default_factory=dict)

    def option(self, key: str) -> str:
        """A training option of ``TRAINING_OPTIONS`` (its default when not given)."""
        return str(self.kwargs.get(key, TRAINING_OPTIONS[key]))

    @property
    def architecture(self) -> dict[str, Any]:
        """Constructor options, that is ``kwargs`` without the training options."""
        return {k: v for k, v in self.kwargs.items() if k not in TRAINING_OPTIONS}

    @property
    def label(self) -> str:
        """Short label, e.g. ``gradnet-m(num_modules=32,lr=0.01)``."""
        opts = {**self.kwargs, "lr": self.lr}
        defaults = {**DEFAULT_MODEL_KWARGS.get(_base(self.name), {}), **TRAINING_OPTIONS,
                    "lr": 1e-3}  # fmt: skip
        extra = ",".join(f"{k}={v}" for k, v in opts.items() if defaults.get(k) != v)
        return f"{self.name}({extra})" if extra else self.name


def _base(name: str) -> str:
    return name.removesuffix("+quadratic")


def _parse_value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_model_spec(text: str) -> ModelSpec:
    """Parse ``"name"`` or ``"name:key=value,key=value"``.

    ``lr`` sets the learning rate: a number, or ``auto`` to select it on a validation split of
    the training trajectories (see :func:`run_benchmark`).

    Example:
        >>> parse_model_spec("gradnet-m:num_modules=32,lr=1e-2")
        ModelSpec(name='gradnet-m', lr=0.01, kwargs={'num_modules': 32})
        >>> parse_model_spec("mlp:lr=auto").lr
        'auto'
    """
    name, _, rest = text.partition(":")
    kwargs = dict(DEFAULT_MODEL_KWARGS.get(_base(name), {}))
    lr: float | str = 1e-3
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"model option {item!r} in {text!r} must look like key=value.")
        if key == "lr":
            try:
                lr = "auto" if value == "auto" else float(value)
            except ValueError:
                raise ValueError(
                    f"lr in {text!r} must be a number or 'auto', got {value!r}."
                ) from None
        else:
            kwargs[key] = _parse_value(value)
    return ModelSpec(name=name, lr=lr, kwargs=kwargs)


def _check_spec(spec: ModelSpec) -> None:
    """A spec's learning rate is a non-negative number or ``"auto"``; its training options are
    known values."""
    if spec.lr != "auto" and (isinstance(spec.lr, str) or not spec.lr >= 0):
        raise ValueError(f"lr of {spec.label!r} must be a number or 'auto'.")
    check_choice(spec.option("schedule"), SCHEDULES, f"schedule of {spec.label!r}")
    check_choice(spec.option("init"), ("default", "data"), f"init of {spec.label!r}")

r"""Recipes and models of the gradient-field benchmark (``ot-gradnets bench fields``).

A *recipe* (:class:`Recipe`, registry :data:`RECIPES`) says how a suite trains its models:
``paper`` is the authors' training, ``ours`` the library's recipe at the same parameter budget
and number of steps. :func:`build_model` builds a model as a suite does (architecture, size and
the recipe's initialisation, :data:`INITS`), and :func:`fit_paper_2d` runs one trial of the 2-D
protocol under a recipe (Adam, then the recipe's L-BFGS stage if it has one). The runner,
:func:`~ot_gradnets.bench.fields.run_benchmark`, is built on these two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch
from torch import Tensor, nn

from ot_gradnets._registry import check_choice, lookup
from ot_gradnets.core._budget import MODELS, model_for_budget
from ot_gradnets.core.fields._fit import PROTOCOLS, FitResult, fit_field, refine_lbfgs
from ot_gradnets.core.fields._targets import Target

__all__ = [
    "AFFINE",
    "BASELINE_NAMES",
    "GRADNETS",
    "INITS",
    "INIT_POINTS",
    "RECIPES",
    "SUITE_TARGETS",
    "Recipe",
    "build_model",
    "fit_paper_2d",
]

#: The gradient networks of the benchmark.
GRADNETS = ("mgradnet-c", "mgradnet-m", "gradnet-c", "gradnet-m")
#: The trained baselines, by their :data:`~ot_gradnets.core.MODELS` names (a tuple of names;
#: :data:`ot_gradnets.transport.BASELINES` is another thing, a registry of transport maps).
BASELINE_NAMES = ("icnn", "potential-mlp", "mlp-field")
#: Closed-form reference (no training): the symmetrised least-squares affine field.
AFFINE = "affine-lstsq"


@dataclass(frozen=True)
class Recipe:
    """How a suite trains its models.

    Attributes:
        name: registry name.
        schedule: learning-rate schedule (see :data:`~ot_gradnets.core.fields.SCHEDULES`).
        lr_2d: the fixed learning rate of the 2-D protocol.
        lrs: candidate rates of the validation-selected protocols (PolyMax, high-d).
        model_kwargs: per-model constructor overrides (e.g. activations), by model name.
        init: parameter initialisation applied after construction, a key of :data:`INITS`.
        betas: Adam's moment decay rates.
        description: one line for the reports.
        lbfgs_fraction: 2-D protocol only: the share of the sample budget (steps x batch)
            given to a second stage, full-batch L-BFGS
            (:func:`~ot_gradnets.core.fields.refine_lbfgs`) on the first ``lbfgs_points`` points
            of the training set, after Adam
            has run the other ``1 - lbfgs_fraction`` of the steps. With the 2-D protocol's
            20,000 steps of 1,000 points and 0.5 (recipe ``ours``): 10,000 Adam steps, then at
            most 10,000 x 1,000 / 10,000 = 1,000 L-BFGS evaluations on 10,000 points, so
            neither the steps nor the points seen exceed the authors'.
        lbfgs_points: size of the L-BFGS stage's fixed batch.
        overrides: settings that differ by suite or model, keyed ``"<suite>"``, ``"<model>"`` or
            ``"<suite>/<model>"`` (applied in that order by :meth:`for_run`), each a dict of the
            fields above, e.g. ``{"paper-2d/gradnet-m": {"lr_2d": 1e-2}}``.

    Example:
        >>> r = Recipe("x", overrides={"paper-2d": {"schedule": "wsd"},
        ...                            "paper-2d/gradnet-m": {"lr_2d": 1e-2}})
        >>> r.for_run("paper-2d", "gradnet-m").schedule, r.for_run("paper-2d", "gradnet-m").lr_2d
        ('wsd', 0.01)
        >>> r.for_run("polymax", "gradnet-m").schedule
        'constant'
    """

    name: str
    schedule: str = "constant"
    lr_2d: float = 5e-3
    lrs: tuple[float, ...] = (1e-2, 1e-3, 1e-4)
    model_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    init: str = "default"
    betas: tuple[float, float] = (0.9, 0.999)
    description: str = ""
    lbfgs_fraction: float = 0.0
    lbfgs_points: int = 10_000
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def for_run(self, suite: str, model: str) -> Recipe:
        """This recipe with the overrides of ``suite`` and ``model`` applied."""
        changes: dict[str, Any] = {}
        for key in (suite, model, f"{suite}/{model}"):
            changes.update(self.overrides.get(key, {}))
        allowed = {f.name for f in fields(self)} - {"name", "overrides"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"recipe {self.name!r}: cannot override {sorted(unknown)}.")
        return replace(self, **changes) if changes else self


def _default_init(model: nn.Module, x: Tensor | None = None) -> None:
    """Keep the library's own initialisation."""


def _authors_init(model: nn.Module, x: Tensor | None = None) -> None:
    r"""Re-initialise a GradNet as the authors' public code does (``utils/models.py``).

    :math:`W \sim U(\pm 1/\sqrt d)`; first/modular biases :math:`U(\pm 1/\sqrt d)`, later
    cascade biases and the output bias :math:`U(\pm 1/\sqrt m)`; raw scales
    :math:`\alpha, \beta \sim U(0, 1)` (monotone) or :math:`U(-\tfrac12, \tfrac12)`
    (GradNet-C), :math:`\alpha_k \sim N(0, 1)` (GradNet-M); weighted-tanh weights
    :math:`1/m` (the signed version subtracts the tanhshrink term), weighted-softmax weights
    :math:`1/2`. Other models are left as they are.
    """
    if not hasattr(model, "W") or not hasattr(model, "alpha"):
        return
    d, m = model.dim, model.width
    kd, km = d**-0.5, m**-0.5
    mono = model.is_monotone
    with torch.no_grad():
        model.W.uniform_(-kd, kd)
        model.c.uniform_(-km, km)
        if hasattr(model, "depth"):  # cascaded
            model.b[0].uniform_(-kd, kd)
            model.b[1:].uniform_(-km, km)
            for p in (model.alpha, model.beta):
                p.uniform_(0.0, 1.0) if mono else p.uniform_(-0.5, 0.5)
            acts = list(model.activations)
        else:  # modular
            model.b.uniform_(-kd, kd)
            model.beta.uniform_(0.0, 1.0)
            model.alpha.uniform_(0.0, 1.0) if mono else model.alpha.normal_()
            acts = [model.activation]
        for act in acts:
            name = type(act).__name__
            if name == "WeightedTanh":
                act.a.fill_(1.0 / m)
                act.b.fill_(1.0 / m if mono else -1.0 / m)
            elif name == "WeightedSoftmax":
                act.a.fill_(0.5)
                act.b.fill_(0.5)


def _authors_data_init(model: nn.Module, x: Tensor | None = None) -> None:
    """The authors' initialisation, then modular networks' units placed on the samples ``x``.

    See :meth:`~ot_gradnets.core.MGradNetM.init_from_data` (tangent-plane initialisation: it
    sets :math:`W_k, b_k, \\beta_k`; :math:`\\alpha_k` and :math:`c` keep the authors' values).
    Other models get the authors' initialisation only.
    """
    _authors_init(model)
    if hasattr(model, "init_from_data"):
        if x is None:
            raise ValueError("init 'authors+data' needs samples of the inputs (x_init).")
        model.init_from_data(x)


#: Parameter initialisations a recipe can ask for, called as ``init(model, x)`` with ``x`` a
#: sample of training inputs (:data:`INIT_POINTS` rows) for the data-dependent ones.
INITS: dict[str, Callable[[nn.Module, Tensor | None], None]] = {
    "default": _default_init,
    "authors": _authors_init,
    "authors+data": _authors_data_init,
}
#: Input samples handed to a data-dependent initialisation: the first rows of the 2-D
#: protocol's training set, or a separate draw of unlabelled inputs in the fresh-sample protocols.
INIT_POINTS = 2000


#: Training recipes. ``paper`` reproduces the authors; ``ours`` is the library's recipe, at
#: the same parameters, steps and points (``benchmarks/RESULTS.md``, gradient-field regression).
RECIPES: dict[str, Recipe] = {
    "paper": Recipe(
        "paper",
        init="authors",
        description="authors' protocol: their initialisation, Adam, constant learning rate",
    ),
    "ours": Recipe(
        "ours",
        init="authors",
        betas=(0.9, 0.99),
        description="authors' initialisation (2-D mGradNet-M: units then placed on the data, "
        "init_from_data; ridge targets' mGradNet-C: the library's) and a decaying rate. 2-D: "
        "Adam with warm-up/stable/linear decay (GradNet-M: cosine) for half of the steps, then "
        "L-BFGS on 10,000 training points (GradNet-M: 1,250) for the other half of the sample "
        "budget. High d: cosine rate, Adam beta2 = 0.99, rate chosen on validation from "
        "{1e-2, 3e-3, 1e-3}. Same parameters, no more steps or points; settings chosen on "
        "validation error only.",
        overrides={
            "paper-2d": {"schedule": "wsd", "lbfgs_fraction": 0.5},
            "paper-2d/mgradnet-c": {"betas": (0.9, 0.999)},
            "paper-2d/gradnet-c": {"betas": (0.9, 0.999)},
            "paper-2d/mgradnet-m": {"lr_2d": 1e-2, "init": "authors+data"},
            # most of GradNet-M's gain comes from L-BFGS: 8,000 evaluations on 1,250 points
            "paper-2d/gradnet-m": {"lr_2d": 1e-2, "schedule": "cosine", "lbfgs_points": 1250},
            "polymax": {"schedule": "cosine", "lrs": (1e-2, 3e-3, 1e-3)},
            "highdim": {"schedule": "cosine", "lrs": (1e-2, 3e-3, 1e-3)},
            # the authors' weighted tanh starts linear (a = b); the library's does not
            "highdim/mgradnet-c": {"init": "default"},
        },
    ),
}


# Model constructor settings per suite. 2-D: the paper's exact sizes with plain activations;
# PolyMax and high-d: the authors' learnable activations (weighted tanh / weighted softmax),
# depth 4 and 4 modules, width from the budget.
_ARCH_2D: dict[str, dict[str, Any]] = {
    "mgradnet-c": {"width": 7, "depth": 4, "activation": "tanh"},
    "gradnet-c": {"width": 7, "depth": 4, "activation": "tanh"},
    "mgradnet-m": {"width": 7, "num_modules": 4, "activation": "softmax"},
    "gradnet-m": {"width": 7, "num_modules": 4, "activation": "softmax"},
}
_ARCH_HD: dict[str, dict[str, Any]] = {
    "mgradnet-c": {"depth": 4, "activation": "weighted-tanh"},
    "gradnet-c": {"depth": 4, "activation": "weighted-tanh"},
    "mgradnet-m": {"num_modules": 4, "activation": "weighted-softmax"},
    "gradnet-m": {"num_modules": 4, "activation": "weighted-softmax"},
}


#: The targets of each suite.
SUITE_TARGETS: dict[str, tuple[str, ...]] = {
    "paper-2d": ("convex-2d", "nonconvex-2d"),
    "polymax": ("polymax",),
    "highdim": ("ridge-convex", "ridge-nonconvex"),
}


def _build(
    name: str,
    dim: int,
    budget: int,
    arch: dict[str, dict[str, Any]],
    recipe: Recipe,
    exact: bool,
    x_init: Tensor | None = None,
) -> nn.Module:
    """Build ``name`` with the settings of ``arch`` and ``recipe`` (already resolved by
    :meth:`Recipe.for_run`), then apply the recipe's initialisation.

    ``exact``: build at the widths ``arch`` gives; otherwise, and for models without a width
    there, the widest model within ``budget`` parameters.
    """
    kwargs = {**arch.get(name, {}), **recipe.model_kwargs.get(name, {})}
    if exact and "width" in kwargs:
        model = MODELS[name](dim, **kwargs)
    else:
        kwargs.pop("width", None)
        model = model_for_budget(name, dim, budget, **kwargs)
    lookup(INITS, recipe.init, "init")(model, x_init)
    return model


def _init_model(make: Callable[[], nn.Module], seed: int) -> nn.Module:
    """``make()`` under ``torch.manual_seed(seed)``, leaving the global generator as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()


def _fit_2d(
    make: Callable[..., nn.Module],
    target: Target,
    run: Recipe,
    trial: int,
    fit_kw: dict[str, Any],
    verbose: bool,
) -> tuple[nn.Module, FitResult]:
    """One 2-D trial: Adam, then (if the recipe asks) the L-BFGS stage on the same data.

    ``make(x_init=...)`` builds the model from the first :data:`INIT_POINTS` training inputs
    (used only by data-dependent initialisations).
    """
    if not run.lbfgs_fraction < 1:
        raise ValueError(f"recipe {run.name!r}: lbfgs_fraction must be below 1.")
    kw = dict(fit_kw)
    max_iter, batch, n_train, n_val = (
        kw.pop(k) for k in ("max_iter", "batch_size", "n_train", "n_val")
    )
    gen = torch.Generator().manual_seed(trial)
    # the same draws fit_field would make: validation set first, then the training set
    x_val = target.sample(n_val, generator=gen)
    x_train = target.sample(n_train, generator=gen)
    model = _init_model(lambda: make(x_init=x_train[:INIT_POINTS]), trial)
    common = {"lr": run.lr_2d, "betas": run.betas, "schedule": run.schedule, "verbose": verbose}
    data = {"x_train": x_train, "x_val": x_val, "random_state": gen}
    if run.lbfgs_fraction <= 0:
        return model, fit_field(
            model, target, max_iter=max_iter, batch_size=batch, **data, **common, **kw
        )
    adam_steps = max_iter - round(run.lbfgs_fraction * max_iter)
    first = fit_field(
        model,
        target,
        max_iter=adam_steps,
        batch_size=batch,
        **data,
        **common,
        **kw,
    )
    points = min(run.lbfgs_points, n_train)
    evals = max(1, (max_iter - adam_steps) * batch // points)
    second = refine_lbfgs(
        model, target, x_train[:points], max_fun=evals, x_val=x_val, verbose=verbose
    )
    improved = second.best_step > 0
    return model, FitResult(
        model=model,
        lr=run.lr_2d,
        schedule=f"{run.schedule}+lbfgs",
        n_steps=adam_steps + second.n_steps,
        best_step=adam_steps + second.best_step if improved else first.best_step,
        val_db=second.val_db,
        wall_time_s=first.wall_time_s + second.wall_time_s,
        history={  # L-BFGS evaluations counted as steps after Adam's
            "step": first.history["step"] + [adam_steps + k for k in second.history["step"]],
            "train_loss": first.history["train_loss"] + second.history["train_loss"],
            "val_db": first.history["val_db"] + second.history["val_db"],
        },
    )


def _as_recipe(recipe: str | Recipe) -> Recipe:
    if isinstance(recipe, Recipe):
        return recipe
    return lookup(RECIPES, recipe, "recipe")


def _check_model(name: str) -> None:
    check_choice(name, (*GRADNETS, *BASELINE_NAMES), "model")


def _default_budget(name: str, dim: int, suite: str) -> int:
    """The suite's parameter budget: the paper's 2-D sizes, else 1024 per dimension."""
    if suite == "paper-2d":
        return 94 if name.endswith("-m") else 100
    return 1024 * dim


def build_model(
    name: str,
    dim: int = 2,
    recipe: str | Recipe = "paper",
    *,
    suite: str = "paper-2d",
    budget: int | None = None,
    x_init: Tensor | None = None,
    seed: int | None = None,
) -> nn.Module:
    """Build a benchmark model as the suite ``suite`` builds it under ``recipe``.

    In ``paper-2d`` the gradient networks have the paper's sizes (width 7; depth 4 or 4
    modules; 100 parameters for the cascaded, 94 for the modular ones) with plain tanh/softmax
    activations, and each baseline is the widest model within ``budget`` (default 100). In
    ``polymax`` and ``highdim`` every model is the widest
    within ``budget`` (default ``1024 * dim``), the gradient networks with the authors'
    learnable activations. The recipe's initialisation (:data:`INITS`) is applied last.

    Args:
        name: a model of :data:`GRADNETS` or :data:`BASELINE_NAMES`.
        dim: input dimension (2 for ``paper-2d``).
        recipe: a name of :data:`RECIPES` or a :class:`Recipe`; its overrides for ``suite`` and
            ``name`` apply (:meth:`Recipe.for_run`; a recipe without ``overrides`` is used as
            it is).
        suite: ``"paper-2d"``, ``"polymax"`` or ``"highdim"`` (see :data:`SUITE_TARGETS`).
        budget: parameter budget (default: the suite's, above).
        x_init: sample inputs for a data-dependent initialisation (``"authors+data"``); the
            runner passes :data:`INIT_POINTS` rows.
        seed: build under ``torch.manual_seed(seed)``, leaving the global generator as it was
            (the runner seeds each trial's model so); ``None`` draws from the global generator.

    Returns:
        The model, in training mode.

    Raises:
        ValueError: on an unknown model, recipe or suite, or ``dim != 2`` in ``paper-2d``.

    Example:
        >>> from ot_gradnets.core import count_parameters
        >>> count_parameters(build_model("mgradnet-m")), count_parameters(build_model("gradnet-c"))
        (94, 100)
    """
    _check_model(name)
    check_choice(suite, SUITE_TARGETS, "suite")
    if suite == "paper-2d" and dim != 2:
        raise ValueError(f"the paper-2d suite is 2-D, got dim={dim!r}.")
    run = _as_recipe(recipe).for_run(suite, name)
    budget = _default_budget(name, dim, suite) if budget is None else budget
    exact = suite == "paper-2d"
    arch = _ARCH_2D if exact else _ARCH_HD

    def make() -> nn.Module:
        return _build(name, dim, budget, arch, run, exact=exact, x_init=x_init)

    return make() if seed is None else _init_model(make, seed)


# The authors' 2-D protocol as keyword arguments of fit_paper_2d's ``protocol``
# (PROTOCOLS["paper-2d"] without the rate, which is the recipe's ``lr_2d``).
_PAPER_2D = {k: v for k, v in PROTOCOLS["paper-2d"].items() if k != "lr"}


def fit_paper_2d(
    name: str,
    target: Target,
    recipe: str | Recipe = "paper",
    trial: int = 0,
    *,
    protocol: dict[str, Any] | None = None,
    verbose: bool = False,
) -> tuple[nn.Module, FitResult]:
    """Run one trial of the 2-D protocol: the model ``name`` fitted to ``target`` under ``recipe``.

    As the ``paper-2d`` suite runs a trial: a generator seeded with ``trial`` draws the
    validation set, then the training set; the model is built by :func:`build_model` under
    ``torch.manual_seed(trial)`` (a data-dependent initialisation sees the first
    :data:`INIT_POINTS` training inputs) and trained by :func:`~ot_gradnets.core.fields.fit_field`
    with the recipe's rate, schedule and Adam betas. A recipe with an ``lbfgs_fraction`` gives
    Adam the first ``1 - lbfgs_fraction`` of the steps and the rest of the sample budget to
    :func:`~ot_gradnets.core.fields.refine_lbfgs` on the first ``lbfgs_points`` training points.

    Args:
        name: a model of :data:`GRADNETS` or :data:`BASELINE_NAMES`.
        target: a 2-D target (``make_target("convex-2d")`` or ``"nonconvex-2d"``).
        recipe: a name of :data:`RECIPES` or a :class:`Recipe` (its ``paper-2d`` overrides
            apply, as in :func:`build_model`).
        trial: the trial's seed.
        protocol: changes to the authors' settings, as keywords of
            :func:`~ot_gradnets.core.fields.fit_field` (``n_train``, ``n_val``, ``batch_size``,
            ``max_iter``, ``keep_best``, ``validation_interval``; default 100,000 / 10,000 /
            1,000 / 20,000 / best-validation checkpoint / every 100 steps); the rate is the
            recipe's.
        verbose: progress bars.

    Returns:
        ``(model, result)``; with an L-BFGS stage the result's ``n_steps`` counts Adam steps
        plus L-BFGS evaluations and its ``schedule`` ends in ``"+lbfgs"``.

    Raises:
        ValueError: on a target that is not 2-D, a ``protocol`` that sets ``lr``, or an unknown
            model or recipe.

    Example:
        >>> from ot_gradnets.core.fields import make_target
        >>> quick = {"n_train": 500, "n_val": 200, "batch_size": 100, "max_iter": 20}
        >>> model, res = fit_paper_2d("mgradnet-c", make_target("convex-2d"), "ours",
        ...                           protocol=quick)
        >>> res.schedule, res.n_steps <= 20
        ('wsd+lbfgs', True)
    """
    if target.dim != 2:
        raise ValueError(f"the 2-D protocol needs a 2-D target, got dim={target.dim}.")
    if protocol is not None and "lr" in protocol:
        raise ValueError("protocol must not set lr: the rate is the recipe's lr_2d.")
    run = _as_recipe(recipe).for_run("paper-2d", name)
    budget = _default_budget(name, 2, "paper-2d")
    _check_model(name)
    return _fit_2d(
        lambda x_init: _build(name, 2, budget, _ARCH_2D, run, exact=True, x_init=x_init),
        target,
        run,
        trial,
        {**_PAPER_2D, **(protocol or {})},
        verbose,
    )

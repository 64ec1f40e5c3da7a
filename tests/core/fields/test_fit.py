"""Fitting: improvement, repeatability, checkpoints, learning-rate selection."""

import pytest
import torch

from ot_gradnets.core import MGradNetC, MGradNetM
from ot_gradnets.core.fields import (
    PROTOCOLS,
    SCHEDULES,
    ConvexPolynomial2D,
    PolyMax,
    Target,
    field_error_db,
    fit_affine,
    fit_field,
    make_target,
    refine_lbfgs,
    select_lr,
)


def _net(seed=0):
    torch.manual_seed(seed)
    return MGradNetC(2, width=7, depth=4)


def test_fit_improves_error_on_a_tiny_problem():
    target = ConvexPolynomial2D()
    net = _net()
    x = target.sample(2000, torch.Generator().manual_seed(9))
    before = field_error_db(net, target, x)
    res = fit_field(
        net,
        target,
        max_iter=300,
        batch_size=100,
        lr=2e-2,
        n_val=500,
        random_state=0,
    )
    after = field_error_db(net, target, x)
    assert after < before - 10  # measured: about 8 dB -> -20 dB
    assert res.n_steps == 300 and res.model is net
    assert res.wall_time_s > 0


def test_same_seed_same_run():
    target = PolyMax(3)
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        net = MGradNetM(3, width=5, num_modules=2)
        res = fit_field(
            net,
            target,
            max_iter=40,
            n_val=100,
            validation_interval=10,
            random_state=5,
        )
        runs.append((res.history, [p.detach().clone() for p in net.parameters()]))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1], strict=True):
        assert torch.equal(a, b)


def test_fixed_training_set_keeps_best_checkpoint():
    target = ConvexPolynomial2D()
    net = _net(2)
    x_val = target.sample(300, torch.Generator().manual_seed(3))
    # a large learning rate makes the validation error bounce, so the best is not the last
    res = fit_field(
        net,
        target,
        n_train=500,
        batch_size=50,
        max_iter=200,
        lr=0.2,
        x_val=x_val,
        keep_best=True,
        random_state=0,
    )
    hist = res.history
    assert hist["step"] == list(range(10, 201, 10))  # one evaluation per epoch of 10 steps
    assert res.val_db == min(hist["val_db"])
    assert res.best_step == hist["step"][hist["val_db"].index(res.val_db)]
    assert field_error_db(net, target, x_val) == pytest.approx(res.val_db, abs=1e-4)


def test_schedules_and_protocols():
    for name, f in SCHEDULES.items():
        assert 0 <= f(0.999) <= 1.0 and f(0.0) > 0, name
    assert SCHEDULES["cosine"](0.999) < 1e-4
    assert SCHEDULES["wsd"](0.5) == 1.0 and SCHEDULES["wsd"](0.9) == pytest.approx(0.5)
    assert PROTOCOLS["paper-2d"]["max_iter"] == 200 * 100_000 // 1000
    with pytest.raises(ValueError, match="schedule"):
        fit_field(_net(), ConvexPolynomial2D(), max_iter=1, schedule="nope")
    with pytest.raises(ValueError, match="max_iter"):
        fit_field(_net(), ConvexPolynomial2D(), max_iter=0)
    with pytest.raises(ValueError, match="dim"):
        fit_field(_net(), PolyMax(3), max_iter=1)


def test_select_lr_uses_validation_and_leaves_global_rng():
    target = PolyMax(2)
    state = torch.get_rng_state()
    res = select_lr(
        lambda: torch.nn.Linear(2, 2),
        target,
        lrs=[1e-1, 1e-5],
        max_iter=50,
        n_val=200,
        random_state=3,
    )
    assert torch.equal(torch.get_rng_state(), state)
    assert res.best_lr == 0.1
    assert [r.lr for r in res.results] == [0.1, 1e-5]
    assert res.best.val_db == min(r.val_db for r in res.results)
    with pytest.raises(ValueError, match="lrs"):
        select_lr(lambda: torch.nn.Linear(2, 2), target, lrs=[])


def test_random_state_int_is_a_seeded_cpu_generator_and_the_callback_can_stop():
    target = PolyMax(2)

    def run(random_state, **kw):
        return fit_field(_net(), target, max_iter=20, n_val=50, random_state=random_state, **kw)

    by_int, by_gen = run(2), run(torch.Generator().manual_seed(2))
    assert by_int.history["val_db"] == by_gen.history["val_db"] != run(3).history["val_db"]
    with pytest.raises(ValueError, match="random_state"):
        run(2.0)
    seen = []

    def callback(model, step, loss):
        seen.append((model, step, loss))
        return step == 4

    res = run(0, callback=callback)
    assert [s for _, s, _ in seen] == [0, 1, 2, 3, 4] and res.n_steps == 5
    assert all(m is res.model and isinstance(v, float) for m, _, v in seen)
    assert res.history["step"] == [5]  # the final weights are still scored


class _Linear(Target):
    """grad F = A (x - 1/2) + b: an affine gradient field, recovered exactly by fit_affine."""

    name = "linear"
    is_convex = True

    def __init__(self, dim):
        super().__init__(dim)
        g = torch.Generator().manual_seed(0)
        m = torch.randn(dim, dim, generator=g)
        self.register_buffer("A", m @ m.T)
        self.register_buffer("b", torch.randn(dim, generator=g))

    def forward(self, x):
        return (x - 0.5) @ self.A + self.b

    def potential(self, x):
        y = x - 0.5
        return 0.5 * ((y @ self.A) * y).sum(-1) + y @ self.b


def test_fit_affine_recovers_an_affine_gradient():
    t = _Linear(4)
    lin = fit_affine(t, 500, torch.Generator().manual_seed(1))
    torch.testing.assert_close(lin.weight, t.A, rtol=1e-4, atol=1e-4)  # float32 storage
    x = t.sample(100, torch.Generator().manual_seed(2))
    assert field_error_db(lin, t, x) < -60


def test_fit_affine_is_symmetric_and_beats_zero_on_polymax():
    t = PolyMax(6)
    lin = fit_affine(t, 3000, torch.Generator().manual_seed(0))
    torch.testing.assert_close(lin.weight, lin.weight.T)
    x = t.sample(2000, torch.Generator().manual_seed(1))
    assert field_error_db(lin, t, x) < field_error_db(lambda z: 0 * z, t, x) - 5
    free = fit_affine(t, 3000, torch.Generator().manual_seed(0), symmetric=False)
    assert not torch.allclose(free.weight, free.weight.T)


def test_fit_field_accepts_a_fixed_training_set():
    t = make_target("convex-2d")
    runs = []
    for explicit in (False, True):
        g = torch.Generator().manual_seed(3)
        kwargs = {"n_train": 2000, "n_val": 300}
        if explicit:  # the draws fit_field makes itself: validation set first, then training set
            x_val, x_train = t.sample(300, generator=g), t.sample(2000, generator=g)
            kwargs = {"x_train": x_train, "x_val": x_val}
        torch.manual_seed(0)
        net = MGradNetC(2, width=7, depth=2)
        res = fit_field(net, t, max_iter=30, batch_size=100, lr=1e-2, random_state=g, **kwargs)
        runs.append(res.val_db)
    assert runs[0] == runs[1]
    with pytest.raises(ValueError):
        fit_field(net, t, max_iter=1, x_train=torch.zeros(10, 3))


def test_refine_lbfgs_never_worse_and_keeps_dtypes():
    t = make_target("convex-2d")
    g = torch.Generator().manual_seed(0)
    x, x_val = t.sample(3000, generator=g), t.sample(500, generator=g)
    torch.manual_seed(0)
    net = MGradNetC(2, width=7, depth=4)
    fit_field(
        net,
        t,
        max_iter=300,
        batch_size=100,
        lr=1e-2,
        x_train=x,
        x_val=x_val,
        random_state=0,
    )
    before = field_error_db(net, t, x_val)
    res = refine_lbfgs(net, t, x, max_fun=60, x_val=x_val, validation_interval=20)
    assert res.val_db <= before
    assert res.val_db == pytest.approx(field_error_db(net, t, x_val), abs=1e-3)
    assert res.val_db < before - 3  # quasi-Newton on a fixed batch gains a lot on a 100-param net
    assert 0 < res.n_steps <= 60
    for budget in (1, 7, 13):  # a line search never runs past the budget
        assert (
            refine_lbfgs(net, t, x, max_fun=budget, x_val=x_val, validation_interval=5).n_steps
            <= budget
        )
    assert all(p.dtype == torch.float32 for p in net.parameters())
    assert t.grid(2).dtype == torch.float32
    with pytest.raises(ValueError):
        refine_lbfgs(net, t, x, max_fun=0, x_val=x_val)

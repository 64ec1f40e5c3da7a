"""Every public capability runs on the ``--device`` device, in the input's dtype.

The project rule: every public function works on CPU and on GPU, and device and dtype follow the
input. Run this module on a GPU with ``pytest tests/test_devices.py --device cuda``; on the
default CPU it checks the same contract. Each test runs a tiny case on the device and asserts that
tensor outputs stay on the input's device and dtype (float32 and float64), are finite, and agree
with the same computation in float64 on the CPU where that is cheap. Functions that compute on the
CPU by design (POT's exact OT, scipy's ``solve_ivp``, the metrics, the baselines) must still hand
their tensor results back on the input's device.

Tolerances against the CPU float64 reference: float64 agrees to rounding (rtol 1e-9 leaves room
for a GPU's different reduction order); float32 to about 1e-4 relative (the networks' contract
tests use the same bound against autograd).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from ot_gradnets.core import (
    ACTIVATIONS,
    MODELS,
    GradientSum,
    MGradNetM,
    QuadraticGradient,
    count_parameters,
    make_activation,
    model_for_budget,
)
from ot_gradnets.core import fields as F
from ot_gradnets.core import hamiltonian as H
from ot_gradnets.transport import (
    BASELINES,
    LOSSES,
    PAIRS,
    BrenierMap,
    cosine_similarity,
    gaussian_map,
    l2_uvp,
    make_pair,
    solve_conjugate,
    target_variance,
)

DTYPES = [torch.float32, torch.float64]
DTYPE_IDS = ["float32", "float64"]
TOL = {torch.float64: dict(rtol=1e-9, atol=1e-10), torch.float32: dict(rtol=1e-4, atol=1e-4)}


def cpu_gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(shape, device, dtype, seed=0, scale=1.0):
    """Standard normal draws made in float64 on the CPU (the same values on every device)."""
    x = scale * torch.randn(*shape, generator=cpu_gen(seed), dtype=torch.float64)
    return x.to(device=device, dtype=dtype)


def on(t, ref, dtype=None):
    """Assert ``t`` is a finite tensor on ``ref``'s device, in ``dtype`` (default ``ref``'s)."""
    assert isinstance(t, torch.Tensor), type(t)
    assert t.device == ref.device, (t.device, ref.device)
    assert t.dtype == (ref.dtype if dtype is None else dtype), (t.dtype, dtype)
    assert bool(torch.isfinite(t).all()), "non-finite output"
    return t


def close(actual, expected, dtype, scale=1.0):
    """``actual`` (any device) against a CPU float64 reference, at ``dtype``'s tolerance."""
    tol = TOL[dtype]
    torch.testing.assert_close(
        actual.detach().to("cpu", torch.float64),
        expected.detach().to("cpu", torch.float64),
        rtol=tol["rtol"],
        atol=tol["atol"] * scale,
    )


def rng_states(device):
    """The global generators a library call must leave alone: CPU, and the device's own."""
    states = [torch.get_rng_state()]
    if device.type == "cuda":
        states.append(torch.cuda.get_rng_state(device))
    return states


# ---------------------------------------------------------------------------------------------
# ot_gradnets.core: networks, activations, composition, budgets
# ---------------------------------------------------------------------------------------------

DIM, WIDTH = 3, 5
# Strongly convex where the class takes it, so that log det J is finite everywhere.
STRONG = {"mgradnet-c", "mgradnet-m", "icnn"}


def build(name, dim=DIM, width=WIDTH):
    torch.manual_seed(0)
    kwargs = {"strong_convexity": 0.1} if name in STRONG else {}
    return MODELS[name](dim, width=width, **kwargs).double()


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_network_interface_on_device(name, dtype, device):
    ref = build(name)  # CPU float64
    net = copy.deepcopy(ref).to(device=device, dtype=dtype)
    x64 = randn((4, DIM), "cpu", torch.float64, seed=1)
    v64 = randn((4, DIM), "cpu", torch.float64, seed=2)
    x, v = x64.to(device, dtype), v64.to(device, dtype)
    close(on(net(x), x), ref(x64), dtype)
    close(on(net.jacobian(x), x), ref.jacobian(x64), dtype)
    close(on(net.jvp(x, v), x), ref.jvp(x64, v64), dtype)
    if net.is_gradient:
        close(on(net.potential(x), x), ref.potential(x64), dtype)
    if net.is_monotone:
        close(on(net.logdet_jacobian(x), x), ref.logdet_jacobian(x64), dtype)
    # unbatched input
    close(on(net(x[0]), x), ref(x64[0]), dtype)
    # gradients reach the parameters on the device, in the dtype
    net(x).square().sum().backward()
    for pname, p in net.named_parameters():
        assert p.grad is not None, pname
        on(p.grad, p)
        assert p.device == x.device and p.dtype == dtype, pname


@pytest.mark.parametrize("name", sorted(MODELS))
def test_reset_parameters_after_moving_keeps_device_and_dtype(name, device):
    net = build(name).to(device=device, dtype=torch.float32)
    if hasattr(net, "reset_parameters"):
        net.reset_parameters()
    x = randn((2, DIM), device, torch.float32)
    for pname, p in net.named_parameters():
        assert p.device == x.device and p.dtype == torch.float32, pname
    on(net(x), x)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", ["mgradnet-m", "gradnet-m"])
def test_init_from_data_on_device(name, dtype, device):
    net = build(name).to(device=device, dtype=dtype)
    x = randn((50, DIM), device, dtype)
    gen = torch.Generator(device=device).manual_seed(0)
    net.init_from_data(x, generator=gen)
    for pname, p in net.named_parameters():
        assert p.device == x.device and p.dtype == dtype and bool(p.isfinite().all()), pname
    on(net(x), x)
    net.init_from_data(x.cpu())  # samples on another device: moved to the network's
    on(net(x), x)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_on_device(name, dtype, device):
    torch.manual_seed(0)
    monotone = ACTIVATIONS[name]((), True).is_monotone  # the monotone version where one exists
    ref = make_activation(name, (4,), monotone=monotone).double()
    act = copy.deepcopy(ref).to(device=device, dtype=dtype)
    z64 = randn((2, 4), "cpu", torch.float64, seed=3, scale=2.0)
    z = z64.to(device, dtype)
    close(on(act(z), z), ref(z64), dtype)
    close(on(act.potential(z), z), ref.potential(z64), dtype)
    diag, terms = act.jacobian_factors(z)
    diag_ref, terms_ref = ref.jacobian_factors(z64)
    close(on(diag, z), diag_ref, dtype)
    for (c, u), (c_ref, u_ref) in zip(terms, terms_ref, strict=True):
        close(on(c, z), c_ref, dtype)
        close(on(u, z), u_ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_quadratic_and_sum_on_device(dtype, device):
    torch.manual_seed(0)
    q_ref = QuadraticGradient(DIM).double()
    a = torch.tensor([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 3.0]], dtype=torch.float64)
    q_ref.set_affine(a, torch.tensor([1.0, -1.0, 0.5], dtype=torch.float64))
    s_ref = GradientSum(MGradNetM(DIM, width=4, num_modules=2), copy.deepcopy(q_ref)).double()
    x64 = randn((5, DIM), "cpu", torch.float64, seed=4)
    x = x64.to(device, dtype)
    for ref in (q_ref, s_ref):
        net = copy.deepcopy(ref).to(device=device, dtype=dtype)
        close(on(net(x), x), ref(x64), dtype)
        close(on(net.potential(x), x), ref.potential(x64), dtype)
        close(on(net.jacobian(x), x), ref.jacobian(x64), dtype)
        close(on(net.jvp(x, x), x), ref.jvp(x64, x64), dtype)
        close(on(net.logdet_jacobian(x), x), ref.logdet_jacobian(x64), dtype)
    # set_affine on a moved network takes CPU (or any) tensors and keeps the network's placement
    q = QuadraticGradient(DIM).to(device=device, dtype=dtype)
    q.set_affine(a, torch.zeros(DIM, dtype=torch.float64))
    on(q.matrix(), x)
    close(q.matrix(), a, dtype, scale=10.0)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_for_budget_builds_on_the_default_device(name, device):
    net = model_for_budget(name, dim=DIM, budget=200)
    assert count_parameters(net) <= 200
    with device:  # the search counts on "meta"; the returned model follows the default device
        net_dev = model_for_budget(name, dim=DIM, budget=200)
    x = randn((2, DIM), device, torch.float32)
    assert all(p.device == x.device for p in net_dev.parameters())
    on(net_dev(x), x)
    on(net.to(device)(x), x)


# ---------------------------------------------------------------------------------------------
# ot_gradnets.transport
# ---------------------------------------------------------------------------------------------

N_SAMPLES, T_DIM = 192, 2


def gaussian_data(device, dtype, n=N_SAMPLES, seed=0):
    """Source N(0, I) and target A x + b, on the device (values drawn on the CPU)."""
    x = randn((n, T_DIM), device, dtype, seed=seed)
    a = torch.tensor([[1.5, 0.3], [0.3, 0.8]], dtype=dtype, device=x.device)
    return x, x @ a + torch.tensor([1.0, -0.5], dtype=dtype, device=x.device)


def std_normal_logpdf(x):
    return -0.5 * (x * x).sum(-1) - 0.5 * x.shape[-1] * math.log(2 * math.pi)


def fit_map(loss, device, dtype, **kwargs):
    x, y = gaussian_data(device, dtype)
    options = dict(width=8, depth=2, batch_size=64, max_iter=4, random_state=0)
    options.update(kwargs)
    tmap = BrenierMap(loss=loss, **options)
    if loss == "monge-ampere":
        # target N(b, A^2): its log-density at T(x), through the inverse of the affine map
        a = torch.tensor([[1.5, 0.3], [0.3, 0.8]], dtype=torch.float64)
        b = torch.tensor([1.0, -0.5], dtype=torch.float64)
        a_inv, logdet = torch.linalg.inv(a), float(torch.linalg.slogdet(a)[1])

        def target_logpdf(z):
            z0 = (z - b.to(z)) @ a_inv.to(z)
            return std_normal_logpdf(z0) - logdet

        return tmap.fit(x, source_log_density=std_normal_logpdf, target_log_density=target_logpdf)
    return tmap.fit(x, y)


def check_fitted(tmap, x, dtype):
    for pname, p in tmap.network_.named_parameters():
        assert p.device == x.device and p.dtype == dtype, pname
    assert tmap.n_iter_ > 0 and all(math.isfinite(v) for v in tmap.history_["loss"])
    ref = copy.deepcopy(tmap.network_).to("cpu", torch.float64)
    out = tmap.transform(x)
    close(on(out, x), ref(x.to("cpu", torch.float64)), dtype, scale=10.0)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_brenier_map_fits_with_every_loss_on_device(loss, dtype, device):
    before = rng_states(device)
    tmap = fit_map(loss, device, dtype)
    after = rng_states(device)
    for s0, s1 in zip(before, after, strict=True):  # randomness only from random_state
        assert torch.equal(s0, s1)
    x, _ = gaussian_data(device, dtype, n=16, seed=5)
    check_fitted(tmap, x, dtype)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_brenier_map_held_out_scores_on_device(loss, device):
    """``validation_fraction``: the held-out split and each loss's ``evaluate`` on the device."""
    tmap = fit_map(loss, device, torch.float32, validation_fraction=0.25, validation_interval=2)
    assert tmap.history_["val_step"] == [0, 2, 4]
    assert all(math.isfinite(v) for v in tmap.validation_scores_)
    x, _ = gaussian_data(device, torch.float32, n=16, seed=5)
    check_fitted(tmap, x, torch.float32)


def test_brenier_map_from_samplers_on_device(device):
    """Samplers (unlimited data) on the device: the semi-dual keeps its pool there."""
    pair = make_pair("gaussian", T_DIM, seed=0, dtype=torch.float32, device=device)
    gen_x, gen_y = cpu_gen(1), cpu_gen(2)
    tmap = BrenierMap(width=8, depth=2, batch_size=32, max_iter=3, random_state=0)
    tmap.set_params(loss_options={"pool_size": 256})
    tmap.fit(lambda n: pair.sample_source(n, gen_x), lambda n: pair.sample_target(n, gen_y))
    x = pair.sample_source(8, cpu_gen(3))
    check_fitted(tmap, x, torch.float32)
    assert tmap.loss_fn_.pool.device == x.device


def test_brenier_map_device_argument(device):
    """``device=`` trains there; outputs still follow each input (CPU tensor, numpy array)."""
    x_cpu, y_cpu = gaussian_data("cpu", torch.float64)
    tmap = BrenierMap(width=8, depth=2, batch_size=64, max_iter=3, random_state=0, device=device)
    tmap.fit(x_cpu.numpy(), y_cpu.numpy())
    ref = torch.empty(0, device=device)
    for p in tmap.network_.parameters():
        assert p.device == ref.device and p.dtype == torch.float64
    out = tmap.transform(x_cpu[:5])
    assert out.device == x_cpu.device and out.dtype == torch.float64
    out_np = tmap.transform(x_cpu[:5].numpy())
    assert isinstance(out_np, np.ndarray) and out_np.dtype == np.float64
    np.testing.assert_allclose(out_np, out.numpy(), rtol=1e-12, atol=1e-12)
    # float32 input to a float64 map comes back in float32
    out32 = tmap.transform(x_cpu[:5].float())
    assert out32.dtype == torch.float32 and out32.device == x_cpu.device


def test_brenier_map_takes_a_generator_on_the_device(device):
    """A generator on the data's device seeds the fit reproducibly (minibatches drawn on CPU)."""
    x, y = gaussian_data(device, torch.float32)
    maps = [
        BrenierMap(width=8, depth=2, batch_size=32, max_iter=3)
        .set_params(random_state=torch.Generator(device=device).manual_seed(7))
        .fit(x, y)
        for _ in range(2)
    ]
    out = [m.transform(x[:4]) for m in maps]
    assert out[0].device == x.device and torch.equal(out[0], out[1])


@pytest.fixture(scope="module", params=DTYPES, ids=DTYPE_IDS)
def fitted(request, device):
    dtype = request.param
    return fit_map("dual", device, dtype, max_iter=3), dtype


def test_brenier_map_methods_on_device(fitted, device, tmp_path):
    tmap, dtype = fitted
    x, _ = gaussian_data(device, dtype, n=16, seed=6)
    y = on(tmap.transform(x), x)
    # inverse: Newton with the exact Hessian, to ~100 machine epsilons of the scale
    close(on(tmap.inverse_transform(y), x), x, dtype, scale=10.0)
    f = on(tmap.potential(x), x)
    f_star = on(tmap.conjugate_potential(y), x)
    # Fenchel-Young equality at y = T(x): F(x) + F*(y) = <x, y>
    close(f + f_star, (x * y).sum(-1), dtype, scale=100.0)
    close(on(tmap.interpolate(x, 0.0), x), x, dtype)
    close(on(tmap.interpolate(x, 1.0), x), y, dtype)
    close(on(tmap.interpolate(x, 0.5), x), 0.5 * (x + y), dtype, scale=10.0)
    w2 = tmap.w2(x)
    assert isinstance(w2, float)
    assert w2 == pytest.approx(float(((y - x) ** 2).sum(-1).mean()), rel=1e-4)
    logq = on(tmap.log_density(y, std_normal_logpdf), x)
    ref_net = copy.deepcopy(tmap.network_).to("cpu", torch.float64)
    x64 = x.to("cpu", torch.float64)
    close(logq, std_normal_logpdf(x64) - ref_net.logdet_jacobian(x64), dtype, scale=100.0)
    # save / load round trip, back onto the device and onto the CPU
    path = tmp_path / "map.pt"
    tmap.save(path)
    back = BrenierMap.load(path, device=device)
    for p in back.network_.parameters():
        assert p.device == x.device and p.dtype == dtype
    close(on(back.transform(x), x), y, dtype)
    on_cpu = BrenierMap.load(path)
    x_cpu = x.cpu()
    out_cpu = on(on_cpu.transform(x_cpu), x_cpu)
    close(out_cpu, y.cpu(), dtype, scale=10.0)


def test_gaussian_map_on_device(device):
    for dtype in DTYPES:
        x, y = gaussian_data(device, dtype)
        a, b = gaussian_map(x, y)
        a_ref, b_ref = gaussian_map(x.to("cpu", torch.float64), y.to("cpu", torch.float64))
        close(on(a, x), a_ref, dtype, scale=10.0)
        close(on(b, x), b_ref, dtype, scale=10.0)


def _conjugate_cases():
    cases = [("dense", False), ("dense", True), ("cg", False), ("pcg", False)]
    return [pytest.param(m, r, id=f"{m}{'-reuse_hessian' if r else ''}") for m, r in cases]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize(("method", "reuse"), _conjugate_cases())
def test_solve_conjugate_on_device(method, reuse, dtype, device):
    torch.manual_seed(0)
    net = MGradNetM(4, width=6, num_modules=2, strong_convexity=0.5).to(device, dtype)
    x_true = randn((12, 4), device, dtype, seed=7)
    with torch.no_grad():
        y = net(x_true)
    tol = 100 * torch.finfo(dtype).eps * max(1.0, float(y.abs().max()))
    try:
        res = solve_conjugate(
            net, y, tol=tol, max_iter=50, method=method, reuse_hessian=reuse, cg_iter=50
        )
    except ValueError as err:  # a method this checkout does not offer yet
        if method in str(err) and "method" in str(err):
            pytest.skip(f"solve_conjugate has no method={method!r} here")
        raise
    on(res.x, y)
    on(res.residual, y)
    assert res.converged, float(res.residual.max())
    close(res.x, x_true, dtype, scale=10.0)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", sorted(PAIRS))
def test_pairs_sample_and_transport_on_device(name, dtype, device):
    dim = 4 if name == "mix3to10" else 3  # frozen potentials exist for powers of two only
    pair = make_pair(name, dim, seed=0, dtype=dtype, device=device)
    ref = make_pair(name, dim, seed=0, dtype=torch.float64)  # same parameters, CPU float64
    assert pair.device.type == torch.device(device).type and pair.dtype == dtype
    x = pair.sample_source(16, cpu_gen(1))
    y = pair.sample_target(16, cpu_gen(2))
    probe = torch.empty(0, device=device)
    on(x, probe, dtype)
    on(y, probe, dtype)
    close(x, ref.sample_source(16, cpu_gen(1)), dtype, scale=10.0)
    close(y, ref.sample_target(16, cpu_gen(2)), dtype, scale=10.0)
    # transport follows its input, wherever the pair's samples live
    close(on(pair.transport(x), x), ref.transport(x.to("cpu", torch.float64)), dtype, scale=10.0)
    x_cpu64 = x.to("cpu", torch.float64)
    on(pair.transport(x_cpu64), x_cpu64)
    if hasattr(pair, "potential"):
        close(on(pair.potential(x), x), ref.potential(x_cpu64), dtype, scale=10.0)
    assert pair.target_variance() == pytest.approx(ref.target_variance(), rel=1e-12)


def test_metrics_accept_device_tensors(device):
    x, y = gaussian_data(device, torch.float32)
    pred = y + 0.1
    x64, y64, p64 = (t.to("cpu", torch.float64) for t in (x, y, pred))
    assert l2_uvp(pred, y, y) == pytest.approx(l2_uvp(p64, y64, y64), rel=1e-12)
    assert l2_uvp(pred, y, 2.0) == pytest.approx(l2_uvp(p64, y64, 2.0), rel=1e-12)
    assert cosine_similarity(x, pred, y) == pytest.approx(cosine_similarity(x64, p64, y64))
    assert target_variance(y) == pytest.approx(target_variance(y64), rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baselines_fit_on_device_tensors(name, dtype, device):
    """The baselines compute in float64 numpy on the CPU; results come back like the input."""
    x, y = gaussian_data(device, dtype, n=64)
    kwargs = {"linear": {}, "entropic": {"max_samples": 64, "reg_rel": 0.2}}.get(
        name, {"max_samples": 64}
    )
    est = BASELINES[name](**kwargs).fit(x, y)
    out = on(est.transform(x[:8]), x)
    ref = BASELINES[name](**kwargs).fit(x.to("cpu", torch.float64), y.to("cpu", torch.float64))
    close(out, ref.transform(x[:8].to("cpu", torch.float64)), dtype, scale=10.0)


# ---------------------------------------------------------------------------------------------
# ot_gradnets.core.fields
# ---------------------------------------------------------------------------------------------


def make_target(name, dtype=None):
    dim = 2 if name.endswith("-2d") else 3
    return F.make_target(name, dim=dim).to(dtype=dtype or torch.float64)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", sorted(F.TARGETS))
def test_targets_on_device(name, dtype, device):
    ref = make_target(name)  # CPU float64
    target = copy.deepcopy(ref).to(device=device, dtype=dtype)
    gen = torch.Generator(device=device).manual_seed(0)
    x = target.sample(16, generator=gen)
    probe = torch.empty(0, device=device)
    on(x, probe, dtype)
    assert float(x.min()) >= target.low and float(x.max()) <= target.high
    x64 = x.to("cpu", torch.float64)
    close(on(target(x), x), ref(x64), dtype)
    close(on(target.grad(x), x), ref(x64), dtype)
    close(on(target.potential(x), x), ref.potential(x64), dtype)
    # a target left on the CPU follows an input on the device (buffers are moved per call)
    close(on(ref(x), x), ref(x64), dtype)
    close(on(ref.potential(x), x), ref.potential(x64), dtype)
    # a CPU generator draws on the CPU, explicit device/dtype win
    on(target.sample(4, cpu_gen(0)), torch.empty(0), dtype)
    on(ref.sample(4, cpu_gen(0), dtype=dtype, device=device), probe, dtype)
    if target.dim == 2:
        on(target.grid(5), probe, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_fit_field_on_device(dtype, device):
    target = F.make_target("convex-2d")  # stays on the CPU: the model decides where data live
    net = MODELS["mgradnet-c"](2, width=7, depth=2).to(device=device, dtype=dtype)
    probe = torch.empty(0, device=device)
    # fresh samples from a device generator, fixed training set from a CPU generator, default
    for gen, n_train in ((torch.Generator(device=device).manual_seed(0), None), (cpu_gen(0), 64)):
        res = F.fit_field(
            net, target, max_iter=4, batch_size=16, n_val=32, n_train=n_train, random_state=gen
        )
        assert math.isfinite(res.val_db) and res.n_steps == 4
    res = F.fit_field(net, target, max_iter=2, batch_size=16, n_val=32, keep_best=True)
    assert math.isfinite(res.val_db)
    for p in res.model.parameters():
        assert p.device == probe.device and p.dtype == dtype
    x = target.sample(8, cpu_gen(1)).to(device, dtype)
    on(net(x), x)


def test_select_lr_and_fit_affine_on_device(device):
    target = F.make_target("polymax", dim=3)
    probe = torch.empty(0, device=device)
    res = F.select_lr(
        lambda: MGradNetM(3, width=4, num_modules=2).to(device),
        target,
        lrs=[1e-2, 1e-3],
        max_iter=3,
        batch_size=16,
        n_val=32,
    )
    assert res.best_lr in (1e-2, 1e-3)
    assert all(p.device == probe.device for p in res.best.model.parameters())
    ref = F.fit_affine(target, 512, cpu_gen(0))  # CPU target
    lin = F.fit_affine(copy.deepcopy(target).to(device), 512, cpu_gen(0))
    assert lin.weight.device == probe.device and lin.weight.dtype == torch.float32
    close(lin.weight, ref.weight, torch.float32)
    close(lin.bias, ref.bias, torch.float32)
    lin_dev = F.fit_affine(copy.deepcopy(target).to(device), 512)  # samples on the device
    assert lin_dev.weight.device == probe.device


def test_field_metrics_on_device(device):
    target = F.make_target("nonconvex-2d")
    x = target.sample(32, cpu_gen(0)).to(device, torch.float64)
    pred = target(x) + 0.1
    sq = on(F.squared_error(pred, target(x)), x)
    close(sq, torch.tensor(0.02, dtype=torch.float64), torch.float64)
    assert F.error_db(pred, target(x)) == pytest.approx(10 * math.log10(0.02), abs=1e-9)
    assert F.field_error_db(lambda z: target(z) + 0.1, target, x) == pytest.approx(
        10 * math.log10(0.02), abs=1e-9
    )
    err = on(F.error_map(lambda z: target(z) + 0.1, target, x), x)
    close(err, torch.full((32,), math.sqrt(0.02), dtype=torch.float64), torch.float64)


# ---------------------------------------------------------------------------------------------
# ot_gradnets.core.hamiltonian
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", sorted(H.SYSTEMS))
def test_systems_on_device(name, dtype, device):
    system = H.make_system(name)
    s64 = system.sample_initial_states(3, cpu_gen(0))
    s = s64.to(device, dtype)
    close(on(system.grad_hamiltonian(s), s), system.grad_hamiltonian(s64), dtype, scale=10.0)
    close(on(system.hamiltonian(s), s), system.hamiltonian(s64), dtype, scale=10.0)
    close(on(system.time_derivative(s), s), system.time_derivative(s64), dtype, scale=10.0)
    # ground truth is computed in float64 on the CPU and returned on the states' device
    t = torch.linspace(0.0, 0.1, 3, dtype=torch.float64)
    traj = on(system.trajectories(s, t), s, torch.float64)
    assert traj.shape == (3, 3, system.dim)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_dataset_and_helpers_on_device(dtype, device):
    data = H.make_dataset(
        "mass-spring", n_trajectories=4, n_points=5, noise_std=0.1, dtype=dtype, device=device
    )
    probe = torch.empty(0, device=device)
    for name in (
        "t",
        "train_trajectories",
        "test_trajectories",
        "train_states",
        "train_derivatives",
        "test_states",
        "test_derivatives",
    ):
        on(getattr(data, name), probe, dtype)
    j = on(H.symplectic_matrix(2, dtype=dtype, device=device), probe, dtype)
    g = randn((3, 4), device, dtype)
    close(on(H.apply_j(g), g), g @ j.T, dtype)


HAMILTONIAN_MODELS = ["hnn", "mlp", "gradnet-m", "mgradnet-c+quadratic"]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", HAMILTONIAN_MODELS)
def test_hamiltonian_models_on_device(name, dtype, device):
    torch.manual_seed(0)
    ref = H.make_hamiltonian_model(name, 4, width=6).double()
    model = copy.deepcopy(ref).to(device=device, dtype=dtype)
    s64 = randn((5, 4), "cpu", torch.float64, seed=8)
    s = s64.to(device, dtype)
    close(on(model(s), s), ref(s64), dtype)
    close(on(model.grad_hamiltonian(s), s), ref.grad_hamiltonian(s64), dtype)
    close(on(model.jacobian(s), s), ref.jacobian(s64), dtype)
    if model.is_hamiltonian:
        close(on(model.hamiltonian(s), s), ref.hamiltonian(s64), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("method", sorted(H.INTEGRATORS))
def test_integrators_and_rollout_on_device(method, dtype, device):
    system = H.MassSpring()  # exact flow: a rotation at angular frequency 2
    s0 = system.sample_initial_states(4, cpu_gen(0)).to(device, dtype)
    t = torch.linspace(0.0, 0.2, 3, dtype=torch.float64)
    truth = system.trajectories(s0, t).to(dtype)
    kwargs = {"rtol": 1e-5, "atol": 1e-6} if method == "rk45" else {"step_size": 0.01}
    out = on(H.integrate(system.grad_hamiltonian, s0, t, method=method, **kwargs), s0)
    assert out.shape == (4, 3, 2)
    assert float((out - truth).abs().max()) < 1e-3  # order >= 2 at h = 0.01 over t = 0.2
    torch.manual_seed(0)
    model = H.make_hamiltonian_model("hnn", 2, width=6).to(device=device, dtype=dtype)
    on(H.rollout(model, s0, t, method=method, **kwargs), s0)
    on(H.rollout(system, s0, t, method=method, **kwargs), s0)


def test_hamiltonian_training_and_metrics_on_device(device):
    data = H.make_dataset("mass-spring", n_trajectories=6, n_points=8, noise_std=0.0, device=device)
    torch.manual_seed(0)
    model = H.make_hamiltonian_model("gradnet-m", 2, width=8, num_modules=2).to(device)
    res = H.fit_dynamics(
        model,
        data.train_states,
        data.train_derivatives,
        data.test_states,
        data.test_derivatives,
        max_iter=4,
        batch_size=8,
        validation_interval=2,
        random_state=cpu_gen(0),
    )
    assert res.steps == [0, 2, 4] and all(math.isfinite(v) for v in res.test_db)
    x = data.test_states
    pred = on(H.predict_field(model, x), x)
    assert math.isfinite(H.derivative_error_db(pred, data.test_derivatives))
    assert math.isfinite(H.derivative_mse(pred, data.test_derivatives))
    roll = on(H.rollout(model, data.test_trajectories[:, 0], data.t, step_size=0.05), x)
    truth = data.test_trajectories
    energy = data.system.hamiltonian
    assert math.isfinite(H.energy_mse(energy, roll, truth))
    drift = on(H.relative_energy_drift(energy, truth), x)
    assert float(drift.max()) < 1e-5  # the exact flow conserves H (float32 rounding)
    on(H.trajectory_error(roll, truth), x)


def test_hamiltonian_validation_split_and_select_lr_on_device(device):
    data = H.make_dataset("mass-spring", n_trajectories=8, n_points=5, noise_std=0.0, device=device)
    probe = torch.empty(0, device=device)
    val = H.split_validation(data, 0.25)
    for name in ("train_trajectories", "test_trajectories", "train_states", "test_derivatives"):
        on(getattr(val, name), probe, torch.float32)

    def make_model():
        return H.make_hamiltonian_model("gradnet-m", 2, width=8, num_modules=2).to(device)

    sel = H.select_lr(
        make_model, data, lrs=[1e-3, 1e-2], max_iter=4, batch_size=8, validation_interval=2
    )
    assert sel.lr in (1e-3, 1e-2) and all(math.isfinite(v) for v in sel.val_db)

"""PropTorch: eager and c against PropJax (forward and gradients), gradcheck, the impl/backend
rules, the fallback warnings and the DLPack crossing on the CPU."""

import os
import subprocess
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import sweep.backend.compiled as core  # noqa: E402
from helpers import FIXED_PML, prop, rel, small_problem  # noqa: E402
from sweep.equations import Acoustic  # noqa: E402
from sweep.propagator.options import BoundaryOptions, CkptOptions, CUDAOptions, EagerOptions, MemoryOptions  # noqa: E402
from sweep.propagator.torch import PropTorch  # noqa: E402
from sweep.propagator.torch_compiled import to_jax, to_torch  # noqa: E402

IMPLS = ["eager", pytest.param("c", marks=pytest.mark.needs_core)]


def tprop(order=4, impl="eager", **kw):
    return PropTorch(Acoustic(spatial_order=order), impl=impl, **kw)


def misfit_jax(p, w, src, rec, vp, obs):
    return 0.5 * jnp.sum((p(w, src, rec, [vp]) - obs) ** 2)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("ndim,order,fs", [(2, 4, False), (2, 8, True), (3, 2, True)])
def test_forward_equals_propjax(impl, ndim, order, fs):
    vp, w, src, rec, kw = small_problem(ndim, order=order, free_surface=fs, nt=25)
    ref = prop(order, "jax", **kw)(w, src, rec, [vp], return_wavefield=True, snapshot_interval=6)
    out = tprop(order, impl, **kw)(torch.tensor(w), torch.tensor(src), torch.tensor(rec), [torch.tensor(vp)], return_wavefield=True, snapshot_interval=6)
    assert len(out) == 3
    for a, b in zip(out, ref):
        assert isinstance(a, torch.Tensor) and a.dtype == torch.float64
        assert tuple(a.shape) == tuple(b.shape)
        assert rel(a.numpy(), b) < 1e-12


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("fs", [False, True])
def test_gradients_equal_propjax(impl, fs):
    vp, w, src, rec, kw = small_problem(2, order=4, free_surface=fs, nt=30)
    kw["pml"] = FIXED_PML
    pj = prop(4, "jax", **kw)
    obs = 0.8 * np.asarray(pj(w, src, rec, [vp * 1.05]))
    gw_ref, gv_ref = jax.grad(lambda w_, v_: misfit_jax(pj, w_, src, rec, v_, obs), argnums=(0, 1))(w, vp)
    vt = torch.tensor(vp, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    out = tprop(4, impl, **kw)(wt, src, rec, [vt])
    (0.5 * ((out - torch.tensor(obs)) ** 2).sum()).backward()
    assert rel(vt.grad.numpy(), gv_ref) < 1e-10
    assert rel(wt.grad.numpy(), gw_ref) < 1e-10


@pytest.mark.parametrize("impl", IMPLS)
def test_per_shot_models_and_wavelets(impl):
    vp, w, src, rec, kw = small_problem(2, order=4, nt=20)
    vps = np.stack([vp, vp[::-1]])
    ws = np.stack([w, 0.5 * w])
    ref = prop(4, "jax", **kw)(ws, src, rec, [vps])
    out = tprop(4, impl, **kw)(torch.tensor(ws), src, rec, [torch.tensor(vps)])
    assert rel(out.numpy(), ref) < 1e-12


@pytest.mark.parametrize("impl", IMPLS)
def test_gradcheck(impl):
    vp, w, src, rec, kw = small_problem(2, nshot=1, order=2, nt=10)
    kw.update(pml=FIXED_PML, abcn=2)
    p = tprop(2, impl, **kw)
    vt = torch.tensor(vp, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w_, v_: p(w_, src, rec, [v_]), (wt, vt), eps=1e-3, atol=1e-9, rtol=1e-6)


def test_numpy_inputs_give_tensors():
    vp, w, src, rec, kw = small_problem(2, order=4, nt=12)
    out = tprop(4, "eager", **kw)(w, src, rec, [vp])
    assert isinstance(out, torch.Tensor) and out.device.type == "cpu"


@pytest.mark.parametrize("impl", IMPLS)
def test_float32(impl):
    vp, w, src, rec, kw = small_problem(2, order=8, nt=30, dtype=np.float32)
    ref = prop(8, "jax", **kw)(w.astype(np.float64), src, rec, [vp.astype(np.float64)])
    out = tprop(8, impl, **kw)(torch.tensor(w), src, rec, [torch.tensor(vp)])
    assert out.dtype == torch.float32
    assert rel(out.numpy(), ref) < 1e-5


# -- eager options and checkpointing ------------------------------------------------------------
def test_eager_checkpointing_gives_the_same_gradient():
    vp, w, src, rec, kw = small_problem(2, order=4, nt=30)
    kw.pop("checkpoint_every")
    grads = []
    for extra in (dict(), dict(use_ckpt=True), dict(use_ckpt=True, ckpt_chunks=4)):
        vt = torch.tensor(vp, requires_grad=True)
        out = tprop(4, "eager", **kw, **extra)(w, src, rec, [vt], snapshot_interval=7)
        (out[0].square().sum() + out[1].square().sum()).backward()
        grads.append(vt.grad.numpy())
    assert rel(grads[1], grads[0]) < 1e-13 and rel(grads[2], grads[0]) < 1e-13


def test_use_compile_runs_the_step_under_torch_compile():
    calls = []

    def counting_backend(gm, example_inputs):
        calls.append(len(gm.graph.nodes))
        return gm.forward

    vp, w, src, rec, kw = small_problem(2, order=4, nt=12)
    opts = EagerOptions(use_compile=True, compile_backend=counting_backend, compile_dynamic=False)
    out = tprop(4, "eager", eager_options=opts, **kw)(w, src, rec, [vp])
    ref = tprop(4, "eager", **kw)(w, src, rec, [vp])
    assert calls, "torch.compile never called the backend"
    assert rel(out.numpy(), ref.numpy()) < 1e-14
    assert opts.compile_kwargs() == dict(mode="default", dynamic=False, fullgraph=False, backend=counting_backend)


def test_store_last_wavefield():
    vp, w, src, rec, kw = small_problem(2, order=4, nt=15)
    p = tprop(4, "eager", eager_options=EagerOptions(store_last_wavefield=True), **kw)
    assert p.last_wavefield is None
    _, final = p(w, src, rec, [vp], return_wavefield=True)
    last = p.last_wavefield
    assert last["step"] == 14 and last["time"] == pytest.approx(14e-3)
    assert set(last) >= {"p", "p_prev", "psi", "zeta"}
    assert torch.equal(p.config.grid.crop(last["p"]), final)
    assert not last["p"].requires_grad


# -- the compiled path's plumbing -----------------------------------------------------------------
@pytest.mark.needs_core
@pytest.mark.parametrize(
    "memory",
    [
        MemoryOptions(strategy="ckpt", ckpt=CkptOptions(mode="chunk", chunks=3)),
        MemoryOptions(strategy="ckpt", ckpt=CkptOptions(mode="recursive", count=2)),
        MemoryOptions(strategy="full"),
        MemoryOptions(strategy="boundary", boundary=BoundaryOptions(storage="cpu", transfer_interval=4)),
    ],
    ids=["chunk", "recursive", "full", "boundary-host"],
)
def test_memory_options_route_to_the_compiled_path(memory):
    vp, w, src, rec, kw = small_problem(2, order=4, nt=30)
    kw.pop("checkpoint_every")
    vt = torch.tensor(vp, requires_grad=True)
    p = tprop(4, "c", cuda_options=CUDAOptions(memory=memory), **kw)
    p(w, src, rec, [vt]).square().sum().backward()
    vt0 = torch.tensor(vp, requires_grad=True)
    tprop(4, "eager", **kw)(w, src, rec, [vt0]).square().sum().backward()
    # Boundary saving is exact off the PML faces (tests/test_memory_strategies.py).
    cut = (slice(1, -1),) * 2 if memory.kind == "boundary" else ...
    assert rel(vt.grad.numpy()[cut], vt0.grad.numpy()[cut]) < 1e-9
    (call,) = p._compiled.values()
    assert call.prop.memory == memory
    if memory.kind == "chunk":
        assert memory.chunk_length(30) == 10


def test_memory_and_checkpoint_every_conflict():
    vp, w, src, rec, kw = small_problem(2, order=4, nt=12)
    with pytest.raises(ValueError, match="give one of them"):
        prop(4, "jax", memory=MemoryOptions(strategy="ckpt", ckpt=CkptOptions(chunks=2)), **kw)


@pytest.mark.needs_core
def test_dlpack_crossing_is_zero_copy_on_cpu():
    t = torch.arange(1024, dtype=torch.float64)
    a = to_jax(t)
    assert a.unsafe_buffer_pointer() == t.data_ptr()
    back = to_torch(a)
    assert back.data_ptr() == a.unsafe_buffer_pointer()


@pytest.mark.needs_core
def test_compiled_path_needs_x64_for_float64():
    vp, w, src, rec, kw = small_problem(2, order=4, nt=12)
    p = tprop(4, "c", **kw)
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(TypeError, match=r"models\[0\]: got float64 data but JAX's x64 mode is off"):
            p(w, src, rec, [vp])
    finally:
        jax.config.update("jax_enable_x64", True)


@pytest.mark.needs_core
def test_inputs_modified_in_place_before_backward_are_caught():
    vp, w, src, rec, kw = small_problem(2, order=4, nt=12)
    vt = torch.tensor(vp, requires_grad=True)
    out = tprop(4, "c", **kw)(w, src, rec, [vt])
    with torch.no_grad():
        vt.mul_(1.01)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


# -- impl resolution, aliases, fallbacks ----------------------------------------------------------
@pytest.fixture
def no_core(monkeypatch):
    monkeypatch.setattr(core, "_load", lambda: (None, "ImportError: simulated missing core"))


def test_fallback_c_warns_and_auto_is_silent(no_core, recwarn):
    vp, w, src, rec, kw = small_problem(2, order=4, nt=12)
    with pytest.warns(UserWarning, match="impl='c' requested but the compiled core is unavailable.*simulated"):
        pc = tprop(4, "c", **kw)
    ref = tprop(4, "eager", **kw)(w, src, rec, [vp])
    assert rel(pc(w, src, rec, [vp]).numpy(), ref.numpy()) == 0
    recwarn.clear()
    pa = tprop(4, None, **kw)
    assert pa.impl_for("cpu") == "eager"
    assert rel(pa(w, src, rec, [vp]).numpy(), ref.numpy()) == 0
    assert not [r for r in recwarn if issubclass(r.category, UserWarning)]


@pytest.mark.needs_core
def test_auto_takes_the_compiled_core_where_it_runs():
    vp, w, src, rec, kw = small_problem(2, order=4, nt=12)
    assert tprop(4, None, **kw).impl_for("cpu") == "c"
    assert tprop(4, "auto", **kw).impl_for("cpu") == "c"


@pytest.mark.parametrize(
    "backend,impl,expected",
    [("torch", None, "auto"), ("torch", "eager", "eager"), ("torch", "c", "c"), ("eager", None, "eager"), ("cuda", None, "c"), ("cuda", "c", "c"), ("eager", "auto", "eager")],
)
def test_backend_aliases(backend, impl, expected):
    _, _, _, _, kw = small_problem(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert PropTorch(Acoustic(4), backend=backend, impl=impl, **kw).impl == expected


@pytest.mark.parametrize(
    "args,exc,pattern",
    [
        (dict(backend="jax"), ValueError, r"backend: expected one of \('torch', 'eager', 'cuda'\)"),
        (dict(impl="jax"), ValueError, r"impl: expected None or one of"),
        (dict(backend="cuda", impl="eager"), ValueError, r"backend='cuda' means impl='c', which contradicts impl='eager'"),
        (dict(impl="eager", cuda_options=CUDAOptions()), ValueError, r"cuda_options: these configure impl 'c'"),
        (dict(impl="c", eager_options=EagerOptions()), ValueError, r"eager_options: these configure impl 'eager'"),
        (dict(eager_options=CUDAOptions()), TypeError, r"eager_options: expected sweep.propagator.options.EagerOptions"),
        (dict(backend_options=EagerOptions(), eager_options=EagerOptions()), ValueError, r"backend_options: a EagerOptions was also given"),
        (dict(backend_options="fast"), TypeError, r"backend_options: expected EagerOptions"),
        (dict(impl="c", use_ckpt=True), ValueError, r"use_ckpt: configures impl 'eager'"),
        (dict(ckpt_chunks=4), ValueError, r"ckpt_chunks: only used with use_ckpt=True"),
        (dict(use_ckpt=True, ckpt_chunks=0), ValueError, r"ckpt_chunks: expected an integer > 0"),
    ],
)
def test_bad_construction(args, exc, pattern):
    _, _, _, _, kw = small_problem(2)
    with pytest.raises(exc, match=pattern):
        PropTorch(Acoustic(4), **{**kw, **args})


def test_backend_options_are_routed_by_type():
    _, _, _, _, kw = small_problem(2)
    opts = EagerOptions(store_last_wavefield=True)
    assert PropTorch(Acoustic(4), impl="eager", backend_options=opts, **kw).eager_options is opts
    copts = CUDAOptions()
    assert PropTorch(Acoustic(4), backend_options=copts, **kw).cuda_options is copts


def test_bad_call_inputs():
    vp, w, src, rec, kw = small_problem(2, order=4, nt=12)
    p = tprop(4, "eager", **kw)
    with pytest.raises(TypeError, match=r"wavelet: dtype float32 differs from the models' dtype float64"):
        p(w.astype(np.float32), src, rec, [vp])
    with pytest.raises(TypeError, match=r"models\[0\] \(vp\): expected a float32 or float64 array, got dtype int64"):
        p(w, src, rec, [torch.ones(vp.shape, dtype=torch.int64)])
    with pytest.raises(TypeError, match=r"sources: expected integer grid indices"):
        p(w, src.astype(float), rec, [vp])
    with pytest.raises(ValueError, match=r"receivers: location .* is outside the model"):
        p(w, src, rec + 100, [vp])
    with pytest.raises(ValueError, match=r"velocities must be finite and > 0"):
        p(w, src, rec, [-vp])
    with pytest.raises(ValueError, match=r"dt: .* is above the stability limit"):
        p(w, src, rec, [vp * 10])
    with pytest.raises(ValueError, match=r"models\[0\] \(vp\): expected shape \(13, 15\)"):
        p(w, src, rec, [vp[:-1]])


# -- inspection -------------------------------------------------------------------------------------
def test_inspection_functions():
    import sweep.backend.jax as bj
    import sweep.backend.torch as bt

    assert bt.is_available() is True and bj.is_available() is True
    assert bt.cuda.is_available() is torch.cuda.is_available()
    assert bt.binding.is_available() is core.is_available()
    for d in (bt.binding.diagnostics(), bj.binding.diagnostics()):
        assert {"available", "import_error", "module_path", "build", "targets"} <= set(d)
    assert bt.binding.diagnostics()["torch"] == torch.__version__


def test_inspection_with_a_missing_core_never_raises(no_core):
    import sweep.backend.jax as bj
    import sweep.backend.torch as bt

    assert bt.binding.is_available() is False and bj.binding.is_available() is False
    d = bt.binding.diagnostics()
    assert d["available"] is False and "simulated" in d["import_error"]
    assert bj.binding.diagnostics()["import_error"] == d["import_error"]


def test_importing_proptorch_stops_jax_preallocating_gpu_memory():
    code = (
        "import os; import sweep.propagator.torch; "
        "print(os.environ.get('XLA_PYTHON_CLIENT_PREALLOCATE'))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("XLA_PYTHON_CLIENT")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "false"
    env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "true"  # an explicit user choice wins
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "true"

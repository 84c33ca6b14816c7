"""GPU (CUDA) kernels against the CPU kernels and the reference. Run on a machine with a CUDA
device: `python3 -m pytest -m gpu` (they are deselected by default)."""

import os
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import FIXED_PML, green_2d, prop, rel, ricker, call_variants_vs_plain, small_problem

pytestmark = [pytest.mark.gpu, pytest.mark.needs_core]


def _gpu():
    try:
        return jax.devices("gpu")[0]
    except RuntimeError:
        pytest.skip("no GPU backend")


def _cpu():
    return jax.devices("cpu")[0]


def _run(device, fn, *args):
    with jax.default_device(device):
        out = fn(*[jax.device_put(a, device) for a in args])
        return jax.tree_util.tree_map(np.asarray, out)


CASES = [(2, 2, False), (2, 4, True), (2, 8, False), (2, 8, True), (3, 4, True), (3, 8, False)]


@pytest.mark.parametrize("rows", ["odd", "vector"])
@pytest.mark.parametrize("ndim,order,fs", CASES)
def test_cuda_equals_cpu_and_reference_float64(ndim, order, fs, rows):
    _compare_float64(ndim, order, fs, rows=rows)


@pytest.mark.parametrize("ndim", [2, 3])
def test_cuda_without_pml_equals_cpu_and_reference(ndim):
    # No PML and no free surface: no frame kernel, so the receivers are recorded by their own
    # per-step kernel instead of during the next step.
    _compare_float64(ndim, 4, False, abcn=0)


def _compare_float64(ndim, order, fs, rows="odd", **over):
    gpu = _gpu()
    vp, w, src, rec, kw = small_problem(ndim, order=order, free_surface=fs, nt=31, rows=rows)
    kw.update(over)
    pc, pj = prop(order, "c", **kw), prop(order, "jax", **kw)
    assert pc.impl == "c"
    obs = 0.7 * np.asarray(pj(w, src, rec, [vp]))

    def f(p):
        def fn(vp, w):
            r, fin = p(w, src, rec, [vp], return_wavefield=True)
            loss = jnp.sum((r - obs) ** 2) + 1e-2 * jnp.sum(fin**2)
            return (r, fin), jax.grad(lambda v, x: jnp.sum((p(x, src, rec, [v]) - obs) ** 2), argnums=(0, 1))(vp, w), loss

        return fn

    on_gpu = _run(gpu, f(pc), vp, w)
    on_cpu = _run(_cpu(), f(pc), vp, w)
    ref = _run(_cpu(), f(pj), vp, w)
    for a, b in zip(on_gpu[0], ref[0]):
        assert rel(a, b) < 1e-12
    for a, b, c in zip(on_gpu[1], on_cpu[1], ref[1]):
        assert rel(a, b) < 1e-10 and rel(a, c) < 1e-10


@pytest.mark.parametrize("snapshot_interval,K", [(None, 4), (5, 3), (7, 64)])
def test_cuda_partial_chunks_and_snapshots(snapshot_interval, K):
    gpu = _gpu()
    vp, w, src, rec, kw = small_problem(2, order=4, free_surface=True, nt=23)
    kw = dict(kw, checkpoint_every=K)
    vps = np.stack([vp, 1.1 * vp])
    extra = {} if snapshot_interval is None else {"snapshot_interval": snapshot_interval}

    def f(p):
        def fn(v, x):
            out = p(x, src, rec, [v], return_wavefield=True, **extra)
            return out, jax.grad(lambda v: sum(jnp.sum(o**2) for o in p(x, src, rec, [v], return_wavefield=True, **extra)))(v)

        return fn

    a = _run(gpu, f(prop(4, "c", **kw)), vps, w)
    b = _run(_cpu(), f(prop(4, "jax", **kw)), vps, w)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        assert rel(x, y) < 1e-10


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("order,K,nt", [(2, 7, 31), (4, 9, 31), (6, 10, 26), (8, 8, 26)])
def test_cuda_two_step_passes_equal_cpu(order, K, nt, dtype, monkeypatch):
    """The 2D forward's passes of two steps over the box (acoustic_cuda.cu: forward_pass) on a
    grid of several pass tiles each way (128 x 32 cells in float32, 64 x 32 in float64), rows
    padded: sources inside the box, on a tile's edge and by the PML; chunks of K steps, the
    first K % 4 of them single steps, and a last chunk whose runtime count stops among the single
    steps (K 7), after a pass (K 9), inside one (K 10) and inside the first (K 8). Records, the
    final field and (float64) the gradient equal the CPU kernels'. The grid is too small for
    the passes to pay off: SWEEP_CUDA_PASSES=always has them run anyway."""
    monkeypatch.setenv("SWEEP_CUDA_PASSES", "always")
    gpu = _gpu()
    rng = np.random.default_rng(1)
    shape = (140, 330)
    vp = (1800 + 500 * rng.random(shape)).astype(dtype)
    src = np.array([[70, 165], [5, 132], [1, 40]])  # middle; the box's edge, a tile's; by the PML
    rec = np.stack([np.stack([rng.integers([0, 0], shape) for _ in range(5)]) for _ in range(3)])
    w = ricker(nt, 1e-3, 30.0, dtype=dtype)
    p = prop(order, "c", shape=shape, dh=10.0, dt=1e-3, abcn=20, checkpoint_every=K)
    obs = 0.5 * np.asarray(_run(_cpu(), lambda m, x: p(x, src, rec, [m]), vp, w))

    def f(v, x):
        out = p(x, src, rec, [v], return_wavefield=True)
        if dtype != np.float64:
            return out
        return out, jax.grad(lambda v: jnp.sum((p(x, src, rec, [v]) - obs) ** 2))(v)

    a, b = _run(gpu, f, vp, w), _run(_cpu(), f, vp, w)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        assert rel(x, y) < (tol if x.shape != vp.shape else 1e-10), x.shape


@pytest.mark.parametrize("group,passes,fs", [("1", "never", True), ("2", "never", False), ("2", "always", False), ("4", "always", False)])
def test_cuda_shot_groups_equal_cpu(group, passes, fs, monkeypatch):
    """Shots in groups (acoustic_cuda.cu: shot_group), each group all of a chunk's steps before
    the next: SWEEP_CUDA_SHOT_GROUP=1, 2 and 4 on three shots under a vmap over two models (six
    shots, V and dJ/dV per shot; groups of 1, of 2 and of 4 then 2), one step at a time (with a
    free surface) and in the forward's passes, chunks of 9 steps with a partial last one.
    Records, the final field and the gradient equal the CPU kernels' (float64)."""
    monkeypatch.setenv("SWEEP_CUDA_SHOT_GROUP", group)
    monkeypatch.setenv("SWEEP_CUDA_PASSES", passes)
    gpu = _gpu()
    rng = np.random.default_rng(2)
    shape = (140, 330)
    vp = 1800 + 500 * rng.random(shape)
    vps = np.stack([vp, 0.9 * vp])
    src = np.array([[70, 165], [5, 132], [1, 40]])
    rec = np.stack([np.stack([rng.integers([1, 0], shape) for _ in range(5)]) for _ in range(3)])
    w = ricker(31, 1e-3, 30.0)
    p = prop(8, "c", shape=shape, dh=10.0, dt=1e-3, abcn=20, checkpoint_every=9, free_surface=fs)
    obs = 0.5 * np.asarray(_run(_cpu(), lambda m, x: p(x, src, rec, [m]), vp, w))

    def f(v, x):
        fwd = jax.vmap(lambda m: p(x, src, rec, [m], return_wavefield=True))(v)
        loss = lambda v: jnp.sum((jax.vmap(lambda m: p(x, src, rec, [m]))(v) - obs) ** 2)  # noqa: E731
        return fwd, jax.grad(loss)(v)

    a, b = _run(gpu, f, vps, w), _run(_cpu(), f, vps, w)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        assert rel(x, y) < (1e-12 if x.shape != vps.shape else 1e-10), x.shape


def test_cuda_shot_group_switch_rejects_bad_values(monkeypatch):
    gpu = _gpu()
    vp, w, src, rec, kw = small_problem(2, order=4, nshot=2)
    p = prop(4, "c", **kw)
    for bad in ["0", "two", "-1"]:
        monkeypatch.setenv("SWEEP_CUDA_SHOT_GROUP", bad)
        with pytest.raises(Exception, match="SWEEP_CUDA_SHOT_GROUP: expected a positive integer"):
            _run(gpu, lambda v, x: p(x, src, rec, [v]), vp, w)


@pytest.mark.parametrize("rows", ["odd", "vector"])
@pytest.mark.parametrize("ndim", [2, 3])
def test_cuda_float32_matches_float64(ndim, rows):
    gpu = _gpu()
    vp, w, src, rec, kw = small_problem(ndim, order=8, rows=rows)
    kw = dict(kw, pml=FIXED_PML)
    fn = lambda p: (lambda v, x: (p(x, src, rec, [v]), jax.grad(lambda v: jnp.sum(p(x, src, rec, [v]) ** 2))(v)))  # noqa: E731
    a = _run(gpu, fn(prop(8, "c", **kw)), vp.astype(np.float32), w.astype(np.float32))
    b = _run(_cpu(), fn(prop(8, "jax", **kw)), vp, w)
    assert rel(a[0], b[0]) < 1e-5 and rel(a[1], b[1]) < 1e-4


@pytest.mark.parametrize("order,rows", [(6, "odd"), (8, "vector")])
def test_cuda_vmap_and_shots(order, rows):
    gpu = _gpu()
    vp, w, src, rec, kw = small_problem(2, order=order, nshot=3, rows=rows)
    p = prop(order, "c", **kw)
    vps = np.stack([vp, 0.9 * vp])
    f = lambda v, x: jax.vmap(lambda m: p(x, src, rec, [m]))(v)  # noqa: E731
    a = _run(gpu, f, vps, w)
    b = _run(_cpu(), f, vps, w)
    assert rel(a, b) < 1e-12
    for k in range(2):
        assert rel(a[k], _run(gpu, lambda v, x: p(x, src, rec, [v]), vps[k], w)) < 1e-13


def test_cuda_green_2d():
    gpu = _gpu()
    v, dh, dt, nt, f0, n = 2000.0, 5.0, 5e-4, 560, 15.0, 130
    vp = np.full((n, n), v)
    src = np.array([[40, 40]])
    offs = [(20, 0), (-28, 28), (60, 0)]
    rec = np.array([[[40 + a, 40 + b] for a, b in offs]])
    w = ricker(nt, dt, f0)
    p = prop(8, "c", shape=(n, n), dh=dh, dt=dt, abcn=20)
    out = _run(gpu, lambda m, x: p(x, src, rec, [m]), vp, w)[0, :, :, 0]
    for k, o in enumerate(offs):
        assert rel(out[:, k], green_2d(w, dt, dh * np.hypot(*o), v)) < 0.02


@pytest.mark.parametrize("rows", ["odd", "vector"])
@pytest.mark.parametrize("ndim", [2, 3])
def test_cuda_memory_strategies(ndim, rows):
    """Full storage, recursive checkpointing (exact) and bf16 storage (stated bound) on CUDA."""
    from sweep.propagator.options import BoundaryOptions, CkptOptions, MemoryOptions

    gpu = _gpu()
    vp, w, src, rec, kw = small_problem(ndim, order=8, nt=31, rows=rows)
    kw.pop("checkpoint_every")
    ref = prop(8, "jax", pml=FIXED_PML, **kw)
    grad = lambda p: lambda v: jax.grad(lambda v: jnp.sum(p(w, src, rec, [v]) ** 2))(v)  # noqa: E731
    g0 = _run(_cpu(), grad(ref), vp)
    exact = [MemoryOptions(strategy="full"), MemoryOptions(strategy="ckpt", ckpt=CkptOptions(mode="recursive", count=2))]
    for memory in exact:
        g = _run(gpu, grad(prop(8, "c", pml=FIXED_PML, memory=memory, **kw)), vp)
        assert rel(g, g0) < 1e-10, memory
    g = _run(gpu, grad(prop(8, "c", pml=FIXED_PML, memory=MemoryOptions(strategy="full", storage_compression="bf16"), **kw)), vp)
    assert 1e-6 < rel(g, g0) < 1e-2
    # boundary saving: the physical cells off the PML faces (time reversal: ~1e-10 in float64)
    boundary = MemoryOptions(strategy="boundary", boundary=BoundaryOptions())
    g = _run(gpu, grad(prop(8, "c", pml=FIXED_PML, memory=boundary, **kw)), vp)
    cut = (slice(1, -1),) * ndim
    assert rel(g[cut], g0[cut]) < 1e-9 and rel(g, g0) < 1e-2
    # ... with its strips in pinned or pageable host memory, or on disk: the same gradient
    with tempfile.TemporaryDirectory() as d:
        for b in (BoundaryOptions(storage="cpu", pinned_memory=True, transfer_interval=4), BoundaryOptions(storage="cpu", transfer_interval=3),
                  BoundaryOptions(storage="disk", directory=d, transfer_interval=5)):
            memory = MemoryOptions(strategy="boundary", boundary=b)
            assert rel(_run(gpu, grad(prop(8, "c", pml=FIXED_PML, memory=memory, **kw)), vp), g) < 1e-14, b
        assert os.listdir(d) == []


@pytest.mark.parametrize("rows", ["odd", "vector"])
@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("K", [1, 2, 3])
def test_cuda_call_variants_equal_plain_calls(ndim, K, rows):
    """As on the CPU: with the scratch handed in (zero but where the kernels write), the kernels
    need not clear it, the W stack is written and read in place at its offset, and every output
    is what the plain calls give; to rounding only, since the two shots add their dJ/dV into one
    model with atomics, in no fixed order; the adjoint adds its dJ/dV into the sum handed in."""
    variants, summed = call_variants_vs_plain(_gpu(), ndim, K, rows)
    assert variants < 1e-14 and summed < 1e-14

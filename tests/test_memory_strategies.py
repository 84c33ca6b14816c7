"""Gradient memory strategies: full storage, chunk and recursive checkpointing give the gradient
of the reference's AD to rounding (float64); bf16 storage and a sampled imaging condition give
their stated errors; the revolve schedule is optimal and valid."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import FIXED_PML, prop, rel, small_problem
from sweep.propagator import revolve
from sweep.propagator.options import BoundaryOptions, CkptOptions, MemoryOptions

IMPLS = ["jax", pytest.param("c", marks=pytest.mark.needs_core)]


def recursive(count, **kw):
    return MemoryOptions(strategy="ckpt", ckpt=CkptOptions(mode="recursive", count=count), **kw)


EXACT = {
    "full": MemoryOptions(strategy="full"),
    "chunk-3": MemoryOptions(strategy="ckpt", ckpt=CkptOptions(mode="chunk", chunks=3)),
    "recursive-1": recursive(1),
    "recursive-3": recursive(3),
    "recursive-many": recursive(100),  # more states than chunks: store every chunk start
}


def gradients(impl, memory, ndim=2, nt=40, free_surface=False, **call):
    vp, w, src, rec, kw = small_problem(ndim, order=4, nt=nt, free_surface=free_surface)
    kw.pop("checkpoint_every")
    p = prop(4, impl, pml=FIXED_PML, memory=memory, **kw)
    loss = lambda v, x: jnp.sum(p(x, src, rec, [v], **call) ** 2)  # noqa: E731
    return jax.jit(jax.grad(loss, argnums=(0, 1)))(vp, w)


@pytest.fixture(scope="module")
def reference():
    """JAX's own AD of the reference (no hand-written backward)."""
    return {key: gradients("jax", None, *key) for key in [(2, 40, False), (2, 40, True), (3, 20, False)]}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", EXACT)
def test_exact_strategies_equal_the_reference_gradient(impl, name, reference):
    for ndim, nt, fs in [(2, 40, False), (2, 40, True)] + ([(3, 20, False)] if name in ("full", "recursive-3") else []):
        gv, gw = gradients(impl, EXACT[name], ndim, nt, fs)
        rv, rw = reference[(ndim, nt, fs)]
        assert rel(gv, rv) < 1e-12, (ndim, fs)
        assert rel(gw, rw) < 1e-12, (ndim, fs)


@pytest.mark.parametrize("impl", IMPLS)
def test_recursive_with_snapshots_and_callbacks(impl):
    """Snapshot cotangents and backward callbacks at segment starts reach the recursive walk."""
    vp, w, src, rec, kw = small_problem(2, order=4, nt=31)
    kw.pop("checkpoint_every")
    seen = {}

    def loss(memory, log):
        p = prop(4, impl, pml=FIXED_PML, memory=memory, **kw)

        def f(v):
            d, snaps = p(w, src, rec, [v], snapshot_interval=6, backward_callback=log, callback_frequency=6)
            return jnp.sum(d**2) + jnp.sum(snaps**3)

        return jax.grad(f)(vp)

    def logger(key):
        def log(state):
            seen.setdefault(key, []).append((state.step, np.array(state.gradient())))

        return log

    g0 = loss(None, logger("chunk"))
    g1 = loss(recursive(2), logger("recursive"))
    assert rel(g1, g0) < 1e-12
    assert [s for s, _ in seen["recursive"]] == [s for s, _ in seen["chunk"]] == [30, 24, 18, 12, 6, 0]
    for (_, a), (_, b) in zip(seen["recursive"], seen["chunk"]):
        assert rel(a, b) < 1e-12


@pytest.mark.needs_core
def test_vmap_over_models_with_recursive_and_full():
    vp, w, src, rec, kw = small_problem(2, order=4, nt=30)
    kw.pop("checkpoint_every")
    vps = np.stack([vp, vp * 1.1])
    out = {}
    for name in ("full", "recursive-3"):
        p = prop(4, "c", pml=FIXED_PML, memory=EXACT[name], **kw)
        out[name] = jax.vmap(jax.grad(lambda v: jnp.sum(p(w, src, rec, [v]) ** 2)))(vps)
    r = prop(4, "jax", pml=FIXED_PML, **kw)
    ref = jax.vmap(jax.grad(lambda v: jnp.sum(r(w, src, rec, [v]) ** 2)))(vps)
    for g in out.values():
        assert rel(g, ref) < 1e-12


# -- approximations: stated errors ---------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("memory", [MemoryOptions(strategy="full", storage_compression="bf16"), recursive(2, storage_compression="bf16"), MemoryOptions(storage_compression="bf16")], ids=["full", "recursive", "chunk"])
def test_bf16_storage_error_is_within_the_stated_bound(impl, memory, reference):
    gv, gw = gradients(impl, memory)
    rv, rw = reference[(2, 40, False)]
    err = rel(gv, rv)
    assert 1e-6 < err < 1e-2  # docs/memory.md: bf16 keeps dJ/dv within 1% (typically ~0.1-0.3%)
    assert rel(gw, rw) < 1e-12  # the adjoint field never reads stored values


def sampled_by_callbacks(k, nt=40):
    """An independent sampled imaging condition from the exact run's backward callbacks: G(n),
    the gradient through steps n..nt-2, gives each step's share G(n) - G(n+1); keep every k-th
    (n = 0 mod k), weighted by k."""
    vp, w, src, rec, kw = small_problem(2, order=4, nt=nt)
    kw.pop("checkpoint_every")
    G = {}
    p = prop(4, "jax", pml=FIXED_PML, **kw)

    def log(state):
        G[state.step] = np.array(state.gradient())

    jax.grad(lambda v: jnp.sum(p(w, src, rec, [v], backward_callback=log) ** 2))(vp)
    G[nt - 1] = G.get(nt - 1, 0 * G[0])  # no step after the last sample
    return k * sum(G[n] - G[n + 1] for n in range(0, nt - 1, k))


@pytest.mark.parametrize("impl", IMPLS)
def test_sampled_imaging_condition_is_one_approximation_for_every_strategy(impl, reference):
    k = 3
    got = {"full": gradients(impl, MemoryOptions(strategy="full", model_gradient_sampling_interval=k))[0]}
    got["recursive"] = gradients(impl, recursive(2, model_gradient_sampling_interval=k))[0]
    got["chunk"] = gradients(impl, MemoryOptions(model_gradient_sampling_interval=k))[0]
    base = sampled_by_callbacks(k)
    for g in got.values():
        assert rel(g, base) < 1e-11
    err = rel(base, reference[(2, 40, False)][0])
    assert 1e-6 < err < 5e-2  # docs/memory.md: a few percent for k well below the wavelet's period


def test_sampling_interval_one_is_exact(reference):
    gv, _ = gradients("jax", MemoryOptions(strategy="full", model_gradient_sampling_interval=1))
    assert rel(gv, reference[(2, 40, False)][0]) < 1e-12


# -- the revolve schedule -------------------------------------------------------------------------
def cheapest(n, slots, memo={}):
    """Dynamic program: least unit advances reversing n units with `slots` free states."""
    if n == 1:
        return 0
    if slots == 0:
        return n * (n - 1) // 2
    if (n, slots) not in memo:
        memo[n, slots] = min(m + cheapest(n - m, slots - 1) + cheapest(m, slots) for m in range(1, n))
    return memo[n, slots]


def test_revolve_is_optimal():
    for n in range(1, 70):
        for slots in range(0, 6):
            p = revolve.plan(n, slots)
            assert p.advances == revolve.optimal_advances(n, slots) == cheapest(n, min(slots, n - 1)), (n, slots)


def test_revolve_primal_forward_saves_its_advances():
    """With the primal forward making the first episode's stores, the backward advances that
    much less: exactly the position of the last of them."""
    for n in range(1, 70):
        for slots in range(0, 6):
            p, q = revolve.plan(n, slots, primal=True), revolve.plan(n, slots)
            saved = int(q.store_pos[0, q.nstores[0] - 1]) if q.nstores[0] else 0
            assert p.advances == q.advances - saved and list(p.primal_pos) == list(q.store_pos[0, : q.nstores[0]])
            assert (n > 1 and min(slots, n - 1) > 0) == (saved > 0), (n, slots)


@pytest.mark.parametrize("primal", [False, True])
@pytest.mark.parametrize("n,slots", [(1, 0), (7, 0), (20, 1), (50, 3), (250, 10), (33, 40)])
def test_revolve_plan_runs_correctly(n, slots, primal):
    """Simulate the plan on states that are their own positions: every restore finds the state
    it expects, no slot beyond the budget is used, each unit is reversed once, in order."""
    p = revolve.plan(n, slots, primal=primal)
    mem = dict(zip(p.primal_slot.tolist(), p.primal_pos.tolist()))
    assert all(0 <= s < max(1, min(slots, n - 1)) for s in mem) and len(mem) == len(p.primal_pos)
    assert list(p.unit) == list(range(n - 1, -1, -1))
    for e in range(n):
        r = p.restore_slot[e]
        pos = 0 if r < 0 else mem[r]
        assert pos == p.restore_pos[e]
        for k in range(p.nstores[e]):
            x, s = p.store_pos[e, k], p.store_slot[e, k]
            assert pos < x <= p.unit[e] and 0 <= s < max(1, min(slots, n - 1))
            mem[s] = pos = x
        assert pos <= p.unit[e]


@pytest.mark.needs_core
def test_what_each_strategy_keeps_from_the_forward():
    """jax.vjp's residuals beyond the inputs: recursive keeps its slots (the primal forward
    fills the first episode's), chunk one state per chunk, full one W per step (a field without
    the halo); bf16 (of float64) a quarter."""
    vp, w, src, rec, kw = small_problem(2, order=4, nt=61)
    kw.pop("checkpoint_every")
    grid = prop(4, "c", **kw).grid
    field = src.shape[0] * grid.cells * 8
    w_field = src.shape[0] * int(np.prod(grid.padded)) * 8
    state = (2 + 2 * 2) * field

    def kept(memory):
        p = prop(4, "c", memory=memory, **kw)
        _, vjp_fn = jax.vjp(lambda v: p(w, src, rec, [v]), vp)
        return sum(x.size * x.dtype.itemsize for x in jax.tree_util.tree_leaves(vjp_fn))

    inputs = kept(recursive(3)) - 3 * state
    assert 0 < inputs < 2 * field  # V (shared by the 2 shots), models, profiles, wavelet, indices
    assert kept(recursive(3, storage_compression="bf16")) - inputs == 3 * state // 4
    chunk = lambda **kw: MemoryOptions(strategy="ckpt", ckpt=CkptOptions(mode="chunk", chunks=6), **kw)  # noqa: E731
    assert kept(chunk()) - inputs == 6 * state
    assert kept(chunk(storage_compression="bf16")) - inputs == 6 * state // 4
    p = prop(4, "c", memory=MemoryOptions(strategy="full"), **kw)
    K = p.chunk_length(61)
    assert kept(MemoryOptions(strategy="full")) - inputs == -(-60 // K) * K * w_field  # 60 steps, padded to whole chunks


# -- boundary saving ------------------------------------------------------------------------------
BOUNDARY = MemoryOptions(strategy="boundary", boundary=BoundaryOptions())


def inside(ndim, free_surface):
    """The physical cells not on a face with a PML: their gradient gets nothing from PML cells
    (the model's edge values are copied into the PML)."""
    return (slice(0 if free_surface else 1, -1),) + (slice(1, -1),) * (ndim - 1)


# The backward runs the leapfrog backwards in time, which carries the forward's rounding errors
# along undamped: float64 results agree to ~1e-10 rather than 1e-12 (docs/memory.md).
REVERSED = 1e-9


@pytest.mark.parametrize("impl", IMPLS)
def test_boundary_saving_is_exact_on_the_physical_model(impl, reference):
    for ndim, nt, fs in [(2, 40, False), (2, 40, True), (3, 20, False)]:
        gv, gw = gradients(impl, BOUNDARY, ndim, nt, fs)
        rv, rw = reference[(ndim, nt, fs)]
        cut = inside(ndim, fs)
        assert rel(gv[cut], rv[cut]) < REVERSED, (ndim, fs)
        assert rel(gw, rw) < 1e-12, (ndim, fs)
        # The edge cells miss the PML cells' share (docs/memory.md: small, here ~1e-4).
        assert 1e-8 < rel(gv, rv) < 1e-2, (ndim, fs)


@pytest.mark.needs_core
def test_boundary_saving_kernels_agree_everywhere():
    """The compiled and the reference backward of boundary saving leave out the same share."""
    for ndim, fs in [(2, True), (3, False)]:
        gc = gradients("c", BOUNDARY, ndim, 20, fs)[0]
        gj = gradients("jax", BOUNDARY, ndim, 20, fs)[0]
        assert rel(gc, gj) < REVERSED


@pytest.mark.parametrize("impl", IMPLS)
def test_boundary_saving_with_bf16_sampling_snapshots_and_callbacks(impl, reference):
    rv = reference[(2, 40, False)][0]
    cut = inside(2, False)
    bf16 = MemoryOptions(strategy="boundary", boundary=BoundaryOptions(), storage_compression="bf16")
    gv = gradients(impl, bf16)[0]
    # bf16 strips drive the whole reconstruction: docs/memory.md states 5% (here ~1.2%)
    assert 1e-6 < rel(gv[cut], rv[cut]) < 5e-2
    sampled = MemoryOptions(strategy="boundary", boundary=BoundaryOptions(), model_gradient_sampling_interval=3)
    assert rel(gradients(impl, sampled)[0][cut], sampled_by_callbacks(3)[cut]) < REVERSED

    vp, w, src, rec, kw = small_problem(2, order=4, nt=31)
    kw.pop("checkpoint_every")
    seen = {}

    def loss(memory, key):
        p = prop(4, impl, pml=FIXED_PML, memory=memory, **kw)
        log = lambda state: seen.setdefault(key, []).append((state.step, np.array(state.gradient())))  # noqa: E731

        def f(v):
            d, snaps = p(w, src, rec, [v], snapshot_interval=6, backward_callback=log, callback_frequency=6)
            return jnp.sum(d**2) + jnp.sum(snaps**3)

        return jax.grad(f)(vp)

    g0, g1 = loss(None, "chunk"), loss(BOUNDARY, "boundary")
    assert rel(g1[cut], g0[cut]) < REVERSED
    assert [s for s, _ in seen["boundary"]] == [s for s, _ in seen["chunk"]] == [30, 24, 18, 12, 6, 0]
    for (_, a), (_, b) in zip(seen["boundary"], seen["chunk"]):
        assert rel(a[cut], b[cut]) < REVERSED


def test_boundary_strips_are_what_physical_stencils_read():
    from sweep.grid import Grid
    from sweep.propagator.storage import boundary_cells

    for fs in (False, True):
        grid = Grid((5, 6, 7), abcn=3, half=2, free_surface=fs)
        cells, axes = boundary_cells(grid)
        assert cells.size == axes.size == 2 * (2 * 6 * 7 + 2 * 5 * 7 + 2 * 5 * 6) - (2 * 6 * 7 if fs else 0)
        assert np.unique(cells).size == cells.size and np.unique(axes).size == 3
        z, y, x = np.unravel_index(cells, grid.storage)
        phys = [(c >= lo) & (c < lo + n) for c, lo, n in zip((z, y, x), grid.lo, grid.shape)]
        assert not np.any(phys[0] & phys[1] & phys[2])  # all outside the model
        assert np.all(sum(p.astype(int) for p in phys) == 2)  # beside a face, not an edge or corner

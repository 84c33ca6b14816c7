"""float64: the compiled kernels equal the pure-JAX reference (forward to ~1e-12, gradients of
a misfit to ~1e-10), in 2D and 3D, several orders, with and without a free surface."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import FIXED_PML, prop, rel, call_variants_vs_plain, small_problem

pytestmark = pytest.mark.needs_core

CASES = [(2, 2, False), (2, 4, True), (2, 6, False), (2, 8, True), (3, 2, True), (3, 4, False), (3, 8, True)]


def _pair(order, kw):
    return prop(order, "jax", **kw), prop(order, "c", **kw)


@pytest.mark.parametrize("ndim,order,fs", CASES)
def test_forward_and_gradients_match(ndim, order, fs):
    vp, w, src, rec, kw = small_problem(ndim, order=order, free_surface=fs)
    pj, pc = _pair(order, kw)
    assert (pj.impl, pc.impl) == ("jax", "c")
    rj, fj = pj(w, src, rec, [vp], return_wavefield=True)
    rc, fc = pc(w, src, rec, [vp], return_wavefield=True)
    assert rel(rc, rj) < 1e-12 and rel(fc, fj) < 1e-12

    obs = 0.7 * np.asarray(rj)

    def loss(p, vp, w):
        r, f = p(w, src, rec, [vp], return_wavefield=True)
        return jnp.sum((r - obs) ** 2) + 1e-2 * jnp.sum(f**2)

    gj = jax.grad(loss, argnums=(1, 2))(pj, vp, w)
    gc = jax.grad(loss, argnums=(1, 2))(pc, vp, w)
    for a, b in zip(gc, gj):
        assert np.linalg.norm(b) > 0
        assert rel(a, b) < 1e-10


@pytest.mark.parametrize("snapshot_interval", [1, 5, 12, 29])
def test_snapshots_per_shot_models_and_wavelets(snapshot_interval):
    vp, w, src, rec, kw = small_problem(2, order=4, free_surface=True, nt=29)
    vps = np.stack([vp, 1.1 * vp])
    ws = np.stack([w, -0.5 * w])
    pj, pc = _pair(4, kw)
    outs = [p(ws, src, rec, [vps], return_wavefield=True, snapshot_interval=snapshot_interval) for p in (pj, pc)]
    for a, b in zip(outs[1], outs[0]):
        assert a.shape == b.shape
        assert rel(a, b) < 1e-12
    rec_, final, snaps = outs[1]
    nt = w.shape[0]
    assert snaps.shape == (2, -(-nt // snapshot_interval)) + vp.shape
    # snapshot j is the field at t = j k dt; the last record is the final field at its receivers
    fin = np.asarray(final)
    for b in range(2):
        assert np.allclose(np.asarray(rec_)[b, -1, :, 0], fin[b][tuple(rec[b].T)], rtol=0, atol=0)
    np.testing.assert_array_equal(np.asarray(snaps)[:, 0], 0.0)

    def loss(p, vps, ws):
        r, f, s = p(ws, src, rec, [vps], return_wavefield=True, snapshot_interval=snapshot_interval)
        return jnp.sum(r**2) + jnp.sum(jnp.sin(1e3 * f)) + jnp.sum(s**3)

    gj = jax.grad(loss, argnums=(1, 2))(pj, vps, ws)
    gc = jax.grad(loss, argnums=(1, 2))(pc, vps, ws)
    for a, b in zip(gc, gj):
        assert rel(a, b) < 1e-10


@pytest.mark.parametrize("K", [1, 3, 28, 29, 64])
def test_chunk_length_does_not_change_results(K):
    vp, w, src, rec, kw = small_problem(2, order=8, nt=29)
    kw = dict(kw, checkpoint_every=K, pml=FIXED_PML)
    ref = prop(8, "jax", **dict(kw, checkpoint_every=5))(w, src, rec, [vp])
    for impl in ("jax", "c"):
        p = prop(8, impl, **kw)
        assert rel(p(w, src, rec, [vp]), ref) < 1e-12
        g = jax.grad(lambda v: jnp.sum(p(w, src, rec, [v]) ** 2))(vp)
        g_ref = jax.grad(lambda v: jnp.sum(prop(8, "jax", **kw)(w, src, rec, [v]) ** 2))(vp)
        assert rel(g, g_ref) < 1e-10


def test_float32_matches_float64_reference():
    vp, w, src, rec, kw = small_problem(2, order=8)
    ref = prop(8, "jax", **kw)(w, src, rec, [vp])
    for impl in ("jax", "c"):
        out = prop(8, impl, **kw)(w.astype(np.float32), src, rec, [vp.astype(np.float32)])
        assert out.dtype == jnp.float32
        assert rel(out, ref) < 1e-5


def test_single_time_sample():
    vp, w, src, rec, kw = small_problem(2, nt=1)
    for impl in ("jax", "c"):
        out = prop(4, impl, **kw)(w, src, rec, [vp])
        assert out.shape == (2, 1, 3, 1)
        np.testing.assert_array_equal(out, 0.0)


def test_float32_gradients_match_float64_reference():
    vp, w, src, rec, kw = small_problem(2, order=8)
    kw = dict(kw, pml=FIXED_PML)
    obs = 0.5 * np.asarray(prop(8, "jax", **kw)(w, src, rec, [1.03 * vp]))

    def grads(p, vp, w):
        return jax.grad(lambda v, x: jnp.sum((p(x, src, rec, [v]) - obs.astype(v.dtype)) ** 2), argnums=(0, 1))(vp, w)

    ref = grads(prop(8, "jax", **kw), vp, w)
    for impl in ("jax", "c"):
        got = grads(prop(8, impl, **kw), vp.astype(np.float32), w.astype(np.float32))
        for a, b in zip(got, ref):
            assert a.dtype == jnp.float32
            assert rel(a, b) < 1e-4


def test_duplicate_receivers_and_receiver_on_the_source():
    vp, w, src, rec, kw = small_problem(3, order=4)
    rec = rec.copy()
    rec[0, 1] = rec[0, 0]  # two receivers on one cell
    rec[1, 2] = src[1]  # a receiver on the source cell
    vps = np.stack([vp, 0.8 * vp])  # per-shot 3D models
    pj, pc = _pair(4, kw)
    rj, rc = pj(w, src, rec, [vps]), pc(w, src, rec, [vps])
    assert rel(rc, rj) < 1e-12
    np.testing.assert_array_equal(np.asarray(rc)[0, :, 0], np.asarray(rc)[0, :, 1])
    loss = lambda p: jax.grad(lambda v, x: jnp.sum(jnp.sin(1e9 * p(x, src, rec, [v]))), argnums=(0, 1))(vps, w)  # noqa: E731
    for a, b in zip(loss(pc), loss(pj)):
        assert rel(a, b) < 1e-10


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("K", [1, 2, 3])
def test_call_variants_equal_plain_calls(ndim, K):
    """The calls boundary saving makes (its state and scratch buffers handed to the kernels,
    which then copy and clear nothing) and those of full storage's W stack (written and read in
    place at a step offset, the rest of the stack untouched) give what the plain calls give,
    bit for bit; the adjoint adds its dJ/dV into the sum handed in (to rounding: the order of
    the additions differs)."""
    variants, summed = call_variants_vs_plain(jax.devices("cpu")[0], ndim, K)
    assert variants == 0.0 and summed < 1e-14

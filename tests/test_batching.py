"""B shots at once equal B single-shot runs; vmap over models or wavelets equals a loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import prop, rel, small_problem

IMPLS = ["jax", pytest.param("c", marks=pytest.mark.needs_core)]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("ndim", [2, 3])
def test_shots_equal_single_runs(impl, ndim):
    vp, w, src, rec, kw = small_problem(ndim, nshot=3, order=4)
    p = prop(4, impl, **kw)
    ws = np.stack([w, 2 * w, -w])
    together, fields = p(ws, src, rec, [vp], return_wavefield=True)
    for b in range(3):
        alone, field = p(ws[b : b + 1], src[b : b + 1], rec[b : b + 1], [vp], return_wavefield=True)
        assert rel(together[b], alone[0]) < 1e-13
        assert rel(fields[b], field[0]) < 1e-13


@pytest.mark.parametrize("impl", IMPLS)
def test_vmap_over_models_equals_loop(impl):
    vp, w, src, rec, kw = small_problem(2, order=4)
    p = prop(4, impl, **kw)
    vps = jnp.stack([vp, 0.9 * vp, 1.1 * vp])
    batched = jax.vmap(lambda v: p(w, src, rec, [v]))(vps)
    for k in range(3):
        assert rel(batched[k], p(w, src, rec, [vps[k]])) < 1e-13

    loss = lambda v: jnp.sum(p(w, src, rec, [v]) ** 2)  # noqa: E731
    g_batched = jax.vmap(jax.grad(loss))(vps)
    for k in range(3):
        assert rel(g_batched[k], jax.grad(loss)(vps[k])) < 1e-12


@pytest.mark.parametrize("impl", IMPLS)
def test_vmap_over_wavelets_equals_loop(impl):
    vp, w, src, rec, kw = small_problem(2, order=4)
    p = prop(4, impl, **kw)
    ws = jnp.stack([w, jnp.roll(w, 3), 0.5 * w])
    batched = jax.jit(jax.vmap(lambda x: p(x, src, rec, [vp])))(ws)
    for k in range(3):
        assert rel(batched[k], p(ws[k], src, rec, [vp])) < 1e-13
    # gradient w.r.t. the shared model through a vmap over wavelets
    loss = lambda v: jnp.sum(jax.vmap(lambda x: p(x, src, rec, [v]))(ws) ** 2)  # noqa: E731
    loop = lambda v: sum(jnp.sum(p(ws[k], src, rec, [v]) ** 2) for k in range(3))  # noqa: E731
    assert rel(jax.grad(loss)(vp), jax.grad(loop)(vp)) < 1e-12


@pytest.mark.needs_core
def test_vmap_compiled_equals_vmap_reference():
    vp, w, src, rec, kw = small_problem(2, order=6, free_surface=True)
    vps = jnp.stack([vp, 1.2 * vp])
    ws = jnp.stack([w, -w])
    f = lambda p: jax.vmap(lambda v, x: p(x, src, rec, [v]))(vps, ws)  # noqa: E731
    assert rel(f(prop(6, "c", **kw)), f(prop(6, "jax", **kw))) < 1e-12

"""PropJax in a training loop: jit, eqx.filter_jit, and an optax loop that compiles once."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from helpers import prop, small_problem

IMPLS = ["jax", pytest.param("c", marks=pytest.mark.needs_core)]


@pytest.mark.parametrize("impl", IMPLS)
def test_optax_loop_compiles_once_and_reduces_misfit(impl):
    vp_true, w, src, rec, kw = small_problem(2, order=4, nt=40)
    p = prop(4, impl, **kw)
    obs = p(w, src, rec, [vp_true])
    vp0 = jnp.full_like(vp_true, float(np.mean(vp_true)))
    traces = []

    def loss(vp):
        return jnp.sum((p(w, src, rec, [vp]) - obs) ** 2) / jnp.sum(obs**2)

    opt = optax.adam(5.0)

    @jax.jit
    def step(vp, state):
        traces.append(1)  # runs only while tracing
        value, g = jax.value_and_grad(loss)(vp)
        updates, state = opt.update(g, state)
        return optax.apply_updates(vp, updates), state, value

    vp, state = vp0, opt.init(vp0)
    values = []
    for _ in range(6):
        vp, state, value = step(vp, state)
        values.append(float(value))
    assert len(traces) == 1
    assert values[-1] < values[0]


@pytest.mark.parametrize("impl", IMPLS)
def test_filter_jit_with_the_module_as_argument(impl):
    vp, w, src, rec, kw = small_problem(2, order=4)
    p = prop(4, impl, **kw)

    @eqx.filter_jit
    def run(prop_, vp):
        return prop_(w, src, rec, [vp])

    np.testing.assert_allclose(run(p, vp), p(w, src, rec, [vp]), rtol=1e-13, atol=0)


def test_wavelet_gradient_and_vjp():
    vp, w, src, rec, kw = small_problem(2, order=4)
    p = prop(4, "jax", **kw)
    out, vjp = jax.vjp(lambda x: p(x, src, rec, [vp]), w)
    (gw,) = vjp(jnp.ones_like(out))
    assert gw.shape == w.shape and np.isfinite(np.asarray(gw)).all()
    # the last sample only reaches the field after the last record: no influence
    assert float(gw[-1]) == 0.0 and float(jnp.abs(gw[:-1]).max()) > 0

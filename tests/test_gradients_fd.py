"""Gradients against central finite differences (float64), for the model and the wavelet."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import FIXED_PML, prop, small_problem

IMPLS = ["jax", pytest.param("c", marks=pytest.mark.needs_core)]


def _directional_check(f, x, g, rng, eps):
    d = rng.standard_normal(x.shape)
    fd = (f(x + eps * d) - f(x - eps * d)) / (2 * eps)
    an = float(np.sum(np.asarray(g) * d))
    assert abs(fd - an) <= 1e-6 * abs(an), (fd, an)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("ndim,order,fs", [(2, 4, False), (2, 8, True), (3, 4, True)])
def test_fd_gradient(impl, ndim, order, fs):
    vp, w, src, rec, kw = small_problem(ndim, order=order, free_surface=fs)
    p = prop(order, impl, **dict(kw, pml=FIXED_PML))
    obs = 0.5 * np.asarray(p(w, src, rec, [1.05 * vp]))

    def loss(vp, w):
        return float(jnp.sum((p(w, src, rec, [vp]) - obs) ** 2)) if not isinstance(vp, jax.core.Tracer) else jnp.sum((p(w, src, rec, [vp]) - obs) ** 2)

    gv, gw = jax.grad(loss, argnums=(0, 1))(vp, w)
    rng = np.random.default_rng(1)
    _directional_check(lambda v: loss(v, w), vp, gv, rng, eps=1e-2)
    _directional_check(lambda x: loss(vp, x), w, gw, rng, eps=1e-4)

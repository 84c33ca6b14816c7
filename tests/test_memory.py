"""The default gradient checkpoints: what jax.vjp keeps grows far slower than nt."""

import jax
import numpy as np
import pytest

from helpers import prop, small_problem

IMPLS = ["jax", pytest.param("c", marks=pytest.mark.needs_core)]


def _residual_bytes(p, vp, w, src, rec):
    _, vjp_fn = jax.vjp(lambda v: p(w, src, rec, [v]), vp)
    return sum(x.size * x.dtype.itemsize for x in jax.tree_util.tree_leaves(vjp_fn))


@pytest.mark.parametrize("impl", IMPLS)
def test_gradient_memory_grows_like_sqrt_nt(impl):
    vp, _, src, rec, kw = small_problem(2, order=4)
    kw = dict(kw, checkpoint_every=None)
    p = prop(4, impl, **kw)
    grid = p.grid
    state_bytes = (2 + 2 * grid.ndim) * grid.cells * 8 * src.shape[0]  # one full state, float64
    sizes = {}
    for nt in (100, 1600):
        w = np.zeros(nt)
        w[3] = 1.0
        sizes[nt] = _residual_bytes(p, vp, w, src, rec)
    # storing every step would be ~nt states; checkpointing every ~sqrt(nt) steps is ~sqrt(nt)
    assert sizes[1600] < 0.1 * 1600 * state_bytes
    assert sizes[1600] / sizes[100] < 6.0  # 16x more steps: sqrt gives 4x, linear 16x

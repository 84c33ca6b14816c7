"""The storage grid's rows are padded to whole 16-byte vectors (`Grid.xpad` dead cells past x's
high halo), and the padding is inert: the same records and gradients as an unpadded grid."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sweep.grid
from helpers import prop, rel, small_problem
from sweep.grid import Grid


@pytest.mark.parametrize("half", [1, 2, 3, 4])
@pytest.mark.parametrize("nx", range(9, 13))
def test_rows_are_whole_vectors(nx, half):
    g = Grid((7, nx), 3, half, False)
    row = nx + 2 * (3 + half)
    assert g.storage == (7 + 2 * (3 + half), row + g.xpad)
    assert g.storage[-1] % 4 == 0 and g.xpad == -row % 4
    assert g.end[-1] == row - half and g.halo_hi == (half, half + g.xpad)
    live = g.live_mask
    assert not live[:, g.end[-1] :].any() and live[half:-half, half : g.end[-1]].all()
    m = jnp.asarray(np.arange(7 * nx, dtype=np.float64).reshape(7, nx) + 1)
    padded = np.asarray(g.pad_model(m))
    assert np.array_equal(np.asarray(g.crop(padded)), m) and not padded[:, g.end[-1] :].any()
    # inside the halo: the model, edge values into the PML (as without the padding)
    assert np.array_equal(padded[half:-half, half : g.end[-1]], np.pad(np.asarray(m), 3, mode="edge"))


@pytest.mark.needs_core
@pytest.mark.parametrize("impl", ["jax", "c"])
@pytest.mark.parametrize("ndim", [2, 3])
def test_padding_changes_nothing(monkeypatch, impl, ndim):
    vp, w, src, rec, kw = small_problem(ndim, order=4)

    def run():
        p = prop(4, impl, **kw)

        def loss(vp):
            r = p(w, src, rec, [vp])
            return jnp.sum(r**2), r

        (_, r), g = jax.value_and_grad(loss, has_aux=True)(vp)
        return p.grid.xpad, r, g

    pad, r1, g1 = run()
    # A propagator's fields do not change with the padding: clear the traces of each grid before
    # the other runs (here, and for the tests after this one).
    monkeypatch.setattr(sweep.grid, "_ROW_CELLS", 1)
    jax.clear_caches()
    try:
        nopad, r0, g0 = run()
    finally:
        monkeypatch.undo()
        jax.clear_caches()
    assert pad > 0 and nopad == 0
    assert np.linalg.norm(g0) > 0
    assert rel(r1, r0) < 1e-14 and rel(g1, g0) < 1e-14

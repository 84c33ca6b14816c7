"""Every bad input raises early, naming the argument, the expectation and what was given."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import prop, small_problem
from sweep.equations import Acoustic
from sweep.propagator.jax import PropJax


@pytest.fixture
def setup():
    vp, w, src, rec, kw = small_problem(2, order=4)
    return prop(4, "jax", **kw), vp, w, src, rec


def test_unsupported_order():
    with pytest.raises(ValueError, match=r"spatial_order: expected one of \(2, 4, 6, 8\), got 10"):
        Acoustic(spatial_order=10)


def test_unknown_impl():
    with pytest.raises(ValueError, match=r"impl: expected one of \('auto', 'jax', 'c'\), got 'cuda'"):
        PropJax(Acoustic(4), shape=(20, 20), dh=10.0, dt=1e-3, impl="cuda")


@pytest.mark.parametrize(
    "kw,pattern",
    [
        (dict(shape=(20,)), r"shape: expected \(nz, nx\) or \(nz, ny, nx\), got \(20,\)"),
        (dict(shape=(20, 2)), r"shape: expected integers >= 3"),
        (dict(dh=-1.0), r"dh: expected a finite number > 0, got -1.0"),
        (dict(dt=float("nan")), r"dt: expected a finite number > 0, got nan"),
        (dict(abcn=-2), r"abcn: expected an integer >= 0, got -2"),
        (dict(abcn=2.5), r"abcn: expected an integer >= 0, got 2.5"),
    ],
)
def test_bad_configuration(kw, pattern):
    args = dict(shape=(20, 20), dh=10.0, dt=1e-3)
    args.update(kw)
    with pytest.raises(ValueError, match=pattern):
        PropJax(Acoustic(4), **args)


def test_dt_above_stability_limit_states_largest_stable_dt(setup):
    p, vp, w, src, rec = setup
    fast = np.full_like(vp, 9000.0)
    limit = p.max_stable_dt(9000.0)
    assert limit < p.dt
    with pytest.raises(ValueError, match=rf"dt: 0.001 s is above the stability limit.*is {limit:.6g} s"):
        p(w, src, rec, [fast])


@pytest.mark.parametrize("order", [2, 8])
def test_stated_limit_is_the_real_stability_limit(order, monkeypatch):
    """Just below the stated limit the scheme stays bounded; 5% above it, it blows up."""
    vp, _, src, rec, kw = small_problem(2, order=order, nt=300)
    vmax = 3000.0
    vp = np.full_like(vp, vmax)
    spike = np.zeros(300)
    spike[1] = 1.0  # every wavenumber, the Nyquist mode included
    dt_max = prop(order, "jax", **kw).max_stable_dt(vmax)
    below = prop(order, "jax", **dict(kw, abcn=0, dt=0.99 * dt_max))(spike, src, rec, [vp])
    assert np.all(np.isfinite(below)) and np.max(np.abs(below)) < 10 * np.max(np.abs(below[:, :20]))
    monkeypatch.setattr(PropJax, "_check_physics", lambda self, models: models)
    above = prop(order, "jax", **dict(kw, abcn=0, dt=1.05 * dt_max))(spike, src, rec, [vp])
    assert not np.all(np.abs(np.nan_to_num(above, nan=1e300)) < 1e6 * np.max(np.abs(below)))


@pytest.mark.parametrize(
    "which,value,exc,pattern",
    [
        ("sources", np.array([[3, 4]]), ValueError, r"receivers: expected shape \(1, nrec >= 1, 2\), got \(2, 3, 2\)"),
        ("sources", np.array([[3, 40], [1, 1]]), ValueError, r"sources: location \[3, 40\] at index \(0,\) is outside the model"),
        ("sources", np.array([[3.0, 4.0], [1, 1]]), TypeError, r"sources: expected integer grid indices"),
        ("sources", np.array([3, 4]), ValueError, r"sources: expected shape \(B, 2\), got \(2,\)"),
        ("receivers", np.zeros((2, 3, 3), int), ValueError, r"receivers: expected shape \(2, nrec >= 1, 2\), got \(2, 3, 3\)"),
        ("receivers", np.full((2, 3, 2), -1), ValueError, r"receivers: location \[-1, -1\] at index \(0, 0\) is outside"),
        ("wavelet", np.zeros((3, 30)), ValueError, r"wavelet: expected shape \(nt,\) or \(2, nt\)"),
        ("wavelet", np.zeros(30, np.float32), TypeError, r"wavelet: dtype float32 differs from the models' dtype float64"),
        ("wavelet", np.zeros(30, np.int64), TypeError, r"wavelet: expected a float32 or float64 array, got dtype int64"),
    ],
)
def test_bad_acquisition(setup, which, value, exc, pattern):
    p, vp, w, src, rec = setup
    args = dict(wavelet=w, sources=src, receivers=rec)
    args[which] = value
    with pytest.raises(exc, match=pattern):
        p(args["wavelet"], args["sources"], args["receivers"], [vp])


def test_free_surface_row_rejected_for_sources_and_receivers():
    vp, w, src, rec, kw = small_problem(2, order=4, free_surface=True)
    p = prop(4, "jax", **kw)
    with pytest.raises(ValueError, match=r"sources: location \[0, 3\].*row 0 is the pressure-release surface"):
        p(w, np.array([[0, 3], [2, 2]]), rec, [vp])
    bad_rec = rec.copy()
    bad_rec[1, 2, 0] = 0
    with pytest.raises(ValueError, match=r"receivers: location .* at index \(1, 2\).*pressure-release"):
        p(w, src, bad_rec, [vp])


@pytest.mark.parametrize(
    "models,exc,pattern",
    [
        (lambda vp: vp, TypeError, r"models: expected a list of 1 array\(s\) \['vp'\], got ndarray"),
        (lambda vp: [vp, vp], ValueError, r"models: expected 1 array\(s\) \['vp'\], got 2"),
        (lambda vp: [vp[:-1]], ValueError, r"models\[0\] \(vp\): expected shape \(13, 15\) or \(B, \*\(13, 15\)\), got \(12, 15\)"),
        (lambda vp: [np.stack([vp] * 3)], ValueError, r"models\[0\]: per-shot models need a leading axis of 2 \(the shots\), got 3"),
        (lambda vp: [vp.astype(int)], TypeError, r"models\[0\] \(vp\): expected a float32 or float64 array, got dtype int"),
        (lambda vp: [np.where(vp > 1800, -vp, vp)], ValueError, r"models\[0\] \(vp\): velocities must be finite and > 0"),
        (lambda vp: [np.where(vp > 1800, np.nan, vp)], ValueError, r"models\[0\] \(vp\): velocities must be finite and > 0"),
        (lambda vp: [np.where(vp > 1800, np.inf, vp)], ValueError, r"models\[0\] \(vp\): velocities must be finite and > 0"),
    ],
)
def test_bad_models(setup, models, exc, pattern):
    p, vp, w, src, rec = setup
    with pytest.raises(exc, match=pattern):
        p(w, src, rec, models(vp))


def test_bad_snapshot_interval(setup):
    p, vp, w, src, rec = setup
    with pytest.raises(ValueError, match=r"snapshot_interval: expected an integer > 0, got 0"):
        p(w, src, rec, [vp], snapshot_interval=0)


def test_float64_without_x64_is_an_error_not_a_silent_cast(setup):
    p, vp, w, src, rec = setup
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(TypeError, match=r"models\[0\] \(vp\): got float64 data but JAX's x64 mode is off"):
            p(w.astype(np.float32), src, rec, [vp])
    finally:
        jax.config.update("jax_enable_x64", True)


def test_traced_inputs_are_checked_at_run_time(setup):
    p, vp, w, src, rec = setup
    f = jax.jit(lambda v, s: p(w, s, rec, [v]))
    f(jnp.asarray(vp), jnp.asarray(src))  # fine
    with pytest.raises(Exception, match=r"velocities must be finite and > 0"):
        jax.block_until_ready(f(jnp.asarray(-vp), jnp.asarray(src)))
    with pytest.raises(Exception, match=r"stability limit"):
        jax.block_until_ready(f(jnp.asarray(10 * vp), jnp.asarray(src)))
    with pytest.raises(Exception, match=r"sources: a location is outside the model"):
        jax.block_until_ready(f(jnp.asarray(vp), jnp.asarray(src) + 100))


@pytest.mark.needs_core
def test_kernels_reject_a_W_out_of_place():
    """The adjoint kernels read W on the storage grid without its halo (Grid::w_index's layout);
    a W shaped like the storage grid is refused with the dims it needs, not read out of place,
    and so is a step offset w0 whose steps lie outside W."""
    from sweep.backend import ffi_chunk
    from sweep.grid import Grid

    grid, order, K, nrec = Grid((8, 8), abcn=2, half=1, free_surface=False), 2, 3, 2
    f = lambda *s: jnp.zeros(s, jnp.float32)  # noqa: E731
    field, aux = f(1, *grid.storage), f(1, 2, *grid.storage)
    adj = (field, field, aux, aux)
    prof, coef = f(2, 3, grid.smax), f(2, 2)
    nx = grid.storage[1]  # 16: 8 cells, 2 PML and 1 halo on each side, 2 dead cells (xpad)
    src, rec = jnp.array([5 * nx + 5], jnp.int32), jnp.array([[3 * nx + 3, 3 * nx + 4]], jnp.int32)
    rbar = f(1, K, nrec)
    V = f(*grid.storage)
    prefix = Acoustic.ffi_prefix
    ffi_chunk.adjoint(prefix, grid, order, adj, V, prof, coef, f(1, K, *grid.padded), rbar, src, rec, K, V)
    with pytest.raises(Exception, match=r"W: core dims must be \(3, 12, 12\): steps \(at least the call's\), then the storage grid without its halo"):
        jax.block_until_ready(ffi_chunk.adjoint(prefix, grid, order, adj, V, prof, coef, f(1, K, *grid.storage), rbar, src, rec, K, V))
    # A W stack: the call's K steps at w0 must lie in it (the CPU kernels check; the GPU
    # kernels read w0 on the device and leave it to the caller).
    ffi_chunk.adjoint(prefix, grid, order, adj, V, prof, coef, f(1, K + 2, *grid.padded), rbar, src, rec, K, V, w0=2)
    with pytest.raises(Exception, match=r"w0: steps 3 \.\. 5 lie outside W's 5 steps"):
        jax.block_until_ready(ffi_chunk.adjoint(prefix, grid, order, adj, V, prof, coef, f(1, K + 2, *grid.padded), rbar, src, rec, K, V, w0=3))
    amp = f(1, K)
    with pytest.raises(Exception, match=r"w0: steps -1 \.\. 1 lie outside W's 5 steps"):
        jax.block_until_ready(ffi_chunk.forward(prefix, grid, order, adj, V, prof, coef, amp, src, rec, K, store=(f(1, K + 2, *grid.padded), -1)))
    with pytest.raises(Exception, match=r"W: core dims must be \(3, 12, 12\)"):
        jax.block_until_ready(ffi_chunk.forward(prefix, grid, order, adj, V, prof, coef, amp, src, rec, K, store=(f(1, K - 1, *grid.padded), 0)))


@pytest.mark.needs_core
def test_kernels_reject_a_row_padding_out_of_range():
    """The kernels take the rows' dead cells (Grid.xpad) as an attribute and refuse any but 0 to
    3, rather than stepping cells of the wrong layout."""
    from sweep.backend import ffi_chunk
    from sweep.grid import Grid

    grid, order, K = Grid((8, 8), abcn=2, half=1, free_surface=False), 2, 3
    f = lambda *s: jnp.zeros(s, jnp.float32)  # noqa: E731
    field, aux = f(1, *grid.storage), f(1, 2, *grid.storage)
    state, V, prof, coef = (field, field, aux, aux), f(*grid.storage), f(2, 3, grid.smax), f(2, 2)
    src, rec, amp = jnp.array([0], jnp.int32), jnp.array([[0]], jnp.int32), f(1, K)
    ffi_chunk.forward(Acoustic.ffi_prefix, grid, order, state, V, prof, coef, amp, src, rec, K)
    grid.xpad = 5
    with pytest.raises(Exception, match="xpad must be 0 to 3"):
        jax.block_until_ready(ffi_chunk.forward(Acoustic.ffi_prefix, grid, order, state, V, prof, coef, amp, src, rec, K))

"""Small problems and analytic solutions shared by the tests."""

import numpy as np
import scipy.special

from sweep.equations import Acoustic
from sweep.pml import CPML
from sweep.propagator.jax import PropJax


def ricker(nt, dt, freq, delay=None, dtype=np.float64):
    t = np.arange(nt) * dt - (1.5 / freq if delay is None else delay)
    a = (np.pi * freq * t) ** 2
    return ((1 - 2 * a) * np.exp(-a)).astype(dtype)


def green_2d(wavelet, dt, r, v):
    """p for p_tt = v^2 lap p + s(t) delta(x) in 2D: P = S (-i/4) H0^(2)(w r / v) / v^2."""
    nt = wavelet.shape[-1]
    n = 8 * nt
    S = np.fft.rfft(wavelet, n)
    w = 2 * np.pi * np.fft.rfftfreq(n, dt)
    G = np.zeros_like(S)
    G[1:] = -0.25j * scipy.special.hankel2(0, w[1:] * r / v) / v**2
    return np.fft.irfft(S * G, n)[:nt]


def green_3d(nt, dt, freq, r, v):
    """p = s(t - r/v) / (4 pi v^2 r) for a Ricker s."""
    t = np.arange(nt) * dt - r / v
    return ricker_at(t, freq) / (4 * np.pi * v**2 * r)


def ricker_at(t, freq):
    a = (np.pi * freq * (t - 1.5 / freq)) ** 2
    return (1 - 2 * a) * np.exp(-a)


def rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    diff, ref = np.linalg.norm(a - b), np.linalg.norm(b)
    return float(diff / ref) if ref > 0 else float(diff)


# Model shapes whose rows (x: the model, 4 PML cells and the halo on each side) the grid pads
# with dead cells to whole 16-byte vectors ("odd"), or for orders 4 and 8 need none ("vector").
# The CUDA kernels step both by vector.
SHAPES = {"odd": {2: (13, 15), 3: (9, 10, 11)}, "vector": {2: (13, 16), 3: (9, 10, 12)}}


def small_problem(ndim=2, nshot=2, nt=30, order=4, free_surface=False, seed=0, dtype=np.float64, rows="odd"):
    """A random smooth-ish model with two shots and a few receivers each (`rows`: SHAPES)."""
    rng = np.random.default_rng(seed)
    shape = SHAPES[rows][ndim]
    vp = (1500 + 600 * rng.random(shape)).astype(dtype)
    z0 = 1 if free_surface else 0
    src = np.stack([rng.integers([max(z0, 1)] + [1] * (ndim - 1), np.array(shape) - 1) for _ in range(nshot)])
    rec = np.stack([np.stack([rng.integers([z0] + [0] * (ndim - 1), shape) for _ in range(3)]) for _ in range(nshot)])
    wav = ricker(nt, 1e-3, 40.0, dtype=dtype)
    kw = dict(shape=shape, dh=10.0, dt=1e-3, abcn=4, free_surface=free_surface, checkpoint_every=7)
    return vp, wav, src, rec, kw


# Fixed PML parameters, so finite differences do not see the (gradient-free) dependence of the
# default profiles on max(vp) / min(vp).
FIXED_PML = CPML(reflection=1e-3, vmax=2500.0, freq=25.0)


def prop(order=4, impl="jax", **kw):
    return PropJax(Acoustic(spatial_order=order), impl=impl, **kw)


def call_variants_vs_plain(device, ndim, K, rows="odd"):
    """The _scratch calls (the state and zeroed scratch buffers given to the call) and the W
    stack's calls (forward_store into steps 2 .. K + 1 of a stack of K + 3 random steps, the
    adjoint reading them there) against the plain calls on `device`: the largest difference of
    any output (forward_save: state, records, W; adjoint: adjoint state, dJ/dV, dJ/d amp; the
    stack's other steps, which must be left as they were), relative to that output's largest
    value, for K steps from a state 5 steps in; for K = 1 also a physical_only step's field,
    records and W on the physical cells. Also, the same for the adjoint's dJ/dV sum: the
    chunk's own dJ/dV handed in as the sum, against twice it. Returns both."""
    import jax
    import jax.numpy as jnp

    from sweep.backend import ffi_chunk

    vp, wav, src, rec, kw = small_problem(ndim, nt=5 + K, rows=rows)
    p = prop(8, "c", **kw)
    eq, grid, nshot = p.equation, p.grid, src.shape[0]
    V, prof, coef, amp, s, r = p.kernel_operands(jnp.asarray(wav), src, rec, [jnp.asarray(vp)], nshot, np.float64)
    call = (eq.ffi_prefix, grid, 8)
    rng = np.random.default_rng(1)
    stack = jnp.asarray(rng.standard_normal((nshot, K + 3) + grid.padded))
    outside = lambda Ws: jnp.concatenate([Ws[:, :2], Ws[:, K + 2 :]], axis=1)  # noqa: E731
    halo = [(0, 0), (0, 0)] + [(grid.half, hi) for hi in grid.halo_hi]  # W (B, K, *padded) -> storage
    physical = lambda out: (grid.crop(out[0][0]), out[1], grid.crop(jnp.pad(out[2], halo)))  # noqa: E731

    def run():
        state, _ = ffi_chunk.forward(*call, eq.init_state(grid, nshot, jnp.float64), V, prof, coef, amp[:, :5], s, r, 5)
        zeros = lambda x: jnp.zeros_like(x)  # noqa: E731
        copy = lambda tree: tuple(x + 0 for x in tree)  # noqa: E731
        args = (V, prof, coef, amp[:, 5:], s, r, K)
        plain = ffi_chunk.forward(*call, state, *args, save=True)
        given = ffi_chunk.forward(*call, copy(state), *args, save=True, scratch=zeros(state[2]))[:-1]
        W = plain[2]
        adj = (jnp.asarray(rng.standard_normal(state[0].shape)),) * 2 + tuple(zeros(x) for x in state[2:])
        rbar = jnp.asarray(rng.standard_normal((nshot, K, r.shape[-1])))
        plain_a = ffi_chunk.adjoint(*call, adj, V, prof, coef, W, rbar, s, r, K, zeros(V))
        given_a = ffi_chunk.adjoint(*call, copy(adj), V, prof, coef, W, rbar, s, r, K, zeros(V), scratch=(zeros(adj[2]), zeros(adj[3])))[:-1]
        pairs = [((plain, plain_a), (given, given_a))]
        for scratch in (None, zeros(state[2])):
            st, recs, Ws = ffi_chunk.forward(*call, copy(state), *args, store=(stack + 0, 2), scratch=scratch)[:3]
            stored_a = ffi_chunk.adjoint(*call, copy(adj), V, prof, coef, Ws, rbar, s, r, K, zeros(V), w0=2)
            pairs.append(((plain, plain_a, stack), ((st, recs, Ws[:, 2 : K + 2]), stored_a, outside(Ws))))
        if K == 1:
            phys = ffi_chunk.forward(*call, copy(state), *args, save=True, physical_only=True)
            pairs.append((physical(plain), physical(phys)))
        summed = ffi_chunk.adjoint(*call, copy(adj), V, prof, coef, W, rbar, s, r, K, plain_a[1] + 0)[1]
        return tuple(zip(*pairs)), (2 * plain_a[1], summed)

    with jax.default_device(device):
        (a, b), (fresh, summed) = jax.jit(run)()
    a = a[:1] + tuple((x[0], x[1], outside(x[2])) for x in a[1:3]) + a[3:]
    return max(rel(x, y) for x, y in zip(jax.tree_util.tree_leaves(b), jax.tree_util.tree_leaves(a))), rel(summed, fresh)

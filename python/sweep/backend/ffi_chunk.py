"""XLA FFI calls of the chunk kernels (one call = up to K steps of every shot).

Operands are batched as (*shots, *core); `vmap_method="expand_dims"` lets the kernels broadcast
unbatched operands (an unbatched model is shared, not copied)."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from . import compiled


def _attrs(grid, order):
    return dict(
        ndim=np.int64(grid.ndim),
        order=np.int64(order),
        abcn=np.int64(grid.abcn),
        free_surface=bool(grid.free_surface),
        xpad=np.int64(grid.xpad),
    )


def _like(x):
    return jax.ShapeDtypeStruct(x.shape, x.dtype)


def _scratch_aliases(K, scratch_in, scratch_out):
    """`input_output_aliases` of a _scratch call: the four state operands go to the buffers the
    kernels start in and the scratch operands (from operand `scratch_in`) to the results
    `scratch_out` or, for odd K, the other way round (the state then starts in the second buffer
    of each ping-pong pair, so that the last step lands in the results). psi is a pair, and so is
    the adjoint's zeta (two scratch results); the forward keeps zeta in place."""
    pairs = [2, 3][: len(scratch_out)]  # state results paired with scratch results
    if K % 2 == 0:
        return {0: 0, 1: 1, 2: 2, 3: 3} | {scratch_in + i: o for i, o in enumerate(scratch_out)}
    return {0: 1, 1: 0, 3: 3} | dict(zip(pairs, scratch_out)) | {scratch_in + i: o for i, o in enumerate(pairs)}


def _call(target, outs, operands, K, scratch, scratch_out, attrs, aliases):
    """The FFI call of `target`, or with `scratch` (a tuple of buffers) its _scratch target, the
    scratch operands appended and aliased (_scratch_aliases) to the results `scratch_out`.
    `aliases`: further {operand: result} aliases."""
    aliases = dict(aliases or {})
    if scratch is not None:
        target = target + "_scratch"
        aliases |= _scratch_aliases(K, len(operands), scratch_out)
        operands = [*operands, *scratch]
    call = jax.ffi.ffi_call(target, outs, vmap_method="expand_dims", input_output_aliases=aliases)
    return call(*operands, **attrs)


def uninitialized(like):
    """A buffer of `like`'s shape and dtype whose contents are left as the allocator hands
    them over (no fill): for a stack every element of which is written before it is read."""
    compiled.ensure_registered()
    return jax.ffi.ffi_call("sweep_uninitialized", like)()


# The most of a 2D grid's updated cells in the frame (outside the forward's interior box) for
# which the CUDA forward runs two steps per pass. Each pass launches the frame's two steps
# alone, each about a wave of latency-bound blocks, so the box must be large beside it (H100,
# forward, order 8, PML 20: 2D 2000^2 x 4, frame 4.7%, 63.3 -> 55.8 ms; 1400^2 x 4, 6.6%,
# 63.7 -> 61.8 ms; 1000^2 x 4, 9.0%, 32.5 -> 33.2 ms; docs/performance.md). The kernels take
# the passes only where the spare fields are given, and where they fill the device
# (acoustic_cuda.cu, passes_pay_off).
PASS_FRAME_SHARE = 0.08


def spare_fields(grid, K, save=False, physical_only=False):
    """Fields per shot of a forward call's spare result: 2 where the CUDA kernels may run its
    steps two per pass over the interior box (temporal blocking: 2D without a free surface, no W,
    every cell updated, K >= 4, on a GPU backend, a frame of at most PASS_FRAME_SHARE of the
    cells), writing the two new fields beside the two they read; else 0 (an empty result). The
    kernels then decide per call (aligned rows, enough tiles to fill the device).
    SWEEP_CUDA_PASSES=always / never (read here and by the kernels) overrides the frame's share
    and the device's fill, or turns the passes off."""
    mode = os.environ.get("SWEEP_CUDA_PASSES", "auto")
    eligible = grid.ndim == 2 and not grid.free_surface and not save and not physical_only and K >= 4
    if not eligible or mode == "never" or jax.default_backend() != "gpu":
        return 0
    return 2 if mode == "always" or _frame_share(grid) <= PASS_FRAME_SHARE else 0


def _frame_share(grid):
    """The share of the updated cells outside the forward's interior box (`half` cells past the
    PML: acoustic_rows.h, Box)."""
    box = [n - (lo + grid.half if lo else 0) - (hi + grid.half if hi else 0) for n, lo, hi in zip(grid.padded, grid.pml_lo, grid.pml_hi)]
    return 1 - np.prod([max(b, 0) for b in box]) / np.prod(grid.padded)


def forward(prefix, grid, order, state, V, prof, coef, amp, src, rec, nsteps, save=False, scratch=None, store=None, physical_only=False):
    """Advance `state` by `nsteps` (<= K = amp.shape[-1]) steps. Returns (state, records
    (B, K, nrec)) and, with save=True, also W (B, K, *padded): the per-step stencil sums, on
    the storage grid without its halo (no step updates the halo).
    store=(Ws, w0): instead, write them into steps w0 .. w0 + K - 1 of Ws (B, S, *padded), in
    place (the caller must not read Ws again), and return Ws for W; w0 + K <= S is the caller's
    to keep (the GPU kernels read w0 on the device, unchecked).
    physical_only=True: the steps update only the physical model's cells; the PML's keep
    whatever the buffers held (in the fields, psi and zeta: the inputs, or for a _scratch call
    the scratch), and W there is not written. One such step gives the physical cells exactly
    (they read only the PML cells within `half` of the model, which the caller has set); a
    second would read the stale PML. Boundary saving's reverse steps need no more.
    scratch=psi_s (a psi-shaped buffer, zero but where the forward writes psi, as the scratch
    this returns leaves it) gives the call the state's buffers and psi_s to work in (the caller
    must not read them again): nothing is copied or cleared, and the scratch to hand in next
    comes last (for a one-step call, the unchanged input psi)."""
    compiled.ensure_registered()
    p, p_prev, psi, zeta = state
    lead = p.shape[: p.ndim - grid.ndim]
    K, nrec = amp.shape[-1], rec.shape[-1]
    spare = spare_fields(grid, K, save or store is not None, physical_only)
    spare_shape = lead + (spare,) + tuple(grid.storage) if spare else (0,)
    outs = [_like(p), _like(p_prev), _like(psi), _like(zeta), jax.ShapeDtypeStruct(lead + (K, nrec), p.dtype), _like(psi),
            jax.ShapeDtypeStruct(spare_shape, p.dtype)]
    operands = [p, p_prev, psi, zeta, V, prof, coef, amp, src, rec, jnp.asarray(nsteps, jnp.int32)]
    target, aliases = f"{prefix}_forward", {}
    if store is not None:
        Ws, w0 = store
        target, aliases, save = f"{prefix}_forward_store", {len(operands): 7}, True
        operands += [Ws, jnp.asarray(w0, jnp.int32)]
        outs.append(_like(Ws))
    elif save:
        target = f"{prefix}_forward_save"
        outs.append(jax.ShapeDtypeStruct(lead + (K,) + grid.padded, p.dtype))
    attrs = _attrs(grid, order) | dict(physical_only=bool(physical_only))
    res = _call(target, outs, operands, K, None if scratch is None else (scratch,), (5,), attrs, aliases)
    out = (tuple(res[:4]), res[4]) + ((res[7],) if save else ())
    return out if scratch is None else out + (res[5],)


def adjoint(prefix, grid, order, adj, V, prof, coef, W, rbar, src, rec, nsteps, gV, scratch=None, w0=0):
    """Walk one chunk backwards. `adj` = (adjoint of the current field, of the next field, of psi,
    of zeta), the two fields scaled by V (V times the cotangent: kernels/acoustic/acoustic_rows.h);
    the chunk's W are steps w0 .. w0 + K - 1 of `W` (B, S, *padded) (as for `forward`'s store,
    w0 + K <= S is the caller's to keep). Returns (adj, gV plus the chunk's V dJ/dV, dJ/d amp
    (B, K)); `gV` (V's shape) is added to in place (the caller must not read it again).
    scratch=(psi_s, zeta_s): as
    for `forward`, the call works in `adj`'s buffers and these, and returns the scratch pair to
    hand in next last."""
    compiled.ensure_registered()
    X, Y, psi, zeta = adj
    lead = X.shape[: X.ndim - grid.ndim]
    K = rbar.shape[-2]
    outs = [_like(X), _like(Y), _like(psi), _like(zeta), _like(V), jax.ShapeDtypeStruct(lead + (K,), X.dtype), _like(psi), _like(zeta)]
    operands = [X, Y, psi, zeta, V, prof, coef, W, rbar, src, rec, jnp.asarray(nsteps, jnp.int32), jnp.asarray(w0, jnp.int32), gV]
    res = _call(f"{prefix}_adjoint", outs, operands, K, scratch, (6, 7), _attrs(grid, order), {len(operands) - 1: 4})
    out = tuple(res[:4]), res[4], res[5]
    return out if scratch is None else out + ((res[6], res[7]),)

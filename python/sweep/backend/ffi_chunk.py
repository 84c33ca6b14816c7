"""XLA FFI calls of the chunk kernels (one call = up to K steps of every shot).

Operands are batched as (*shots, *core); `vmap_method="expand_dims"` lets the kernels broadcast
unbatched operands (an unbatched model is shared, not copied)."""

from __future__ import annotations

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


def _call(target, outs, operands, K, scratch, scratch_out, grid, order):
    """The FFI call of `target`, or with `scratch` (a tuple of buffers) its _scratch target, the
    scratch operands appended and aliased (_scratch_aliases) to the results `scratch_out`."""
    aliases = {}
    if scratch is not None:
        target, aliases = target + "_scratch", _scratch_aliases(K, len(operands), scratch_out)
        operands = [*operands, *scratch]
    call = jax.ffi.ffi_call(target, outs, vmap_method="expand_dims", input_output_aliases=aliases)
    return call(*operands, **_attrs(grid, order))


def forward(prefix, grid, order, state, V, prof, coef, amp, src, rec, nsteps, save=False, scratch=None):
    """Advance `state` by `nsteps` (<= K = amp.shape[-1]) steps. Returns (state, records
    (B, K, nrec)) and, with save=True, also W (B, K, *padded): the per-step stencil sums, on
    the storage grid without its halo (no step updates the halo).
    scratch=psi_s (a psi-shaped buffer, zero but where the forward writes psi, as the scratch
    this returns leaves it) gives the call the state's buffers and psi_s to work in (the caller
    must not read them again): nothing is copied or cleared, and the scratch to hand in next
    comes last (for a one-step call, the unchanged input psi)."""
    compiled.ensure_registered()
    p, p_prev, psi, zeta = state
    lead = p.shape[: p.ndim - grid.ndim]
    K, nrec = amp.shape[-1], rec.shape[-1]
    outs = [_like(p), _like(p_prev), _like(psi), _like(zeta), jax.ShapeDtypeStruct(lead + (K, nrec), p.dtype), _like(psi)]
    if save:
        outs.append(jax.ShapeDtypeStruct(lead + (K,) + grid.padded, p.dtype))
    target = f"{prefix}_forward_save" if save else f"{prefix}_forward"
    operands = [p, p_prev, psi, zeta, V, prof, coef, amp, src, rec, jnp.asarray(nsteps, jnp.int32)]
    res = _call(target, outs, operands, K, None if scratch is None else (scratch,), (5,), grid, order)
    out = (tuple(res[:4]), res[4]) + ((res[6],) if save else ())
    return out if scratch is None else out + (res[5],)


def adjoint(prefix, grid, order, adj, V, prof, coef, W, rbar, src, rec, nsteps, scratch=None):
    """Walk one chunk backwards. `adj` = (adjoint of the current field, of the next field, of psi,
    of zeta). Returns (adj, dJ/dV of the chunk, dJ/d amp (B, K)). scratch=(psi_s, zeta_s): as
    for `forward`, the call works in `adj`'s buffers and these, and returns the scratch pair to
    hand in next last."""
    compiled.ensure_registered()
    X, Y, psi, zeta = adj
    lead = X.shape[: X.ndim - grid.ndim]
    K = rbar.shape[-2]
    outs = [_like(X), _like(Y), _like(psi), _like(zeta), _like(V), jax.ShapeDtypeStruct(lead + (K,), X.dtype), _like(psi), _like(zeta)]
    operands = [X, Y, psi, zeta, V, prof, coef, W, rbar, src, rec, jnp.asarray(nsteps, jnp.int32)]
    res = _call(f"{prefix}_adjoint", outs, operands, K, scratch, (6, 7), grid, order)
    out = tuple(res[:4]), res[4], res[5]
    return out if scratch is None else out + ((res[6], res[7]),)

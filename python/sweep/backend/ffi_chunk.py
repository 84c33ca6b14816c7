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


def _state_aliases(K, psi_scratch, zeta_scratch=None):
    """`input_output_aliases` that donate the four state operands to the buffers the kernels
    start in (for odd K, the second of each ping-pong pair), so that they copy nothing in."""
    if K % 2 == 0:
        return {0: 0, 1: 1, 2: 2, 3: 3}
    return {0: 1, 1: 0, 2: psi_scratch, 3: 3 if zeta_scratch is None else zeta_scratch}


def forward(prefix, grid, order, state, V, prof, coef, amp, src, rec, nsteps, save=False, donate=False):
    """Advance `state` by `nsteps` (<= K = amp.shape[-1]) steps. Returns (state, records
    (B, K, nrec)) and, with save=True, also W (B, K, *padded): the per-step stencil sums, on
    the storage grid without its halo (no step updates the halo).
    donate=True gives the state's buffers to the call (the caller must not read them again) and
    also returns the psi scratch buffer: for a one-step call, the unchanged input psi."""
    compiled.ensure_registered()
    p, p_prev, psi, zeta = state
    lead = p.shape[: p.ndim - grid.ndim]
    K, nrec = amp.shape[-1], rec.shape[-1]
    outs = [_like(p), _like(p_prev), _like(psi), _like(zeta), jax.ShapeDtypeStruct(lead + (K, nrec), p.dtype), _like(psi)]
    if save:
        outs.append(jax.ShapeDtypeStruct(lead + (K,) + grid.padded, p.dtype))
    target = f"{prefix}_forward_save" if save else f"{prefix}_forward"
    aliases = _state_aliases(K, psi_scratch=5) if donate else {}
    res = jax.ffi.ffi_call(target, outs, vmap_method="expand_dims", input_output_aliases=aliases)(
        p, p_prev, psi, zeta, V, prof, coef, amp, src, rec, jnp.asarray(nsteps, jnp.int32), **_attrs(grid, order)
    )
    out = (tuple(res[:4]), res[4]) + ((res[6],) if save else ())
    return out + (res[5],) if donate else out


def adjoint(prefix, grid, order, adj, V, prof, coef, W, rbar, src, rec, nsteps, donate=False):
    """Walk one chunk backwards. `adj` = (adjoint of the current field, of the next field, of psi,
    of zeta). Returns (adj, dJ/dV of the chunk, dJ/d amp (B, K)). donate=True gives `adj`'s
    buffers to the call."""
    compiled.ensure_registered()
    X, Y, psi, zeta = adj
    lead = X.shape[: X.ndim - grid.ndim]
    K = rbar.shape[-2]
    outs = [_like(X), _like(Y), _like(psi), _like(zeta), _like(V), jax.ShapeDtypeStruct(lead + (K,), X.dtype), _like(psi), _like(zeta)]
    aliases = _state_aliases(K, psi_scratch=6, zeta_scratch=7) if donate else {}
    res = jax.ffi.ffi_call(f"{prefix}_adjoint", outs, vmap_method="expand_dims", input_output_aliases=aliases)(
        X, Y, psi, zeta, V, prof, coef, W, rbar, src, rec, jnp.asarray(nsteps, jnp.int32), **_attrs(grid, order)
    )
    return tuple(res[:4]), res[4], res[5]

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


def forward(prefix, grid, order, state, V, prof, coef, amp, src, rec, nsteps, save=False):
    """Advance `state` by `nsteps` (<= K = amp.shape[-1]) steps. Returns (state, records
    (B, K, nrec)) and, with save=True, also W (B, K, *storage): the per-step stencil sums."""
    compiled.ensure_registered()
    p, p_prev, psi, zeta = state
    lead = p.shape[: p.ndim - grid.ndim]
    K, nrec = amp.shape[-1], rec.shape[-1]
    outs = [_like(p), _like(p_prev), _like(psi), _like(zeta), jax.ShapeDtypeStruct(lead + (K, nrec), p.dtype), _like(psi)]
    if save:
        outs.append(jax.ShapeDtypeStruct(lead + (K,) + grid.storage, p.dtype))
    target = f"{prefix}_forward_save" if save else f"{prefix}_forward"
    res = jax.ffi.ffi_call(target, outs, vmap_method="expand_dims")(
        p, p_prev, psi, zeta, V, prof, coef, amp, src, rec, jnp.asarray(nsteps, jnp.int32), **_attrs(grid, order)
    )
    new_state, records = tuple(res[:4]), res[4]
    return (new_state, records, res[6]) if save else (new_state, records)


def adjoint(prefix, grid, order, adj, V, prof, coef, W, rbar, src, rec, nsteps):
    """Walk one chunk backwards. `adj` = (adjoint of the current field, of the next field, of psi,
    of zeta). Returns (adj, dJ/dV of the chunk, dJ/d amp (B, K))."""
    compiled.ensure_registered()
    X, Y, psi, zeta = adj
    lead = X.shape[: X.ndim - grid.ndim]
    K = rbar.shape[-2]
    outs = [_like(X), _like(Y), _like(psi), _like(zeta), _like(V), jax.ShapeDtypeStruct(lead + (K,), X.dtype), _like(psi), _like(zeta)]
    res = jax.ffi.ffi_call(f"{prefix}_adjoint", outs, vmap_method="expand_dims")(
        X, Y, psi, zeta, V, prof, coef, W, rbar, src, rec, jnp.asarray(nsteps, jnp.int32), **_attrs(grid, order)
    )
    return tuple(res[:4]), res[4], res[5]

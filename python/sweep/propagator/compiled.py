"""impl="c": the schedule run by the compiled chunk kernels, with a hand-written backward.

The forward stores the state at every chunk start. The backward walks the chunks in reverse:
it replays each chunk from its checkpoint (saving the per-step stencil sums W), then runs the
adjoint kernels, which are the exact transpose of the forward steps. Memory: one state per
chunk plus K fields, instead of a state per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp

from ..backend import ffi_chunk
from ..grid import Grid
from . import schedule as sched


@dataclass(frozen=True)
class Config:
    equation: object  # an equation Module (static, hashable)
    grid: Grid
    schedule: sched.Schedule
    snapshots: bool

    @property
    def prefix(self) -> str:
        return self.equation.ffi_prefix

    @property
    def order(self) -> int:
        return self.equation.spatial_order


def _forward_chunk(cfg, V, prof, coef, src, rec):
    def fn(state, amp, nsteps):
        return ffi_chunk.forward(cfg.prefix, cfg.grid, cfg.order, state, V, prof, coef, amp, src, rec, nsteps)

    return fn


def _run(cfg, schedule, V, prof, coef, amp, src, rec, checkpoints):
    amp_chunks = schedule.amp_chunks(amp)
    state0 = cfg.equation.init_state(cfg.grid, amp.shape[0], V.dtype)
    state, recs, starts, saved = sched.run(
        _forward_chunk(cfg, V, prof, coef, src, rec),
        state0,
        amp_chunks,
        schedule.lengths_array(),
        snapshots=cfg.snapshots,
        checkpoints=checkpoints,
    )
    return (schedule.records(recs), state[0], starts), saved


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def propagate(cfg, V, prof, coef, amp, src, rec):
    """amp: (B, nt) source terms. -> (records (B, nt, nrec), final field (B, *storage),
    field at each segment start (nseg, B, *storage) or None)."""
    # Without a gradient nothing is checkpointed: one call per segment (results do not depend
    # on the chunking).
    nt, seg = cfg.schedule.nt, cfg.schedule.seg
    whole = sched.Schedule.make(nt, seg, seg) if cfg.snapshots else sched.Schedule.make(nt, nt)
    return _run(cfg, whole, V, prof, coef, amp, src, rec, checkpoints=False)[0]


def _fwd(cfg, V, prof, coef, amp, src, rec):
    out, saved = _run(cfg, cfg.schedule, V, prof, coef, amp, src, rec, checkpoints=True)
    return out, (saved, V, prof, coef, amp, src, rec)


def _without_surface_row(cfg, u):
    """The free-surface row is held at zero: a cotangent there must not propagate."""
    if not cfg.grid.free_surface:
        return u
    return u.at[:, cfg.grid.half].set(0)


def _bwd(cfg, res, cts):
    saved, V, prof, coef, amp, src, rec = res
    recs_bar, final_bar, starts_bar = cts
    g = cfg.grid
    schedule = cfg.schedule
    amp_chunks, to_chunks = jax.vjp(schedule.amp_chunks, amp)
    nseg, J, B, K = amp_chunks.shape
    _, from_chunks = jax.vjp(schedule.records, jnp.zeros((nseg, J, B, K, rec.shape[-1]), recs_bar.dtype))
    (recs_bar,) = from_chunks(recs_bar)
    X0 = _without_surface_row(cfg, final_bar)
    zero = cfg.equation.init_state(g, X0.shape[0], X0.dtype)
    adj0 = (X0, zero[1], zero[2], zero[3])
    if starts_bar is None:
        starts_bar = jnp.zeros((cfg.schedule.nseg,) + X0.shape, X0.dtype)

    def segment(carry, xs):
        ckpts, amps, ls, rbars, start_bar = xs

        def chunk(carry2, xs2):
            adj, gV = carry2
            ckpt, amp, n, rbar = xs2
            _, _, W = ffi_chunk.forward(cfg.prefix, g, cfg.order, ckpt, V, prof, coef, amp, src, rec, n, save=True)
            adj, gV_chunk, gamp = ffi_chunk.adjoint(cfg.prefix, g, cfg.order, adj, V, prof, coef, W, rbar, src, rec, n)
            return (adj, gV + gV_chunk), gamp

        (adj, gV), gamps = jax.lax.scan(chunk, carry, (ckpts, amps, ls, rbars), reverse=True)
        if cfg.snapshots:
            adj = (adj[0] + _without_surface_row(cfg, start_bar),) + adj[1:]
        return (adj, gV), gamps

    (_, gV), gamps = jax.lax.scan(
        segment,
        (adj0, jnp.zeros_like(V)),
        (saved, amp_chunks, schedule.lengths_array(), recs_bar, starts_bar),
        reverse=True,
    )
    (amp_bar,) = to_chunks(gamps)
    return gV, jnp.zeros_like(prof), jnp.zeros_like(coef), amp_bar, None, None


propagate.defvjp(_fwd, _bwd)

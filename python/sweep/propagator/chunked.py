"""The time loop over the chunk schedule, and its hand-written backward.

A chunk (up to K steps of every shot) is run either by the compiled kernels (XLA custom calls)
or by the equation's reference step (a checkpointed lax.scan): `Config.kernels` is "c" or "jax".

`run` is the plain loop. `propagate` adds a custom VJP: the forward stores the state at every
chunk start; the backward walks the chunks in reverse, replaying each from its checkpoint and
running its adjoint: the compiled adjoint kernels (the exact transpose of the forward steps), or
the reference chunk's JAX VJP. Memory: one state per chunk plus one chunk's worth of steps.
impl "c" always uses `propagate`; the reference uses it only for a backward callback, which
needs the adjoint fields and the gradient so far at segment boundaries (JAX's own AD of `run`
is the independent check of the hand-written backward).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp

from ..arrays import JAX
from ..backend import ffi_chunk
from ..callbacks import Callbacks, invoke, wants_fields
from ..grid import Grid
from . import schedule as sched


@dataclass(frozen=True)
class Config:
    equation: object  # an equation Module (static, hashable)
    grid: Grid
    schedule: sched.Schedule
    snapshots: bool
    kernels: str  # "c" | "jax"
    dt: float
    callbacks: Callbacks | None = None

    @property
    def prefix(self) -> str:
        return self.equation.ffi_prefix

    @property
    def order(self) -> int:
        return self.equation.spatial_order


def model_coefficients(equation, grid, models, dt, xp=JAX):
    """The equation's coefficient field with a shot axis: (1 or B, *storage)."""
    V = equation.coefficients_of_models(grid, models, dt, xp)
    return V if V.ndim > grid.ndim else V[None]


# -- one chunk, forward and backward ------------------------------------------------------------
def _forward_chunk(cfg, V, prof, coef, src, rec):
    """(state, amp (B, K), nsteps) -> (state, records (B, K, nrec))."""
    if cfg.kernels == "c":
        return lambda state, amp, n: ffi_chunk.forward(cfg.prefix, cfg.grid, cfg.order, state, V, prof, coef, amp, src, rec, n)
    return partial(_reference_chunk, cfg.equation, cfg.grid, V, prof, coef, src, rec)


@partial(jax.checkpoint, static_argnums=(0, 1))
def _reference_chunk(eq, grid, V, prof, coef, src, rec, state, amp, nsteps):
    def step(st, xs):
        t, a = xs
        new, r = eq.reference_step(grid, coef, st, V, prof, a, src, rec)
        active = t < nsteps
        st = jax.tree_util.tree_map(lambda u, v: jnp.where(active, u, v), new, st)
        return st, jnp.where(active, r, 0)

    state, recs = jax.lax.scan(step, state, (jnp.arange(amp.shape[-1]), amp.T))
    return state, jnp.swapaxes(recs, 0, 1)


def _adjoint_chunk(cfg, V, prof, coef, src, rec, ckpt, amp, n, adj, rbar):
    """From the chunk's checkpoint and the adjoint state at its end: (adjoint state at its start,
    dJ/dV of the chunk, dJ/d amp (B, K))."""
    if cfg.kernels == "c":
        _, _, W = ffi_chunk.forward(cfg.prefix, cfg.grid, cfg.order, ckpt, V, prof, coef, amp, src, rec, n, save=True)
        return ffi_chunk.adjoint(cfg.prefix, cfg.grid, cfg.order, adj, V, prof, coef, W, rbar, src, rec, n)
    chunk = lambda st, V_, a: _reference_chunk(cfg.equation, cfg.grid, V_, prof, coef, src, rec, st, a, n)  # noqa: E731
    _, vjp = jax.vjp(chunk, ckpt, V, amp)
    return vjp((adj, rbar))


# -- callbacks at segment boundaries --------------------------------------------------------------
def _every(cfg, s, fire):
    """Call `fire(step)` at segment s if its first step is a multiple of the callback frequency."""
    seg, freq = cfg.schedule.seg, cfg.callbacks.frequency
    step = s * seg
    if freq == seg:
        fire(step)
    else:
        jax.lax.cond(step % freq == 0, fire, lambda _: None, step)


def _forward_hook(cfg):
    cb = cfg.callbacks
    if cb is None or cb.forward is None:
        return None
    names = cfg.equation.state_names if wants_fields(cb.forward) else ()

    def host(step, *state):
        invoke(cb, "forward", step, cfg.schedule.nt, cfg.dt, cfg.grid, dict(zip(names, state)))

    return lambda s, state: _every(cfg, s, lambda step: jax.debug.callback(host, step, *state[: len(names)]))


def _backward_hook(cfg, models):
    cb = cfg.callbacks
    if cb is None or cb.backward is None:
        return None
    eq = cfg.equation

    def host(step, field=None, grads=()):
        fields = {} if field is None else {eq.state_names[0]: field}
        invoke(cb, "backward", step, cfg.schedule.nt, cfg.dt, cfg.grid, fields, dict(zip(eq.model_names, grads)))

    def fire(step, adj, gV):
        if not wants_fields(cb.backward):
            return jax.debug.callback(host, step)
        _, vjp = jax.vjp(lambda m: model_coefficients(eq, cfg.grid, m, cfg.dt), models)
        (grads,) = vjp(gV)
        jax.debug.callback(host, step, adj[0], tuple(grads))

    return lambda s, adj, gV: _every(cfg, s, lambda step: fire(step, adj, gV))


# -- the loop -----------------------------------------------------------------------------------
def run(cfg, V, prof, coef, amp, src, rec, schedule=None, checkpoints=False):
    """amp: (B, nt) source terms. -> ((records (B, nt, nrec), final field (B, *storage), field at
    each segment start (nseg, B, *storage) or None), chunk-start states or None)."""
    schedule = schedule or cfg.schedule
    state0 = cfg.equation.init_state(cfg.grid, amp.shape[0], V.dtype)
    state, recs, starts, saved = sched.run(
        _forward_chunk(cfg, V, prof, coef, src, rec),
        state0,
        schedule.amp_chunks(amp),
        schedule.lengths_array(),
        snapshots=cfg.snapshots,
        checkpoints=checkpoints,
        on_segment=_forward_hook(cfg),
    )
    return (schedule.records(recs), state[0], starts), saved


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def propagate(cfg, V, prof, coef, amp, src, rec, models):
    """As `run` (outputs only), differentiable with respect to V, amp (and `models`, through V:
    they are here for the backward callback's gradient)."""
    # Without a gradient nothing is checkpointed: one chunk per segment (results do not depend on
    # the chunking).
    nt, seg = cfg.schedule.nt, cfg.schedule.seg
    segmented = cfg.snapshots or cfg.callbacks is not None
    whole = sched.Schedule.make(nt, seg, seg) if segmented else sched.Schedule.make(nt, nt)
    return run(cfg, V, prof, coef, amp, src, rec, schedule=whole)[0]


def _fwd(cfg, V, prof, coef, amp, src, rec, models):
    out, saved = run(cfg, V, prof, coef, amp, src, rec, checkpoints=True)
    return out, (saved, V, prof, coef, amp, src, rec, models)


def _without_surface_row(cfg, u):
    """The free-surface row is held at zero: a cotangent there must not propagate."""
    if not cfg.grid.free_surface:
        return u
    return u.at[:, cfg.grid.half].set(0)


def _bwd(cfg, res, cts):
    saved, V, prof, coef, amp, src, rec, models = res
    recs_bar, final_bar, starts_bar = cts
    schedule = cfg.schedule
    amp_chunks, to_chunks = jax.vjp(schedule.amp_chunks, amp)
    nseg, J, B, K = amp_chunks.shape
    _, from_chunks = jax.vjp(schedule.records, jnp.zeros((nseg, J, B, K, rec.shape[-1]), recs_bar.dtype))
    (recs_bar,) = from_chunks(recs_bar)
    X0 = _without_surface_row(cfg, final_bar)
    zero = cfg.equation.init_state(cfg.grid, X0.shape[0], X0.dtype)
    adj0 = (X0,) + tuple(zero[1:])
    if starts_bar is None:
        starts_bar = jnp.zeros((nseg,) + X0.shape, X0.dtype)
    adjoint_chunk = partial(_adjoint_chunk, cfg, V, prof, coef, src, rec)
    hook = _backward_hook(cfg, models)

    def segment(carry, xs):
        ckpts, amps, ls, rbars, start_bar, s = xs

        def chunk(carry2, xs2):
            adj, gV = carry2
            ckpt, a, n, rbar = xs2
            adj, gV_chunk, gamp = adjoint_chunk(ckpt, a, n, adj, rbar)
            return (adj, gV + gV_chunk), gamp

        (adj, gV), gamps = jax.lax.scan(chunk, carry, (ckpts, amps, ls, rbars), reverse=True)
        if cfg.snapshots:
            adj = (adj[0] + _without_surface_row(cfg, start_bar),) + adj[1:]
        if hook is not None:
            hook(s, adj, gV)
        return (adj, gV), gamps

    (_, gV), gamps = jax.lax.scan(
        segment,
        (adj0, jnp.zeros_like(V)),
        (saved, amp_chunks, schedule.lengths_array(), recs_bar, starts_bar, jnp.arange(nseg)),
        reverse=True,
    )
    (amp_bar,) = to_chunks(gamps)
    models_bar = jax.tree_util.tree_map(jnp.zeros_like, models)
    return gV, jnp.zeros_like(prof), jnp.zeros_like(coef), amp_bar, None, None, models_bar


propagate.defvjp(_fwd, _bwd)

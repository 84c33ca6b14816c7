"""The time loop over the chunk schedule, and its hand-written backward.

A chunk (up to K steps of every shot) is run either by the compiled kernels (XLA custom calls)
or by the equation's reference step (a checkpointed lax.scan): `Config.kernels` is "c" or "jax".

`run` is the plain loop. `propagate` adds a custom VJP whose forward keeps what the memory
strategy (`Config.storage`, see propagator.storage) stores, and whose backward walks the chunks
in reverse, running each chunk's adjoint: the compiled adjoint kernels (the exact transpose of
the forward steps, fed the forward's per-step stencil sums W, replayed or stored), or the
reference chunk's JAX VJP. impl "c" always uses `propagate`; the reference uses it for a memory
strategy or a backward callback, which needs the adjoint fields and the gradient so far at
segment boundaries (JAX's own AD of `run` is the independent check of the hand-written backward).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback

from ..arrays import JAX
from ..backend import ffi_chunk
from ..callbacks import Callbacks, invoke, wants_fields
from ..grid import Grid
from . import revolve
from . import schedule as sched
from .offload import Offload, check_directory
from .storage import Storage, boundary_cells, put_steps, take_steps, weight_steps


@dataclass(frozen=True)
class Config:
    equation: object  # an equation Module (static, hashable)
    grid: Grid
    schedule: sched.Schedule
    snapshots: bool
    kernels: str  # "c" | "jax"
    dt: float
    callbacks: Callbacks | None = None
    storage: Storage = Storage()

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
# Where nothing else reads the state, the compiled calls work in the buffers they are handed
# (ffi_chunk's _scratch calls): the forward's state (p, p_prev, psi, zeta) then carries the
# calls' psi scratch fifth, and the backward carries the adjoint's (psi, zeta) pair (and the
# replay's psi), so that XLA neither copies the calls' results into the loop's buffers nor
# allocates the calls' own (full storage: 8 field-sized copies per chunk, 2D and 3D). Where the
# forward stores states (chunk and recursive checkpointing), XLA copied the stored state twice
# to hand its buffers over; there the forward calls write new buffers, and so do recursive
# checkpointing's replays (in place, its CPU buffer assignment grew by 12-18%). The planner
# counts the buffers by the same two sets.
FORWARD_IN_PLACE = ("full", "boundary")  # and any forward without a gradient
BACKWARD_IN_PLACE = ("chunk", "full")  # boundary saving's reverse steps carry their own


def _in_place(cfg, keep):
    """Whether the compiled forward of `keep` works in the state's buffers (see above)."""
    return cfg.kernels == "c" and (keep == "nothing" or keep in (_KEEP[s] for s in FORWARD_IN_PLACE))


def _forward_chunk(cfg, V, prof, coef, src, rec, in_place=True):
    """(state, amp (B, K), nsteps) -> (state, records (B, K, nrec)). in_place (compiled): the
    call works in the state's buffers and its psi scratch, carried last in the state."""
    if cfg.kernels == "c":

        def chunk(state, amp, n):
            if not in_place:
                return ffi_chunk.forward(cfg.prefix, cfg.grid, cfg.order, state, V, prof, coef, amp, src, rec, n)
            new, recs, fs = ffi_chunk.forward(cfg.prefix, cfg.grid, cfg.order, state[:4], V, prof, coef, amp, src, rec, n, scratch=state[4])
            return new + (fs,), recs

        return chunk
    return partial(_reference_chunk, cfg.equation, cfg.grid, V, prof, coef, src, rec)


def _keeping_chunk(cfg, V, prof, coef, src, rec, keep, stash=None):
    """The chunk function of `sched.run`, keeping for the gradient: "nothing" (also for "slots",
    which `sched.run` itself fills), "states" (the state at the chunk start), "W" (the compiled
    forward's stencil sums of every kept step; with Storage.w_in_place, written into the stack
    that the state carries last) or "strips" (boundary saving: the chunk runs one step at a
    time and hands the strips of each step's starting state, as one group, to `stash`)."""
    st_ = cfg.storage
    call = partial(ffi_chunk.forward, cfg.prefix, cfg.grid, cfg.order)
    if keep == "W" and st_.w_in_place:
        K = cfg.schedule.K

        def chunk(state, amp, n, u):
            state, recs, Ws, fs = call(state[:4], V, prof, coef, amp, src, rec, n, store=(state[5], u * K), scratch=state[4])
            return state + (fs, Ws), recs, None

        return chunk
    if keep == "W":
        sampled = st_.sampled_slots(cfg.schedule)
        idx = None if sampled is None else jnp.asarray(sampled[0])

        def chunk(state, amp, n, u):
            state, recs, W, fs = call(state[:4], V, prof, coef, amp, src, rec, n, save=True, scratch=state[4])
            if idx is not None:
                W = take_steps(W, idx[u], cfg.grid.ndim)
            return state + (fs,), recs, st_.encode(W)

        return chunk
    if keep == "strips":
        return _strips_chunk(cfg, V, prof, coef, src, rec, stash)
    forward = _forward_chunk(cfg, V, prof, coef, src, rec, in_place=_in_place(cfg, keep))

    def chunk(state, amp, n, u):
        new, recs = forward(state, amp, n)
        return new, recs, st_.encode(state if keep == "states" else None)

    return chunk


def _strips_chunk(cfg, V, prof, coef, src, rec, stash):
    """Boundary saving's forward chunk: one step at a time, each step's strips to `stash`."""
    st_ = cfg.storage
    strips = _strips(cfg.grid)
    forward = _forward_chunk(cfg, V, prof, coef, src, rec)

    def one(n, amp):
        def step(st, i):
            kept, active = strips.take(st), (i < n).astype(jnp.int32)
            if cfg.kernels == "c":
                # The strips are taken first, so the call can work in the state's buffers and
                # its psi scratch: nothing is copied or cleared. The barrier keeps XLA from
                # taking them later, together with the next step's (it then copied a field and
                # psi per step to keep them: 3D 400^3, 1.2 of a 1.8 ms step on the H100).
                kept, st = jax.lax.optimization_barrier((kept, st))
            new, r = forward(st, amp[:, i, None], active)
            return new, (r[:, 0], kept)

        return step

    def chunk(state, amp, n, u):
        # Two steps per loop turn: a one-step call swaps the buffers of each ping-pong pair (the
        # fields; psi and its scratch), two swap them back, so that XLA carries the buffers
        # through the loop without copying them.
        state, (recs, kept) = jax.lax.scan(one(n, amp), state, jnp.arange(amp.shape[-1]), unroll=2)
        return state, jnp.swapaxes(recs, 0, 1), stash(st_.encode(kept))

    return chunk


@partial(jax.checkpoint, static_argnums=(0, 1))
def _reference_chunk(eq, grid, V, prof, coef, src, rec, state, amp, nsteps, weights=None):
    """`weights` (K,): scale each step's share of dJ/dV (the sampled imaging condition); the
    values are unchanged, as V_t = V + w_t (V - V) with the second V a constant."""

    def step(st, xs):
        t, a = xs
        Vt = V
        if weights is not None:
            V0 = jax.lax.stop_gradient(V)
            Vt = V0 + weights[t] * (V - V0)
        new, r = eq.reference_step(grid, coef, st, Vt, prof, a, src, rec)
        active = t < nsteps
        st = jax.tree_util.tree_map(lambda u, v: jnp.where(active, u, v), new, st)
        return st, jnp.where(active, r, 0)

    state, recs = jax.lax.scan(step, state, (jnp.arange(amp.shape[-1]), amp.T))
    return state, jnp.swapaxes(recs, 0, 1)


def _adjoint_from_state(cfg, V, prof, coef, src, rec, ckpt, amp, n, adj, gV, rbar, weights, scratch=None):
    """From the chunk's start state and the adjoint state at its end: (adjoint state at its
    start, gV plus dJ/dV of the chunk, dJ/d amp (B, K), scratch). `weights`: (K,) or None (see
    storage). `scratch`: the compiled calls' (forward psi, adjoint (psi, zeta)) buffers, which
    the replay and the adjoint work in, or None (the calls then write new buffers)."""
    if cfg.kernels == "c":
        fs, ascr = scratch or (None, None)
        _, _, W, *fs = ffi_chunk.forward(cfg.prefix, cfg.grid, cfg.order, ckpt, V, prof, coef, amp, src, rec, n, save=True, scratch=fs)
        if weights is not None:
            W = weight_steps(W, weights, cfg.grid.ndim)
        adj, gV, gamp, *ascr = ffi_chunk.adjoint(cfg.prefix, cfg.grid, cfg.order, adj, V, prof, coef, W, rbar, src, rec, n, gV, scratch=ascr)
        return adj, gV, gamp, None if scratch is None else (fs[0], ascr[0])
    chunk = lambda st, V_, a: _reference_chunk(cfg.equation, cfg.grid, V_, prof, coef, src, rec, st, a, n, weights)  # noqa: E731
    _, vjp = jax.vjp(chunk, ckpt, V, amp)
    adj, gV_chunk, gamp = vjp((adj, rbar))
    return adj, gV + gV_chunk, gamp, scratch


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
    """`fire(step, adj, gV, wait=False)`: the backward callback at `step` (through
    jax.debug.callback; with `wait`, through io_callback, returning a token to wait on)."""
    cb = cfg.callbacks
    if cb is None or cb.backward is None:
        return None
    eq = cfg.equation

    def host(step, field=None, grads=()):
        fields = {} if field is None else {eq.state_names[0]: field}
        invoke(cb, "backward", step, cfg.schedule.nt, cfg.dt, cfg.grid, fields, dict(zip(eq.model_names, grads)))

    def fire(step, adj, gV, wait=False):
        args = (step,)
        if wants_fields(cb.backward):
            _, vjp = jax.vjp(lambda m: model_coefficients(eq, cfg.grid, m, cfg.dt), models)
            (grads,) = vjp(gV)
            args = (step, adj[0], tuple(grads))
        if not wait:
            return jax.debug.callback(host, *args)
        return io_callback(lambda *a: np.int32(host(*a) or 0), jax.ShapeDtypeStruct((), jnp.int32), *args)

    return fire


def _unscaled(hook, out_of):
    """The backward hook fed from the backward's form (_adjoint_scaling): it sees the field's
    adjoint and dJ/dV."""
    if hook is None:
        return None
    return lambda step, adj, gV, wait=False: hook(step, (out_of(adj[0]),) + tuple(adj[1:]), out_of(gV), wait)


# -- the loop -----------------------------------------------------------------------------------
def run(cfg, V, prof, coef, amp, src, rec, schedule=None, keep="nothing"):
    """amp: (B, nt) source terms. -> ((records (B, nt, nrec), final field (B, *storage), field at
    each segment start (nseg, B, *storage) or None), what the chunks kept (see _keeping_chunk;
    for "strips", with the final state the backward starts from; "slots": the states that
    recursive checkpointing's plan has the primal forward store, in their slots; "W" with
    Storage.w_in_place: the stack of every step's W, (B, units * K, *padded))."""
    schedule = schedule or cfg.schedule
    stash = None
    if keep == "strips":
        offload = _offload(cfg)
        run_id = offload.begin()
        stash = partial(offload.put, run_id)
    state0 = cfg.equation.init_state(cfg.grid, amp.shape[0], V.dtype)
    if _in_place(cfg, keep):
        state0 += (jnp.zeros_like(state0[2]),)  # the calls' psi scratch
    in_place = keep == "W" and cfg.storage.w_in_place
    if in_place:
        # The W stack, carried so that each chunk call writes its part in place. Left
        # uninitialized: every step a chunk runs is written before its adjoint reads it (zeroing
        # it took 4% of the 2D 1000^2 x 4 gradient on the H100).
        shape = (amp.shape[0], schedule.units * schedule.K) + cfg.grid.padded
        state0 += (ffi_chunk.uninitialized(jax.ShapeDtypeStruct(shape, V.dtype)),)
    slots = _primal_slots(cfg, state0) if keep == "slots" else None
    state, recs, starts, kept = sched.run(
        _keeping_chunk(cfg, V, prof, coef, src, rec, keep, stash),
        state0,
        schedule.amp_chunks(amp),
        schedule.lengths_array(),
        snapshots=cfg.snapshots,
        on_segment=_forward_hook(cfg),
        slots=slots,
    )
    if keep == "strips":
        kept = (kept, state[:2])  # the backward starts from the final state's fields
    if in_place:
        kept = state[5]
    return (schedule.records(recs), state[0], starts), kept


def _revolve_plan(cfg):
    """Recursive checkpointing's plan; its first episode's states are stored by the primal forward."""
    return revolve.plan(cfg.schedule.units, cfg.storage.slots, primal=True)


def _primal_slots(cfg, state0):
    """`sched.run`'s slots for recursive checkpointing: max(slots, 1) empty (encoded) states, and
    the slot each chunk start goes to (the plan's primal stores; -1: none)."""
    plan = _revolve_plan(cfg)
    n = max(plan.slots, 1)
    store = cfg.storage.encode(jax.tree_util.tree_map(lambda x: jnp.zeros((n,) + x.shape, x.dtype), state0))
    where = np.full(cfg.schedule.units, -1, np.int32)
    where[plan.primal_pos] = plan.primal_slot
    return store, jnp.asarray(where), cfg.storage.encode


def _offload(cfg):
    return Offload(cfg.storage.location, cfg.storage.directory)


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def propagate(cfg, V, prof, coef, amp, src, rec, models):
    """As `run` (outputs only), differentiable with respect to V, amp (and `models`, through V:
    they are here for the backward callback's gradient)."""
    # Without a gradient nothing is kept: one chunk per segment (results do not depend on the
    # chunking).
    nt, seg = cfg.schedule.nt, cfg.schedule.seg
    segmented = cfg.snapshots or cfg.callbacks is not None
    whole = sched.Schedule.make(nt, seg, seg) if segmented else sched.Schedule.make(nt, nt)
    return run(cfg, V, prof, coef, amp, src, rec, schedule=whole)[0]


_KEEP = {"chunk": "states", "full": "W", "recursive": "slots", "boundary": "strips"}


def _fwd(cfg, V, prof, coef, amp, src, rec, models):
    if cfg.storage.location == "disk":  # a clear error before the run, not at the first write
        steps = cfg.schedule.units * cfg.schedule.K
        check_directory(cfg.storage.directory, steps * cfg.storage.strip_bytes(cfg.grid, amp.shape[0], V.dtype))
    out, kept = run(cfg, V, prof, coef, amp, src, rec, keep=_KEEP[cfg.storage.strategy])
    return out, (kept, V, prof, coef, amp, src, rec, models)


def _without_surface_row(cfg, u):
    """The free-surface row is held at zero: a cotangent there must not propagate."""
    if not cfg.grid.free_surface:
        return u
    return u.at[:, cfg.grid.half].set(0)


def _adjoint_scaling(cfg, V):
    """(into, out_of): the compiled adjoint carries the field cotangents scaled by V, and sums V
    dJ/dV (kernels/acoustic/acoustic_rows.h). `into` takes a cotangent into that form, where the
    backward starts and where a snapshot's cotangent enters; `out_of` takes a field's adjoint or
    the dJ/dV sum out of it, for callbacks and the result. V > 0 but in the halo, where neither
    ever holds anything (the steps do not update it, and V zeroes what enters there). The
    reference's adjoint (JAX's VJP) is unscaled: both identities."""
    if cfg.kernels != "c":
        return (lambda u: u), (lambda u: u)

    def out_of(u):  # the mask is made where it is used: nothing V-sized is held for it
        live = V != 0
        return jnp.where(live, u / jnp.where(live, V, 1), 0)

    return (lambda u: u * V), out_of


def _with_snapshot_cotangent(cfg, starts_bar, s, adj, into):
    """The adjoint state plus the cotangent of segment s's snapshot (if snapshots are taken),
    `into` the backward's form (_adjoint_scaling)."""
    if not cfg.snapshots:
        return adj
    return (adj[0] + into(_without_surface_row(cfg, starts_bar[s])),) + adj[1:]


def _segment_start(cfg, starts_bar, hook, J, into, view=None):
    """`after(u, adj, gV) -> adj`, run once the adjoint of chunk u (of J per segment) is done:
    at a segment start it adds the snapshot's cotangent (`into` the backward's form) and calls
    the backward callback (with view(gV) for the gradient so far, if given)."""
    if not cfg.snapshots and hook is None:
        return lambda u, adj, gV: adj

    def at_start(u, adj, gV):
        s = u // J
        adj = _with_snapshot_cotangent(cfg, starts_bar, s, adj, into)
        if hook is not None:
            _every(cfg, s, lambda step: hook(step, adj, gV if view is None else view(gV)))
        return adj

    if J == 1:
        return at_start
    return lambda u, adj, gV: jax.lax.cond(u % J == 0, lambda a: at_start(u, a, gV), lambda a: a, adj)


def _at_last_sample(cfg, starts_bar, hook, into, adj, gV):
    """Boundary saving's walk starts at the last sample: a segment starting there (no step
    follows it) gets its snapshot's cotangent and its callback before the walk, which waits for
    the callback (callbacks inside loops keep the loops' order; this one has no loop)."""
    nt, seg = cfg.schedule.nt, cfg.schedule.seg
    if (nt - 1) % seg:
        return adj
    adj = _with_snapshot_cotangent(cfg, starts_bar, (nt - 1) // seg, adj, into)
    if hook is not None and (nt - 1) % cfg.callbacks.frequency == 0:
        token = hook(nt - 1, adj, gV, wait=True)
        adj = jax.lax.optimization_barrier((token, adj))[1]
    return adj


def _bwd(cfg, res, cts):
    kept, V, prof, coef, amp, src, rec, models = res
    recs_bar, final_bar, starts_bar = cts
    schedule, storage = cfg.schedule, cfg.storage
    into, out_of = _adjoint_scaling(cfg, V)
    X0 = into(_without_surface_row(cfg, final_bar))
    zero = cfg.equation.init_state(cfg.grid, X0.shape[0], X0.dtype)
    adj0 = (X0,) + tuple(zero[1:])
    hook = _unscaled(_backward_hook(cfg, models), out_of)
    models_bar = jax.tree_util.tree_map(jnp.zeros_like, models)
    if storage.strategy == "boundary":
        # The callbacks see the gradient so far as the result is: on the physical cells only.
        after = _segment_start(cfg, starts_bar, hook, schedule.seg, into, view=_physical(cfg.grid))
        last = partial(_at_last_sample, cfg, starts_bar, hook, into)
        gV, amp_bar = _reverse_boundary(cfg, V, prof, coef, amp, src, rec, kept, recs_bar, after, last, zero, adj0)
        return out_of(gV), jnp.zeros_like(prof), jnp.zeros_like(coef), amp_bar, None, None, models_bar
    amp_chunks, to_chunks = jax.vjp(schedule.amp_chunks, amp)
    nseg, J, B, K = amp_chunks.shape
    U = nseg * J
    _, from_chunks = jax.vjp(schedule.records, jnp.zeros((nseg, J, B, K, rec.shape[-1]), recs_bar.dtype))
    (recs_bar,) = from_chunks(recs_bar)
    units = dict(
        amp=amp_chunks.reshape((U,) + amp_chunks.shape[2:]),
        n=schedule.lengths_array().reshape(U),
        rbar=recs_bar.reshape((U,) + recs_bar.shape[2:]),
    )
    w = storage.weights(schedule)
    units["w"] = None if w is None else jnp.asarray(w, V.dtype)
    after = _segment_start(cfg, starts_bar, hook, J, into)
    from_state = partial(_adjoint_from_state, cfg, V, prof, coef, src, rec)
    scratch = _backward_scratch(cfg, zero)
    flat = lambda tree: jax.tree_util.tree_map(lambda x: x.reshape((U,) + x.shape[2:]), tree)  # noqa: E731

    if storage.strategy == "recursive":
        forward = _forward_chunk(cfg, V, prof, coef, src, rec, in_place=False)
        adj, gV, gamps = _reverse_recursive(cfg, forward, from_state, after, units, zero, kept, adj0, V)
    else:
        if storage.w_in_place:
            adjoint, kept = _adjoint_from_stack(cfg, V, prof, coef, src, rec, kept), None
        elif storage.strategy == "full":
            adjoint = _adjoint_from_W(cfg, V, prof, coef, src, rec)
        else:
            adjoint = lambda ckpt, u, x, adj, gV, scr: from_state(storage.decode(ckpt, V.dtype), x["amp"], x["n"], adj, gV, x["rbar"], x["w"], scr)  # noqa: E731
        adj, gV, gamps = _reverse_stored(flat(kept), adjoint, after, units, adj0, V, scratch)
    (amp_bar,) = to_chunks(gamps.reshape(amp_chunks.shape))
    return out_of(gV), jnp.zeros_like(prof), jnp.zeros_like(coef), amp_bar, None, None, models_bar


def _backward_scratch(cfg, zero):
    """The compiled backward's scratch buffers (see _adjoint_from_state), zero to start with:
    the replay's psi (None for full storage, which replays nothing) and the adjoint's (psi,
    zeta); None for the reference and recursive checkpointing (BACKWARD_IN_PLACE)."""
    if cfg.kernels != "c" or cfg.storage.strategy not in BACKWARD_IN_PLACE:
        return None
    replay = None if cfg.storage.strategy == "full" else jnp.zeros_like(zero[2])
    return replay, (jnp.zeros_like(zero[2]), jnp.zeros_like(zero[3]))


def _adjoint_from_W(cfg, V, prof, coef, src, rec):
    """Full storage, compressed or sampled: a chunk's adjoint from its stored W (no replay)."""
    storage = cfg.storage
    sampled = storage.sampled_slots(cfg.schedule)
    if sampled is not None:
        idx, wt = (jnp.asarray(a) for a in sampled)

    def adjoint(Wc, u, x, adj, gV, scratch):
        W = storage.decode(Wc, V.dtype)
        if sampled is not None:
            W = put_steps(W, idx[u], wt[u], cfg.schedule.K, cfg.grid.ndim)
        adj, gV, gamp, ascr = ffi_chunk.adjoint(cfg.prefix, cfg.grid, cfg.order, adj, V, prof, coef, W, x["rbar"], src, rec, x["n"], gV, scratch=scratch[1])
        return adj, gV, gamp, (scratch[0], ascr)

    return adjoint


def _adjoint_from_stack(cfg, V, prof, coef, src, rec, Ws):
    """Full storage, Storage.w_in_place: chunk u's adjoint reads its steps of the W stack in place."""
    K = cfg.schedule.K

    def adjoint(_, u, x, adj, gV, scratch):
        adj, gV, gamp, ascr = ffi_chunk.adjoint(cfg.prefix, cfg.grid, cfg.order, adj, V, prof, coef, Ws, x["rbar"], src, rec, x["n"], gV, scratch=scratch[1], w0=u * K)
        return adj, gV, gamp, (scratch[0], ascr)

    return adjoint


def _reverse_stored(kept, adjoint, after, units, adj0, V, scratch):
    """Chunk checkpointing and full storage: one reverse scan over the chunks, each from what
    the forward kept for it (`adjoint(stored, u, x, adj, gV, scratch)` adds the chunk's dJ/dV
    to gV, and returns the scratch to carry; see _backward_scratch)."""

    def chunk(carry, xs):
        adj, gV, scr = carry
        stored, u, x = xs
        adj, gV, gamp, scr = adjoint(stored, u, x, adj, gV, scr)
        return (after(u, adj, gV), gV, scr), gamp

    U = units["n"].shape[0]
    (adj, gV, _), gamps = jax.lax.scan(chunk, (adj0, jnp.zeros_like(V), scratch), (kept, jnp.arange(U), units), reverse=True)
    return adj, gV, gamps


def _reverse_recursive(cfg, forward, from_state, after, units, zero, ckpts, adj0, V):
    """Recursive checkpointing: one lax.scan over the episodes of the revolve plan (restore,
    advance storing states into slots, advance to the episode's chunk, run its adjoint), from
    the slots the primal forward filled (`ckpts`)."""
    storage = cfg.storage
    plan = _revolve_plan(cfg)

    def advance(state, a, b):
        return jax.lax.fori_loop(a, b, lambda u, st: forward(st, units["amp"][u], units["n"][u])[0], state)

    def episode(carry, xs):
        ckpts, adj, gV, gamps = carry
        r_slot, r_pos, s_pos, s_slot, nstores, u = xs
        stored = storage.decode(jax.tree_util.tree_map(lambda c: c[jnp.maximum(r_slot, 0)], ckpts), V.dtype)
        state = jax.tree_util.tree_map(lambda z, x: jnp.where(r_slot < 0, z, x), zero, stored)

        def store(k, c):
            st, ck, pos = c
            st = advance(st, pos, s_pos[k])
            ck = sched.put_slot(ck, s_slot[k], storage.encode(st))
            return st, ck, s_pos[k]

        state, ckpts, pos = jax.lax.fori_loop(0, nstores, store, (state, ckpts, r_pos))
        state = advance(state, pos, u)
        x = jax.tree_util.tree_map(lambda a: a[u], units)
        adj, gV, gamp, _ = from_state(state, x["amp"], x["n"], adj, gV, x["rbar"], x["w"])
        return (ckpts, after(u, adj, gV), gV, gamps.at[u].set(gamp)), None

    xs = tuple(jnp.asarray(a) for a in (plan.restore_slot, plan.restore_pos, plan.store_pos, plan.store_slot, plan.nstores, plan.unit))
    carry = (ckpts, adj0, jnp.zeros_like(V), jnp.zeros_like(units["amp"]))
    (_, adj, gV, gamps), _ = jax.lax.scan(episode, carry, xs)
    return adj, gV, gamps


class _strips:
    """Where boundary saving reads and writes: (..., 2, n) strips of p_prev and psi."""

    def __init__(self, grid):
        cells, axes = boundary_cells(grid)
        self.grid, self.cells = grid, jnp.asarray(cells)
        self.psi_cells = jnp.asarray(axes * grid.cells + cells)  # into psi (B, ndim * cells)

    def _flat(self, u, k=1):
        return u.reshape(u.shape[: u.ndim - self.grid.ndim - k + 1] + (-1,))

    def take(self, state):
        """From the state at step n's start, what the backward of step n reads: p_{n-1} and psi_n."""
        p_prev, psi = state[1], state[2]
        return jnp.stack([self._flat(p_prev)[..., self.cells], self._flat(psi, 2)[..., self.psi_cells]], axis=-2)

    def put_p(self, p, strip):
        return self._flat(p).at[..., self.cells].set(strip[..., 0, :]).reshape(p.shape)

    def put_psi(self, psi, strip):
        return self._flat(psi, 2).at[..., self.psi_cells].set(strip[..., 1, :]).reshape(psi.shape)


def _reverse_boundary(cfg, V, prof, coef, amp, src, rec, kept, recs_bar, after, last_sample, zero, adj0):
    """Boundary saving: the steps n = nt-2 .. 0 in reverse, a group of them (one chunk of the
    schedule) at a time, the next group fetched ahead. The forward step run on (p_n, p_{n+1})
    with psi_n on the strips gives p_{n-1} = 2 p_n - p_{n+1} + V W_n + s_n (the leapfrog is its
    own inverse). On the physical model that is exact (to rounding): its cells carry no PML
    terms of their own, and their stencils reach only p and psi on the saved strips. p_{n-1} is
    garbage in the PML beyond, and its strips are reset from the forward's. W_n feeds the
    adjoint of step n. dJ/dV is kept on the physical cells only: in the PML, W_n needs the PML's
    own history."""
    storage, schedule, grid = cfg.storage, cfg.schedule, cfg.grid
    stacked, final = kept
    U, K = schedule.units, schedule.K
    stacked = stacked.reshape((U,) + stacked.shape[2:])  # per group: (K, B, 2, n), or its key
    strips = _strips(grid)
    like = jax.ShapeDtypeStruct((K, final[0].shape[0], 2, strips.cells.size), storage.stored_dtype(V.dtype))
    offload = _offload(cfg)
    starts = jnp.asarray(schedule.unit_starts(), jnp.int32)
    lengths = schedule.lengths_array().reshape(U)
    weights = storage.weights(schedule)  # (U, K) or None
    weights = None if weights is None else jnp.asarray(weights, V.dtype)

    def step(u, t, group, carry):
        # p_{n+1}, p_n; psi zero but on the strips (only they are ever written) and zeta (zero,
        # or as the compiled calls leave it) are carried, not rebuilt at every step; so are the
        # compiled calls' scratch buffers (fs: the forward's psi; ascr: the adjoint's psi, zeta).
        p1, p0, psi, zeta, fs, adj, ascr, gV, amp_bar = carry
        n = starts[u] + t
        strip = storage.decode(group[t], V.dtype)
        a = jax.lax.dynamic_slice_in_dim(amp, n, 1, axis=1)
        rbar = jax.lax.dynamic_slice_in_dim(recs_bar, n + 1, 1, axis=1)
        w = None if weights is None else jax.lax.dynamic_slice_in_dim(weights[u], t, 1)
        psi = strips.put_psi(psi, strip)
        back = (p0, p1, psi, zeta)
        if cfg.kernels == "c":
            # The calls work in the carried buffers: the step leaves p_n (as the previous field)
            # and psi (returned as the scratch) unchanged, and zeta changes in the PML only,
            # which no physical cell reads; its new psi is the next call's scratch. The step
            # updates the physical cells only: nothing reads the PML's.
            (pm, p0, fs, zeta), _, W, psi = ffi_chunk.forward(
                cfg.prefix, grid, cfg.order, back, V, prof, coef, a, src, rec, 1, save=True, scratch=fs, physical_only=True
            )
            if w is not None:
                W = weight_steps(W, w, grid.ndim)
            adj, gV, gamp, ascr = ffi_chunk.adjoint(cfg.prefix, grid, cfg.order, adj, V, prof, coef, W, rbar, src, rec, 1, gV, scratch=ascr)
        else:
            (pm, *_), _ = _reference_chunk(cfg.equation, grid, V, prof, coef, src, rec, back, a, 1)
            # The step is linear in the state: its VJP reads only p_n and psi_n's values.
            adj, gV, gamp, _ = _adjoint_from_state(cfg, V, prof, coef, src, rec, back, a, 1, adj, gV, rbar, w)
        pm = strips.put_p(pm, strip)
        amp_bar = jax.lax.dynamic_update_slice_in_dim(amp_bar, gamp, n, axis=1)
        return p0, pm, psi, zeta, fs, after(n, adj, gV), ascr, gV, amp_bar

    def unit(carry, u):
        group, rest = carry[0], carry[1:]
        ahead = offload.get(stacked, u - 1, like)
        L = lengths[u]
        # Two steps per loop turn (see _keeping_chunk: the calls swap each buffer pair, two
        # swap them back); an odd group length leaves its first step to a loop of at most one turn.
        pair = lambda i, c: step(u, L - 2 - 2 * i, group, step(u, L - 1 - 2 * i, group, c))  # noqa: E731
        rest = jax.lax.fori_loop(0, L // 2, pair, rest)
        rest = jax.lax.fori_loop(0, L % 2, lambda i, c: step(u, 0, group, c), rest)
        return (ahead,) + rest, None

    scratch = (jnp.zeros_like(zero[2]), (jnp.zeros_like(zero[2]), jnp.zeros_like(zero[3]))) if cfg.kernels == "c" else (None, None)
    adj_last = last_sample(adj0, jnp.zeros_like(V))
    init = (offload.get(stacked, U - 1, like), final[0], final[1], zero[2], zero[3], scratch[0], adj_last, scratch[1], jnp.zeros_like(V), jnp.zeros_like(amp))
    (*_, gV, amp_bar), _ = jax.lax.scan(unit, init, jnp.arange(U), reverse=True)
    return _physical(grid)(gV), amp_bar


def _physical(grid):
    """Boundary saving's dJ/dV: the physical cells' (the PML's cells hold what the reverse steps
    leave there, which is not their gradient)."""
    return lambda gV: grid.uncrop(grid.crop(gV))


propagate.defvjp(_fwd, _bwd)

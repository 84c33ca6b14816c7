"""The time schedule shared by every impl: steps grouped into chunks, chunks into segments.

A run of nt samples takes nt - 1 steps (record[0] is the zero initial field; the step from n to
n+1 yields record[n+1]). Steps are cut into segments of `seg` steps (where snapshots or callbacks
need the fields every `seg` steps; otherwise one chunk), each segment into J chunks of at most K
steps. Chunk (s, j) starts at step
s*seg + j*K and runs `lengths[s, j]` steps (0 for chunks past the end). Every chunk has the same
static shape, so one kernel call or one checkpointed scan serves them all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class Schedule:
    nt: int
    K: int
    seg: int
    nseg: int
    J: int
    lengths: tuple[tuple[int, ...], ...]

    @staticmethod
    def make(nt: int, K: int, segment: int | None = None) -> "Schedule":
        """`segment`: steps between the times at which the fields are needed (None: none)."""
        steps = nt - 1
        if segment is not None:
            seg, nseg = segment, math.ceil(nt / segment)
        else:
            seg, nseg = K, max(1, math.ceil(steps / K))
        K = min(K, seg)
        J = math.ceil(seg / K)
        lengths = tuple(
            tuple(max(0, min(K, seg - j * K, steps - (s * seg + j * K))) for j in range(J)) for s in range(nseg)
        )
        return Schedule(nt, K, seg, nseg, J, lengths)

    def step_slots(self) -> np.ndarray:
        """Flat chunk-slot index ((s*J + j)*K + t) of each step n = 0 .. nt-2."""
        n = np.arange(self.nt - 1)
        s, r = n // self.seg, n % self.seg
        return (s * self.J + r // self.K) * self.K + r % self.K

    @property
    def units(self) -> int:
        """Chunks in all (padding chunks of length 0 included)."""
        return self.nseg * self.J

    def unit_starts(self) -> np.ndarray:
        """First step of each chunk, (nseg * J,)."""
        s, j = np.divmod(np.arange(self.units), self.J)
        return s * self.seg + j * self.K

    def lengths_array(self):
        return jnp.asarray(np.array(self.lengths, dtype=np.int32).reshape(self.nseg, self.J))

    # -- moving data between time axis and chunk slots (differentiable gathers) ------------
    def amp_chunks(self, amp):
        """(B, nt) -> (nseg, J, B, K); slots past the end read zero."""
        slots = np.full(self.nseg * self.J * self.K, amp.shape[1], dtype=np.int32)
        slots[self.step_slots()] = np.arange(self.nt - 1)
        ext = jnp.concatenate([amp, jnp.zeros_like(amp[:, :1])], axis=1)
        out = jnp.take(ext, jnp.asarray(slots), axis=1).reshape(amp.shape[0], self.nseg, self.J, self.K)
        return jnp.transpose(out, (1, 2, 0, 3))

    def records(self, rec_chunks):
        """(nseg, J, B, K, nrec) -> (B, nt, nrec), record[0] = 0 (the initial field)."""
        nseg, J, B, K, nrec = rec_chunks.shape
        flat = jnp.transpose(rec_chunks, (2, 0, 1, 3, 4)).reshape(B, nseg * J * K, nrec)
        later = jnp.take(flat, jnp.asarray(self.step_slots()), axis=1)
        return jnp.concatenate([jnp.zeros_like(flat[:, :1]), later], axis=1)


def run(chunk_fn, state, amp_chunks, lengths, snapshots=False, on_segment=None, slots=None):
    """Scan `chunk_fn(state, amp (B, K), nsteps, unit) -> (state, records (B, K, nrec), kept)`
    over the schedule's chunks (`unit` = s*J + j; `kept`: whatever the chunk keeps for the
    gradient, or None). Returns (final state, records (nseg, J, B, K, nrec), field at each
    segment start (nseg, B, ...) or None, kept stacked (nseg, J, ...)).
    `on_segment(s, state)` is called with the state at the start of each segment s.
    `slots = (store, slot_of_unit (nseg*J,), encode)`: encode(state at the start of chunk u) goes
    into slot slot_of_unit[u] (none where < 0) of `store`, a tree of (slots, ...) arrays written
    in place; the filled store is then returned as `kept`.

    One flat loop over the chunks, so that what a chunk keeps is stacked by a single scan (XLA
    moves such a stack to host memory chunk by chunk; it cannot do so through nested loops)."""
    nseg, J = amp_chunks.shape[:2]
    flat = lambda x: x.reshape((nseg * J,) + x.shape[2:])  # noqa: E731
    starts = jnp.zeros((nseg,) + state[0].shape, state[0].dtype) if snapshots and J > 1 else None

    def chunk(carry, xs):
        st, starts, store = carry
        a, n, u = xs
        s, j = u // J, u % J
        if on_segment is not None:
            if J == 1:
                on_segment(s, st)
            else:
                jax.lax.cond(j == 0, lambda: on_segment(s, st), lambda: None)
        if starts is not None:  # in place; rewrites the slot's value but at a segment start
            starts = starts.at[s].set(jnp.where(j == 0, st[0], starts[s]))
        if store is not None:
            store = _store_at(store, where[u], encode(st))
        start = st[0] if snapshots and J == 1 else None
        st, rec, kept = chunk_fn(st, a, n, u)
        return (st, starts, store), (rec, start, kept)

    store, where, encode = slots if slots is not None else (None, None, None)
    units = jnp.arange(nseg * J)
    (state, starts_J, store), (recs, starts_1, kept) = jax.lax.scan(
        chunk, (state, starts, store), (flat(amp_chunks), flat(lengths), units)
    )
    unflat = lambda x: x.reshape((nseg, J) + x.shape[1:])  # noqa: E731
    kept = store if slots is not None else jax.tree_util.tree_map(unflat, kept)
    return state, unflat(recs), starts_1 if J == 1 else starts_J, kept


def put_slot(store, slot, value):
    """store[slot] = value, in place (store: a tree of (slots, ...) arrays)."""
    return jax.tree_util.tree_map(lambda a, x: a.at[slot].set(x), store, value)


def _store_at(store, slot, value):
    """put_slot, unless slot < 0."""
    return jax.lax.cond(slot >= 0, lambda s: put_slot(s, slot, value), lambda s: s, store)


def default_chunk(nt: int, state_fields: int, multiple: int = 1) -> int:
    """K ~ sqrt(nt * fields per state) balances checkpoint storage against chunk storage. K is a
    multiple of `multiple`, and even: the compiled calls that work in the loop's buffers then
    leave each field of the state in the buffer it came in (an odd K ends it in the other
    buffer of its ping-pong pair, and XLA copies the state back every chunk:
    chunked.FORWARD_IN_PLACE / BACKWARD_IN_PLACE). Of the chunk counts near nt - 1 / K, the K
    whose chunks run the fewest steps past the end (each still a launch, and a W slot of full
    storage)."""
    multiple = math.lcm(2, multiple)
    steps = max(nt - 1, 1)
    target = min(256, max(8, math.sqrt(max(nt, 1) * state_fields)))
    n0 = math.ceil(steps / target)
    candidates = [-(-math.ceil(steps / n) // multiple) * multiple for n in range(n0, n0 + 3)]
    return min(candidates, key=lambda K: (math.ceil(steps / K) * K, -K))

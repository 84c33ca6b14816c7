"""Binomial (revolve-style) checkpointing schedules, computed in Python before tracing.

Reversing n units (a unit is one chunk of time steps) with `slots` stored states, beside the
initial state, which is zero and never stored: the schedule advances from a stored state, stores
states along the way, and runs the adjoint of the last unit reached. With S = slots + 1 snapshots,
t the least integer with binom(S + t, t) >= n, it costs

    t n - binom(S + t + 1, t - 1)  unit advances (Griewank & Walther, Algorithm 799),

the least any schedule with that many stored states can do. The split rule below attains it
(tests check it against a dynamic program).

The schedule is cut into one *episode* per unit, in reverse order: restore a stored state (or
the zero state), advance to a few positions storing each in a slot, advance to the episode's
unit and run its adjoint. That shape is what `propagator.chunked` runs inside one lax.scan.

The first episode's stores lie on the primal forward's way: with `primal=True` the forward makes
them (`primal_pos`, `primal_slot`), and the first episode restores the last of them instead of
advancing from the zero state (up to one forward less).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np


def _reach(snapshots: int, repetitions: int) -> int:
    """The most units `snapshots` states can reverse if no unit is advanced more than
    `repetitions` times."""
    return comb(snapshots + repetitions, repetitions)


def _repetitions(n: int, snapshots: int) -> int:
    t = 0
    while _reach(snapshots, t) < n:
        t += 1
    return t


def optimal_advances(n: int, slots: int) -> int:
    """The least number of unit advances that reverse n units with `slots` stored states."""
    if n <= 1:
        return 0
    if slots == 0:
        return n * (n - 1) // 2
    S = slots + 1
    t = _repetitions(n, S)
    return t * n - _reach(S + 1, t - 1)


def _split(n: int, slots: int) -> int:
    """Where to store the first state when reversing n > 1 units with slots >= 1 free: the least
    optimal distance from the start."""
    S = slots + 1
    t = _repetitions(n, S)
    low = _reach(S, t - 2) if t >= 2 else 1
    return max(1, low, n - _reach(S - 1, t))


@dataclass(frozen=True)
class Plan:
    """Episodes in order of execution (one per unit, units n-1 down to 0), as arrays:
    unit (n,); restore_slot (n,) (-1: the zero state at position 0) and restore_pos (n,);
    store_pos / store_slot (n, width): where each episode stores, its first `nstores` (n,) entries;
    primal_pos / primal_slot: the states the primal forward stores (empty unless primal)."""

    units: int
    slots: int
    unit: np.ndarray
    restore_slot: np.ndarray
    restore_pos: np.ndarray
    store_pos: np.ndarray
    store_slot: np.ndarray
    nstores: np.ndarray
    primal_pos: np.ndarray
    primal_slot: np.ndarray

    @property
    def advances(self) -> int:
        """Unit advances the backward makes (the adjoint's own replay of each unit and the primal
        forward not counted)."""
        return int(np.sum(self.unit - self.restore_pos))


def plan(n: int, slots: int, primal: bool = False) -> Plan:
    """The optimal schedule reversing n >= 1 units with `slots` >= 0 stored states; with
    `primal`, the first episode's stores are the primal forward's."""
    if n < 1 or slots < 0:
        raise ValueError(f"revolve.plan: expected n >= 1 and slots >= 0, got n={n}, slots={slots}")
    slots = min(slots, n - 1)  # more states than units cannot be used
    episodes: list[tuple[int, int, list[tuple[int, int]], int]] = []
    where: dict[int, int] = {0: -1}  # position -> slot of each stored state
    free = list(range(slots))[::-1]
    current: dict = {}

    def restore(pos):
        current.clear()
        current.update(slot=where[pos], pos=pos, stores=[])

    def store(pos):
        slot = free.pop()
        where[pos] = slot
        current["stores"].append((pos, slot))
        return slot

    def adjoint(unit):
        episodes.append((current["slot"], current["pos"], current["stores"], unit))
        current.clear()

    def reverse(a, b, s):
        # Units [a, b); the state at a is stored (or is the zero state); s slots are free.
        if b - a == 1:
            if not current:
                restore(a)
            adjoint(a)
            return
        if s == 0:
            for u in range(b - 1, a - 1, -1):
                if not current:
                    restore(a)
                adjoint(u)
            return
        if not current:
            restore(a)
        m = a + _split(b - a, s)
        slot = store(m)
        reverse(m, b, s - 1)
        del where[m]
        free.append(slot)
        reverse(a, m, s)

    reverse(0, n, slots)
    primal_stores: list[tuple[int, int]] = []
    if primal and episodes[0][2]:
        r_slot, r_pos, primal_stores, unit = episodes[0]
        episodes[0] = (primal_stores[-1][1], primal_stores[-1][0], [], unit)
    width = max(1, max(len(e[2]) for e in episodes))
    store_pos = np.zeros((n, width), np.int32)
    store_slot = np.zeros((n, width), np.int32)
    for i, (_, _, stores, _) in enumerate(episodes):
        for k, (pos, slot) in enumerate(stores):
            store_pos[i, k], store_slot[i, k] = pos, slot
    return Plan(
        units=n,
        slots=slots,
        unit=np.array([e[3] for e in episodes], np.int32),
        restore_slot=np.array([e[0] for e in episodes], np.int32),
        restore_pos=np.array([e[1] for e in episodes], np.int32),
        store_pos=store_pos,
        store_slot=store_slot,
        nstores=np.array([len(e[2]) for e in episodes], np.int32),
        primal_pos=np.array([pos for pos, _ in primal_stores], np.int32),
        primal_slot=np.array([slot for _, slot in primal_stores], np.int32),
    )

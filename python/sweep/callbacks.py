"""Callbacks during a run: look at the wavefields (and, going backwards, the gradient) every k steps.

    def show(state):
        print(state.direction, state.step, float(abs(state.wavefield("p")).max()))

    prop(wavelet, sources, receivers, [vp], forward_callback=show, callback_frequency=100)

A callback runs on the host, outside the compiled kernels, with a `CallbackState` holding
read-only NumPy views. The time loop is cut into segments of `callback_frequency` steps only when
a callback is given, so a run without one pays nothing. Under jit the callback runs when the
compiled program reaches that step (through `jax.debug.callback`); its return value is ignored.
A callback object with `needs_fields = False` (such as `sweep.progress.Progress`) is sent only
the step: nothing is copied off the device for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Callbacks:
    """What to call and how often (hashable: part of a propagator's static configuration)."""

    forward: Callable | None
    backward: Callable | None
    frequency: int

    @staticmethod
    def make(forward_callback, backward_callback, callback_frequency) -> "Callbacks | None":
        for name, fn in (("forward_callback", forward_callback), ("backward_callback", backward_callback)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name}: expected a function of one CallbackState, or None, got {fn!r}")
        if isinstance(callback_frequency, bool) or not isinstance(callback_frequency, (int, np.integer)) or callback_frequency < 1:
            raise ValueError(f"callback_frequency: expected an integer >= 1 (steps between calls), got {callback_frequency!r}")
        if forward_callback is None and backward_callback is None:
            return None
        return Callbacks(forward_callback, backward_callback, int(callback_frequency))


def _readonly(x) -> np.ndarray:
    view = np.asarray(x).view()
    view.flags.writeable = False
    return view


def _live(u, live) -> np.ndarray:
    """u on the cells a step updates, zero elsewhere (halo, free-surface row): what those cells
    hold depends on how a kernel is written (mirror images, adjoint bookkeeping), not on the
    problem, so every impl shows the same."""
    return _readonly(np.where(live, np.asarray(u), 0))


class CallbackState:
    """What a callback sees.

    Attributes:
        direction: "forward" (the modelling run) or "backward" (the adjoint run of a gradient).
        step: n, the time index of the fields (t = n dt; 0 <= n < nt).
        nt, dt: samples and time step of the run; `time` = step * dt.
        frequency: steps between calls; `is_last`: the last call of this direction.
        wavefield(name, view): the field `name` (forward: the equation's state fields, e.g. "p";
            backward: the adjoint of the field sources act on, "p") for every shot, (B, ...);
            default the first field; view "inner" is the model
            region, "full" the storage grid with the PML (its halo and a free-surface row read 0).
        gradient(name): backward only (default the first model): the gradient of the loss with respect to model `name`
            from the steps n .. nt-1 (at n = 0 it is the whole gradient through this run).
    """

    def __init__(self, direction, step, nt, dt, grid, fields: dict, gradients: dict | None = None, frequency: int = 1):
        self.direction = direction
        self.step = int(step)
        self.frequency = frequency
        self.nt, self.dt = nt, dt
        self._grid = grid
        live = grid.live_mask
        self._fields = {k: _live(v, live) for k, v in fields.items()}
        self._gradients = None if gradients is None else {k: _readonly(v) for k, v in gradients.items()}
        self._backward = direction == "backward"

    @property
    def time(self) -> float:
        return self.step * self.dt

    @property
    def is_last(self) -> bool:
        """Whether this is the run's last call in its direction."""
        return self.step + self.frequency > self.nt - 1 if self.direction == "forward" else self.step == 0

    @property
    def field_names(self) -> tuple:
        return tuple(self._fields)

    def wavefield(self, name: str | None = None, view: str = "inner") -> np.ndarray:
        if not self._fields:
            raise ValueError("wavefield: this callback has needs_fields = False, so the run sent no fields")
        name = self.field_names[0] if name is None else name
        if name not in self._fields:
            raise KeyError(f"name: expected one of {self.field_names} ({self.direction} fields), got {name!r}")
        if view not in ("inner", "full"):
            raise ValueError(f"view: expected 'inner' (the model region) or 'full' (the storage grid), got {view!r}")
        u = self._fields[name]
        return u if view == "full" else self._grid.crop(u)

    def gradient(self, name: str | None = None) -> np.ndarray:
        if not self._backward:
            raise ValueError("gradient: only a backward callback sees the gradient; this is the forward run")
        name = next(iter(self._gradients), None) if name is None else name
        if name not in self._gradients:
            raise KeyError(f"name: expected one of {tuple(self._gradients)}, got {name!r}")
        return self._gradients[name]

    def __repr__(self):
        return f"CallbackState({self.direction}, step {self.step} of {self.nt}, t={self.time:g} s, fields {self.field_names})"


def wants_fields(fn) -> bool:
    """A callback with `needs_fields = False` (a progress bar) gets a state without wavefields
    or gradients, and the run copies nothing to the host for it."""
    return getattr(fn, "needs_fields", True)


def invoke(callbacks: Callbacks, direction, step, nt, dt, grid, fields: dict, gradients: dict | None = None) -> None:
    fn = callbacks.forward if direction == "forward" else callbacks.backward
    fn(CallbackState(direction, step, nt, dt, grid, fields, gradients, callbacks.frequency))

"""PropJax: the JAX propagator (an equinox Module; configuration is static).

    prop = PropJax(Acoustic(spatial_order=8), shape=(nz, nx), dh=10.0, dt=1e-3, abcn=20)
    rec = prop(wavelet, sources, receivers, models=[vp])      # (B, nt, nrec, ncomp)

Works under jit, grad, vjp and vmap. impl="jax" runs the pure-JAX reference (a checkpointed
lax.scan of steps); impl="c" runs the compiled chunk kernels through XLA custom calls with a
hand-written adjoint; impl="auto" takes "c" where it covers the equation on JAX's platform.
"""

from __future__ import annotations

import math
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..backend import compiled as core
from ..equations.stencil import coefficients
from ..grid import Grid
from ..pml import CPML, profiles
from ..callbacks import Callbacks
from . import chunked
from . import schedule as sched
from . import validate as val
from . import planner
from .options import MemoryOptions
from .storage import Storage

IMPLS = ("auto", "jax", "c")


def resolve_impl(equation, impl: str, platform: str | None = None) -> str:
    if impl not in IMPLS:
        raise ValueError(f"impl: expected one of {IMPLS}, got {impl!r}")
    if impl == "jax":
        return "jax"
    ok, why = core.covers(equation, platform)
    if ok:
        return "c"
    if impl == "c":
        warnings.warn(f"impl='c' requested but {why}; falling back to impl='jax' (slower)", UserWarning, stacklevel=3)
    return "jax"


def check_memory(memory, checkpoint_every):
    """A supported MemoryOptions or None; it and checkpoint_every both set chunking, so not both."""
    if memory is None:
        return None
    if not isinstance(memory, MemoryOptions):
        raise TypeError(f"memory: expected sweep.propagator.options.MemoryOptions(...) or None, got {memory!r}")
    if checkpoint_every is not None and (memory.strategy is not None or memory.storage_mode is not None):
        raise ValueError(
            f"memory: strategy {memory.kind!r} and checkpoint_every={checkpoint_every} both choose the "
            "checkpointing; give one of them"
        )
    return memory


class PropJax(eqx.Module):
    """Propagator for one equation on a regular grid.

    Args:
        equation: e.g. `Acoustic(spatial_order=8)`.
        shape: physical model shape, (nz, nx) or (nz, ny, nx).
        dh: grid spacing in metres (all axes).
        dt: time step in seconds.
        abcn: CPML thickness in cells, added outside the model on every face (not on a free top).
        free_surface: pressure-release (p = 0) surface on the first model row.
        impl: "auto" | "jax" | "c".
        checkpoint_every: steps per chunk K (the gradient stores one state per chunk); default
            ~sqrt(nt * fields per state).
        pml: `CPML(reflection, vmax, freq)`; by default derived from the model and dt.
        memory: `MemoryOptions(...)`, how the gradient gets the forward states back; None keeps
            the default chunk checkpointing (`checkpoint_every`).
        platform: the JAX platform ("cpu" or "CUDA") the compiled kernels must cover for
            impl "c"/"auto"; default JAX's default backend.
    """

    equation: eqx.Module
    shape: tuple = eqx.field(static=True)
    dh: float = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    abcn: int = eqx.field(static=True)
    free_surface: bool = eqx.field(static=True)
    impl: str = eqx.field(static=True)
    checkpoint_every: int | None = eqx.field(static=True)
    memory: MemoryOptions | None = eqx.field(static=True)
    pml: CPML

    def __init__(
        self,
        equation,
        shape,
        dh,
        dt,
        abcn=20,
        free_surface=False,
        impl="auto",
        checkpoint_every=None,
        pml=None,
        memory=None,
        platform=None,
    ):
        if not hasattr(equation, "reference_step"):
            raise TypeError(f"equation: expected an equation such as sweep.equations.Acoustic(), got {equation!r}")
        shape = tuple(shape) if isinstance(shape, (tuple, list)) else shape
        if not isinstance(shape, tuple) or len(shape) not in (2, 3):
            raise ValueError(f"shape: expected (nz, nx) or (nz, ny, nx), got {shape!r}")
        half = equation.half
        for n in shape:
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < half + 1:
                raise ValueError(
                    f"shape: expected integers >= {half + 1} (order {equation.spatial_order} needs that many cells), got {shape!r}"
                )
        self.equation = equation
        self.shape = tuple(int(n) for n in shape)
        self.dh = val.positive_number("dh", dh)
        self.dt = val.positive_number("dt", dt)
        self.abcn = val.positive_number("abcn", abcn, integer=True, allow_zero=True)
        if not isinstance(free_surface, (bool, np.bool_)):
            raise TypeError(f"free_surface: expected True or False, got {free_surface!r}")
        self.free_surface = bool(free_surface)
        if checkpoint_every is not None:
            checkpoint_every = val.positive_number("checkpoint_every", checkpoint_every, integer=True)
        self.checkpoint_every = checkpoint_every
        self.memory = check_memory(memory, checkpoint_every)
        if pml is not None and not isinstance(pml, CPML):
            raise TypeError(f"pml: expected sweep.pml.CPML(...) or None, got {pml!r}")
        self.pml = pml if pml is not None else CPML()
        self.impl = resolve_impl(equation, impl, platform)

    @property
    def grid(self) -> Grid:
        return Grid(self.shape, self.abcn, self.equation.half, self.free_surface)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def max_stable_dt(self, vmax: float) -> float:
        return self.equation.max_stable_dt(self.ndim, self.dh, vmax)

    def kernel_operands(self, wavelet, sources, receivers, models, nshot, dtype):
        """What the chunk kernels take, from checked inputs: V, the PML profiles, the stencil
        coefficients, the source terms (nshot, nt) and the flat source / receiver indices."""
        eq, grid = self.equation, self.grid
        coef = jnp.asarray(coefficients(eq.spatial_order, self.dh, np.dtype(dtype)))
        V = chunked.model_coefficients(eq, grid, models, self.dt)
        speed = eq.wave_speed(models)
        prof = profiles(grid, self.pml, coef, self.dh, self.dt, jnp.min(speed), jnp.max(speed))[None]
        amp = jnp.broadcast_to(wavelet, (nshot, wavelet.shape[-1])) * (self.dt**2 / self.dh**self.ndim)
        return V, prof, coef, amp, grid.flat_index(sources), grid.flat_index(receivers)

    # ---------------------------------------------------------------------------------------
    def __call__(
        self,
        wavelet,
        sources,
        receivers,
        models,
        *,
        return_wavefield=False,
        snapshot_interval=None,
        forward_callback=None,
        backward_callback=None,
        callback_frequency=1,
    ):
        """Model every shot.

        Args:
            wavelet: (nt,) for all shots or (B, nt), sampled at t = n dt.
            sources: integer (B, ndim) cell indices, array-axis order.
            receivers: integer (B, nrec, ndim) cell indices.
            models: list of the equation's models (Acoustic: [vp]), each of shape `shape` or
                (B, *shape) for per-shot models.
            return_wavefield: also return the final field (B, *shape) at t = (nt-1) dt.
            snapshot_interval: also return the fields at t = 0, k dt, 2k dt, ... (B, nsnap, *shape).
            forward_callback: called with a `sweep.callbacks.CallbackState` at t = 0, k dt, 2k dt,
                ... of the forward run (k = callback_frequency).
            backward_callback: called the same way during the backward (adjoint) run of a
                gradient, from the last such time down to 0, with the adjoint field and the
                gradient so far.
            callback_frequency: k, steps between callbacks (default 1).

        Returns:
            records (B, nt, nrec, ncomp), then the final field and the snapshots if asked for.
        """
        eq, grid, nd = self.equation, self.grid, self.ndim
        models, dtype = self._check_models(models)
        nshot, wavelet, sources, receivers = self._check_acquisition(wavelet, sources, receivers, dtype, models)
        if snapshot_interval is not None:
            snapshot_interval = val.positive_number("snapshot_interval", snapshot_interval, integer=True)
        callbacks = Callbacks.make(forward_callback, backward_callback, callback_frequency)
        models = self._check_physics(models)
        nt = wavelet.shape[-1]

        V, prof, coef, amp, src, rec = self.kernel_operands(wavelet, sources, receivers, models, nshot, dtype)

        # Segments end where snapshots or callbacks need the fields.
        segment = snapshot_interval
        if callbacks is not None:
            segment = math.gcd(segment or callbacks.frequency, callbacks.frequency)
        shared = all(jnp.ndim(m) == nd for m in models)
        K, storage = self.gradient_storage(nt, nshot, receivers.shape[-2], dtype, shared)
        schedule = sched.Schedule.make(nt, K, segment)
        cfg = chunked.Config(eq, grid, schedule, snapshot_interval is not None, self.impl, self.dt, callbacks, storage)
        if self.impl == "c" or self.memory is not None or (callbacks is not None and callbacks.backward is not None):
            records, final, starts = chunked.propagate(cfg, V, prof, coef, amp, src, rec, models)
        else:  # the reference, differentiated by JAX
            (records, final, starts), _ = chunked.run(cfg, V, prof, coef, amp, src, rec)
        if snapshot_interval is not None:
            starts = starts[:: snapshot_interval // schedule.seg]

        out = (records[..., None],)
        if return_wavefield:
            out += (grid.crop(final),)
        if snapshot_interval is not None:
            out += (jnp.swapaxes(grid.crop(starts), 0, 1),)
        return out[0] if len(out) == 1 else out

    # -- input checks -------------------------------------------------------------------------
    def _check_models(self, models):
        names = self.equation.model_names
        models = val.models_list(names, models)
        out = [val.float_array(f"models[{i}] ({n})", m) for i, (n, m) in enumerate(zip(names, models))]
        return out, val.check_models(names, out, self.shape)

    def _check_acquisition(self, wavelet, sources, receivers, dtype, models):
        sources = val.as_array("sources", sources)
        receivers = val.as_array("receivers", receivers)
        wavelet = val.float_array("wavelet", wavelet)
        nshot = val.check_acquisition(self.shape, wavelet, sources, receivers, dtype, models)
        sources = val.locations("sources", sources, self.shape, self.free_surface)
        receivers = val.locations("receivers", receivers, self.shape, self.free_surface)
        return nshot, wavelet, sources, receivers

    def chunk_length(self, nt: int) -> int:
        """Steps per chunk for `nt` samples: checkpoint_every, else the memory options' chunking,
        else ~sqrt(nt x fields per state). Recursive checkpointing uses chunks of (fields per
        state) steps, so that a chunk's stencil sums take as much memory as one state."""
        memory = self.memory
        if memory is not None and memory.kind == "auto":
            raise ValueError(
                "chunk_length: storage_mode 'auto' chooses the chunking per run (from nt, shots and "
                "dtype); prop.estimate_memory(...) says what it chose"
            )
        return self._storage_of(memory, nt)[0]

    def gradient_storage(self, nt: int, nshot: int = 1, nrec: int = 1, dtype=np.float32, shared_model: bool = True):
        """(chunk length K, propagator.storage.Storage): what a gradient of a run of these sizes
        stores, storage_mode "auto" resolved (`shared_model`: one model for all shots)."""
        memory = self.memory
        if memory is not None and memory.kind == "auto":
            memory = planner.choose(self, nt, nshot, nrec, dtype, memory, shared_model)
        return self._storage_of(memory, nt)

    def _storage_of(self, memory, nt):
        fields = self.equation.state_fields(self.ndim)
        if memory is None:
            return self.checkpoint_every or sched.default_chunk(nt, fields), Storage()
        kind, k = memory.kind, memory.model_gradient_sampling_interval
        store = lambda strategy, slots=0: Storage(strategy, slots, memory.compression, k)  # noqa: E731
        if kind == "recursive":
            return fields, store("recursive", memory.ckpt.count)
        if kind == "full" and self.impl == "jax":  # the reference has no W: keep every step's state
            return 1, store("chunk")
        if kind == "full":  # whole sampling intervals per chunk
            return sched.default_chunk(nt, fields, k), store("full")
        if kind == "boundary":  # the strips of every step, moved `transfer_interval` steps at a time
            b = memory.boundary
            # On the device, groups of two steps: the one-step calls then run in pairs, which
            # XLA needs to copy nothing (chunked._keeping_chunk).
            K = 2 if b.location == "device" else b.transfer_interval
            return K, Storage("boundary", 0, memory.compression, k, b.location, b.directory)
        K = self.checkpoint_every or memory.chunk_length(nt) or sched.default_chunk(nt, fields)
        return K, store("chunk")

    def estimate_memory(self, wavelet, sources, receivers, models, memory=None):
        """Bytes a run and its gradient will need on the device (and on the host), without
        running: a `propagator.planner.MemoryEstimate`. `memory`: other MemoryOptions to price
        (default: this propagator's). Arguments as for calling the propagator."""
        return planner.estimate_call(self, wavelet, sources, receivers, models, memory)

    @property
    def scheme_description(self) -> str:
        return f"dh={self.dh:g} m, order {self.equation.spatial_order}, {self.ndim}D"

    def _check_physics(self, models):
        vp = self.equation.wave_speed(models)
        limit = self.max_stable_dt(1.0)  # dt_max * v_max, a constant of the scheme
        if val.is_traced(vp):
            vp = val.check(vp, ~jnp.all(jnp.isfinite(vp) & (vp > 0)), "models[0] (vp): velocities must be finite and > 0 m/s")
            vp = val.check(
                vp,
                jnp.max(vp) * self.dt > limit,
                f"dt: {self.dt:g} s is above the stability limit {limit:.6g} / v_max for order "
                f"{self.equation.spatial_order}, {self.ndim}D, dh={self.dh:g} (checked at run time: vp is traced)",
            )
        else:
            values = np.asarray(vp)
            valid = bool(np.all(np.isfinite(values) & (values > 0)))
            val.speed_values(valid, float(values.max()) if valid else 0.0, self.dt, limit, self.scheme_description)
        return self.equation.with_wave_speed(models, vp)

"""The memory planner: what a run and its gradient will need, before running, and the
`storage_mode="auto"` choice.

The model counts the arrays the compiled program holds at its two high-water marks, in units of
one field (shots x storage cells x bytes):

    forward   the models and V, the records, and the one chunk call's working set: the state
              and the psi scratch the compiled call works in (without snapshots or callbacks,
              which cut the run into a loop of chunks, as below)
    gradient  what the strategy stores, plus the larger of the forward working set and the
              backward's: the adjoint state and the adjoint call's two scratch buffers, one
              chunk of stencil sums W, dJ/dV, and (replaying strategies) the restored state
              the replay works in, with its psi scratch

`tests/test_planner.py` checks it against XLA's own buffer assignment of the compiled gradient
(`memory_analysis`), and `benchmarks/memory.py` against the measured GPU peak.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..backend.ffi_chunk import spare_fields
from . import revolve
from . import schedule as sched
from .chunked import BACKWARD_IN_PLACE, FORWARD_IN_PLACE
from .options import CkptOptions, MemoryOptions
from .storage import Storage

GiB = 1 << 30


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a run needs. `device_forward`: a forward run (no gradient); `device_gradient`: a
    forward run and its gradient; `host`, `disk`: what boundary saving keeps in host memory or
    on disk (0 where everything stays on the device). `stored`: what the strategy stores on the
    device (inside device_gradient). `forward_steps`: time steps the gradient computes in all, forward runs and
    replays, per step of the run (the adjoint steps not counted): its cost beside a forward."""

    memory: MemoryOptions
    chunk_length: int
    device_forward: int
    device_gradient: int
    host: int
    disk: int
    stored: int
    forward_steps: float
    parts: dict = field(default_factory=dict)

    def __str__(self) -> str:
        g = lambda b: f"{b / GiB:.3g} GiB"  # noqa: E731
        return (
            f"{describe(self.memory)}, chunks of {self.chunk_length} steps: forward {g(self.device_forward)}, "
            f"gradient {g(self.device_gradient)} on the device (of which stored {g(self.stored)}), "
            f"host {g(self.host)}, disk {g(self.disk)}; the gradient runs {self.forward_steps:.2f}x the forward's steps"
        )


def describe(memory: MemoryOptions | None) -> str:
    if memory is None:
        return "chunk checkpointing (default)"
    kind = memory.kind
    text = {"recursive": f"recursive checkpointing ({memory.ckpt.count} states)" if memory.ckpt else "recursive",
            "chunk": "chunk checkpointing", "full": "full storage", "auto": "auto", "boundary": "boundary saving"}.get(kind, kind)
    if kind == "boundary" and memory.boundary.storage != "gpu":
        b = memory.boundary
        where = {"cpu": "in pinned host memory" if b.pinned_memory else "in host memory", "disk": f"on disk ({b.directory})"}[b.storage]
        text += f" {where}, every {b.transfer_interval} steps"
    if memory.compression == "bf16":
        text += ", bf16"
    if memory.model_gradient_sampling_interval > 1:
        text += f", imaging every {memory.model_gradient_sampling_interval} steps"
    return text


@dataclass(frozen=True)
class Sizes:
    nt: int
    nshot: int
    nrec: int
    dtype: np.dtype
    shared_model: bool = True


def estimate(prop, sizes: Sizes, memory: MemoryOptions | None) -> MemoryEstimate:
    """The estimate for a propagator (its memory options replaced by `memory`)."""
    if memory is not None and memory.kind == "auto":
        memory = choose(prop, sizes.nt, sizes.nshot, sizes.nrec, sizes.dtype, memory, sizes.shared_model)
    K, storage = prop._storage_of(memory, sizes.nt)
    grid, nd = prop.grid, prop.ndim
    item = np.dtype(sizes.dtype).itemsize
    F = prop.equation.state_fields(nd)
    field_ = sizes.nshot * grid.cells * item
    model = (1 if sizes.shared_model else sizes.nshot) * grid.cells * item
    physical = (1 if sizes.shared_model else sizes.nshot) * int(np.prod(prop.shape)) * item
    records = sizes.nshot * sizes.nt * sizes.nrec * item
    schedule = sched.Schedule.make(sizes.nt, K)
    U = schedule.units

    inputs = physical + 2 * model + 3 * records  # models, V and its padded model, records
    # The compiled calls work in the state's buffers and a psi scratch (chunked.FORWARD_IN_PLACE;
    # not where the forward stores states, chunk and recursive checkpointing, nor in the
    # reference). Elsewhere a call has the zero state (one field, one psi/zeta block, each
    # passed twice), the state out and a psi buffer, and in a loop of chunks the state in and out.
    compiled = prop.impl == "c"
    in_place = compiled and storage.strategy in FORWARD_IN_PLACE
    # The CUDA forward's two spare fields (ffi_chunk.spare_fields), where its calls run the box
    # two steps per pass: the forward without W (a run, chunk and recursive checkpointing).
    spare = spare_fields(grid, K) if compiled else 0
    single = (F + nd + spare) * field_ if compiled else (1 + nd + F + nd) * field_
    working = (F + nd if in_place else 2 * F + nd) * field_
    if storage.strategy in ("chunk", "recursive"):
        working += spare * field_
    compression = storage.itemsize(sizes.dtype) / item
    # One step's W in fields: the compiled kernels keep it without the halo (grid.padded); the
    # reference's per-step residuals are whole fields.
    w = float(np.prod(grid.padded)) / grid.cells if prop.impl == "c" else 1.0
    # The backward's two phases, beside one chunk of W and dJ/dV (the sum and one chunk's):
    # replaying and the adjoint call. Compiled, chunked.BACKWARD_IN_PLACE: the adjoint state and
    # its call's (psi, zeta) scratch are carried throughout; a replay works in the restored
    # state and its psi scratch, carried too where there are replays. Else: the adjoint state,
    # the restored state, the replayed one and a psi buffer; the adjoint call's state in and
    # out and two buffers.
    if compiled and storage.strategy in BACKWARD_IN_PLACE:
        replay_scratch = 0 if storage.strategy == "full" else nd
        adjoint = F + 2 * nd + replay_scratch
        replaying = adjoint + F
    else:
        replaying = 3 * F + nd
        adjoint = 2 * F + 2 * nd
    offloaded = [0, 0]  # host, disk
    w_chunk = 0  # full storage: the chunk of W the forward writes, before it is stored
    if storage.strategy == "chunk":
        stored = U * F * field_ * compression
        steps = 2 - 1 / U if U > 1 else 1.0
        peak = K * w + max(replaying, adjoint)
    elif storage.strategy == "full":
        sampled = storage.sampled_slots(schedule)
        M = K if sampled is None else sampled[0].shape[1]
        stored = U * M * w * field_ * compression
        steps = 1.0
        if storage.w_in_place:  # the kernels write and read W in the stored stack
            peak = adjoint
        else:  # a chunk of W outside the stack while it is written, sampled or compressed, and read
            w_chunk = K * w
            peak = w_chunk + adjoint + (M * w if sampled is not None else 0)
        if in_place:  # XLA keeps the forward's state and scratch beside the backward's (CPU, 2D and 3D)
            peak += F + nd
    elif storage.strategy == "boundary":
        strip = storage.strip_bytes(grid, sizes.nshot, sizes.dtype)
        strips, group = U * K * strip, K * strip
        # The backward reads only the two fields of the final state (psi and zeta restart at zero).
        stored = 2 * field_ + (strips if storage.location == "device" else 0)
        if storage.location != "device":
            offloaded[storage.location == "disk"] = strips
        steps = 2.0  # the forward, and the same steps run backwards
        if compiled:
            # A reverse step: its carried state and adjoint state, the calls' carried scratch
            # buffers (the forward's psi, the adjoint's psi and zeta) and one step's W; the steps
            # run in pairs, and for a pair XLA holds about another state and psi of transients
            # (one more step's W and dJ/dV, copies of the fields the strips are written into:
            # against XLA's buffer assignment 8 fields in 2D and 13 in 3D on the CPU, 8 fields
            # in 3D 400^3 on the H100).
            peak = 2 * F + 3 * nd + w + (F + nd)
        else:
            # The same, but the reference's step and its VJP in place of the calls' scratch.
            peak = 2 * F + 2 * nd + 2 + w
        if storage.location != "device":
            working += group  # the group the forward fills
        peak += 2 * group / field_  # two groups of strips: the one worked on and the next, fetched ahead
    else:
        slots = min(storage.slots, U - 1)
        stored = max(slots, 1) * F * field_ * compression
        advances = revolve.plan(U, slots, primal=True).advances  # the primal forward's stores saved
        steps = 1 + (advances * K + (sizes.nt - 1)) / max(sizes.nt - 1, 1)
        peak = K * w + max(replaying, adjoint)
    backward = peak * field_ + 2 * model
    forward_dev = inputs + single
    gradient_dev = inputs + stored + max(working + w_chunk * field_, backward)
    parts = dict(inputs=inputs, forward_working_set=working, stored=int(stored), backward_working_set=backward)
    return MemoryEstimate(
        memory=memory or MemoryOptions(),
        chunk_length=K,
        device_forward=int(forward_dev),
        device_gradient=int(gradient_dev),
        host=int(offloaded[0]),
        disk=int(offloaded[1]),
        stored=int(stored),
        forward_steps=float(steps),
        parts=parts,
    )


def choose(prop, nt, nshot, nrec, dtype, memory: MemoryOptions, shared_model=True) -> MemoryOptions:
    """storage_mode "auto": the fastest strategy whose gradient fits in memory.max_bytes: full
    storage, else chunk checkpointing (with the default chunk length, which needs about the
    least memory of its kind), else recursive checkpointing with the most states that fit.
    Compression and sampling are the user's (they change the result) and are kept as given."""
    sizes = Sizes(nt, nshot, nrec, np.dtype(dtype), shared_model)
    extra = dict(storage_compression=memory.storage_compression, model_gradient_sampling_interval=memory.model_gradient_sampling_interval)
    need = lambda option: estimate(prop, sizes, option).device_gradient  # noqa: E731
    limit = memory.max_bytes
    F = prop.equation.state_fields(prop.ndim)
    chunks = max(1, -(-(nt - 1) // sched.default_chunk(nt, F)))
    for option in (MemoryOptions(strategy="full", **extra), MemoryOptions(strategy="ckpt", ckpt=CkptOptions(mode="chunk", chunks=chunks), **extra)):
        if need(option) <= limit:
            return option
    recursive = lambda count: MemoryOptions(strategy="ckpt", ckpt=CkptOptions(mode="recursive", count=count), **extra)  # noqa: E731
    lo, hi = 1, max(1, -(-(nt - 1) // F) - 1)  # more states than chunks cannot be used
    if need(recursive(lo)) > limit:
        raise ValueError(
            f"memory: storage_mode 'auto' found no strategy whose gradient fits in max_bytes={limit} "
            f"({limit / GiB:.3g} GiB); the smallest needs {need(recursive(lo))} bytes ({need(recursive(lo)) / GiB:.3g} GiB)"
        )
    while lo < hi:  # the most states that fit (the need grows with the count)
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if need(recursive(mid)) <= limit else (lo, mid - 1)
    return recursive(lo)


def estimate_call(prop, wavelet, sources, receivers, models, memory=None) -> MemoryEstimate:
    """PropJax.estimate_memory: the sizes of a call, checked as the call checks them."""
    models, dtype = prop._check_models(models)
    nshot, wavelet, sources, receivers = prop._check_acquisition(wavelet, sources, receivers, dtype, models)
    if memory is not None and not isinstance(memory, MemoryOptions):
        raise TypeError(f"memory: expected sweep.propagator.options.MemoryOptions(...) or None, got {memory!r}")
    shared = all(np.ndim(m) == prop.ndim for m in models)
    sizes = Sizes(int(wavelet.shape[-1]), int(nshot), int(receivers.shape[-2]), np.dtype(dtype), shared)
    return estimate(prop, sizes, memory if memory is not None else prop.memory)

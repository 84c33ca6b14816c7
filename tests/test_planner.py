"""The memory planner against XLA's own buffer assignment of the compiled programs, and
storage_mode="auto"."""

import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import FIXED_PML, prop, rel, small_problem
from sweep.propagator.options import BoundaryOptions, CkptOptions, MemoryOptions
from sweep.propagator.planner import MemoryEstimate

pytestmark = pytest.mark.needs_core

STRATEGIES = {
    "default": None,
    "chunk-6": MemoryOptions(strategy="ckpt", ckpt=CkptOptions(mode="chunk", chunks=6)),
    "chunk-6-bf16": MemoryOptions(strategy="ckpt", ckpt=CkptOptions(mode="chunk", chunks=6), storage_compression="bf16"),
    "full": MemoryOptions(strategy="full"),
    "full-sampled": MemoryOptions(strategy="full", model_gradient_sampling_interval=4),
    "full-bf16": MemoryOptions(strategy="full", storage_compression="bf16"),
    "recursive-3": MemoryOptions(strategy="ckpt", ckpt=CkptOptions(mode="recursive", count=3)),
    "recursive-3-bf16": MemoryOptions(strategy="ckpt", ckpt=CkptOptions(mode="recursive", count=3), storage_compression="bf16"),
    "boundary": MemoryOptions(strategy="boundary", boundary=BoundaryOptions()),
    "boundary-bf16": MemoryOptions(strategy="boundary", boundary=BoundaryOptions(), storage_compression="bf16"),
    "boundary-host-8": MemoryOptions(strategy="boundary", boundary=BoundaryOptions(storage="cpu", transfer_interval=8)),
    "boundary-disk-8": MemoryOptions(strategy="boundary", boundary=BoundaryOptions(storage="disk", directory=tempfile.gettempdir(), transfer_interval=8)),
}


def offloaded(memory):
    return memory is not None and memory.kind == "boundary" and memory.boundary.storage != "gpu"


def problem(ndim):
    shape = (60, 70) if ndim == 2 else (20, 22, 24)
    nshot, nt, nrec = 2, (160 if ndim == 2 else 60), 12
    vp = np.full(shape, 2000.0, np.float32)
    w = np.sin(np.arange(nt) * 0.2).astype(np.float32)
    src = np.array([[3] + [5] * (ndim - 1)] * nshot)
    rec = np.stack([np.stack([[2] + [i] * (ndim - 1) for i in range(nrec)])] * nshot)
    return vp, w, src, rec, dict(shape=shape, dh=10.0, dt=1e-3, abcn=10)


def xla_bytes(fn, *args):
    """Bytes of XLA's CPU buffer assignment (deterministic; the GPU's peak is compared in
    benchmarks/memory.py, at full size)."""
    cpu = jax.devices("cpu")[0]
    with jax.default_device(cpu):
        m = jax.jit(fn).lower(*jax.device_put(args, cpu)).compile().memory_analysis()
    return m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("name", STRATEGIES)
def test_estimate_agrees_with_xla_buffer_assignment(ndim, name):
    vp, w, src, rec, kw = problem(ndim)
    p = prop(8, "c", memory=STRATEGIES[name], **kw)
    est = p.estimate_memory(w, src, rec, [vp])
    fwd = xla_bytes(lambda v: p(w, src, rec, [v]), vp)
    grad = xla_bytes(jax.grad(lambda v: jnp.sum(p(w, src, rec, [v]) ** 2)), vp)
    assert abs(est.device_forward / fwd - 1) < 0.1, (est.device_forward, fwd)
    assert abs(est.device_gradient / grad - 1) < 0.1, (est.device_gradient, grad, est.parts)
    assert est.stored < est.device_gradient
    if offloaded(STRATEGIES[name]):  # the strips leave the device (the device keeps 3 groups)
        on_disk = STRATEGIES[name].boundary.storage == "disk"
        assert (est.disk, est.host)[on_disk] == 0 < (est.host, est.disk)[on_disk]
    else:
        assert est.host == est.disk == 0


def test_estimate_reports_the_trade():
    vp, w, src, rec, kw = problem(2)
    p = prop(8, "c", **kw)
    est = {n: p.estimate_memory(w, src, rec, [vp], memory=m) for n, m in STRATEGIES.items()}
    assert isinstance(est["full"], MemoryEstimate) and "full storage" in str(est["full"])
    assert est["full"].forward_steps == 1.0 and 1.5 < est["chunk-6"].forward_steps <= 2.0
    assert est["recursive-3"].forward_steps > est["chunk-6"].forward_steps
    assert est["recursive-3"].stored < est["chunk-6"].stored < est["full"].stored
    assert est["boundary"].stored < est["full"].stored and est["boundary"].forward_steps == 2.0
    # Off the device: the same strips, of 160 steps (in groups of 8; the device keeps groups of 2).
    # The device also keeps the final state's two fields (p and the previous p) of the 2 shots.
    strips = est["boundary"].stored - 2 * (2 * p.grid.cells * 4)
    assert est["boundary-host-8"].host == est["boundary-disk-8"].disk == strips
    assert est["boundary-host-8"].disk == est["boundary-disk-8"].host == 0
    assert est["boundary-host-8"].stored < est["boundary"].stored
    assert "host memory, every 8 steps" in str(est["boundary-host-8"]) and "disk (" in str(est["boundary-disk-8"])
    assert est["chunk-6-bf16"].stored == est["chunk-6"].stored // 2
    assert est["full-sampled"].stored < 0.3 * est["full"].stored  # every 4th step's W (chunks padded)
    with pytest.raises(TypeError, match="memory: expected"):
        p.estimate_memory(w, src, rec, [vp], memory="full")
    with pytest.raises(ValueError, match="wavelet"):
        p.estimate_memory(w[None, None], src, rec, [vp])


def test_auto_picks_the_fastest_strategy_that_fits():
    vp, w, src, rec, kw = problem(2)
    p = prop(8, "c", **kw)
    est = {n: p.estimate_memory(w, src, rec, [vp], memory=m) for n, m in STRATEGIES.items()}
    auto = lambda limit: p.estimate_memory(w, src, rec, [vp], memory=MemoryOptions(storage_mode="auto", max_bytes=int(limit)))  # noqa: E731
    assert auto(est["full"].device_gradient).memory.kind == "full"
    chunk = auto(est["full"].device_gradient - 1)
    assert chunk.memory.kind == "chunk" and chunk.device_gradient < est["full"].device_gradient
    small = auto(est["recursive-3"].device_gradient)
    assert small.memory.kind == "recursive" and small.device_gradient <= est["recursive-3"].device_gradient
    with pytest.raises(ValueError, match="no strategy whose gradient fits in max_bytes=1000 .*the smallest needs"):
        auto(1000)


def test_auto_runs_and_is_exact():
    vp, w, src, rec, kw = small_problem(2, order=4, nt=40)
    kw.pop("checkpoint_every")
    ref = prop(4, "jax", pml=FIXED_PML, **kw)
    g0 = jax.grad(lambda v: jnp.sum(ref(w, src, rec, [v]) ** 2))(vp)
    need = ref.estimate_memory(w, src, rec, [vp], memory=MemoryOptions(strategy="ckpt", ckpt=CkptOptions(mode="recursive", count=2)))
    memory = MemoryOptions(storage_mode="auto", max_bytes=need.device_gradient)
    p = prop(4, "c", pml=FIXED_PML, memory=memory, **kw)
    assert p.estimate_memory(w, src, rec, [vp]).memory.kind == "recursive"
    g = jax.grad(lambda v: jnp.sum(p(w, src, rec, [v]) ** 2))(vp)
    assert rel(g, g0) < 1e-12
    with pytest.raises(ValueError, match="storage_mode 'auto' chooses the chunking per run"):
        p.chunk_length(40)


def test_spare_fields_where_the_gpu_forward_runs_two_steps_per_pass(monkeypatch):
    """The forward calls' spare result (ffi_chunk.spare_fields): two fields per shot where the
    CUDA forward may run its box two steps per pass (2D, no free surface, no W, every cell
    updated, K >= 4, a frame of at most PASS_FRAME_SHARE of the cells; SWEEP_CUDA_PASSES
    overrides the share or turns it off), none on the CPU; and the planner counts them."""
    from sweep.backend import ffi_chunk
    from sweep.grid import Grid

    big, small = Grid((2000, 2000), 20, 4, False), Grid((1000, 1000), 20, 4, False)
    assert ffi_chunk.spare_fields(big, 8) == 0  # the CPU backend
    p = prop(8, "c", shape=(2000, 2000), dh=10.0, dt=1e-3, abcn=20, checkpoint_every=8)
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    # the share: 1 - (2000 + 40 - 48)^2 / 2040^2, and for 1000^2 9.0%
    assert abs(ffi_chunk._frame_share(big) - (1 - (1992 / 2040) ** 2)) < 1e-12
    assert ffi_chunk.spare_fields(big, 8) == 2 and ffi_chunk.spare_fields(small, 8) == 0
    for grid, K, kw in [(big, 3, {}), (big, 8, dict(save=True)), (big, 8, dict(physical_only=True)),
                        (Grid((2000, 2000), 20, 4, True), 8, {}), (Grid((200, 200, 200), 20, 4, False), 8, {})]:
        assert ffi_chunk.spare_fields(grid, K, **kw) == 0, (grid, K, kw)
    monkeypatch.setenv("SWEEP_CUDA_PASSES", "always")
    assert ffi_chunk.spare_fields(small, 8) == 2 and ffi_chunk.spare_fields(big, 2) == 0
    monkeypatch.setenv("SWEEP_CUDA_PASSES", "never")
    assert ffi_chunk.spare_fields(big, 8) == 0

    monkeypatch.delenv("SWEEP_CUDA_PASSES")
    args = (jnp.zeros(101, jnp.float32), np.array([[5, 5]]), np.array([[[5, 6]]]), [jnp.ones((2000, 2000), jnp.float32)])
    with_spare = p.estimate_memory(*args).device_forward
    monkeypatch.setenv("SWEEP_CUDA_PASSES", "never")
    assert with_spare - p.estimate_memory(*args).device_forward == 2 * p.grid.cells * 4

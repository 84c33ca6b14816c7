"""User options of the propagators, as documented: frozen dataclasses checked on construction.

    EagerOptions(...)                      PropTorch(impl="eager"): torch.compile, inspection
    CUDAOptions(memory=MemoryOptions(...)) the compiled path (PropTorch impl="c"; PropJax memory=)
    MemoryOptions(strategy="ckpt", ckpt=CkptOptions(mode="chunk", chunks=50))
    MemoryOptions(strategy="ckpt", ckpt=CkptOptions(mode="recursive", count=8), storage_compression="bf16")
    MemoryOptions(strategy="full", model_gradient_sampling_interval=4)
    MemoryOptions(storage_mode="auto", max_bytes=8 << 30)

Every violated rule raises a ValueError that quotes the rule.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass
from typing import Any, Callable

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def steps_per_chunk(nt: int, chunks: int) -> int:
    """Chunk length that cuts the nt - 1 steps of `nt` samples into `chunks` chunks."""
    return max(1, math.ceil((nt - 1) / chunks))


def _rule(ok: bool, owner: str, rule: str, got: str) -> None:
    if not ok:
        raise ValueError(f'{owner}: rule "{rule}" is violated (got {got})')


def _is_bool(x) -> bool:
    return isinstance(x, bool)


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


@dataclass(frozen=True)
class EagerOptions:
    """PropTorch(impl="eager"): run each time step under `torch.compile` with these settings,
    and optionally keep the last wavefield state (`PropTorch.last_wavefield`) for inspection."""

    use_compile: bool = False
    compile_mode: str = "default"
    compile_dynamic: bool | None = False
    compile_backend: str | Callable | None = None
    compile_fullgraph: bool = False
    store_last_wavefield: bool = False

    def __post_init__(self):
        o = "EagerOptions"
        for name in ("use_compile", "compile_fullgraph", "store_last_wavefield"):
            v = getattr(self, name)
            _rule(_is_bool(v), o, f"{name} is True or False", repr(v))
        _rule(self.compile_mode in COMPILE_MODES, o, f"compile_mode is one of {COMPILE_MODES}", repr(self.compile_mode))
        v = self.compile_dynamic
        _rule(v is None or _is_bool(v), o, "compile_dynamic is True, False or None", repr(v))
        v = self.compile_backend
        _rule(v is None or isinstance(v, str) or callable(v), o, "compile_backend is None, a backend name or a callable", repr(v))

    def compile_kwargs(self) -> dict:
        """The keyword arguments of `torch.compile` these options stand for."""
        kw: dict[str, Any] = dict(mode=self.compile_mode, dynamic=self.compile_dynamic, fullgraph=self.compile_fullgraph)
        if self.compile_backend is not None:
            kw["backend"] = self.compile_backend
        return kw


@dataclass(frozen=True)
class BoundaryOptions:
    """Boundary saving: where the saved strips live and how often they move there.

    storage: "gpu" (the device JAX runs on), "cpu" (host memory) or "disk" (files in
        `directory`, removed as the backward reads them, on errors and at exit).
    transfer_interval: steps whose strips move to the host or disk together (one transfer).
    pinned_memory: "cpu" only: page-locked host memory, which XLA fills and drains with
        asynchronous copies beside the compute; otherwise pageable memory through host callbacks.
    directory: "disk" only: an existing, writable directory.
    """

    storage: str = "gpu"
    transfer_interval: int = 1
    pinned_memory: bool = False
    directory: str | os.PathLike | None = None

    def __post_init__(self):
        o = "BoundaryOptions"
        _rule(self.storage in ("gpu", "cpu", "disk"), o, "storage is 'gpu', 'cpu' or 'disk'", repr(self.storage))
        v = self.transfer_interval
        _rule(_is_int(v) and v >= 1, o, "transfer_interval >= 1", repr(v))
        _rule(_is_bool(self.pinned_memory), o, "pinned_memory is True or False", repr(self.pinned_memory))
        if self.storage == "gpu":
            _rule(v == 1, o, "with storage 'gpu', transfer_interval stays 1", f"transfer_interval={v!r}")
            _rule(not self.pinned_memory, o, "with storage 'gpu', pinned_memory stays False", "pinned_memory=True")
        d = self.directory
        if self.storage == "disk":
            _rule(not self.pinned_memory, o, "pinned_memory goes with storage 'cpu'", "storage='disk'")
            _rule(isinstance(d, (str, os.PathLike)) and str(d) != "", o, "storage 'disk' needs directory, a path", repr(d))
            object.__setattr__(self, "directory", os.fspath(d))
        else:
            _rule(d is None, o, "directory goes with storage 'disk'", f"directory={d!r}")

    @property
    def location(self) -> str:
        """Where the strips are kept: "device", "pinned_host", "host" or "disk"."""
        if self.storage == "gpu":
            return "device"
        if self.storage == "disk":
            return "disk"
        return "pinned_host" if self.pinned_memory else "host"


@dataclass(frozen=True)
class CkptOptions:
    """Checkpointing: "chunk" stores `chunks` states and replays each chunk; "recursive" keeps a
    budget of `count` states with a binomial replay schedule."""

    mode: str = "chunk"
    chunks: int = 100
    count: int = 0

    def __post_init__(self):
        o = "CkptOptions"
        _rule(self.mode in ("chunk", "recursive"), o, "mode is 'chunk' or 'recursive'", repr(self.mode))
        _rule(_is_int(self.chunks), o, "chunks is an integer", repr(self.chunks))
        _rule(_is_int(self.count), o, "count is an integer", repr(self.count))
        if self.mode == "chunk":
            _rule(self.chunks >= 1, o, "mode 'chunk' needs chunks >= 1", f"chunks={self.chunks}")
            _rule(self.count == 0, o, "mode 'chunk' needs count 0", f"count={self.count}")
        else:
            _rule(self.count >= 1, o, "mode 'recursive' needs count >= 1", f"count={self.count}")
            default = CkptOptions.__dataclass_fields__["chunks"].default
            _rule(self.chunks == default, o, f"mode 'recursive' needs chunks left at its default ({default})", f"chunks={self.chunks}")


STRATEGIES = (None, "full", "ckpt", "boundary")
COMPRESSIONS = (False, "none", "bf16")


@dataclass(frozen=True)
class MemoryOptions:
    """How the gradient gets the forward wavefield back.

    strategy: None (the propagator's default chunk checkpointing), "full" (store what the adjoint
    needs at every step), "ckpt" (with `ckpt=CkptOptions(...)`) or "boundary" (with
    `boundary=BoundaryOptions(...)`).
    storage_compression: False / "none", or "bf16" (whatever is stored is kept in bfloat16).
    model_gradient_sampling_interval: k, the imaging condition evaluated every k-th step (and
        weighted by k): fewer stored fields with "full", an approximation for k > 1.
    storage_mode: None (the strategy decides) or "auto" with `max_bytes`: the planner picks the
        fastest strategy whose gradient fits in max_bytes of device memory.
    """

    strategy: str | None = None
    boundary: BoundaryOptions | None = None
    ckpt: CkptOptions | None = None
    storage_compression: bool | str = False
    model_gradient_sampling_interval: int = 1
    storage_mode: str | None = None
    max_bytes: int | None = None

    def __post_init__(self):
        o = "MemoryOptions"
        _rule(self.strategy in STRATEGIES, o, "strategy is 'full', 'ckpt', 'boundary' or None", repr(self.strategy))
        b, c = self.boundary, self.ckpt
        _rule(b is None or isinstance(b, BoundaryOptions), o, "boundary is a BoundaryOptions or None", repr(b))
        _rule(c is None or isinstance(c, CkptOptions), o, "ckpt is a CkptOptions or None", repr(c))
        _rule(b is None or c is None, o, "boundary and ckpt are not both given", "both")
        if self.strategy == "boundary":
            _rule(b is not None, o, "strategy 'boundary' requires boundary=BoundaryOptions(...)", "boundary=None")
        elif self.strategy == "ckpt":
            _rule(c is not None, o, "strategy 'ckpt' requires ckpt=CkptOptions(...)", "ckpt=None")
        else:
            _rule(b is None and c is None, o, f"strategy {self.strategy!r} allows neither boundary nor ckpt", f"boundary={b!r}, ckpt={c!r}")
        v = self.storage_compression
        _rule(any(v is x or (isinstance(x, str) and v == x) for x in COMPRESSIONS), o, "storage_compression is False, 'none' or 'bf16'", repr(v))
        k = self.model_gradient_sampling_interval
        _rule(_is_int(k) and k >= 1, o, "model_gradient_sampling_interval is an integer >= 1", repr(k))
        _rule(self.storage_mode in (None, "auto"), o, "storage_mode is None or 'auto'", repr(self.storage_mode))
        m = self.max_bytes
        if self.storage_mode == "auto":
            _rule(self.strategy is None, o, "storage_mode 'auto' chooses the strategy itself (leave strategy None)", f"strategy={self.strategy!r}")
            _rule(_is_int(m) and m > 0, o, "storage_mode 'auto' needs max_bytes, an integer > 0", repr(m))
        else:
            _rule(m is None, o, "max_bytes goes with storage_mode 'auto'", f"max_bytes={m!r}")

    @property
    def compression(self) -> str:
        """ "none" or "bf16". """
        return "bf16" if self.storage_compression == "bf16" else "none"

    @property
    def kind(self) -> str:
        """The gradient's strategy: "chunk", "recursive", "full", "boundary" or "auto"."""
        if self.storage_mode == "auto":
            return "auto"
        if self.strategy == "ckpt":
            return self.ckpt.mode
        return self.strategy or "chunk"

    def chunk_length(self, nt: int) -> int | None:
        """Steps per checkpointed chunk for `nt` samples, or None for the propagator's default."""
        if self.strategy == "ckpt" and self.ckpt.mode == "chunk":
            return steps_per_chunk(nt, self.ckpt.chunks)
        return None


@dataclass(frozen=True)
class CUDAOptions:
    """Options of the compiled path (PropTorch impl="c", on CUDA or CPU)."""

    memory: MemoryOptions | None = None

    def __post_init__(self):
        m = self.memory
        _rule(m is None or isinstance(m, MemoryOptions), "CUDAOptions", "memory is a MemoryOptions or None", repr(m))

"""Every rule of the documented option classes raises a ValueError quoting the rule."""

import pytest

from sweep.propagator.options import BoundaryOptions, CkptOptions, CUDAOptions, EagerOptions, MemoryOptions

GOOD = [
    EagerOptions(),
    EagerOptions(use_compile=True, compile_mode="max-autotune", compile_dynamic=None, compile_backend="eager", compile_fullgraph=True, store_last_wavefield=True),
    EagerOptions(compile_backend=lambda gm, inputs: gm.forward),
    CUDAOptions(),
    CUDAOptions(memory=MemoryOptions()),
    MemoryOptions(strategy="boundary", boundary=BoundaryOptions()),
    MemoryOptions(strategy="ckpt", ckpt=CkptOptions()),
    BoundaryOptions(storage="cpu", transfer_interval=4, pinned_memory=True),
    BoundaryOptions(storage="gpu"),
    BoundaryOptions(storage="disk", directory="/tmp", transfer_interval=8),
    CkptOptions(mode="chunk", chunks=1),
    CkptOptions(mode="recursive", count=5),
    MemoryOptions(strategy="full", storage_compression="bf16", model_gradient_sampling_interval=4),
    MemoryOptions(strategy="ckpt", ckpt=CkptOptions(mode="recursive", count=3), storage_compression="none"),
    MemoryOptions(storage_mode="auto", max_bytes=1 << 30, storage_compression=False),
]


@pytest.mark.parametrize("opts", GOOD, ids=lambda o: type(o).__name__)
def test_valid_options(opts):
    assert opts == opts


RULES = [
    (lambda: EagerOptions(use_compile=1), "use_compile is True or False"),
    (lambda: EagerOptions(compile_fullgraph="yes"), "compile_fullgraph is True or False"),
    (lambda: EagerOptions(store_last_wavefield=None), "store_last_wavefield is True or False"),
    (lambda: EagerOptions(compile_mode="fast"), "compile_mode is one of"),
    (lambda: EagerOptions(compile_dynamic="auto"), "compile_dynamic is True, False or None"),
    (lambda: EagerOptions(compile_backend=3), "compile_backend is None, a backend name or a callable"),
    (lambda: CUDAOptions(memory="ckpt"), "memory is a MemoryOptions or None"),
    (lambda: MemoryOptions(strategy="disk"), "strategy is 'full', 'ckpt', 'boundary' or None"),
    (lambda: MemoryOptions(strategy="full", ckpt=CkptOptions()), "strategy 'full' allows neither boundary nor ckpt"),
    (lambda: MemoryOptions(storage_compression=True), "storage_compression is False, 'none' or 'bf16'"),
    (lambda: MemoryOptions(storage_compression="fp16"), "storage_compression is False, 'none' or 'bf16'"),
    (lambda: MemoryOptions(model_gradient_sampling_interval=0), "model_gradient_sampling_interval is an integer >= 1"),
    (lambda: MemoryOptions(model_gradient_sampling_interval=2.0), "model_gradient_sampling_interval is an integer >= 1"),
    (lambda: MemoryOptions(storage_mode="manual"), "storage_mode is None or 'auto'"),
    (lambda: MemoryOptions(storage_mode="auto"), "storage_mode 'auto' needs max_bytes, an integer > 0"),
    (lambda: MemoryOptions(storage_mode="auto", max_bytes=-1), "storage_mode 'auto' needs max_bytes, an integer > 0"),
    (lambda: MemoryOptions(storage_mode="auto", max_bytes=10, strategy="full"), "storage_mode 'auto' chooses the strategy itself"),
    (lambda: MemoryOptions(max_bytes=10), "max_bytes goes with storage_mode 'auto'"),
    (lambda: MemoryOptions(strategy="boundary"), "strategy 'boundary' requires boundary=BoundaryOptions(...)"),
    (lambda: MemoryOptions(strategy="ckpt"), "strategy 'ckpt' requires ckpt=CkptOptions(...)"),
    (lambda: MemoryOptions(strategy="ckpt", ckpt=CkptOptions(), boundary=BoundaryOptions()), "boundary and ckpt are not both given"),
    (lambda: MemoryOptions(strategy="boundary", boundary=BoundaryOptions(), ckpt=CkptOptions()), "boundary and ckpt are not both given"),
    (lambda: MemoryOptions(ckpt=CkptOptions()), "strategy None allows neither boundary nor ckpt"),
    (lambda: MemoryOptions(boundary=BoundaryOptions()), "strategy None allows neither boundary nor ckpt"),
    (lambda: MemoryOptions(strategy="ckpt", ckpt="chunk"), "ckpt is a CkptOptions or None"),
    (lambda: MemoryOptions(strategy="boundary", boundary={}), "boundary is a BoundaryOptions or None"),
    (lambda: BoundaryOptions(storage="tape"), "storage is 'gpu', 'cpu' or 'disk'"),
    (lambda: BoundaryOptions(storage="disk"), "storage 'disk' needs directory, a path"),
    (lambda: BoundaryOptions(storage="disk", directory=""), "storage 'disk' needs directory, a path"),
    (lambda: BoundaryOptions(storage="disk", directory="/tmp", pinned_memory=True), "pinned_memory goes with storage 'cpu'"),
    (lambda: BoundaryOptions(storage="cpu", directory="/tmp"), "directory goes with storage 'disk'"),
    (lambda: BoundaryOptions(storage="cpu", transfer_interval=0), "transfer_interval >= 1"),
    (lambda: BoundaryOptions(storage="cpu", transfer_interval=1.5), "transfer_interval >= 1"),
    (lambda: BoundaryOptions(storage="gpu", transfer_interval=2), "with storage 'gpu', transfer_interval stays 1"),
    (lambda: BoundaryOptions(storage="gpu", pinned_memory=True), "with storage 'gpu', pinned_memory stays False"),
    (lambda: BoundaryOptions(storage="cpu", pinned_memory="no"), "pinned_memory is True or False"),
    (lambda: CkptOptions(mode="binomial"), "mode is 'chunk' or 'recursive'"),
    (lambda: CkptOptions(mode="chunk", chunks=0), "mode 'chunk' needs chunks >= 1"),
    (lambda: CkptOptions(mode="chunk", count=3), "mode 'chunk' needs count 0"),
    (lambda: CkptOptions(mode="chunk", chunks=2.0), "chunks is an integer"),
    (lambda: CkptOptions(mode="recursive"), "mode 'recursive' needs count >= 1"),
    (lambda: CkptOptions(mode="recursive", count=2, chunks=10), "mode 'recursive' needs chunks left at its default (100)"),
]


@pytest.mark.parametrize("make,rule", RULES, ids=[r for _, r in RULES])
def test_each_rule(make, rule):
    with pytest.raises(ValueError) as info:
        make()
    assert f'rule "{rule}' in str(info.value)


def test_options_are_frozen():
    with pytest.raises(Exception):
        CkptOptions().chunks = 3


def test_chunk_length():
    assert MemoryOptions(strategy="ckpt", ckpt=CkptOptions(chunks=3)).chunk_length(31) == 10
    assert MemoryOptions().chunk_length(31) is None

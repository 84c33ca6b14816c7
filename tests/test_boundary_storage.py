"""Boundary saving with its strips in host memory or on disk: the gradient of device storage;
disk files that live from the forward to the backward and go on failures and at exit; clear
errors for a missing, unwritable or full directory."""

import errno
import os
import signal
import subprocess
import sys
import textwrap
from collections import namedtuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import FIXED_PML, prop, rel, small_problem
from sweep.propagator import offload
from sweep.propagator.options import BoundaryOptions, MemoryOptions

IMPLS = ["jax", pytest.param("c", marks=pytest.mark.needs_core)]
NT = 31


def boundary(b, **kw):
    return MemoryOptions(strategy="boundary", boundary=b, **kw)


def gradient(impl, memory, log=None):
    """dJ/dvp and dJ/dwavelet of a run with snapshots every 6 steps and backward callbacks, so
    that groups of transfer_interval steps end at segment ends too."""
    vp, w, src, rec, kw = small_problem(2, order=4, nt=NT)
    kw.pop("checkpoint_every")
    p = prop(4, impl, pml=FIXED_PML, memory=memory, **kw)

    def loss(v, x):
        d, snaps = p(x, src, rec, [v], snapshot_interval=6, backward_callback=log, callback_frequency=6)
        return jnp.sum(d**2) + jnp.sum(snaps**3)

    return jax.jit(jax.grad(loss, argnums=(0, 1)))(vp, w)


OFF_DEVICE = {
    "pinned-3": lambda d: BoundaryOptions(storage="cpu", pinned_memory=True, transfer_interval=3),
    "host-4": lambda d: BoundaryOptions(storage="cpu", transfer_interval=4),
    "disk-1": lambda d: BoundaryOptions(storage="disk", directory=d),
    "disk-5": lambda d: BoundaryOptions(storage="disk", directory=d, transfer_interval=5),
}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", OFF_DEVICE)
@pytest.mark.parametrize("extra", [{}, dict(storage_compression="bf16", model_gradient_sampling_interval=2)], ids=["plain", "bf16-sampled"])
def test_off_device_storage_gives_the_device_gradient(impl, name, extra, tmp_path):
    seen = {}
    log = lambda key: lambda state: seen.setdefault(key, []).append((state.step, np.array(state.gradient())))  # noqa: E731
    g0 = gradient(impl, boundary(BoundaryOptions(), **extra), log("device"))
    g1 = gradient(impl, boundary(OFF_DEVICE[name](str(tmp_path)), **extra), log("off"))
    # The same steps in the same order: only where the strips wait differs.
    assert rel(g1[0], g0[0]) < 1e-14 and rel(g1[1], g0[1]) < 1e-14
    assert [s for s, _ in seen["off"]] == [s for s, _ in seen["device"]] == [30, 24, 18, 12, 6, 0]
    for (_, a), (_, b) in zip(seen["off"], seen["device"]):
        assert rel(a, b) < 1e-14
    assert list(tmp_path.iterdir()) == [] and not offload.GROUPS.runs


@pytest.mark.parametrize("impl", IMPLS)
def test_backward_callbacks_see_the_physical_gradient(impl):
    """The gradient so far that a backward callback sees is of the result's kind: the physical
    cells' dJ/dV (in the PML the reverse steps leave what is not its gradient). At step 0 it
    is the gradient itself."""
    seen = []
    g = gradient(impl, boundary(BoundaryOptions()), lambda state: seen.append((state.step, np.array(state.gradient()))))
    assert seen[-1][0] == 0 and rel(seen[-1][1], g[0]) < 1e-13


@pytest.mark.needs_core
def test_off_device_storage_under_vmap(tmp_path):
    vp, w, src, rec, kw = small_problem(2, order=4, nt=NT)
    kw.pop("checkpoint_every")
    vs = jnp.stack([vp, 1.1 * vp])
    grads = []
    for b in (BoundaryOptions(), BoundaryOptions(storage="disk", directory=str(tmp_path), transfer_interval=4)):
        p = prop(4, "c", pml=FIXED_PML, memory=boundary(b), **kw)
        grads.append(jax.jit(jax.vmap(jax.grad(lambda v: jnp.sum(p(w, src, rec, [v]) ** 2))))(vs))
    assert rel(grads[1], grads[0]) < 1e-14 and rel(grads[1][0], grads[1][1]) > 1e-3  # each its own strips
    assert list(tmp_path.iterdir()) == []


def disk_run(tmp_path, transfer_interval=4):
    """The loss of a run storing on disk in tmp_path, and its velocity."""
    vp, w, src, rec, kw = small_problem(2, order=4, nt=NT)
    kw.pop("checkpoint_every")
    b = BoundaryOptions(storage="disk", directory=str(tmp_path), transfer_interval=transfer_interval)
    p = prop(4, "jax", pml=FIXED_PML, memory=boundary(b), **kw)
    return lambda v: jnp.sum(p(w, src, rec, [v]) ** 2), vp


def test_disk_files_live_from_the_forward_to_the_backward(tmp_path):
    loss, vp = disk_run(tmp_path)
    _, backward = jax.vjp(jax.jit(loss), vp)
    (run,) = tmp_path.iterdir()
    assert run.name.startswith("sweep-strips-") and len(list(run.iterdir())) == -(-(NT - 1) // 4)
    jax.block_until_ready(backward(jnp.ones(())))
    assert list(tmp_path.iterdir()) == [] and not offload.GROUPS.runs
    with pytest.raises(jax.errors.JaxRuntimeError, match="serve one backward"):
        jax.block_until_ready(backward(jnp.ones(())))


def test_disk_directory_is_checked_before_the_run(tmp_path, monkeypatch):
    grad = lambda d: jax.grad(disk_run(d)[0])(disk_run(d)[1])  # noqa: E731
    with pytest.raises(FileNotFoundError, match=r"BoundaryOptions\(directory=.*\): no such directory"):
        grad(tmp_path / "missing")
    (tmp_path / "file").write_text("")
    with pytest.raises(FileNotFoundError, match="no such directory"):
        grad(tmp_path / "file")
    with pytest.raises(PermissionError, match="cannot write there"):
        grad("/proc")  # a directory that takes no files, even for root
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(offload.shutil, "disk_usage", lambda d: Usage(10**6, 10**6 - 1000, 1000))
    with pytest.raises(OSError, match=r"needs \d+ bytes .* 1000 bytes .* are free"):
        grad(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_failed_write_stops_the_run_and_removes_its_files(tmp_path, monkeypatch):
    written = []

    def fills_up(path, group):
        if len(written) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written.append(path)
        real(path, group)

    real = offload._write_file
    monkeypatch.setattr(offload, "_write_file", fills_up)
    loss, vp = disk_run(tmp_path)
    with pytest.raises(jax.errors.JaxRuntimeError, match="writing .* bytes to .* failed .No space left on device.; this run's files are removed"):
        jax.block_until_ready(jax.jit(jax.grad(loss))(vp))
    assert len(written) == 3 and list(tmp_path.iterdir()) == [] and not offload.GROUPS.runs


def test_an_interrupted_session_leaves_no_files(tmp_path):
    """Ctrl-C between the forward and its backward (a notebook cell stopped, say): the files
    go when the process ends."""
    tests = os.path.dirname(os.path.abspath(__file__))
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {tests!r})
        import pathlib, jax
        jax.config.update("jax_enable_x64", True)
        from test_boundary_storage import disk_run
        loss, vp = disk_run(pathlib.Path({str(tmp_path)!r}))
        out, backward = jax.vjp(jax.jit(loss), vp)
        jax.block_until_ready(out)
        print("stored", flush=True)
        time.sleep(120)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "stored", child.stderr.read()
        assert len(list(next(tmp_path.iterdir()).iterdir())) > 0
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode != 0 and "KeyboardInterrupt" in err
    assert list(tmp_path.iterdir()) == []

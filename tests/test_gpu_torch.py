"""PropTorch on a CUDA device: the compiled path on CUDA tensors against the reference, the
zero-copy crossing, torch's non-default streams, and torch and JAX sharing one process.
Run with `python3 -m pytest -m gpu` on a machine with a GPU."""

import os
import subprocess
import sys
import warnings

import jax
import numpy as np
import pytest

from helpers import FIXED_PML, prop, rel, small_problem

torch = pytest.importorskip("torch")

from sweep.equations import Acoustic  # noqa: E402
from sweep.propagator.torch import PropTorch  # noqa: E402
from sweep.propagator.torch_compiled import to_jax, to_torch  # noqa: E402

pytestmark = [pytest.mark.gpu, pytest.mark.needs_core]


@pytest.fixture(scope="module")
def cuda():
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device")
    try:
        jax.devices("gpu")
    except RuntimeError:
        pytest.skip("JAX has no GPU backend")
    return torch.device("cuda")


def _misfit_grads(p, w, src, rec, vp, obs, device):
    vt = torch.tensor(vp, device=device, requires_grad=True)
    wt = torch.tensor(w, device=device, requires_grad=True)
    out = p(wt, torch.tensor(src), torch.tensor(rec), [vt])
    (0.5 * (out - torch.tensor(obs, device=device)).square().sum()).backward()
    return out.detach().cpu().numpy(), vt.grad.cpu().numpy(), wt.grad.cpu().numpy()


@pytest.mark.parametrize("impl", ["c", "eager"])
@pytest.mark.parametrize("ndim,order,fs", [(2, 8, True), (3, 4, False)])
def test_cuda_tensors_equal_the_reference_float64(cuda, impl, ndim, order, fs):
    vp, w, src, rec, kw = small_problem(ndim, order=order, free_surface=fs, nt=31)
    kw["pml"] = FIXED_PML
    obs = 0.7 * np.asarray(prop(order, "jax", **kw)(w, src, rec, [vp * 1.03]))
    p = PropTorch(Acoustic(order), impl=impl, **kw)
    assert p.impl_for(cuda) == impl
    out, gv, gw = _misfit_grads(p, w, src, rec, vp, obs, cuda)
    ref_out, ref_gv, ref_gw = _misfit_grads(PropTorch(Acoustic(order), impl="eager", **kw), w, src, rec, vp, obs, "cpu")
    assert rel(out, ref_out) < 1e-12
    assert rel(gv, ref_gv) < 1e-10 and rel(gw, ref_gw) < 1e-10


def test_cuda_float32(cuda):
    vp, w, src, rec, kw = small_problem(2, order=8, nt=40, dtype=np.float32)
    ref = prop(8, "jax", **kw)(w.astype(np.float64), src, rec, [vp.astype(np.float64)])
    out = PropTorch(Acoustic(8), impl="c", **kw)(torch.tensor(w, device=cuda), src, rec, [torch.tensor(vp, device=cuda)])
    assert out.device.type == "cuda" and out.dtype == torch.float32
    assert rel(out.cpu().numpy(), ref) < 1e-5


def test_gradcheck_on_cuda(cuda):
    vp, w, src, rec, kw = small_problem(2, nshot=1, order=2, nt=10)
    kw.update(pml=FIXED_PML, abcn=2)
    p = PropTorch(Acoustic(2), impl="c", **kw)
    vt = torch.tensor(vp, device=cuda, requires_grad=True)
    wt = torch.tensor(w, device=cuda, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w_, v_: p(w_, src, rec, [v_]), (wt, vt), eps=1e-3, atol=1e-9, rtol=1e-6)


def test_crossing_is_zero_copy(cuda):
    t = torch.arange(1 << 20, dtype=torch.float32, device=cuda)
    a = to_jax(t)
    assert a.unsafe_buffer_pointer() == t.data_ptr()
    assert a.devices() == {jax.devices("gpu")[0]}
    b = jax.numpy.cumsum(a)
    back = to_torch(b)
    assert back.data_ptr() == b.unsafe_buffer_pointer() and back.device.type == "cuda"


def test_non_default_stream(cuda):
    """Inputs produced on a side stream, the call made on it, the result read on it: the DLPack
    stream handshake must order JAX's work after torch's and torch's after JAX's."""
    vp, w, src, rec, kw = small_problem(2, order=8, nt=60, dtype=np.float32)
    kw["pml"] = FIXED_PML
    p = PropTorch(Acoustic(8), impl="c", **kw)
    expected = p(torch.tensor(w, device=cuda), src, rec, [torch.tensor(vp, device=cuda)]).cpu()
    side = torch.cuda.Stream()
    big = torch.randn(4096, 4096, device=cuda)
    torch.cuda.synchronize()
    with torch.cuda.stream(side):
        for _ in range(20):  # keep the side stream busy before the model is written
            big = torch.sin(big @ big)  # bounded, so the model below stays finite
        v = torch.zeros(vp.shape, device=cuda) + torch.tensor(vp, device=cuda) + 0 * big[0, 0]
        out = p(torch.tensor(w, device=cuda), src, rec, [v])
        result = out * 1.0  # consumed on the side stream
    side.synchronize()
    assert torch.equal(result.cpu(), expected)


def test_torch_and_jax_share_the_gpu():
    """A fresh process: import PropTorch, run the compiled path on CUDA, then torch must still
    be able to take most of the GPU (JAX did not preallocate 75% of it)."""
    code = """
import torch, numpy as np
import sweep.propagator.torch as T
from sweep.equations import Acoustic
p = T.PropTorch(Acoustic(8), shape=(64, 64), dh=10.0, dt=1e-3, abcn=10, impl="c")
w = torch.zeros(50, device="cuda"); w[5] = 1.0
rec = p(w, [[10, 32]], [[[10, 5]]], [torch.full((64, 64), 2000.0, device="cuda")])
torch.cuda.synchronize()
free, total = torch.cuda.mem_get_info()
x = torch.empty(int(0.6 * total) // 4, dtype=torch.float32, device="cuda")  # 60% of the GPU
print(p.impl_for("cuda"), round(free / total, 3))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XLA_PYTHON_CLIENT")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip(), out.stderr[-3000:]
    impl, free = out.stdout.split()
    assert impl == "c" and float(free) > 0.7
    if out.returncode != 0:
        # Seen 2 times in ~35 such processes (2026-11-22, H100): an abort at interpreter exit,
        # after all work finished ("terminate called without an active exception"). Surfaced,
        # not hidden, until its cause is found.
        warnings.warn(f"the torch+JAX process exited with {out.returncode}: {out.stderr.strip()[-300:]}")

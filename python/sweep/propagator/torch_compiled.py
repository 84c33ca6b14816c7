"""PropTorch(impl="c"): the compiled core reached through JAX's runtime, tensors crossing by DLPack.

Thin by design: time stepping, the chunk schedule, checkpointing and the hand-written adjoint
are PropJax's (impl="c"); this module only moves tensors and hooks the result into autograd.
- Tensors cross without host copies: `jax.dlpack.from_dlpack` in, `torch.from_dlpack` out
  (the data pointers are shared; tests check them).
- Streams: both directions follow the DLPack stream protocol. `jax.dlpack.from_dlpack` hands
  JAX's stream to torch's `__dlpack__`, which orders it after torch's current stream;
  `torch.from_dlpack` hands torch's current stream to JAX's `__dlpack__`. No host sync.
- Memory: the forward keeps JAX's vjp residuals (the chunk checkpoints) on the autograd
  context, like torch's own saved tensors; they are freed with the graph.
"""

from __future__ import annotations

import os
import warnings

import jax
import torch
from torch.autograd.function import once_differentiable

from ..backend import compiled as core

PREALLOCATION_KEYS = ("XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_PYTHON_CLIENT_ALLOCATOR")


def share_gpu_with_torch() -> None:
    """Keep JAX from preallocating 75% of GPU memory in a process that also runs torch.

    Only possible before JAX starts its runtime (it reads the setting once); an explicit user
    setting wins. If JAX already started on a GPU with the default, say so."""
    if any(k in os.environ for k in PREALLOCATION_KEYS):
        return
    from jax._src import xla_bridge

    if not xla_bridge.backends_are_initialized():
        os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
        return
    if any(d.platform == "gpu" for d in jax.devices()):
        warnings.warn(
            "JAX started its GPU runtime before sweep.propagator.torch was imported and has preallocated "
            "75% of GPU memory, which torch cannot use; import sweep.propagator.torch before using JAX, "
            "or set XLA_PYTHON_CLIENT_PREALLOCATE=false in the environment",
            UserWarning,
            stacklevel=3,
        )


def jax_platform_of(device: torch.device) -> str | None:
    """The extension's platform name for a torch device, or None if JAX cannot run there."""
    if device.type == "cpu":
        return "cpu"
    if device.type == "cuda":
        try:
            jax.devices("gpu")
        except RuntimeError:
            return None
        return "CUDA"
    return None


def coverage(equation, device: torch.device) -> tuple[bool, str]:
    """Whether the compiled core runs `equation` on `device`, and if not, why."""
    platform = jax_platform_of(device)
    if platform is None:
        return False, f"JAX has no runtime for torch device {device} (for CUDA: install jax[cuda])"
    return core.covers(equation, platform)


def to_jax(t: torch.Tensor) -> jax.Array:
    return jax.dlpack.from_dlpack(t.detach().contiguous())


def to_torch(a: jax.Array) -> torch.Tensor:
    return torch.from_dlpack(a)


class CompiledCall:
    """A PropJax(impl="c") and its jit-compiled forward, forward-with-vjp and backward, one set
    per static choice: (return_wavefield, snapshot_interval, callbacks)."""

    def __init__(self, prop):
        self.prop = prop
        self._fns = {}

    def functions(self, static):
        if static not in self._fns:
            prop = self.prop
            return_wavefield, snapshot_interval, callbacks = static
            cb = dict(forward_callback=callbacks.forward, backward_callback=callbacks.backward, callback_frequency=callbacks.frequency) if callbacks else {}

            def run(wavelet, models, sources, receivers):
                out = prop(wavelet, sources, receivers, list(models), return_wavefield=return_wavefield, snapshot_interval=snapshot_interval, **cb)
                return out if isinstance(out, tuple) else (out,)

            def run_vjp(wavelet, models, sources, receivers):
                return jax.vjp(lambda w, m: run(w, m, sources, receivers), wavelet, models)

            self._fns[static] = (jax.jit(run), jax.jit(run_vjp), jax.jit(lambda vjp, cts: vjp(cts)))
        return self._fns[static]

    def __call__(self, wavelet, models, sources, receivers, static):
        """Tensors in, tensors out; differentiable with respect to wavelet and models."""
        need_grad = torch.is_grad_enabled() and (wavelet.requires_grad or any(m.requires_grad for m in models))
        if not need_grad:
            forward = self.functions(static)[0]
            outs = forward(to_jax(wavelet), [to_jax(m) for m in models], sources, receivers)
            return tuple(to_torch(o) for o in outs)
        return _Apply.apply(self, (static, sources, receivers), wavelet, *models)


class _Apply(torch.autograd.Function):
    @staticmethod
    def forward(ctx, call, static, wavelet, *models):
        static, sources, receivers = static
        _, run_vjp, backward = call.functions(static)
        outs, vjp = run_vjp(to_jax(wavelet), [to_jax(m) for m in models], sources, receivers)
        ctx.vjp, ctx.backward = vjp, backward
        ctx.save_for_backward(wavelet, *models)  # lets torch catch in-place edits before backward
        return tuple(to_torch(o) for o in outs)

    @staticmethod
    @once_differentiable
    def backward(ctx, *cts):
        ctx.saved_tensors  # raises if an input was modified in place since the forward
        d_wavelet, d_models = ctx.backward(ctx.vjp, tuple(to_jax(c) for c in cts))
        return (None, None, to_torch(d_wavelet), *(to_torch(g) for g in d_models))

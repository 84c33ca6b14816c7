"""PropTorch: the Torch frontend (a torch.nn.Module) over the same scheme and compiled core.

    from sweep.propagator.torch import PropTorch
    prop = PropTorch(Acoustic(spatial_order=8), shape=(nz, nx), dh=10.0, dt=1e-3, abcn=20)
    rec = prop(wavelet, sources, receivers, models=[vp])     # torch tensors; autograd works

Same constructor arguments and call convention as PropJax. impl:
- "c": the compiled core (C++/CUDA kernels) through JAX's runtime, tensors crossing by DLPack
  (torch_compiled.py); falls back to "eager" with a UserWarning where the core cannot run;
- "eager": pure PyTorch running the equation's reference step (torch_eager.py);
- None / "auto": "c" where the core covers the equation on the models' device, else "eager".
`backend="eager"` and `backend="cuda"` are the older spellings of impl "eager" and "c".

Importing this module keeps JAX from preallocating GPU memory that torch needs
(XLA_PYTHON_CLIENT_PREALLOCATE=false, unless set by the user or JAX already started).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ..backend import compiled as core
from ..callbacks import Callbacks
from . import validate as val
from .jax import PropJax
from .options import CUDAOptions, EagerOptions, steps_per_chunk
from .torch_compiled import CompiledCall, coverage, jax_platform_of, share_gpu_with_torch
from .torch_eager import EagerRunner

share_gpu_with_torch()

IMPLS = ("auto", "eager", "c")
BACKENDS = {"torch": None, "eager": "eager", "cuda": "c"}


def resolve_request(backend, impl) -> str:
    """The requested impl ("auto" | "eager" | "c") from `backend` (with its old aliases) and `impl`."""
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {tuple(BACKENDS)} ('eager' and 'cuda' are old spellings of impl), got {backend!r}")
    if impl is not None and impl not in IMPLS:
        raise ValueError(f"impl: expected None or one of {IMPLS}, got {impl!r}")
    alias = BACKENDS[backend]
    if alias is not None and impl not in (None, "auto", alias):
        raise ValueError(f"backend={backend!r} means impl={alias!r}, which contradicts impl={impl!r}; give one of them")
    return alias or impl or "auto"


def route_options(impl, eager_options, cuda_options, backend_options):
    """(EagerOptions, CUDAOptions) from the three ways of passing them."""
    for name, value, cls in (("eager_options", eager_options, EagerOptions), ("cuda_options", cuda_options, CUDAOptions)):
        if value is not None and not isinstance(value, cls):
            raise TypeError(f"{name}: expected sweep.propagator.options.{cls.__name__}(...) or None, got {value!r}")
    if backend_options is not None:
        if isinstance(backend_options, EagerOptions) and eager_options is None:
            eager_options = backend_options
        elif isinstance(backend_options, CUDAOptions) and cuda_options is None:
            cuda_options = backend_options
        elif isinstance(backend_options, (EagerOptions, CUDAOptions)):
            kind = type(backend_options).__name__
            raise ValueError(f"backend_options: a {kind} was also given as {'eager' if kind == 'EagerOptions' else 'cuda'}_options; give it once")
        else:
            raise TypeError(f"backend_options: expected EagerOptions(...) or CUDAOptions(...) or None, got {backend_options!r}")
    if impl == "eager" and cuda_options is not None:
        raise ValueError("cuda_options: these configure impl 'c' (the compiled core), but impl is 'eager'")
    if impl == "c" and eager_options is not None:
        raise ValueError("eager_options: these configure impl 'eager', but impl is 'c'")
    return eager_options or EagerOptions(), cuda_options or CUDAOptions()


class PropTorch(torch.nn.Module):
    """Propagator for one equation on a regular grid, for PyTorch.

    Args (as PropJax, plus):
        backend: "torch" (or the aliases "eager" / "cuda" for impl "eager" / "c").
        impl: None / "auto" | "eager" | "c".
        use_ckpt, ckpt_chunks: impl "eager" only: recompute `ckpt_chunks` chunks of steps in the
            backward instead of storing every step (default: PropJax's chunk length).
        eager_options: `EagerOptions(...)` for impl "eager".
        cuda_options: `CUDAOptions(memory=MemoryOptions(...))` for impl "c".
        backend_options: either of the two, routed by its type.

    After a call with EagerOptions(store_last_wavefield=True), `last_wavefield` holds the final
    state: {"step", "time", and each state field (detached, on the storage grid)}.
    """

    def __init__(
        self,
        equation,
        shape,
        dh,
        dt,
        abcn=20,
        free_surface=False,
        backend="torch",
        impl=None,
        checkpoint_every=None,
        pml=None,
        use_ckpt=False,
        ckpt_chunks=None,
        eager_options=None,
        cuda_options=None,
        backend_options=None,
    ):
        super().__init__()
        self.impl = resolve_request(backend, impl)
        self.eager_options, self.cuda_options = route_options(self.impl, eager_options, cuda_options, backend_options)
        if not isinstance(use_ckpt, (bool, np.bool_)):
            raise TypeError(f"use_ckpt: expected True or False, got {use_ckpt!r}")
        if ckpt_chunks is not None:
            ckpt_chunks = val.positive_number("ckpt_chunks", ckpt_chunks, integer=True)
            if not use_ckpt:
                raise ValueError(f"ckpt_chunks: only used with use_ckpt=True, got ckpt_chunks={ckpt_chunks} with use_ckpt=False")
        if self.impl == "c" and use_ckpt:
            raise ValueError("use_ckpt: configures impl 'eager'; impl 'c' checkpoints by cuda_options=CUDAOptions(memory=...)")
        self.use_ckpt, self.ckpt_chunks = bool(use_ckpt), ckpt_chunks
        # The validated configuration, shared with the JAX frontend.
        self.config = PropJax(
            equation, shape, dh, dt, abcn, free_surface, impl="jax", checkpoint_every=checkpoint_every, pml=pml, memory=self.cuda_options.memory
        )
        if self.impl == "c" and not core.is_available():
            warnings.warn(f"impl='c' requested but the compiled core is unavailable ({core.import_error()}); using impl='eager' (slower)", UserWarning, stacklevel=2)
        self._eager = EagerRunner(self.config, self.eager_options)
        self._compiled = {}  # JAX platform -> CompiledCall
        self._coverage = {}  # torch device -> (compiled core runs there, why not)
        self.last_wavefield = None

    def impl_for(self, device) -> str:
        """The impl a call with models on `device` runs: "c" or "eager"."""
        if self.impl == "eager":
            return "eager"
        device = torch.device(device)
        if device not in self._coverage:  # asked once per device, not per call
            self._coverage[device] = coverage(self.config.equation, device)
        ok, why = self._coverage[device]
        if ok:
            return "c"
        if self.impl == "c" and core.is_available():
            warnings.warn(f"impl='c' requested but {why}; using impl='eager' (slower)", UserWarning, stacklevel=3)
        return "eager"

    def forward(
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
        """As PropJax.__call__, with torch tensors (or NumPy arrays) in and torch tensors out, on
        the models' device. Differentiable with respect to `wavelet` and `models`. The callbacks
        see the same `sweep.callbacks.CallbackState` (NumPy views) with either impl."""
        cfg = self.config
        names = cfg.equation.model_names
        models = val.models_list(names, models)
        device = _device_of(models, wavelet)
        models = [_tensor(f"models[{i}] ({n})", m, device) for i, (n, m) in enumerate(zip(names, models))]
        wavelet = _tensor("wavelet", wavelet, device)
        dtype = val.check_models(names, models, cfg.shape)
        sources, receivers = _indices("sources", sources), _indices("receivers", receivers)
        val.check_acquisition(cfg.shape, wavelet, sources, receivers, dtype, models)
        sources = val.locations("sources", sources, cfg.shape, cfg.free_surface).astype(np.int32)
        receivers = val.locations("receivers", receivers, cfg.shape, cfg.free_surface).astype(np.int32)
        if not isinstance(return_wavefield, (bool, np.bool_)):
            raise TypeError(f"return_wavefield: expected True or False, got {return_wavefield!r}")
        if snapshot_interval is not None:
            snapshot_interval = val.positive_number("snapshot_interval", snapshot_interval, integer=True)
        callbacks = Callbacks.make(forward_callback, backward_callback, callback_frequency)
        vmin, vmax = self._check_speed(models)

        if self.impl_for(device) == "c":
            val.require_x64("models[0]", dtype)
            static = (bool(return_wavefield), snapshot_interval, callbacks)
            outs = self._compiled_call(device)(wavelet, models, sources, receivers, static)
        else:
            nt = wavelet.shape[-1]
            chunk = self._eager_chunk(nt)
            outs, state = self._eager(wavelet, models, sources, receivers, vmin, vmax, chunk, return_wavefield, snapshot_interval, callbacks)
            if self.eager_options.store_last_wavefield:
                fields = dict(zip(cfg.equation.state_names, (s.detach() for s in state)))
                self.last_wavefield = dict(step=nt - 1, time=(nt - 1) * cfg.dt, **fields)
        return outs[0] if len(outs) == 1 else outs

    # -------------------------------------------------------------------------------------------
    def _compiled_call(self, device) -> CompiledCall:
        platform = jax_platform_of(torch.device(device))
        if platform not in self._compiled:
            cfg = self.config
            prop = PropJax(
                cfg.equation, cfg.shape, cfg.dh, cfg.dt, cfg.abcn, cfg.free_surface, impl="c",
                checkpoint_every=cfg.checkpoint_every, pml=cfg.pml, memory=cfg.memory, platform=platform,
            )
            self._compiled[platform] = CompiledCall(prop)
        return self._compiled[platform]

    def _eager_chunk(self, nt: int) -> int | None:
        """Steps per checkpointed chunk of the eager path (None: autograd keeps every step)."""
        if not self.use_ckpt:
            return None
        if self.ckpt_chunks is not None:
            return steps_per_chunk(nt, self.ckpt_chunks)
        return self.config.chunk_length(nt)

    def _check_speed(self, models):
        """Velocities finite and > 0 and dt stable (one host read); returns (v_min, v_max)."""
        cfg = self.config
        vp = cfg.equation.wave_speed(models).detach()
        ok = (torch.isfinite(vp) & (vp > 0)).all().to(vp.dtype)
        valid, vmin, vmax = torch.stack([ok, vp.min(), vp.max()]).tolist()
        val.speed_values(bool(valid), vmax, cfg.dt, cfg.max_stable_dt(1.0), cfg.scheme_description)
        return vmin, vmax


def _device_of(models, wavelet) -> torch.device:
    """The models' device (else the wavelet's, else the CPU)."""
    for x in list(models) + [wavelet]:
        if isinstance(x, torch.Tensor):
            return x.device
    return torch.device("cpu")


def _tensor(name: str, x, device) -> torch.Tensor:
    """A float tensor on `device`: NumPy data is moved there; a tensor elsewhere is an error."""
    if isinstance(x, torch.Tensor):
        if x.device != device:
            raise ValueError(f"{name}: expected a tensor on {device} (the models' device), got one on {x.device}")
    else:
        x = torch.as_tensor(np.asarray(x), device=device)
    val.check_float(name, x)
    return x


def _indices(name: str, x) -> np.ndarray:
    """Integer cell indices as NumPy (they are small; their values are checked in Python)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)

"""`sweep doctor`: is this installation whole? Diagnostics of both backend families and checks
that fail loudly (versions, devices, the compiled core, its CUDA build and FFI targets, and a
tiny run of the compiled kernels against the reference on each JAX device kind)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass


@dataclass
class Check:
    name: str
    status: str  # "ok" | "fail" | "skip" (not applicable here, e.g. no GPU)
    detail: str = ""


def _check(name, fn) -> Check:
    try:
        result = fn()
    except Exception as exc:  # a check that raises is a failure, reported, never a crash
        return Check(name, "fail", f"{type(exc).__name__}: {exc}")
    return result if isinstance(result, Check) else Check(name, "ok", str(result or ""))


def _smoke(platform: str) -> Check:
    """A 2D order-4 run of 40 steps, compiled kernels vs the JAX reference, forward and gradient."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from .demo import ricker
    from .equations import Acoustic
    from .propagator.jax import PropJax

    device = jax.devices("gpu" if platform == "CUDA" else "cpu")[0]
    vp = np.full((24, 28), 2000.0, np.float32)
    vp[12:] = 2600.0
    # scaled so that the records are O(1): float32 squares of the raw O(1e-8) records underflow
    wav = 1e8 * ricker(40, 1e-3, 40.0)
    src, rec = np.array([[4, 14]]), np.array([[[4, 4], [4, 24], [20, 14]]])
    out = {}
    for impl in ("jax", "c"):
        with warnings.catch_warnings():  # a fallback is reported below, as a failure
            warnings.simplefilter("ignore")
            prop = PropJax(Acoustic(4), vp.shape, 10.0, 1e-3, abcn=6, impl=impl, platform=platform)
        if prop.impl != impl:
            return Check(f"compiled kernels on {platform}", "fail", f"impl 'c' is not available on {platform}")
        loss = lambda v: jnp.sum(prop(wav, src, rec, [v]) ** 2)  # noqa: E731
        with jax.default_device(device):
            value, grad = jax.jit(jax.value_and_grad(loss))(jnp.asarray(vp))
        out[impl] = float(value), np.asarray(grad)
    dv = abs(out["c"][0] - out["jax"][0]) / abs(out["jax"][0])
    dg = float(np.linalg.norm(out["c"][1] - out["jax"][1]) / np.linalg.norm(out["jax"][1]))
    status = "ok" if dv < 1e-4 and dg < 1e-4 else "fail"
    return Check(f"compiled kernels on {platform}", status, f"float32 vs reference: misfit {dv:.1e}, gradient {dg:.1e} (relative)")


def run() -> dict:
    """Every diagnostic and check; `ok` is False when something is broken."""
    import platform as py_platform

    from . import __version__
    from .backend import compiled as core
    from .backend import jax as jax_family
    from .backend import torch as torch_family

    report = dict(sweep=__version__, python=py_platform.python_version(), checks=[])
    checks = report["checks"]
    report["jax"] = jax_family.binding.diagnostics() if jax_family.is_available() else {"available": False}
    report["torch"] = torch_family.binding.diagnostics() if torch_family.is_available() else {"available": False}
    report["core"] = core.diagnostics()

    checks.append(_check("jax imports", lambda: __import__("jax").__version__))
    checks.append(_check("compiled core sweep._C imports", lambda: core.module().__file__ if core.is_available() else _raise(core.import_error())))
    checks.append(_check("FFI targets register with JAX", lambda: (core.ensure_registered(), f"{sum(len(v) for v in core.registrations().values())} targets")[1]))

    def devices():
        import jax

        return ", ".join(f"{d.platform}:{d.id} ({d.device_kind})" for d in jax.devices())

    checks.append(_check("JAX devices", devices))
    report["jax_devices"] = checks[-1].detail
    gpus = _gpu_count()
    if gpus:
        checks.append(_check("CUDA kernels built for the GPU JAX sees", lambda: "" if "CUDA" in core.registrations() else _raise("the core was built without CUDA (SWEEP_CUDA=ON)")))
    else:
        checks.append(Check("CUDA kernels built for the GPU JAX sees", "skip", "JAX sees no GPU"))
    checks.append(_check("compiled kernels on cpu", lambda: _smoke("cpu")))
    if gpus and "CUDA" in core.registrations():
        checks.append(_check("compiled kernels on CUDA", lambda: _smoke("CUDA")))
    if torch_family.is_available():
        checks.append(_check("torch imports", lambda: report["torch"].get("torch")))
    else:
        checks.append(Check("torch imports", "skip", "torch is optional: pip install 'sweep[torch]' for PropTorch"))
    report["ok"] = all(c.status != "fail" for c in checks)
    report["checks"] = [c.__dict__ for c in checks]
    return report


def _gpu_count() -> int:
    import jax

    try:
        return len(jax.devices("gpu"))
    except RuntimeError:
        return 0


def _raise(message):
    raise RuntimeError(message)

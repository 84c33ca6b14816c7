"""The compiled core, sweep._C: loading it (never fatal), registering its XLA FFI targets, and
what it covers. Importing this module does not import the extension; the first question does."""

from __future__ import annotations

import functools
import importlib


@functools.lru_cache(maxsize=None)
def _load():
    """(module, None) or (None, 'why it could not be imported')."""
    try:
        return importlib.import_module("sweep._C"), None
    except Exception as exc:  # a missing or broken build must not break `import sweep`
        return None, f"{type(exc).__name__}: {exc}"


def module():
    return _load()[0]


def import_error() -> str | None:
    return _load()[1]


def is_available() -> bool:
    return module() is not None


@functools.lru_cache(maxsize=None)
def registrations() -> dict:
    """{jax platform: set of target names} of what the extension provides."""
    mod = module()
    if mod is None:
        return {}
    return {platform: frozenset(targets) for platform, targets in mod.registrations().items()}


@functools.lru_cache(maxsize=None)
def ensure_registered() -> None:
    """Register every handler with JAX once (cheap; done on first use, not at import)."""
    import jax

    mod = module()
    if mod is None:
        raise RuntimeError(f"sweep._C is not available: {import_error()}")
    for platform, targets in mod.registrations().items():
        for name, capsule in targets.items():
            jax.ffi.register_ffi_target(name, capsule, platform=platform)


def jax_platform() -> str:
    """The platform name (as the extension keys it) of JAX's default backend."""
    import jax

    backend = jax.default_backend()
    return {"gpu": "CUDA", "cuda": "CUDA"}.get(backend, backend)


def covers(equation, platform: str | None = None) -> tuple[bool, str]:
    """Whether the core runs `equation` (its forward, forward_save, forward_store and adjoint
    targets, each also with _scratch) on `platform` (default: JAX's default platform), and if
    not, why."""
    kinds = ("forward", "forward_save", "forward_store", "adjoint")
    targets = tuple(f"{equation.ffi_prefix}_{k}{s}" for s in ("", "_scratch") for k in kinds)
    return coverage(targets, platform)


def coverage(targets: tuple[str, ...], platform: str | None = None) -> tuple[bool, str]:
    """Whether the core provides all `targets` on `platform` (default: JAX's default platform),
    and if not, why."""
    if not is_available():
        return False, f"the compiled core sweep._C could not be imported ({import_error()})"
    platform = platform or jax_platform()
    have = registrations().get(platform, frozenset())
    missing = [t for t in targets if t not in have]
    if missing:
        return False, f"the compiled core has no kernels for {', '.join(missing)} on platform {platform!r}"
    return True, ""


def build_info() -> dict:
    mod = module()
    return dict(mod.build_info()) if mod is not None else {}


def diagnostics() -> dict:
    """What the compiled core is and provides; never raises (it is what `sweep doctor` and the
    backend families' `binding.diagnostics()` report)."""
    info = {"available": is_available(), "import_error": import_error()}
    try:
        info["module_path"] = getattr(module(), "__file__", None)
        info["build"] = build_info()
        info["targets"] = {k: sorted(v) for k, v in registrations().items()}
    except Exception as exc:
        info["error"] = f"{type(exc).__name__}: {exc}"
    return info


class Binding:
    """A frontend family's `binding` namespace: whether the compiled core imports, and its
    diagnostics together with the family's own versions (`versions()` -> dict)."""

    def __init__(self, versions):
        self._versions = versions

    def is_available(self) -> bool:
        return is_available()

    def diagnostics(self) -> dict:
        info = diagnostics()
        try:
            info.update(self._versions())
        except Exception as exc:  # never raises
            info["versions_error"] = f"{type(exc).__name__}: {exc}"
        return info

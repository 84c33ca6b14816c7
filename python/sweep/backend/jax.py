"""Inspection of the JAX backend family. Every function is cheap and never raises."""

from __future__ import annotations

from . import compiled


def is_available() -> bool:
    try:
        import jax  # noqa: F401

        return True
    except Exception:
        return False


class binding:  # noqa: N801 - a namespace, spelled as users call it: sweep.backend.jax.binding
    @staticmethod
    def is_available() -> bool:
        return compiled.is_available()

    @staticmethod
    def diagnostics() -> dict:
        info = {"available": compiled.is_available(), "import_error": compiled.import_error()}
        try:
            mod = compiled.module()
            info["module_path"] = getattr(mod, "__file__", None)
            info["build"] = compiled.build_info()
            info["targets"] = {k: sorted(v) for k, v in compiled.registrations().items()}
        except Exception as exc:  # diagnostics must never raise
            info["error"] = f"{type(exc).__name__}: {exc}"
        try:
            import jax
            import jaxlib

            info["jax"] = jax.__version__
            info["jaxlib"] = jaxlib.__version__
            info["default_backend"] = jax.default_backend()
        except Exception as exc:
            info["jax_error"] = f"{type(exc).__name__}: {exc}"
        return info

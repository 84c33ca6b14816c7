"""Inspection of the JAX backend family. Every function is cheap and never raises."""

from __future__ import annotations

from . import compiled


def is_available() -> bool:
    try:
        import jax  # noqa: F401

        return True
    except Exception:
        return False


def _versions() -> dict:
    import jax
    import jaxlib

    return dict(jax=jax.__version__, jaxlib=jaxlib.__version__, default_backend=jax.default_backend())


binding = compiled.Binding(_versions)

"""Backends: the compiled core (sweep._C) and inspection of each frontend family."""

from . import compiled, jax, torch

__all__ = ["compiled", "jax", "torch"]

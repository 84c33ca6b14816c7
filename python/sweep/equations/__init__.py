"""The equations sweep solves. Each is an equinox Module holding its static configuration and
its pure-JAX reference step (the definition of its discrete scheme)."""

from .acoustic import Acoustic

__all__ = ["Acoustic"]

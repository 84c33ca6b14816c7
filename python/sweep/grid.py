"""The storage grid shared by every equation.

A physical model of `shape` cells sits inside `abcn` PML cells on every face (none on top when
the top is a free surface), all surrounded by a halo of `half = order/2` cells that the kernels
never update. Storage index = physical index + `lo` on each axis.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np


class Grid:
    """Static geometry of one propagator (hashable, no arrays)."""

    def __init__(self, shape: tuple[int, ...], abcn: int, half: int, free_surface: bool):
        self.shape = tuple(int(n) for n in shape)
        self.ndim = len(self.shape)
        self.abcn = int(abcn)
        self.half = int(half)
        self.free_surface = bool(free_surface)
        self.pml_lo = tuple(0 if (a == 0 and free_surface) else abcn for a in range(self.ndim))
        self.pml_hi = (abcn,) * self.ndim
        self.padded = tuple(n + lo + hi for n, lo, hi in zip(self.shape, self.pml_lo, self.pml_hi))
        self.storage = tuple(n + 2 * half for n in self.padded)
        self.lo = tuple(half + lo for lo in self.pml_lo)  # storage index of physical cell 0
        self.cells = math.prod(self.storage)
        self.smax = max(self.storage)

    def _key(self):
        return (self.shape, self.abcn, self.half, self.free_surface)

    def __eq__(self, other):
        return isinstance(other, Grid) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return f"Grid(shape={self.shape}, abcn={self.abcn}, half={self.half}, free_surface={self.free_surface})"

    # -- models -----------------------------------------------------------------------------
    def pad_model(self, m):
        """(..., *shape) -> (..., *storage): edge values into the PML, zeros in the halo, and the
        even mirror image above a free surface (so the adjoint sees V where the field mirrors)."""
        lead = [(0, 0)] * (m.ndim - self.ndim)
        m = jnp.pad(m, lead + list(zip(self.pml_lo, self.pml_hi)), mode="edge")
        halo = [(self.half, self.half)] * self.ndim
        if self.free_surface:
            zax = m.ndim - self.ndim
            top = jnp.flip(jax.lax.slice_in_dim(m, 1, self.half + 1, axis=zax), axis=zax)
            m = jnp.concatenate([top, m], axis=zax)
            halo[0] = (0, self.half)
        return jnp.pad(m, lead + halo)

    def crop(self, u):
        """(..., *storage) -> (..., *shape)."""
        idx = tuple(slice(lo, lo + n) for lo, n in zip(self.lo, self.shape))
        return u[(Ellipsis,) + idx]

    def uncrop(self, u):
        """(..., *shape) -> (..., *storage), zeros outside the physical model."""
        lead = [(0, 0)] * (u.ndim - self.ndim)
        pads = [(lo, s - lo - n) for lo, n, s in zip(self.lo, self.shape, self.storage)]
        return jnp.pad(u, lead + pads)

    # -- locations --------------------------------------------------------------------------
    def flat_index(self, loc):
        """Integer physical locations (..., ndim) -> flat storage indices (...)."""
        strides = np.cumprod((1,) + self.storage[::-1])[:-1][::-1]
        idx_dtype = jnp.int32 if self.cells < 2**31 else jnp.int64
        loc = jnp.asarray(loc).astype(idx_dtype)
        off = jnp.asarray(self.lo, idx_dtype)
        return jnp.sum((loc + off) * jnp.asarray(strides, idx_dtype), axis=-1).astype(idx_dtype)

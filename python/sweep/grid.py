"""The storage grid shared by every equation.

A physical model of `shape` cells sits inside `abcn` PML cells on every face (none on top when
the top is a free surface), all surrounded by a halo of `half = order/2` cells that the kernels
never update. Past x's high halo, `xpad` (0 to 3) more such cells make a storage row a whole
number of 16-byte vectors (4 float32, 2 float64), which the CUDA kernels step by vector.
Storage index = physical index + `lo` on each axis.
"""

from __future__ import annotations

import functools
import math

import jax.numpy as jnp
import numpy as np

from .arrays import JAX

# Storage rows are padded to a multiple of this many cells: a 16-byte vector of float32 (and two
# of float64).
_ROW_CELLS = 4


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
        row = self.padded[-1] + 2 * half
        self.xpad = -row % _ROW_CELLS
        # halo cells past the updated ones at each axis's high end; `end`: one past the last
        self.halo_hi = (half,) * (self.ndim - 1) + (half + self.xpad,)
        self.storage = tuple(n + half + h for n, h in zip(self.padded, self.halo_hi))
        self.end = tuple(n - h for n, h in zip(self.storage, self.halo_hi))
        self.lo = tuple(half + lo for lo in self.pml_lo)  # storage index of physical cell 0
        self.cells = math.prod(self.storage)
        self.smax = max(self.storage)

    def _key(self):
        return (self.shape, self.abcn, self.half, self.free_surface, self.xpad)

    def __eq__(self, other):
        return isinstance(other, Grid) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return f"Grid(shape={self.shape}, abcn={self.abcn}, half={self.half}, free_surface={self.free_surface})"

    # -- models -----------------------------------------------------------------------------
    def pad_model(self, m, xp=JAX):
        """(..., *shape) -> (..., *storage): edge values into the PML, zeros in the halo, and the
        even mirror image above a free surface (so the adjoint sees V where the field mirrors).
        One gather per axis, so JAX and Torch (`xp`) differentiate it the same way."""
        lead = m.ndim - self.ndim
        for a in range(self.ndim):
            index, inside = self._model_index(a)
            m = xp.take(m, index, axis=lead + a)
            if not inside.all():
                shape = [1] * m.ndim
                shape[lead + a] = inside.size
                m = m * xp.asarray(inside.reshape(shape), like=m)
        return m

    def _model_index(self, axis: int):
        """Physical cell read by each storage cell along `axis`, and which storage cells are
        not halo (the halo reads zero; above a free surface it holds the mirror image)."""
        s = np.arange(self.storage[axis])
        phys = s - self.lo[axis]
        inside = (s >= self.half) & (s < self.end[axis])
        if axis == 0 and self.free_surface:
            mirror = s < self.half  # storage row half - k reads physical row k
            phys = np.where(mirror, self.half - s, phys)
            inside |= mirror
        return np.clip(phys, 0, self.shape[axis] - 1), inside

    @functools.cached_property
    def live_mask(self) -> np.ndarray:
        """(*storage) bool, read-only: the cells a step updates (not the halo, not a free-surface
        row, where the field is held at zero). Computed once per grid."""
        axes = []
        for a, n in enumerate(self.storage):
            s = np.arange(n)
            live = (s >= self.half) & (s < self.end[a])
            if a == 0 and self.free_surface:
                live &= s != self.half
            axes.append(live)
        mask = axes[0]
        for live in axes[1:]:
            mask = mask[..., None] & live
        mask.flags.writeable = False
        return mask

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
    def flat_index(self, loc, xnp=jnp):
        """Integer physical locations (..., ndim) -> flat storage indices (...); `xnp` is
        jax.numpy (traceable) or numpy."""
        strides = np.cumprod((1,) + self.storage[::-1])[:-1][::-1]
        idx_dtype = np.int32 if self.cells < 2**31 else np.int64
        loc = xnp.asarray(loc).astype(idx_dtype)
        off = xnp.asarray(self.lo, idx_dtype)
        return xnp.sum((loc + off) * xnp.asarray(strides, idx_dtype), axis=-1).astype(idx_dtype)

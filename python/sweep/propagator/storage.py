"""What the gradient stores of the forward run, and how: the resolved memory strategy.

    chunk      the state at every chunk start; the backward replays each chunk (one extra forward)
    full       per step, what the adjoint reads (the compiled kernels' stencil sums W, one field
               per step); nothing is replayed
    recursive  `slots` states on a binomial schedule (propagator.revolve)
    boundary   per step n, p_{n-1} and psi_n on the strips just outside the physical model (`half`
               cells deep, what the stencils of physical cells reach); the backward runs the
               leapfrog backwards in time (exact on the physical model) and resets the strips.
               `location` says where the strips are kept (propagator.offload)

`compression` "bf16" keeps whatever is stored in bfloat16. `sampling` k evaluates the imaging
condition (dJ/dV += adjoint x W) only at steps n = 0, k, 2k, ... and weights it by k; with
"full" only those steps' W are stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class Storage:
    strategy: str = "chunk"  # "chunk" | "full" | "recursive" | "boundary"
    slots: int = 0  # recursive: stored states
    compression: str = "none"  # "none" | "bf16"
    sampling: int = 1
    location: str = "device"  # boundary: "device" | "pinned_host" | "host" | "disk" (propagator.offload)
    directory: str | None = None  # "disk"

    # bf16 values are kept as their uint16 bit patterns: XLA may move a float convert across the
    # loop that stores or reads them (and so keep the full-precision copy), never a bitcast.
    def encode(self, tree):
        if self.compression == "none":
            return tree
        return jax.tree_util.tree_map(lambda x: jax.lax.bitcast_convert_type(x.astype(jnp.bfloat16), jnp.uint16), tree)

    def decode(self, tree, dtype):
        if self.compression == "none":
            return tree
        return jax.tree_util.tree_map(lambda x: jax.lax.bitcast_convert_type(x, jnp.bfloat16).astype(dtype), tree)

    @property
    def w_in_place(self) -> bool:
        """Full storage keeping every step's W as the kernels write it (not sampled, not
        compressed): the forward then writes it into one stack in place, chunk by chunk, and the
        adjoint reads it there (propagator.chunked), so no chunk of W exists outside the stack."""
        return self.strategy == "full" and self.compression == "none" and self.sampling == 1

    def stored_dtype(self, dtype):
        """The dtype values of `dtype` are stored as (bf16: their uint16 bit patterns)."""
        return np.dtype(np.uint16) if self.compression == "bf16" else np.dtype(dtype)

    def itemsize(self, dtype) -> int:
        """Bytes per stored value."""
        return self.stored_dtype(dtype).itemsize

    def strip_bytes(self, grid, nshot, dtype) -> int:
        """Boundary saving: bytes stored per step (p and psi on the strips of every shot)."""
        return nshot * 2 * boundary_cells(grid)[0].size * self.itemsize(dtype)

    # -- the sampled imaging condition ---------------------------------------------------
    def weights(self, schedule) -> np.ndarray | None:
        """(units, K) weight of each chunk step in dJ/dV: k at steps n = 0 mod k, else 0
        (None when k = 1: every step, weight 1)."""
        k = self.sampling
        if k == 1:
            return None
        n = schedule.unit_starts()[:, None] + np.arange(schedule.K)[None]
        return np.where(n % k == 0, float(k), 0.0)

    def sampled_slots(self, schedule) -> tuple[np.ndarray, np.ndarray] | None:
        """For "full" with k > 1: which chunk steps keep their W, (units, M) indices, and their
        weights (units, M) (0 where a chunk has fewer than M sampled steps)."""
        w = self.weights(schedule)
        if w is None:
            return None
        M = int((w > 0).sum(axis=1).max())
        idx = np.zeros((w.shape[0], M), np.int32)
        wt = np.zeros((w.shape[0], M))
        for u, row in enumerate(w):
            (t,) = np.nonzero(row)
            idx[u, : t.size], wt[u, : t.size] = t, row[t]
        return idx, wt


def take_steps(W, idx, ndim):
    """W (..., K, *grid) -> (..., M, *grid), the chunk steps `idx` (M,)."""
    return jnp.take(W, idx, axis=W.ndim - ndim - 1)


def put_steps(Wc, idx, weight, K, ndim):
    """The inverse of take_steps, weighted: (..., M, *grid) -> (..., K, *grid), zero elsewhere."""
    axis = Wc.ndim - ndim - 1
    shape = Wc.shape[:axis] + (K,) + Wc.shape[axis + 1 :]
    w = weight.reshape((-1,) + (1,) * ndim).astype(Wc.dtype)
    return jnp.zeros(shape, Wc.dtype).at[(slice(None),) * axis + (idx,)].add(Wc * w)


def weight_steps(W, weight, ndim):
    """W (..., K, *grid) times a per-step weight (K,)."""
    return W * weight.reshape((-1,) + (1,) * ndim).astype(W.dtype)


def boundary_cells(grid) -> tuple[np.ndarray, np.ndarray]:
    """The strips the backward of boundary saving needs, `half` cells deep outside each face of
    the physical model that has a PML (not above a free surface, whose image the kernels rebuild
    from the field). Returns the flat storage indices of the cells (n,) and the axis normal to
    each one's face (n,). A physical cell's axis-aligned stencil reaches p there, and, within
    `half` cells of a face, the term D1(d psi) of that face's axis reaches psi there."""
    lo, n, h = grid.lo, grid.shape, grid.half
    cells, axes = [], []
    for a in range(grid.ndim):
        for side in ("lo", "hi"):
            if side == "lo" and a == 0 and grid.free_surface:
                continue
            ranges = [np.arange(lo[b], lo[b] + n[b]) for b in range(grid.ndim)]
            ranges[a] = np.arange(lo[a] - h, lo[a]) if side == "lo" else np.arange(lo[a] + n[a], lo[a] + n[a] + h)
            idx = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, grid.ndim)
            cells.append(np.ravel_multi_index(tuple(idx.T), grid.storage))
            axes.append(np.full(len(idx), a))
    itype = np.int32 if grid.ndim * grid.cells < 2**31 else np.int64
    return np.concatenate(cells).astype(itype), np.concatenate(axes).astype(itype)

"""The few array operations the discrete schemes need beyond slicing and arithmetic, for JAX
and for PyTorch. Every equation writes its step once against this namespace, so the JAX
reference (`impl="jax"`) and the Torch eager path (`PropTorch(impl="eager")`) run the same
code and cannot drift apart. Functional updates only: both sides stay differentiable.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


class JaxOps:
    name = "jax"

    def zeros(self, shape, dtype, like=None):
        return jnp.zeros(shape, dtype)

    def pad(self, u, pads):
        """Zero padding; `pads` is one (before, after) pair per axis."""
        return jnp.pad(u, pads)

    def stack(self, xs, axis):
        return jnp.stack(xs, axis=axis)

    def concat(self, xs, axis):
        return jnp.concatenate(xs, axis=axis)

    def flip(self, u, axis):
        return jnp.flip(u, axis=axis)

    def take(self, u, idx: np.ndarray, axis):
        return jnp.take(u, jnp.asarray(idx), axis=axis)

    def arange(self, n, like=None):
        return jnp.arange(n)

    def add_at(self, u, index, values):
        """u with `values` added at the advanced index `index` (a tuple of index arrays)."""
        return u.at[index].add(values)

    def asarray(self, x, like=None):
        """x as an array (of `like`'s dtype when given)."""
        return jnp.asarray(x, dtype=None if like is None else like.dtype)


class TorchOps:
    """The same operations for torch tensors (torch is imported on use: it is optional)."""

    name = "torch"

    def zeros(self, shape, dtype, like=None):
        import torch

        return torch.zeros(shape, dtype=dtype, device=None if like is None else like.device)

    def pad(self, u, pads):
        import torch.nn.functional as F

        flat = [n for pair in reversed(pads) for n in pair]
        return F.pad(u, flat)

    def stack(self, xs, axis):
        import torch

        return torch.stack(xs, dim=axis)

    def concat(self, xs, axis):
        import torch

        return torch.cat(xs, dim=axis)

    def flip(self, u, axis):
        return u.flip(axis)

    def take(self, u, idx: np.ndarray, axis):
        import torch

        return torch.index_select(u, axis % u.ndim, torch.as_tensor(idx, device=u.device))

    def arange(self, n, like=None):
        import torch

        return torch.arange(n, device=None if like is None else like.device)

    def add_at(self, u, index, values):
        return u.index_put(index, values, accumulate=True)

    def asarray(self, x, like=None):
        import torch

        if like is None:
            return torch.as_tensor(x)
        return torch.as_tensor(x, dtype=like.dtype, device=like.device)


JAX = JaxOps()
TORCH = TorchOps()

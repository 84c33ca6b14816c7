"""The few array operations the discrete schemes need beyond slicing and arithmetic, for JAX
and for PyTorch. Every equation writes its step once against this namespace, so the JAX
reference (`impl="jax"`) and the Torch eager path (`PropTorch(impl="eager")`) run the same
code and cannot drift apart. Functional updates only: both sides stay differentiable.
"""

from __future__ import annotations

import numpy as np


class JaxOps:
    name = "jax"

    @staticmethod
    def _jnp():
        import jax.numpy as jnp

        return jnp

    def zeros(self, shape, dtype, like=None):
        return self._jnp().zeros(shape, dtype)

    def pad(self, u, pads):
        """Zero padding; `pads` is one (before, after) pair per axis."""
        return self._jnp().pad(u, pads)

    def stack(self, xs, axis):
        return self._jnp().stack(xs, axis=axis)

    def concat(self, xs, axis):
        return self._jnp().concatenate(xs, axis=axis)

    def flip(self, u, axis):
        return self._jnp().flip(u, axis=axis)

    def take(self, u, idx: np.ndarray, axis):
        return self._jnp().take(u, self._jnp().asarray(idx), axis=axis)

    def arange(self, n, like=None):
        return self._jnp().arange(n)

    def add_at(self, u, index, values):
        """u with `values` added at the advanced index `index` (a tuple of index arrays)."""
        return u.at[index].add(values)

    def asarray(self, x, like=None):
        """x as an array (of `like`'s dtype when given)."""
        return self._jnp().asarray(x, dtype=None if like is None else like.dtype)


class TorchOps:
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

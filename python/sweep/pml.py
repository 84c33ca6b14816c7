"""Convolutional PML (CPML) coefficient profiles, shared by every equation.

Per axis, for a cell at distance f (fraction of `abcn`, 0 < f <= 1) into the PML:
    sigma = sigma_max f^2,  sigma_max = -3 v_pml ln(R) / (2 abcn dh)
    alpha = pi f_pml (1 - f)
    d = exp(-(sigma + alpha) dt),  c = sigma / (sigma + alpha) (d - 1)
so that the recursive convolution psi' = d psi + c du/dx stretches the coordinate. Outside the
PML c = d = 0. e = D1 c is the derivative of c with the equation's first-derivative stencil.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .grid import Grid


class CPML(eqx.Module):
    """CPML parameters. Left as None, `vmax` is the model's largest velocity and `freq` is
    v_min / (20 dh): the peak frequency of a Ricker wavelet whose band (~2.5 x peak) is sampled
    at 8 cells per shortest wavelength."""

    reflection: float = eqx.field(static=True, default=1e-3)
    vmax: float | None = eqx.field(static=True, default=None)
    freq: float | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        if not (0.0 < self.reflection < 1.0):
            raise ValueError(f"CPML.reflection: expected 0 < reflection < 1, got {self.reflection!r}")
        for name in ("vmax", "freq"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise ValueError(f"CPML.{name}: expected a positive finite number or None, got {v!r}")


def profiles(grid: Grid, pml: CPML, coef, dh: float, dt: float, vmin, vmax, xnp=jnp):
    """(ndim, 3, smax) rows c, d, e per axis (zero past each axis's storage length).

    `vmin`/`vmax` may be traced (derived from the model); they carry no gradient: the profiles
    are a fixed part of the discrete scheme. `xnp` is jax.numpy, or numpy for frontends that
    only need the values (PropTorch's eager path)."""
    dtype = coef.dtype
    const = jax.lax.stop_gradient if xnp is jnp else (lambda x: x)
    vmax = const(xnp.asarray(pml.vmax if pml.vmax is not None else vmax, dtype))
    vmin = const(xnp.asarray(vmin, dtype))
    freq = xnp.asarray(pml.freq, dtype) if pml.freq is not None else vmin / (20.0 * dh)
    half = grid.half
    rows = []
    for a in range(grid.ndim):
        n_s = grid.storage[a]
        q = np.arange(n_s) - half  # padded index; the halo is q < 0 or q >= padded
        lo, hi, n_p = grid.pml_lo[a], grid.pml_hi[a], grid.padded[a]
        dist = np.where(q < lo, lo - q, 0) + np.where(q > n_p - hi - 1, q - (n_p - hi - 1), 0)
        inside = (dist > 0) & (q >= 0) & (q < n_p)
        frac = xnp.asarray(np.where(inside, dist / max(grid.abcn, 1), 0.0), dtype)
        if grid.abcn > 0:
            sigma_max = -3.0 * vmax * math.log(pml.reflection) / (2.0 * grid.abcn * dh)
        else:
            sigma_max = xnp.zeros((), dtype)
        sigma = sigma_max * frac**2
        alpha = math.pi * freq * (1.0 - frac)
        d = xnp.where(inside, xnp.exp(-(sigma + alpha) * dt), 0.0)
        c = xnp.where(inside, sigma / xnp.where(inside, sigma + alpha, 1.0) * (d - 1.0), 0.0)
        # e = D1 c on the updated cells (halo stays zero).
        cp = xnp.pad(c, half)
        e = sum(coef[1, m] * (cp[half + m : half + m + n_s] - cp[half - m : half - m + n_s]) for m in range(1, half + 1))
        e = xnp.where((q >= 0) & (q < n_p), e, 0.0)
        row = xnp.stack([c, d, e]).astype(dtype)
        rows.append(xnp.pad(row, ((0, 0), (0, grid.smax - n_s))))
    return xnp.stack(rows)

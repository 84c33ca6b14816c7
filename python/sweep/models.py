"""Embedded velocity models (generated, so nothing is downloaded)."""

from __future__ import annotations

import numpy as np


def marmousi_like(nz: int = 150, nx: int = 400, dh: float = 10.0, dtype=np.float32) -> np.ndarray:
    """A Marmousi-flavoured 2D P-velocity model (m/s): a water layer, folded sediments whose
    velocity grows with depth, a normal fault, a high-velocity wedge and a low-velocity lens."""
    z = np.arange(nz)[:, None] * dh
    x = np.arange(nx)[None, :] * dh
    width = nx * dh
    water = 12 * dh
    # folded layer boundaries: an anticline plus a gentler long wavelength
    fold = 0.08 * z.max() * np.exp(-(((x - 0.35 * width) / (0.18 * width)) ** 2)) + 0.03 * z.max() * np.sin(2 * np.pi * x / width)
    # normal fault at x_f dipping to the right: throw shifts the layers down on its right
    x_f = 0.62 * width + 0.4 * (z - water)
    throw = np.where(x > x_f, 0.06 * z.max(), 0.0)
    depth = z + fold - throw - water
    layer = np.floor(np.clip(depth, 0, None) / (0.09 * z.max()))
    vp = 1650.0 + 0.9 * np.clip(depth, 0, None) + 110.0 * (layer % 3)
    # high-velocity wedge (salt-like) and a low-velocity lens
    wedge = (z > 0.55 * z.max()) & (np.abs(x - 0.25 * width) < 0.12 * width - 0.3 * (z - 0.55 * z.max()))
    vp = np.where(wedge, 4200.0, vp)
    lens = ((x - 0.8 * width) / (0.07 * width)) ** 2 + ((z - 0.45 * z.max()) / (0.05 * z.max())) ** 2 < 1
    vp = np.where(lens, vp - 500.0, vp)
    vp = np.where(z < water, 1500.0, vp)
    return np.broadcast_to(np.clip(vp, 1500.0, 4500.0), (nz, nx)).astype(dtype)


def smooth(vp: np.ndarray, cells: int) -> np.ndarray:
    """Separable moving-average smoothing (a starting model for FWI), edges replicated."""
    k = np.ones(2 * cells + 1) / (2 * cells + 1)
    out = np.asarray(vp, np.float64)
    for axis in range(out.ndim):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (cells, cells)
        padded = np.pad(out, pad, mode="edge")
        out = np.apply_along_axis(lambda r: np.convolve(r, k, mode="valid"), axis, padded)
    return out.astype(vp.dtype)

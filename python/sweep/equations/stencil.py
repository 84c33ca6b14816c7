"""Centred finite-difference stencils shared by every equation.

The coefficients are exact rationals; `coefficients(order, dh, dtype)` scales them (second
derivative by 1/dh^2, first by 1/dh) into the (2, order/2 + 1) table that both the pure-JAX
reference and the compiled kernels read, so the two use the very same numbers.
"""

from __future__ import annotations

import math
from fractions import Fraction as F

import numpy as np

SUPPORTED_ORDERS = (2, 4, 6, 8)

# Second derivative: centre weight, then the weight of the pair at +-m.
_D2 = {
    2: (F(-2), F(1)),
    4: (F(-5, 2), F(4, 3), F(-1, 12)),
    6: (F(-49, 18), F(3, 2), F(-3, 20), F(1, 90)),
    8: (F(-205, 72), F(8, 5), F(-1, 5), F(8, 315), F(-1, 560)),
}
# First derivative: weight of (u[+m] - u[-m]), m = 1 .. order/2.
_D1 = {
    2: (F(1, 2),),
    4: (F(2, 3), F(-1, 12)),
    6: (F(3, 4), F(-3, 20), F(1, 60)),
    8: (F(4, 5), F(-1, 5), F(4, 105), F(-1, 280)),
}


def check_order(order) -> int:
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or int(order) not in SUPPORTED_ORDERS:
        raise ValueError(f"spatial_order: expected one of {SUPPORTED_ORDERS}, got {order!r}")
    return int(order)


def coefficients(order: int, dh: float, dtype) -> np.ndarray:
    """(2, order/2 + 1) table: row 0 = D2 weights / dh^2, row 1 = [0, D1 weights] / dh."""
    half = order // 2
    table = np.zeros((2, half + 1), dtype=np.float64)
    table[0] = [float(w) for w in _D2[order]]
    table[1, 1:] = [float(w) for w in _D1[order]]
    table[0] /= dh * dh
    table[1] /= dh
    return table.astype(dtype)


def laplacian_symbol_max(order: int) -> float:
    """max over wavenumbers of -(D2 symbol) * dh^2, reached at the Nyquist wavenumber."""
    w = _D2[order]
    return float(-(w[0] + 2 * sum(wm * (-1) ** m for m, wm in enumerate(w[1:], start=1))))


def max_stable_dt(order: int, ndim: int, dh: float, vmax: float) -> float:
    """Largest dt for which leapfrog with this stencil is stable (von Neumann, interior)."""
    return 2.0 * dh / (vmax * math.sqrt(ndim * laplacian_symbol_max(order)))

"""Traces against the homogeneous Green's function (2D Hankel, 3D s(t - r/v)/(4 pi v^2 r))."""

import numpy as np
import pytest

from helpers import green_2d, green_3d, prop, rel, ricker

IMPLS = ["jax", pytest.param("c", marks=pytest.mark.needs_core)]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("order", [4, 8])
def test_green_2d(impl, order):
    v, dh, dt, nt, f = 2000.0, 5.0, 5e-4, 560, 15.0
    n = 130
    vp = np.full((n, n), v)
    src = np.array([[40, 40]])
    # offsets 100 m to ~300 m, along an axis and on diagonals
    offs = [(20, 0), (0, 40), (-28, 28), (42, 42), (60, 0)]
    rec = np.array([[[40 + dz, 40 + dx] for dz, dx in offs]])
    w = ricker(nt, dt, f)
    p = prop(order, impl, shape=(n, n), dh=dh, dt=dt, abcn=20)
    out = np.asarray(p(w, src, rec, [vp]))[0, :, :, 0]
    for k, (dz, dx) in enumerate(offs):
        r = dh * np.hypot(dz, dx)
        err = rel(out[:, k], green_2d(w, dt, r, v))
        assert err < 0.02, f"offset {r:.0f} m: relative L2 error {err:.4f}"


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("order", [4, 8])
def test_green_3d(impl, order):
    v, dh, dt, nt, f = 2000.0, 10.0, 1e-3, 330, 10.0
    n = 44
    vp = np.full((n, n, n), v)
    src = np.array([[14, 14, 14]])
    offs = [(10, 0, 0), (0, 0, 15), (0, 12, 12), (10, 10, 10), (20, 0, 0)]
    rec = np.array([[[14 + a, 14 + b, 14 + c] for a, b, c in offs]])
    w = ricker(nt, dt, f)
    p = prop(order, impl, shape=(n, n, n), dh=dh, dt=dt, abcn=12)
    out = np.asarray(p(w, src, rec, [vp]))[0, :, :, 0]
    for k, o in enumerate(offs):
        r = dh * np.linalg.norm(o)
        err = rel(out[:, k], green_3d(nt, dt, f, r, v))
        assert err < 0.02, f"offset {r:.0f} m: relative L2 error {err:.4f}"

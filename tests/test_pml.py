"""The CPML absorbs: after the wave has left the model, little energy remains inside."""

import numpy as np
import pytest

from helpers import prop, ricker

IMPLS = ["jax", pytest.param("c", marks=pytest.mark.needs_core)]


def _energy(f):
    return float(np.sum(np.asarray(f) ** 2))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("free_surface", [False, True])
def test_energy_left_after_the_wave_is_gone(impl, free_surface):
    n, dh, dt, f, v = 100, 5.0, 5e-4, 25.0, 2000.0
    vp = np.full((n, n), v)
    src = np.array([[50, 50]])
    rec = np.array([[[50, 60]]])
    p = prop(8, impl, shape=(n, n), dh=dh, dt=dt, abcn=20, free_surface=free_surface)
    # peak energy: the field once the wavelet has been emitted; the wave needs ~0.18 s to
    # leave the 500 m model (its diagonal half is ~350 m) and the wavelet lasts ~0.12 s
    nt_peak, nt_end = 200, 1000
    w = ricker(nt_end, dt, f)
    _, peak = p(w[:nt_peak], src, rec, [vp], return_wavefield=True)
    _, end = p(w, src, rec, [vp], return_wavefield=True)
    ratio = _energy(end) / _energy(peak)
    # documented bound (docs/physics.md): less than 1e-4 of the peak energy is left
    assert ratio < 1e-4, ratio

"""Constant-density acoustic wave equation.

    p_tt = v^2 lap(p) + s(t) delta(x - x_s)          (SI units)

Leapfrog in time, centred stencils of order 2-8 in space, CPML on every face (or a
pressure-release free surface on top). The wavelet sample s(n dt) is injected into the step
from n to n+1 as dt^2 s / dh^ndim at the source cell; a receiver records p at its
cell and `record[n]` is the field at t = n dt. `reference_step` below *is* the scheme; the
compiled kernels (kernels/acoustic) implement the same operations and their exact transpose.
"""

from __future__ import annotations

import equinox as eqx

from ..arrays import JAX
from ..grid import Grid
from ..registry import Field, Model, register
from .stencil import check_order, max_stable_dt


@register(
    summary="Constant-density acoustic wave equation, p_tt = v^2 lap(p) + s, with CPML or a free surface",
    dims=(2, 3),
    models=(Model("vp", "m/s", "P-wave velocity"),),
    fields=(
        Field("p", "pressure at t = n dt (units of the wavelet x s^2 / m^ndim)", source=True, receiver=True),
        Field("p_prev", "pressure at t = (n-1) dt (the leapfrog's previous level)"),
        Field("psi", "CPML memory of the first derivative, one per axis (zero outside the PML)"),
        Field("zeta", "CPML memory of the second derivative, one per axis (zero outside the PML)"),
    ),
    executions=("jax", "cpu", "cuda", "torch_eager", "torch_c"),
)
class Acoustic(eqx.Module):
    """Constant-density acoustic equation; one model, the P velocity `vp` in m/s."""

    spatial_order: int = eqx.field(static=True, default=8)

    name = "acoustic"
    ncomp = 1
    ffi_prefix = "sweep_acoustic"

    def __check_init__(self):
        check_order(self.spatial_order)

    @property
    def half(self) -> int:
        return self.spatial_order // 2

    def max_stable_dt(self, ndim: int, dh: float, vmax: float) -> float:
        return max_stable_dt(self.spatial_order, ndim, dh, vmax)

    def wave_speed(self, models):
        """The velocity that sets stability and the PML: vp."""
        return models[0]

    def with_wave_speed(self, models, speed):
        """`models` with the (checked) wave speed put back."""
        return [speed] + list(models[1:])

    def state_fields(self, ndim: int) -> int:
        """Fields per shot in a state (p, p_prev, psi and zeta per axis)."""
        return 2 + 2 * ndim

    # -- the discrete scheme ----------------------------------------------------------------
    def coefficients_of_models(self, grid: Grid, models, dt: float, xp=JAX):
        """V = v^2 dt^2 on the storage grid: the only model-dependent coefficient."""
        (vp,) = models
        return grid.pad_model(vp, xp) ** 2 * (dt * dt)

    def init_state(self, grid: Grid, nshot: int, dtype, xp=JAX, like=None):
        field = xp.zeros((nshot,) + grid.storage, dtype, like)
        aux = xp.zeros((nshot, grid.ndim) + grid.storage, dtype, like)
        return (field, field, aux, aux)

    def reference_step(self, grid: Grid, coef, state, V, prof, amp_t, src, rec, xp=JAX):
        """One step n -> n+1 for every shot. state = (p, p_prev, psi, zeta), p: (B, *storage),
        psi/zeta: (B, ndim, *storage); V: (1 or B, *storage); prof: (1, ndim, 3, smax);
        amp_t: (B,) source term dt^2 s(n dt) / dh^ndim; src: (B,), rec: (B, nrec) flat indices.
        Returns the new state and the records of the new field, (B, nrec). `xp` is the array
        namespace (sweep.arrays): the same code is the JAX reference and the Torch eager path."""
        p, p_prev, psi, zeta = state
        h, nd = grid.half, grid.ndim
        if grid.free_surface:
            p = mirror_top(p, h, xp)
        win = lambda u, axis, m: _window(u, axis, m, grid)  # noqa: E731
        acc = 0.0
        psi_next, zeta_next = [], []
        for i in range(nd):

            def prof_win(q, m=0):
                return _along(prof[0, i, q, h + m : grid.end[i] + m], i, nd)

            c, d, e = prof_win(0), prof_win(1), prof_win(2)
            ps, zt = psi[:, i], zeta[:, i]
            d2 = coef[0, 0] * win(p, i, 0)
            g = 0.0
            dpsi = 0.0
            for m in range(1, h + 1):
                d2 = d2 + coef[0, m] * (win(p, i, m) + win(p, i, -m))
                g = g + coef[1, m] * (win(p, i, m) - win(p, i, -m))
                dpsi = dpsi + coef[1, m] * (prof_win(1, m) * win(ps, i, m) - prof_win(1, -m) * win(ps, i, -m))
            lap_i = (1 + c) * d2 + e * g + dpsi
            z_new = d * win(zt, i, 0) + c * lap_i
            psi_next.append(d * win(ps, i, 0) + c * g)
            zeta_next.append(z_new)
            acc = acc + (lap_i + z_new)
        inner = 2 * win(p, 0, 0) - win(p_prev, 0, 0) + win(V, 0, 0) * acc
        halo = [(h, hi) for hi in grid.halo_hi]
        p_new = xp.pad(inner, [(0, 0)] + halo)
        psi_new = xp.pad(xp.stack(psi_next, axis=1), [(0, 0), (0, 0)] + halo)
        zeta_new = xp.pad(xp.stack(zeta_next, axis=1), [(0, 0), (0, 0)] + halo)
        nshot = p.shape[0]
        flat = p_new.reshape(nshot, -1)
        shot = xp.arange(nshot, like=flat)
        flat = xp.add_at(flat, (shot, src), amp_t)
        records = flat[shot[:, None], rec]
        return (flat.reshape(p.shape), p, psi_new, zeta_new), records


def mirror_top(u, half: int, xp=JAX):
    """Odd mirror image above a free surface at storage row `half` (batched: axis 1 is z)."""
    below = u[:, half + 1 : 2 * half + 1]
    return xp.concat([-xp.flip(below, axis=1), u[:, half:]], axis=1)


def _window(u, axis: int, m: int, grid: Grid):
    """The updated cells of u (..., *storage), shifted by m cells along `axis`."""
    h = grid.half
    idx = tuple(
        slice(h + (m if a == axis else 0), end + (m if a == axis else 0)) for a, end in enumerate(grid.end)
    )
    return u[(Ellipsis,) + idx]


def _along(vec, axis: int, ndim: int):
    """A 1D profile shaped to broadcast along `axis` of a (B, *grid) array."""
    shape = [1] * (ndim + 1)
    shape[axis + 1] = vec.shape[0]
    return vec.reshape(shape)

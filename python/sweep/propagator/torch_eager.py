"""PropTorch(impl="eager"): the equation's reference step run by PyTorch, step by step.

No build step and no JAX runtime: the step is the same function as the JAX reference
(`equation.reference_step` with the Torch array namespace), so the two cannot drift. Autograd
differentiates it; `use_ckpt` recomputes each chunk of steps in the backward instead of storing
every step (torch.utils.checkpoint), and EagerOptions(use_compile=True) runs each step under
torch.compile with the options' settings.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.checkpoint import checkpoint

from ..arrays import TORCH
from ..equations.stencil import coefficients
from ..pml import profiles
from . import validate as val


class EagerRunner:
    def __init__(self, prop, options):
        self.prop = prop  # a PropJax: the validated configuration (grid, dt, PML, equation)
        self.options = options
        self._step = None

    def step(self):
        """The one-step function, compiled once per PropTorch when the options ask for it."""
        if self._step is None:
            eq, grid = self.prop.equation, self.prop.grid

            def step(state, V, prof, coef, amp_t, src, rec):
                return eq.reference_step(grid, coef, state, V, prof, amp_t, src, rec, xp=TORCH)

            opts = self.options
            self._step = torch.compile(step, **opts.compile_kwargs()) if opts.use_compile else step
        return self._step

    def __call__(self, wavelet, models, sources, receivers, vmin, vmax, chunk, return_wavefield, snapshot_interval):
        """Returns (outputs as PropJax orders them, final state). `chunk`: steps per checkpointed
        chunk, or None to let autograd keep every step."""
        prop = self.prop
        eq, grid, nd = prop.equation, prop.grid, prop.ndim
        device, dtype = models[0].device, models[0].dtype
        coef_np = coefficients(eq.spatial_order, prop.dh, val.np_dtype(models[0]))
        coef = torch.as_tensor(coef_np, device=device)
        V = eq.coefficients_of_models(grid, models, prop.dt, xp=TORCH)
        V = V[None] if V.ndim == nd else V
        prof = profiles(grid, prop.pml, coef_np, prop.dh, prop.dt, vmin, vmax, xnp=np)
        prof = torch.as_tensor(prof[None], device=device)
        nshot, nt = sources.shape[0], wavelet.shape[-1]
        amp = wavelet.expand(nshot, nt) * (prop.dt**2 / prop.dh**nd)
        src = torch.as_tensor(grid.flat_index(sources, np), device=device, dtype=torch.long)
        rec = torch.as_tensor(grid.flat_index(receivers, np), device=device, dtype=torch.long)
        step = self.step()
        snap = snapshot_interval

        def run_steps(n0, k, *flat):
            nf = len(flat) - 1
            state, a = tuple(flat[:nf]), flat[nf]
            recs, snaps = [], []
            for j in range(k):
                if snap is not None and (n0 + j) % snap == 0:
                    snaps.append(state[0])
                state, r = step(state, V, prof, coef, a[:, j], src, rec)
                recs.append(r)
            return (*state, torch.stack(recs, dim=1), *snaps)

        state = eq.init_state(grid, nshot, dtype, TORCH, like=V)
        nsteps = nt - 1
        K = chunk or max(nsteps, 1)
        records, snapshots = [], []
        for n0 in range(0, nsteps, K):
            k = min(K, nsteps - n0)
            args = (n0, k, *state, amp[:, n0 : n0 + k])
            out = checkpoint(run_steps, *args, use_reentrant=False) if chunk else run_steps(*args)
            ns = len(state)
            state, recs = tuple(out[:ns]), out[ns]
            records.append(recs)
            snapshots.extend(out[ns + 1 :])
        if snap is not None and nsteps % snap == 0:
            snapshots.append(state[0])

        first = torch.zeros((nshot, 1, rec.shape[-1]), dtype=dtype, device=device)
        outs = (torch.cat([first, *records], dim=1)[..., None],)
        if return_wavefield:
            outs += (grid.crop(state[0]),)
        if snap is not None:
            outs += (grid.crop(torch.stack(snapshots, dim=1)),)
        return outs, state

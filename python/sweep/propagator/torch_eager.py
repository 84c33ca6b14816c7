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
from ..callbacks import invoke, wants_fields
from ..pml import profiles
from .chunked import model_coefficients
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

    def __call__(self, wavelet, models, sources, receivers, vmin, vmax, chunk, return_wavefield, snapshot_interval, callbacks=None):
        """Returns (outputs as PropJax orders them, final state). `chunk`: steps per checkpointed
        chunk, or None to let autograd keep every step. `callbacks`: a sweep.callbacks.Callbacks;
        chunks are then also cut where they fire, so that they run outside the checkpointed
        (recomputed) steps."""
        prop = self.prop
        eq, grid, nd = prop.equation, prop.grid, prop.ndim
        device, dtype = models[0].device, models[0].dtype
        coef_np = coefficients(eq.spatial_order, prop.dh, val.np_dtype(models[0]))
        coef = torch.as_tensor(coef_np, device=device)
        V = model_coefficients(eq, grid, models, prop.dt, xp=TORCH)
        prof = profiles(grid, prop.pml, coef_np, prop.dh, prop.dt, vmin, vmax, xnp=np)
        prof = torch.as_tensor(prof[None], device=device)
        nshot, nt = sources.shape[0], wavelet.shape[-1]
        amp = wavelet.expand(nshot, nt) * (prop.dt**2 / prop.dh**nd)
        src = torch.as_tensor(grid.flat_index(sources, np), device=device, dtype=torch.long)
        rec = torch.as_tensor(grid.flat_index(receivers, np), device=device, dtype=torch.long)
        step = self.step()
        snap = snapshot_interval

        def run_steps(n0, k, V, *flat):
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
        watch = _Watch(callbacks, prop, models, V, nt)
        records, snapshots = [], []
        V_n = V
        for n0, k in _chunks(nsteps, chunk, callbacks):
            state, V_n, _ = watch(n0, state, V_n)
            args = (n0, k, V_n, *state, amp[:, n0 : n0 + k])
            out = checkpoint(run_steps, *args, use_reentrant=False) if chunk else run_steps(*args)
            ns = len(state)
            state, recs = tuple(out[:ns]), out[ns]
            records.append(recs)
            snapshots.extend(out[ns + 1 :])
        if snap is not None and nsteps % snap == 0:
            snapshots.append(state[0])
        first = torch.zeros((nshot, 1, rec.shape[-1]), dtype=dtype, device=device)
        records = torch.cat([first, *records], dim=1)
        # The records pass the last probe so that its backward runs even if the final state is unused.
        state, _, (records,) = watch(nsteps, state, V_n, (records,))
        outs = (records[..., None],)
        if return_wavefield:
            outs += (grid.crop(state[0]),)
        if snap is not None:
            outs += (grid.crop(torch.stack(snapshots, dim=1)),)
        return outs, state


def _chunks(nsteps, chunk, callbacks):
    """(first step, steps) of each chunk: every `chunk` steps (all steps at once if None), also
    cut at each callback step."""
    cuts = set(range(0, nsteps, chunk or max(nsteps, 1)))
    if callbacks is not None:
        cuts |= set(range(0, nsteps, callbacks.frequency))
    cuts = sorted(cuts) + [nsteps]
    return [(a, b - a) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]


class _Watch:
    """Runs the callbacks at chunk starts n (those with n % frequency == 0): the forward one
    directly, the backward one from the backward of an identity (`_Probe`) on the state and on
    the coefficient field. The steps after n read the probe's copy of the field (and the next
    probe passes it on), so the cotangents reaching the probe are the adjoint state at n and
    dJ/dV through the steps n .. nt-2: the gradient so far."""

    def __init__(self, callbacks, prop, models, V, nt):
        self.cb, self.prop, self.nt = callbacks, prop, nt
        self.models = [m.detach() for m in models]
        # A leaf that requires grad makes every probe part of the graph, so its backward runs
        # even when nothing else entering it does (the zero initial state, a constant model).
        self.anchor = torch.zeros((), dtype=V.dtype, device=V.device, requires_grad=True)

    def __call__(self, n, state, V, extra=()):
        cb = self.cb
        if cb is None or n % cb.frequency:
            return state, V, extra
        prop = self.prop
        if cb.forward is not None:
            names = prop.equation.state_names if wants_fields(cb.forward) else ()
            fields = {k: u.detach().cpu().numpy() for k, u in zip(names, state)}
            invoke(cb, "forward", n, self.nt, prop.dt, prop.grid, fields)
        if cb.backward is None or not torch.is_grad_enabled():
            return state, V, extra
        ns = len(state)
        out = _Probe.apply(self, n, ns, self.anchor, V, *state, *extra)
        return tuple(out[1 : 1 + ns]), out[0], tuple(out[1 + ns :])

    def backward(self, n, V_bar, p_bar):
        prop = self.prop
        eq = prop.equation
        if not wants_fields(self.cb.backward):
            return invoke(self.cb, "backward", n, self.nt, prop.dt, prop.grid, {}, {})
        with torch.enable_grad():
            models = [m.clone().requires_grad_() for m in self.models]
            V = model_coefficients(prop.equation, prop.grid, models, prop.dt, xp=TORCH)
            grads = torch.autograd.grad(V, models, torch.zeros_like(V) if V_bar is None else V_bar, allow_unused=True)
        grads = {k: (torch.zeros_like(m) if g is None else g).cpu().numpy() for k, m, g in zip(eq.model_names, models, grads)}
        invoke(self.cb, "backward", n, self.nt, prop.dt, prop.grid, {eq.state_names[0]: p_bar.cpu().numpy()}, grads)


class _Probe(torch.autograd.Function):
    @staticmethod
    def forward(ctx, watch, n, nstate, anchor, V, *tensors):
        ctx.watch, ctx.n = watch, n
        ctx.field = (tensors[0].shape, tensors[0].dtype, tensors[0].device)
        return (V.view_as(V),) + tuple(u.view_as(u) for u in tensors)

    @staticmethod
    def backward(ctx, V_bar, *bars):
        shape, dtype, device = ctx.field
        p_bar = torch.zeros(shape, dtype=dtype, device=device) if bars[0] is None else bars[0].detach()  # an unused field
        ctx.watch.backward(ctx.n, V_bar, p_bar)
        return (None, None, None, None, V_bar, *bars)

"""The main job: model shots on the embedded Marmousi-like model and compute an FWI gradient."""

from __future__ import annotations

import time

import numpy as np


def ricker(nt: int, dt: float, freq: float, dtype=np.float32) -> np.ndarray:
    t = np.arange(nt) * dt - 1.2 / freq
    a = (np.pi * freq * t) ** 2
    return ((1 - 2 * a) * np.exp(-a)).astype(dtype)


def run(out: str = "sweep_demo.png", shots: int = 4, nt: int = 1500, impl: str = "auto", order: int = 8, show=print, progress=True) -> dict:
    import jax
    import jax.numpy as jnp

    from .equations import Acoustic
    from .models import marmousi_like, smooth
    from .progress import Progress
    from .propagator.jax import PropJax

    dh, dt, freq = 10.0, 1e-3, 12.0
    vp_true = marmousi_like(dh=dh)
    nz, nx = vp_true.shape
    vp0 = smooth(vp_true, 12)
    prop = PropJax(Acoustic(spatial_order=order), shape=(nz, nx), dh=dh, dt=dt, abcn=20, free_surface=True, impl=impl)
    src_x = np.linspace(20, nx - 21, shots).astype(int)
    sources = np.stack([np.full(shots, 2), src_x], axis=1)
    rec_x = np.arange(0, nx, 2)
    receivers = np.stack([np.stack([np.full(rec_x.size, 2), rec_x], axis=1)] * shots)
    wavelet = ricker(nt, dt, freq)
    show(
        f"sweep demo: acoustic order {order}, model {nz} x {nx} cells of {dh:g} m ({nz * dh / 1e3:.1f} x {nx * dh / 1e3:.1f} km), "
        f"{shots} shots, {rec_x.size} receivers each, {nt} steps of {dt * 1e3:g} ms, free surface, CPML 20 cells, impl={prop.impl}"
    )

    every = prop.chunk_length(nt)  # bars advance per checkpoint chunk: the chunking is unchanged
    bars = dict(disable=not progress, leave=False)
    fwd_bar, grad_fwd_bar, grad_bwd_bar = (Progress(d, nt, **bars) for d in ("forward", "gradient: forward", "gradient: backward"))
    forward = jax.jit(lambda v: prop(wavelet, sources, receivers, [v], forward_callback=fwd_bar, callback_frequency=every))
    t0 = time.perf_counter()
    observed = jax.block_until_ready(forward(jnp.asarray(vp_true)))
    t_fwd = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(forward(jnp.asarray(vp_true)))
    t_fwd_again = time.perf_counter() - t0

    def misfit(v):
        d = prop(wavelet, sources, receivers, [v], forward_callback=grad_fwd_bar, backward_callback=grad_bwd_bar, callback_frequency=every)
        return 0.5 * jnp.sum((d - observed) ** 2)

    grad_fn = jax.jit(jax.value_and_grad(misfit))
    t0 = time.perf_counter()
    loss, grad = jax.block_until_ready(grad_fn(jnp.asarray(vp0)))
    t_grad = time.perf_counter() - t0
    cells = shots * nz * nx * nt
    show(
        f"forward (observed data): {t_fwd:.2f} s incl. compilation; again: {t_fwd_again:.2f} s = "
        f"{cells / t_fwd_again / 1e9:.3f} Gcell/s (shots x cells x steps / s)"
    )
    show(f"FWI gradient of the misfit at the smoothed model: {t_grad:.2f} s incl. compilation; misfit {float(loss):.4g}")

    _plot(out, vp_true, vp0, np.asarray(observed)[shots // 2, :, :, 0], np.asarray(grad), dh, dt)
    show(f"wrote {out}")
    return dict(observed=np.asarray(observed), gradient=np.asarray(grad), misfit=float(loss), t_forward=t_fwd, t_gradient=t_grad)


def _plot(path, vp, vp0, gather, grad, dh, dt):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise RuntimeError("sweep demo writes a PNG with matplotlib: pip install 'sweep[demo]'") from exc
    from . import plot

    fig, ax = plt.subplots(2, 2, figsize=(13, 7), constrained_layout=True)
    plot.velocity(vp, dh, ax=ax[0, 0], title="true vp (m/s)")
    plot.velocity(vp0, dh, ax=ax[0, 1], title="starting vp (m/s)")
    plot.shot_gather(gather, dt, receiver_x=np.arange(0, vp.shape[1], 2) * dh, clip=98, ax=ax[1, 0], title="shot gather (observed, middle shot)")
    plot.gradient(grad, dh, ax=ax[1, 1], title="FWI gradient d(misfit)/d(vp)")
    fig.savefig(path, dpi=110)
    plt.close(fig)

"""Pictures of results with axis units (matplotlib): shot gathers, wavefield snapshots, velocity
models and gradients. Each function draws into `ax` (a new figure if None) and returns the image.

Arrays are NumPy, JAX or torch (moved to the host); distances are shown in km, times in s.
"""

from __future__ import annotations

import numpy as np


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):  # torch
        x = x.detach().cpu()
    return np.asarray(x)


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(constrained_layout=True)
    return ax


def _clip(x, percentile):
    c = float(np.percentile(np.abs(x), percentile)) if x.size else 0.0
    return c if c > 0 else float(np.abs(x).max()) or 1.0


def _extent(shape, dh):
    """imshow extent in km for a (nz, nx) array of cells of dh metres."""
    nz, nx = shape
    return [0, nx * dh / 1e3, nz * dh / 1e3, 0]


def _check_2d(name, x, extra=""):
    if x.ndim != 2:
        raise ValueError(f"{name}: expected a 2D array{extra}, got shape {x.shape}")


def shot_gather(data, dt, receiver_x=None, clip=99.0, ax=None, title="shot gather", cmap="gray"):
    """One shot's records: `data` (nt, nrec) or (nt, nrec, 1), time down, receivers across.

    receiver_x: receiver positions in metres (default: receiver index). clip: the percentile of
    |data| that saturates the grey scale."""
    d = _np(data)
    if d.ndim == 3 and d.shape[-1] == 1:
        d = d[..., 0]
    _check_2d("data", d, " (nt, nrec) of one shot; index a shot out of (B, nt, nrec, 1) first")
    ax = _axes(ax)
    c = _clip(d, clip)
    nt, nrec = d.shape
    if receiver_x is None:
        x0, x1, xlabel = -0.5, nrec - 0.5, "receiver"
    else:
        rx = _np(receiver_x) / 1e3
        x0, x1, xlabel = float(rx.min()), float(rx.max()), "receiver x (km)"
    im = ax.imshow(d, cmap=cmap, vmin=-c, vmax=c, aspect="auto", extent=[x0, x1, (nt - 1) * dt, 0], interpolation="none")
    ax.set(title=title, xlabel=xlabel, ylabel="t (s)")
    return im


def velocity(model, dh, ax=None, title="vp (m/s)", cmap="viridis", colorbar=True, **imshow_kwargs):
    """A 2D model (nz, nx) of cells of `dh` metres."""
    m = _np(model)
    _check_2d("model", m, " (nz, nx)")
    ax = _axes(ax)
    im = ax.imshow(m, extent=_extent(m.shape, dh), cmap=cmap, aspect="auto", **imshow_kwargs)
    ax.set(title=title, xlabel="x (km)", ylabel="z (km)")
    if colorbar:
        ax.figure.colorbar(im, ax=ax)
    return im


def gradient(grad, dh, clip=99.0, ax=None, title="gradient", cmap="seismic", colorbar=True):
    """A gradient or image (nz, nx), on a symmetric colour scale clipped at a percentile of |grad|."""
    g = _np(grad)
    _check_2d("grad", g, " (nz, nx)")
    c = _clip(g, clip)
    return velocity(g, dh, ax=ax, title=title, cmap=cmap, colorbar=colorbar, vmin=-c, vmax=c)


def snapshot(field, dh, model=None, clip=99.5, ax=None, title="wavefield", alpha=0.9):
    """A wavefield (nz, nx), over the velocity model (grey) if given, with opacity up to `alpha`
    growing with |field|."""
    u = _np(field)
    _check_2d("field", u, " (nz, nx); index a shot and a time out of (B, nsnap, nz, nx) first")
    ax = _axes(ax)
    ext = _extent(u.shape, dh)
    if model is not None:
        m = _np(model)
        if m.shape != u.shape:
            raise ValueError(f"model: expected the field's shape {u.shape}, got {m.shape}")
        ax.imshow(m, extent=ext, cmap="gray", aspect="auto")
    c = _clip(u, clip)
    # Over a model the field is opaque where it is strong and clear where it is ~0.
    opacity = alpha * np.clip(np.abs(u) / c, 0, 1) if model is not None else None
    im = ax.imshow(u, extent=ext, cmap="seismic", vmin=-c, vmax=c, aspect="auto", alpha=opacity)
    ax.set(title=title, xlabel="x (km)", ylabel="z (km)")
    return im

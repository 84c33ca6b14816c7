"""mkdocs hook: what the docs show of sweep is generated at build time, from sweep itself.

- `<!-- sweep:support-table -->` becomes the equation x execution table of what each equation
  implements (green / red, as PyLops's GPU table), and `<!-- sweep:build-status -->` what the
  installation that built the docs can run now (`EquationInfo.status()`, as `sweep list` shows).
- `assets/quickstart.png` is drawn with `sweep.plot` from a small simulation run by the build.
"""

from __future__ import annotations

import io

from mkdocs.structure.files import File

from sweep import registry

YES, NO = "✅", "❌"


def support_table() -> str:
    header = "| Equation | dims | models | " + " | ".join(registry.EXECUTIONS.values()) + " |"
    rule = "|" + "---|" * (3 + len(registry.EXECUTIONS))
    rows = []
    for e in registry.equations():
        cells = [YES if k in e.executions else NO for k in registry.EXECUTIONS]
        models = ", ".join(f"`{m.name}` ({m.unit})" for m in e.models)
        rows.append(f"| `{e.name}` | {'/'.join(f'{d}D' for d in e.dims)} | {models} | " + " | ".join(cells) + " |")
    return "\n".join([header, rule] + rows)


def build_status() -> str:
    header = "| Equation | " + " | ".join(registry.EXECUTIONS.values()) + " |"
    rule = "|" + "---|" * (1 + len(registry.EXECUTIONS))
    rows = []
    for e in registry.equations():
        status = e.status()
        cells = [YES if status[k][0] else f"{NO} {status[k][1]}" for k in registry.EXECUTIONS]
        rows.append(f"| `{e.name}` | " + " | ".join(cells) + " |")
    return "\n".join([header, rule] + rows)


def on_page_markdown(markdown, page, config, files):
    return markdown.replace("<!-- sweep:support-table -->", support_table()).replace("<!-- sweep:build-status -->", build_status())


def quickstart_figure() -> bytes:
    """A shot gather, the model and a snapshot of a small run on the embedded model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from sweep import plot
    from sweep.demo import ricker
    from sweep.equations import Acoustic
    from sweep.models import marmousi_like
    from sweep.propagator.jax import PropJax

    dh, dt, nt = 10.0, 1e-3, 700
    vp = marmousi_like(nz=100, nx=250, dh=dh)
    prop = PropJax(Acoustic(spatial_order=8), shape=vp.shape, dh=dh, dt=dt, abcn=20, free_surface=True)
    rec_x = np.arange(0, vp.shape[1], 2)
    receivers = np.stack([np.full(rec_x.size, 2), rec_x], axis=1)[None]
    records, snaps = prop(ricker(nt, dt, 15.0), np.array([[2, 125]]), receivers, [vp], snapshot_interval=200)
    fig, ax = plt.subplots(1, 3, figsize=(15, 3.8), constrained_layout=True)
    plot.velocity(vp, dh, ax=ax[0], title="vp (m/s)")
    plot.snapshot(snaps[0, 2], dh, model=vp, ax=ax[1], title="p at t = 0.4 s")
    plot.shot_gather(records[0], dt, receiver_x=rec_x * dh, ax=ax[2], title="shot gather")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def on_files(files, config):
    files.append(File.generated(config, "assets/quickstart.png", content=quickstart_figure()))
    return files

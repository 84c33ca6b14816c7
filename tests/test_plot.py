"""sweep.plot (pictures with axis units) and sweep.progress (tqdm bars driven by callbacks)."""

import io

import jax
import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from helpers import prop, small_problem  # noqa: E402
from sweep import plot  # noqa: E402
from sweep.progress import Progress, track  # noqa: E402


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_shot_gather_clips_and_labels(ax):
    rng = np.random.default_rng(0)
    d = rng.standard_normal((200, 50, 1))
    d[100, 10, 0] = 1e3  # one spike must not set the scale
    im = plot.shot_gather(d, dt=2e-3, receiver_x=np.arange(50) * 20.0, clip=99, ax=ax)
    lo, hi = im.get_clim()
    assert hi == -lo == pytest.approx(np.percentile(np.abs(d), 99))
    assert ax.get_ylabel() == "t (s)" and ax.get_xlabel() == "receiver x (km)"
    assert im.get_extent() == pytest.approx([0, 0.98, 199 * 2e-3, 0])
    with pytest.raises(ValueError, match=r"data: expected a 2D array \(nt, nrec\) of one shot.*got shape \(2, 200, 50, 1\)"):
        plot.shot_gather(np.zeros((2, 200, 50, 1)), dt=1e-3, ax=ax)


def test_model_gradient_and_snapshot(ax):
    vp = np.full((30, 60), 2000.0)
    im = plot.velocity(torch.tensor(vp), dh=10.0, ax=ax)  # torch tensors are accepted
    assert im.get_extent() == pytest.approx([0, 0.6, 0.3, 0]) and ax.get_xlabel() == "x (km)"
    g = np.zeros((30, 60))
    g[5, 5], g[6, 6] = -3.0, 1.0
    im = plot.gradient(jax.numpy.asarray(g), dh=10.0, clip=100, ax=ax)
    assert im.get_clim() == (-3.0, 3.0) and im.get_cmap().name == "seismic"
    im = plot.snapshot(g, dh=10.0, model=vp, ax=ax)
    opacity = np.asarray(im.get_alpha())
    assert opacity.shape == g.shape and opacity.max() == 0.9 and opacity[0, 0] == 0  # clear where the field is 0
    with pytest.raises(ValueError, match=r"model: expected the field's shape \(30, 60\), got \(30, 61\)"):
        plot.snapshot(g, dh=10.0, model=np.zeros((30, 61)), ax=ax)
    with pytest.raises(ValueError, match=r"field: expected a 2D array"):
        plot.snapshot(np.zeros((2, 30, 60)), dh=10.0, ax=ax)


def test_progress_bars_follow_forward_and_backward_runs():
    vp, wav, src, rec, kw = small_problem(nt=30)
    p = prop(impl="jax", **kw)
    out = {d: io.StringIO() for d in ("fwd", "bwd")}
    fwd = Progress("fwd", 30, file=out["fwd"], mininterval=0)
    bwd = Progress("bwd", 30, file=out["bwd"], mininterval=0)
    loss = lambda v: jax.numpy.sum(p(wav, src, rec, [v], forward_callback=fwd, backward_callback=bwd, callback_frequency=7) ** 2)  # noqa: E731
    jax.block_until_ready(jax.grad(loss)(vp))
    for d in ("fwd", "bwd"):
        assert "29/29" in out[d].getvalue()  # the bar reached the end and closed
    assert fwd.bar is None and bwd.bar is None
    assert Progress.needs_fields is False
    assert list(track(range(3), "shots", file=io.StringIO())) == [0, 1, 2]

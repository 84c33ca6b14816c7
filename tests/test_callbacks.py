"""Forward and backward callbacks: when they fire, what they see, and that they change nothing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from helpers import FIXED_PML, prop, rel, small_problem
from sweep.callbacks import CallbackState
from sweep.equations.stencil import coefficients
from sweep.pml import profiles
from sweep.propagator.chunked import model_coefficients
from sweep.propagator.torch import PropTorch

IMPLS = ["jax", pytest.param("c", marks=pytest.mark.needs_core)]


class Log:
    """Collects what each callback saw (copies: the views are only valid during the call)."""

    def __init__(self):
        self.calls = []

    def forward(self, s):
        self.calls.append(("forward", s.step, s.time, {k: np.array(s.wavefield(k, "full")) for k in s.field_names}, None))

    def backward(self, s):
        self.calls.append(("backward", s.step, s.time, {"p": np.array(s.wavefield("p", "full"))}, np.array(s.gradient("vp"))))

    def steps(self, direction):
        return [c[1] for c in self.calls if c[0] == direction]

    def of(self, direction):
        return [c for c in self.calls if c[0] == direction]


def setup(free_surface=False, nt=30):
    vp, wav, src, rec, kw = small_problem(free_surface=free_surface, nt=nt)
    return vp, wav, src, rec, dict(kw, pml=FIXED_PML)


def run_jax(impl, vp, wav, src, rec, kw, log, freq, snapshot_interval=None, callbacks=True):
    p = prop(impl=impl, **kw)
    cb = dict(forward_callback=log.forward, backward_callback=log.backward, callback_frequency=freq) if callbacks else {}

    def loss(v):
        out = p(wav, src, rec, [v], snapshot_interval=snapshot_interval, **cb)
        d, snaps = out if snapshot_interval else (out, None)
        extra = 0.0 if snaps is None else 0.1 * jnp.sum(snaps**2)
        return jnp.sum(d**2) + extra, (d, snaps)

    (value, outs), grad = jax.jit(jax.value_and_grad(loss, has_aux=True))(jnp.asarray(vp))
    jax.block_until_ready(grad)
    return outs, np.asarray(grad)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("free_surface", [False, True])
def test_callbacks_fire_at_every_kth_step_and_change_nothing(impl, free_surface):
    vp, wav, src, rec, kw = setup(free_surface)
    log = Log()
    (d, _), g = run_jax(impl, vp, wav, src, rec, kw, log, freq=4)
    (d0, _), g0 = run_jax(impl, vp, wav, src, rec, kw, Log(), freq=4, callbacks=False)
    assert rel(d, d0) < 1e-14 and rel(g, g0) < 1e-14
    nt = wav.shape[-1]
    assert log.steps("forward") == list(range(0, nt, 4))
    assert log.steps("backward") == list(range(0, nt, 4))[::-1]
    assert [c[2] for c in log.of("forward")] == pytest.approx([n * kw["dt"] for n in range(0, nt, 4)])
    # The backward's gradient so far ends at the whole gradient.
    assert rel(log.of("backward")[-1][4], g0) < 1e-13


@pytest.mark.parametrize("impl", IMPLS)
def test_forward_fields_are_the_snapshots(impl):
    vp, wav, src, rec, kw = setup()
    log = Log()
    (_, snaps), g = run_jax(impl, vp, wav, src, rec, kw, log, freq=3, snapshot_interval=6)
    (_, snaps0), g0 = run_jax(impl, vp, wav, src, rec, kw, Log(), freq=3, snapshot_interval=6, callbacks=False)
    assert snaps.shape == snaps0.shape and rel(snaps, snaps0) < 1e-14 and rel(g, g0) < 1e-13
    p = prop(impl=impl, **kw)
    fields = {c[1]: p.grid.crop(c[3]["p"]) for c in log.of("forward")}
    assert sorted(fields) == list(range(0, wav.shape[-1], 3))
    for i, n in enumerate(range(0, wav.shape[-1], 6)):
        np.testing.assert_allclose(fields[n], np.asarray(snaps0)[:, i], rtol=0, atol=1e-13 * np.abs(snaps0).max())


@pytest.mark.needs_core
@pytest.mark.parametrize("free_surface", [False, True])
def test_backward_state_agrees_between_reference_and_compiled(free_surface):
    """The adjoint field and the gradient so far at each callback: the reference's JAX VJP and
    the compiled adjoint kernels give the same (on the cells that carry information)."""
    vp, wav, src, rec, kw = setup(free_surface)
    logs = {}
    for impl in ("jax", "c"):
        logs[impl] = Log()
        run_jax(impl, vp, wav, src, rec, kw, logs[impl], freq=5)
    a, b = logs["jax"].of("backward"), logs["c"].of("backward")
    assert [c[1] for c in a] == [c[1] for c in b]
    for ca, cb in zip(a[1:], b[1:]):
        assert rel(cb[3]["p"], ca[3]["p"]) < 1e-12
        assert rel(cb[4], ca[4]) < 1e-12


def late_gradient(p, vp, wav, src, rec, n):
    """d/dvp of sum(records^2) through the steps n -> n+1, n+1 -> n+2, ... only: the model is
    held constant (stop_gradient) in the earlier steps. Written out with the reference step."""
    eq, grid = p.equation, p.grid
    coef = jnp.asarray(coefficients(eq.spatial_order, p.dh, np.float64))
    prof = profiles(grid, p.pml, coef, p.dh, p.dt, vp.min(), vp.max())[None]
    amp = jnp.asarray(wav) * (p.dt**2 / p.dh**2)
    s, r = grid.flat_index(src), grid.flat_index(rec)

    def loss(v):
        V = model_coefficients(eq, grid, [v], p.dt)
        state, total = eq.init_state(grid, src.shape[0], V.dtype), 0.0
        for k in range(wav.shape[-1] - 1):
            Vk = V if k >= n else jax.lax.stop_gradient(V)
            state, records = eq.reference_step(grid, coef, state, Vk, prof, jnp.full(src.shape[0], amp[k]), s, r)
            total = total + jnp.sum(records**2)
        return total

    return np.asarray(jax.grad(loss)(jnp.asarray(vp)))


@pytest.mark.parametrize("impl", IMPLS)
def test_gradient_so_far_is_the_gradient_through_the_later_steps(impl):
    vp, wav, src, rec, kw = setup()
    log = Log()
    run_jax(impl, vp, wav, src, rec, kw, log, freq=10)
    p = prop(impl="jax", **kw)
    grads = {c[1]: c[4] for c in log.of("backward")}
    assert sorted(grads) == [0, 10, 20]
    for n in (20, 10, 0):
        assert rel(grads[n], late_gradient(p, vp, wav, src, rec, n)) < 1e-12


def test_state_is_read_only_and_says_what_it_holds():
    vp, wav, src, rec, kw = setup()
    seen = []

    def forward(s: CallbackState):
        u = s.wavefield("p")
        with pytest.raises(ValueError):
            u[...] = 0
        with pytest.raises(ValueError, match="only a backward callback"):
            s.gradient("vp")
        with pytest.raises(KeyError, match="expected one of"):
            s.wavefield("q")
        with pytest.raises(ValueError, match="view"):
            s.wavefield("p", "pml")
        seen.append((s.direction, u.shape, s.wavefield("psi", "full").shape, repr(s)))

    p = prop(impl="jax", **kw)
    jax.block_until_ready(p(wav, src, rec, [vp], forward_callback=forward, callback_frequency=100))
    (direction, shape, psi_shape, text), = seen
    assert direction == "forward" and shape == (2,) + kw["shape"]
    assert psi_shape == (2, 2) + p.grid.storage
    assert "step 0 of 30" in text


@pytest.mark.parametrize("kwargs, match", [
    (dict(callback_frequency=0), "callback_frequency: expected an integer >= 1"),
    (dict(callback_frequency=2.5), "callback_frequency"),
    (dict(forward_callback=3), "forward_callback: expected a function"),
    (dict(backward_callback="print"), "backward_callback: expected a function"),
])
def test_bad_callback_arguments(kwargs, match):
    vp, wav, src, rec, kw = setup()
    with pytest.raises((TypeError, ValueError), match=match):
        prop(impl="jax", **kw)(wav, src, rec, [vp], **kwargs)
    with pytest.raises((TypeError, ValueError), match=match):
        PropTorch(impl="eager", **{k: v for k, v in kw.items()}, equation=prop(**kw).equation)(wav, src, rec, [vp], **kwargs)


@pytest.mark.needs_core
def test_no_callback_costs_nothing():
    """Without a callback the compiled program has no host callback and the usual chunking."""
    vp, wav, src, rec, kw = setup()
    p = prop(impl="c", **kw)
    plain = str(jax.make_jaxpr(jax.grad(lambda v: jnp.sum(p(wav, src, rec, [v]))))(jnp.asarray(vp)))
    assert "debug_callback" not in plain
    hooked = str(jax.make_jaxpr(jax.grad(lambda v: jnp.sum(p(wav, src, rec, [v], forward_callback=print))))(jnp.asarray(vp)))
    assert "debug_callback" in hooked


@pytest.mark.parametrize("impl, use_ckpt", [("eager", False), ("eager", True), pytest.param("c", False, marks=pytest.mark.needs_core)])
def test_torch_callbacks_match_jax(impl, use_ckpt):
    """Eager: callbacks between (checkpointed) chunks, the backward one from autograd; c: PropJax's."""
    vp, wav, src, rec, kw = setup(free_surface=True)
    ref = Log()
    _, g_ref = run_jax("jax", vp, wav, src, rec, kw, ref, freq=4)
    kw_t = {k: v for k, v in kw.items()}
    p = PropTorch(prop(**kw).equation, impl=impl, use_ckpt=use_ckpt, **kw_t)
    log = Log()
    v = torch.tensor(vp, requires_grad=True)
    d = p(torch.tensor(wav), src, rec, [v], forward_callback=log.forward, backward_callback=log.backward, callback_frequency=4)
    (d**2).sum().backward()
    assert rel(v.grad.numpy(), g_ref) < 1e-12
    for direction in ("forward", "backward"):
        a, b = ref.of(direction), log.of(direction)
        assert [c[1] for c in b] == [c[1] for c in a]
        # to rounding on the scale of the run (early adjoint fields are tiny)
        p_scale = max(np.abs(c[3]["p"]).max() for c in a)
        for ca, cb in zip(a, b):
            assert np.abs(cb[3]["p"] - ca[3]["p"]).max() <= 1e-12 * p_scale
            if direction == "backward":
                assert np.abs(cb[4] - ca[4]).max() <= 1e-12 * np.abs(g_ref).max()

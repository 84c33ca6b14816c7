"""Throughput of PropJax (impl "jax" and "c") and PropTorch (impl "torch-c" and "torch-eager"),
forward and gradient, beside Deepwave when it is
importable, on the peers' workload (../shared/anchors/bench2d.py): constant-density acoustic,
two layers (2000 / 2500 m/s), dh = 10 m, dt = 1 ms, PML 20 cells, one Ricker (10 Hz) source per
shot at depth 2, nx/4 receivers at depth 2, float32.

Metric: interior cell updates per second, shots * cells * nt / seconds (median of --reps).
"grad" = forward plus the gradient of 0.5 * sum(records^2) with respect to the velocity.

    python benchmarks/bench.py --shape 400 400 --nt 300 --shots 2 --order 8
    python benchmarks/bench.py --which c,torch-c,torch-eager     # PropTorch beside PropJax
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import platform
import time

import numpy as np


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", type=int, nargs="+", default=[400, 400])
    p.add_argument("--nt", type=int, default=300)
    p.add_argument("--shots", type=int, default=2)
    p.add_argument("--order", type=int, default=8)
    p.add_argument("--reps", type=int, default=3, help="timed calls per round (median)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, systems interleaved (median of rounds)")
    p.add_argument("--which", default="c,jax,deepwave")
    p.add_argument("--modes", default="fwd,grad")
    p.add_argument("--memory", default="", help="sweep's gradient memory strategy, a name of benchmarks/memory.py (e.g. full, chunk, recursive-16); default: PropJax's default (chunk checkpointing)")
    p.add_argument("--out", default="")
    p.add_argument("--bandwidth", action="store_true", help="also measure a streaming copy (read + write) on JAX's device")
    p.add_argument("--fresh", action="store_true", help="sweep's calls take 8 velocity arrays in turn (new buffers each call, as an FWI loop's updated models) instead of one")
    p.add_argument("--peak", action="store_true", help="report the process's peak device memory (JAX and torch allocators); run one system and mode per process for a per-system figure")
    return p.parse_args()


def workload(a):
    # Plain NumPy, no sweep import: the Deepwave runs share this workload from a process where
    # `sweep` is the peer SWEEP's package (../shared/anchors).
    shape = tuple(a.shape)
    nd, nx = len(shape), shape[-1]
    dh, dt, f0 = 10.0, 1e-3, 10.0
    t = np.arange(a.nt) * dt
    arg = (np.pi * f0 * (t - 1.2 / f0)) ** 2
    ricker = ((1 - 2 * arg) * np.exp(-arg)).astype(np.float32)
    vp = np.full(shape, 2000.0, np.float32)
    vp[shape[0] // 2 :] = 2500.0
    nrec = max(1, nx // 4)
    mid = [n // 2 for n in shape[1:-1]]
    rec_x = np.linspace(0, nx - 1, nrec).astype(np.int64)
    src_x = np.linspace(nx // 8, nx - 1 - nx // 8, a.shots).astype(np.int64)
    src = np.array([[2, *mid, x] for x in src_x])
    rec = np.array([[[2, *mid, x] for x in rec_x]] * a.shots)
    return dict(shape=shape, dh=dh, dt=dt, f0=f0, ricker=ricker, vp=vp, src=src, rec=rec, nd=nd)


def timeit(fn, reps):
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def bench_sweep(w, a, impl):
    """Callables (mode -> fn) timing one PropJax impl."""
    import jax
    import jax.numpy as jnp

    from sweep.equations import Acoustic
    from sweep.propagator.jax import PropJax

    from memory import sweep_memory

    memory = sweep_memory(a.memory) if a.memory else None
    prop = PropJax(Acoustic(spatial_order=a.order), shape=w["shape"], dh=w["dh"], dt=w["dt"], abcn=20, impl=impl, memory=memory)
    assert prop.impl == impl, f"impl {impl} not available"
    v = jnp.asarray(w["vp"])
    src, rec, wav = w["src"], w["rec"], jnp.asarray(w["ricker"])
    fwd = jax.jit(lambda v: prop(wav, src, rec, [v]))
    grad = jax.jit(jax.grad(lambda v: 0.5 * jnp.sum(prop(wav, src, rec, [v]) ** 2)))
    models = itertools.cycle(jax.block_until_ready([v * (1 + 1e-4 * i) for i in range(8)]) if a.fresh else [v])
    return {"fwd": lambda: fwd(next(models)).block_until_ready(), "grad": lambda: grad(next(models)).block_until_ready()}


def bench_proptorch(w, a, impl):
    """Callables (mode -> fn) timing PropTorch (impl "c" or "eager") on torch's GPU if it has one."""
    import torch

    from sweep.equations import Acoustic
    from sweep.propagator.torch import PropTorch

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # The eager gradient checkpoints chunks of ~sqrt(nt) steps (storing every step does not fit).
    ckpt = dict(use_ckpt=True) if impl == "eager" else {}
    prop = PropTorch(Acoustic(spatial_order=a.order), shape=w["shape"], dh=w["dh"], dt=w["dt"], abcn=20, impl=impl, **ckpt)
    assert prop.impl_for(dev) == impl, f"PropTorch impl {impl} not available on {dev}"
    v = torch.tensor(w["vp"], device=dev)
    wav = torch.tensor(w["ricker"], device=dev)
    src, rec = torch.tensor(w["src"]), torch.tensor(w["rec"])
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def fwd():
        with torch.no_grad():
            prop(wav, src, rec, [v])
        sync()

    vg = v.clone().requires_grad_()

    def grad():
        (0.5 * prop(wav, src, rec, [vg]).square().sum()).backward()
        vg.grad = None
        sync()

    return {"fwd": fwd, "grad": grad}


def bench_system(w, a, which):
    if which == "deepwave":
        return bench_deepwave(w, a)
    if which.startswith("torch-"):
        return bench_proptorch(w, a, which.removeprefix("torch-"))
    return bench_sweep(w, a, which)


def bench_deepwave(w, a):
    """Callables (mode -> fn) timing deepwave.scalar with the same workload."""
    import deepwave
    import torch

    if w["nd"] != 2:
        raise RuntimeError("deepwave.scalar here is 2D only")
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    v = torch.tensor(w["vp"], device=dev)
    S, nt = a.shots, a.nt
    amp = torch.tensor(w["ricker"], device=dev).reshape(1, 1, nt).repeat(S, 1, 1)
    sl = torch.tensor(w["src"], device=dev)[:, None, :]
    rl = torch.tensor(w["rec"], device=dev)
    kw = dict(source_amplitudes=amp, source_locations=sl, receiver_locations=rl, accuracy=a.order, pml_width=20, pml_freq=w["f0"])

    def fwd():
        with torch.no_grad():
            deepwave.scalar(v, w["dh"], w["dt"], **kw)
        sync()

    vg = v.clone().requires_grad_()

    def grad():
        d = deepwave.scalar(vg, w["dh"], w["dt"], **kw)[-1]
        (0.5 * (d**2).sum()).backward()
        vg.grad = None
        sync()

    return {"fwd": fwd, "grad": grad}


def stream_bandwidth(reps):
    """GB/s (bytes read + written) of x <- x + 1 over 1 GiB of float32 on JAX's default device.

    The input is donated, so that each call streams through the same two buffers with no
    allocation in the timed calls; the best of at least 5 calls is taken, as a copy's speed is
    a ceiling, not a typical value.
    """
    import jax
    import jax.numpy as jnp

    f = jax.jit(lambda x: x + 1.0, donate_argnums=0)
    x = f(jnp.zeros((1 << 28,), jnp.float32))
    x.block_until_ready()
    best = math.inf
    for _ in range(max(reps, 5)):
        t0 = time.perf_counter()
        x = f(x)
        x.block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return 2 * x.nbytes / best / 1e9


def peak_memory():
    """Peak bytes held by JAX's and torch's allocators on the first GPU in this process."""
    out = {}
    try:
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        out["jax_peak_gib"] = stats.get("peak_bytes_in_use", 0) / 2**30
    except Exception:
        pass
    try:
        import torch

        if torch.cuda.is_available():
            out["torch_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    except Exception:
        pass
    return out


def versions():
    import jax
    import jaxlib

    v = dict(python=platform.python_version(), jax=jax.__version__, jaxlib=jaxlib.__version__, machine=platform.processor() or platform.machine(), device=str(jax.devices()[0]))
    try:
        import torch

        v.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
        import deepwave

        v.update(deepwave=getattr(deepwave, "__version__", "?"))
    except Exception:
        pass
    return v


def main():
    a = parse()
    w = workload(a)
    cells = a.shots * math.prod(w["shape"]) * a.nt
    if "torch-" in a.which:
        import sweep.propagator.torch  # noqa: F401  (before JAX starts: no GPU preallocation)
    memory = f"; sweep's gradient memory: {a.memory}" if a.memory else ""
    print(f"workload: shape={w['shape']} shots={a.shots} nt={a.nt} order={a.order} float32{memory}; {versions()}")
    systems = {}
    for which in a.which.split(","):
        try:
            fns = bench_system(w, a, which)
            fns = {m: f for m, f in fns.items() if m in a.modes.split(",")}
            for f in fns.values():
                f()  # compile / warm up
        except Exception as exc:  # one system failing must not hide the others
            print(f"{which:10s} unavailable: {type(exc).__name__}: {exc}")
            continue
        systems[which if which == "deepwave" else f"sweep[{which}]"] = fns
    # Interleave systems over rounds so that a noisy neighbour hits them alike.
    times = {(n, m): [] for n, fns in systems.items() for m in fns}
    for _ in range(a.rounds):
        for (n, m) in times:
            times[(n, m)].append(timeit(systems[n][m], a.reps))
    results = []
    for (name, mode), ts in times.items():
        sec = float(np.median(ts))
        g = cells / sec / 1e9
        results.append(dict(system=name, mode=mode, sec=sec, gcells=g, rounds=ts))
        spread = f"(rounds {min(ts) * 1e3:.0f}-{max(ts) * 1e3:.0f} ms)"
        print(f"{name:12s} {mode:5s} {sec * 1e3:10.1f} ms {g:8.3f} Gcell/s  {spread}", flush=True)
    if a.peak:
        results.append(dict(system="process", mode="peak", **peak_memory()))
        print(f"peak device memory of this process: {results[-1]}")
    if a.bandwidth:
        bw = stream_bandwidth(a.reps)
        limit = bw * 1e9 / 16 / 1e9  # one acoustic step moves 16 bytes per cell in float32
        print(f"stream copy {bw:8.1f} GB/s -> one-step limit {limit:.1f} Gcell/s (16 B/cell)")
        results.append(dict(system="stream", mode="copy", gbs=bw, limit_gcells=limit))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(dict(workload=dict(shape=w["shape"], shots=a.shots, nt=a.nt, order=a.order), versions=versions(), results=results), f, indent=1)


if __name__ == "__main__":
    main()

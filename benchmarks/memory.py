"""Gradient memory strategies on the GPU: time and peak device memory of the gradient for each
strategy, beside the forward time of the same process, the planner's estimate, and Deepwave
with its own checkpoint_segments / storage_mode options on the same case.

Workload and timer from benchmarks/bench.py (two layers, dh 10 m, dt 1 ms, PML 20, order 8, float32,
Ricker source at depth 2, receivers at depth 2); "grad" = forward plus the gradient of
0.5 * sum(records^2) with respect to the velocity. Every system and strategy runs in its own
process, so each peak is its own (JAX: peak_bytes_in_use; torch: max_memory_allocated; host:
peak RSS).

    python benchmarks/memory.py --shape 1000 1000 --shots 4 --nt 1000 --sweep all --deepwave all
    python benchmarks/memory.py --shape 400 400 400 --shots 1 --nt 2000 --sweep recursive-12,auto-60 \\
        --deepwave segments-100
Deepwave runs with PYTHONPATH=--peers (see ../shared/anchors): its process never imports sweep.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from bench import timeit, workload  # the same workload and timer as the throughput benchmark

SWEEP = {
    "chunk": {},
    "chunk-bf16": dict(storage_compression="bf16"),
    "full": dict(strategy="full"),
    "full-bf16": dict(strategy="full", storage_compression="bf16"),
    "full-sample4": dict(strategy="full", model_gradient_sampling_interval=4),
    "recursive-4": dict(strategy="ckpt", ckpt=("recursive", 4)),
    "recursive-16": dict(strategy="ckpt", ckpt=("recursive", 16)),
    "boundary": dict(strategy="boundary", boundary=True),
    "boundary-bf16": dict(strategy="boundary", boundary=True, storage_compression="bf16"),
}
DEEPWAVE = {
    "device": {},
    "device-bf16": dict(storage_compression=True),
    "segments-10": dict(checkpoint_segments=10),
    "cpu": dict(storage_mode="cpu"),
    "disk": dict(storage_mode="disk"),
}


def sweep_memory(name, tmp="/tmp"):
    """MemoryOptions for a strategy name: a key of SWEEP, recursive-C[-bf16], auto-G[-bf16]
    (storage_mode "auto" within G GiB) or boundary-{cpu,pinned,disk}-T[-bf16] (boundary saving in
    host memory, pinned or not, or on disk in `tmp`, moved every T steps)."""
    from sweep.propagator.options import BoundaryOptions, CkptOptions, MemoryOptions

    if name.startswith("auto-"):
        gib, *bf = name[5:].split("-")
        return MemoryOptions(storage_mode="auto", max_bytes=int(float(gib) * 2**30), storage_compression="bf16" if bf else False)
    if name.startswith("boundary-") and name not in SWEEP:  # boundary-{cpu,pinned,disk}-T[-bf16]
        where, T, *bf = name[9:].split("-")
        b = BoundaryOptions(storage="disk" if where == "disk" else "cpu", transfer_interval=int(T),
                            pinned_memory=where == "pinned", directory=tmp if where == "disk" else None)
        return MemoryOptions(strategy="boundary", boundary=b, storage_compression="bf16" if bf else False)
    if name.startswith("recursive-") and name not in SWEEP:
        count, *bf = name[10:].split("-")
        return MemoryOptions(strategy="ckpt", ckpt=CkptOptions(mode="recursive", count=int(count)), storage_compression="bf16" if bf else False)
    kw = dict(SWEEP[name])
    if "ckpt" in kw:
        mode, count = kw["ckpt"]
        kw["ckpt"] = CkptOptions(mode=mode, count=count)
    if "boundary" in kw:
        kw["boundary"] = BoundaryOptions()
    return MemoryOptions(**kw) if kw else None


def deepwave_kwargs(name, tmp):
    """A key of DEEPWAVE, or segments-N[-cpu|-disk|-bf16...]."""
    if name in DEEPWAVE:
        kw = dict(DEEPWAVE[name])
    else:
        _, n, *mods = name.split("-")
        kw = dict(checkpoint_segments=int(n))
        kw.update({m: v for mod in mods for m, v in DEEPWAVE["device-bf16" if mod == "bf16" else mod].items()})
    if kw.get("storage_mode") == "disk":
        kw["storage_path"] = tmp
    return kw


def host_peak_gib():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def timed(fn, reps):
    """bench.timeit after one warm-up call (compilation, allocation)."""
    fn()
    return timeit(fn, reps)


def sweep_calls(w, memory):
    """PropJax (impl "c", order 8) on workload `w` with `memory`, and its jitted forward and
    gradient of 0.5 sum(d^2) as functions of the velocity, and that velocity."""
    import jax
    import jax.numpy as jnp

    from sweep.equations import Acoustic
    from sweep.propagator.jax import PropJax

    prop = PropJax(Acoustic(spatial_order=8), shape=w["shape"], dh=w["dh"], dt=w["dt"], abcn=20, impl="c", memory=memory)
    v, wav, src, rec = jnp.asarray(w["vp"]), jnp.asarray(w["ricker"]), w["src"], w["rec"]
    fwd = jax.jit(lambda v: prop(wav, src, rec, [v]))
    grad = jax.jit(jax.grad(lambda v: 0.5 * jnp.sum(prop(wav, src, rec, [v]) ** 2)))
    return prop, fwd, grad, v


def child_sweep(a):
    import jax

    w = workload(a)
    prop, fwd, grad, v = sweep_calls(w, sweep_memory(a.child, a.tmp))
    est = prop.estimate_memory(w["ricker"], w["src"], w["rec"], [w["vp"]])
    peak_now = lambda: (jax.devices()[0].memory_stats() or {}).get("peak_bytes_in_use", 0)  # noqa: E731  (0 on the CPU)
    t_fwd = timed(lambda: fwd(v).block_until_ready(), a.reps)
    fwd_peak = peak_now()
    t_grad = timed(lambda: grad(v).block_until_ready(), a.reps)
    peak = peak_now()
    return dict(
        system="sweep", strategy=a.child, chosen=str(est), fwd_s=t_fwd, grad_s=t_grad,
        fwd_peak_gib=fwd_peak / 2**30, grad_peak_gib=peak / 2**30, host_peak_gib=host_peak_gib(),
        est_fwd_gib=est.device_forward / 2**30, est_grad_gib=est.device_gradient / 2**30,
        est_host_gib=est.host / 2**30, est_disk_gib=est.disk / 2**30,
    )


def child_deepwave(a):
    import tempfile

    import deepwave
    import torch

    w = workload(a)
    ricker, vp, src, rec, dh, dt = w["ricker"], w["vp"], w["src"], w["rec"], w["dh"], w["dt"]
    dev = torch.device("cuda")
    free_gib = torch.cuda.mem_get_info()[0] / 2**30
    v = torch.tensor(vp, device=dev)
    amp = torch.tensor(ricker, device=dev).reshape(1, 1, -1).repeat(a.shots, 1, 1)
    with tempfile.TemporaryDirectory(dir=a.tmp) as tmp:
        kw = dict(source_amplitudes=amp, source_locations=torch.tensor(src, device=dev)[:, None, :],
                  receiver_locations=torch.tensor(rec, device=dev), accuracy=8, pml_width=20, pml_freq=w["f0"],
                  **deepwave_kwargs(a.child, tmp))

        def fwd():
            with torch.no_grad():
                deepwave.scalar(v, dh, dt, **kw)
            torch.cuda.synchronize()

        vg = v.clone().requires_grad_()

        def grad():
            d = deepwave.scalar(vg, dh, dt, **kw).receiver_amplitudes
            (0.5 * (d**2).sum()).backward()
            vg.grad = None
            torch.cuda.synchronize()

        t_fwd = timed(fwd, a.reps)
        fwd_peak = torch.cuda.max_memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        t_grad = timed(grad, a.reps)
        peak = torch.cuda.max_memory_allocated()
    return dict(system="deepwave", strategy=a.child, fwd_s=t_fwd, grad_s=t_grad, fwd_peak_gib=fwd_peak / 2**30,
                grad_peak_gib=peak / 2**30, host_peak_gib=host_peak_gib(), free_at_start_gib=free_gib,
                version=getattr(deepwave, "__version__", "?"))


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", type=int, nargs="+", default=[1000, 1000])
    p.add_argument("--shots", type=int, default=4)
    p.add_argument("--nt", type=int, default=1000)
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--sweep", default="all", help=f"comma list of {list(SWEEP)}, recursive-C[-bf16], auto-GiB[-bf16], boundary-{{cpu,pinned,disk}}-T[-bf16]; or all")
    p.add_argument("--deepwave", default="", help=f"comma list of {list(DEEPWAVE)}, segments-N[-cpu|-disk|-bf16]; or all")
    p.add_argument("--peers", default="/tmp/anchors-site", help="PYTHONPATH of the Deepwave process")
    p.add_argument("--tmp", default="/tmp", help="directory for disk storage (sweep and Deepwave)")
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--preallocate", action="store_true", help="sweep's children with JAX's default (preallocating) allocator, at its default 75%% cap")
    p.add_argument("--out", default="")
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    p.add_argument("--child-system", default="", help=argparse.SUPPRESS)
    return p.parse_args()


def run_child(a, system, name):
    args = [sys.executable, __file__, "--shape", *map(str, a.shape), "--shots", str(a.shots), "--nt", str(a.nt),
            "--reps", str(a.reps), "--tmp", a.tmp, "--child", name, "--child-system", system]
    # No preallocation, so that JAX may use up to 95% of the GPU (its default cap is 75%, which a
    # big gradient planned for the whole GPU would exceed). That allocator adds a little at small
    # sizes (H100, 2D 500^2 chunk checkpointing: 0.25 GiB against 0.198 preallocating, where the
    # program's buffers take 0.196): --preallocate keeps JAX's default for sweep.
    env = dict(os.environ)
    if not (a.preallocate and system == "sweep"):
        env |= dict(XLA_PYTHON_CLIENT_PREALLOCATE="false", XLA_PYTHON_CLIENT_MEM_FRACTION="0.95")
    if system == "deepwave":
        env["PYTHONPATH"] = a.peers
    try:
        res = subprocess.run(args, env=env, capture_output=True, text=True, timeout=a.timeout)
    except subprocess.TimeoutExpired:
        return dict(system=system, strategy=name, error=f"timed out after {a.timeout:.0f} s")
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
    if res.returncode or not lines:
        return dict(system=system, strategy=name, error=(res.stderr or res.stdout).strip().splitlines()[-1:] or [f"exit {res.returncode}"])
    return json.loads(lines[-1][7:])


def main():
    a = parse()
    if a.child:
        out = child_deepwave(a) if a.child_system == "deepwave" else child_sweep(a)
        print("RESULT " + json.dumps(out), flush=True)
        return
    cells = a.shots * a.nt
    for n in a.shape:
        cells *= n
    names = lambda arg, known: [m for n in arg.split(",") if n for m in (known if n == "all" else [n])]  # noqa: E731
    plan = [("sweep", n) for n in names(a.sweep, list(SWEEP))] + [("deepwave", n) for n in names(a.deepwave, list(DEEPWAVE))]
    print(f"workload: shape={tuple(a.shape)} shots={a.shots} nt={a.nt} order 8 float32, PML 20; gradient of 0.5 sum(d^2)")
    results = []
    for system, name in plan:
        r = run_child(a, system, name)
        results.append(r)
        if "error" in r:
            print(f"{system:8s} {name:14s} FAILED: {r['error']}", flush=True)
            continue
        est = f" est {r['est_grad_gib']:6.2f}" if "est_grad_gib" in r else " " * 11
        print(
            f"{system:8s} {name:14s} fwd {r['fwd_s']:8.3f} s ({cells / r['fwd_s'] / 1e9:6.1f} Gcell/s)  "
            f"grad {r['grad_s']:8.3f} s ({r['grad_s'] / r['fwd_s']:5.2f}x fwd)  peak {r['grad_peak_gib']:6.2f} GiB{est}  "
            f"host {r['host_peak_gib']:6.2f} GiB",
            flush=True,
        )
        if "chosen" in r:
            print(f"         {'':14s} {r['chosen']}")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(dict(shape=a.shape, shots=a.shots, nt=a.nt, results=results), f, indent=1)


if __name__ == "__main__":
    main()

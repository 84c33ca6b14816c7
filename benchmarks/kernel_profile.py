"""Where a GPU run's time goes: one forward and one gradient call of bench.py's workload under
`jax.profiler`, the device time summed per kernel (event name) and stream, beside each call's
wall time. Used for the per-kernel figures in docs/performance.md.

    python benchmarks/kernel_profile.py --shape 500 500 --nt 1000 --memory full
    python benchmarks/kernel_profile.py --shape 400 400 400 --nt 200 --memory boundary --top 8
    python benchmarks/kernel_profile.py --shape 400 400 400 --nt 209 --memory boundary-pinned-16

`--memory` is a strategy name of benchmarks/memory.py. On the CPU only the wall times print.
"""

from __future__ import annotations

import argparse
import collections
import glob
import tempfile
import time

from bench import workload
from memory import sweep_calls, sweep_memory


def device_time(trace_dir, top):
    """Lines of per-kernel device time, from the trace in `trace_dir`."""
    import jax

    (pb, *_) = sorted(glob.glob(f"{trace_dir}/**/*.xplane.pb", recursive=True), reverse=True)
    out = []
    for plane in jax.profiler.ProfileData.from_file(pb).planes:
        if "GPU" not in plane.name:
            continue
        for line in plane.lines:
            total, count = collections.Counter(), collections.Counter()
            for ev in line.events:
                total[ev.name] += ev.duration_ns
                count[ev.name] += 1
            if not total:
                continue
            out.append(f"-- {line.name}: {sum(total.values()) / 1e6:.1f} ms in {sum(count.values())} events")
            for name, ns in total.most_common(top):
                out.append(f"   {ns / 1e6:9.2f} ms {count[name]:7d}x {ns / count[name] / 1e3:9.1f} us  {name[:100]}")
    return out


def main():
    import jax

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", type=int, nargs="+", default=[500, 500])
    p.add_argument("--nt", type=int, default=1000)
    p.add_argument("--shots", type=int, default=1)
    p.add_argument("--memory", default="full", help="a strategy name of benchmarks/memory.py")
    p.add_argument("--top", type=int, default=12, help="kernels listed per stream")
    a = p.parse_args()
    a.order = 8
    _, fwd, grad, v = sweep_calls(workload(a), sweep_memory(a.memory))
    for name, f in (("forward", fwd), ("gradient", grad)):
        f(v).block_until_ready()  # compile, allocate
        t0 = time.perf_counter()
        f(v).block_until_ready()
        wall = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as d:
            jax.profiler.start_trace(d)
            f(v).block_until_ready()
            jax.profiler.stop_trace()
            lines = device_time(d, a.top)
        print(f"== {a.memory} {tuple(a.shape)} x {a.shots} shots, nt {a.nt}, {name}: {wall * 1e3:.1f} ms wall")
        if lines:
            print("\n".join(lines))


if __name__ == "__main__":
    main()

"""The `sweep` command line."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    from . import __version__

    parser = argparse.ArgumentParser(prog="sweep", description="Differentiable wave-equation simulator.")
    parser.add_argument("--version", action="version", version=f"sweep {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="model shots on the embedded Marmousi-like model and compute an FWI gradient")
    demo.add_argument("--out", default="sweep_demo.png", help="PNG to write (default: %(default)s)")
    demo.add_argument("--shots", type=int, default=4)
    demo.add_argument("--nt", type=int, default=1500, help="time steps of 1 ms (default: %(default)s)")
    demo.add_argument("--impl", default="auto", choices=("auto", "jax", "c"))
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run

        run(out=args.out, shots=args.shots, nt=args.nt, impl=args.impl)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `sweep` command line: the demo, and what the installed package can do.

    sweep demo                   model shots and an FWI gradient on the embedded model
    sweep list equations         one row per equation: dims, models, where it runs now
    sweep show Acoustic          one equation in full
    sweep doctor                 diagnostics; exits 1 when something is broken
    (--json on list, show and doctor prints machine-readable output)
"""

from __future__ import annotations

import argparse
import json
import sys

YES, NO = "yes", "no"


def _table(header, rows) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def list_equations(as_json: bool) -> str:
    from . import registry
    from .backend import compiled as core

    infos = registry.equations()
    if as_json:
        return json.dumps([e.as_dict() for e in infos], indent=2)
    ready = core.is_available()
    header = ["Equation", "dims", "models", "Torch binding", "Binding ready", "JAX kernels CPU", "JAX kernels CUDA"]
    rows = []
    for e in infos:
        status = e.status()
        rows.append([
            e.name,
            "/".join(f"{d}D" for d in e.dims),
            ", ".join(f"{m.name} ({m.unit})" for m in e.models),
            YES if e.torch_binding else NO,
            YES if ready else NO,
            YES if status["cpu"][0] else NO,
            YES if status["cuda"][0] else NO,
        ])
    note = "" if ready else f"\nThe compiled core does not import: {core.import_error()}"
    return _table(header, rows) + note


def show_equation(name: str, as_json: bool) -> str:
    from . import registry

    e = registry.get(name)
    if as_json:
        return json.dumps(e.as_dict(), indent=2)
    out = [f"{e.name} ({e.cls.__module__}.{e.cls.__qualname__})", f"  {e.summary}", ""]
    out.append(f"  dimensions:      {', '.join(f'{d}D' for d in e.dims)}")
    out.append(f"  spatial orders:  {', '.join(map(str, e.orders))}")
    out.append("  models:")
    out += [f"    {m.name:<8} {m.unit:<6} {m.description}" for m in e.models]
    out.append("  fields:")
    for f in e.fields:
        roles = ", ".join(r for r, on in (("sources", f.source), ("receivers", f.receiver)) if on)
        out.append(f"    {f.name:<8} {f.description}" + (f"  [{roles}]" if roles else ""))
    out.append("  executions (declared / runs here now):")
    status = e.status()
    for key, title in registry.EXECUTIONS.items():
        ok, why = status[key]
        declared = key in e.executions
        out.append(f"    {title:<17} {YES if declared else NO:<4} {YES if ok else NO}" + (f"  ({why})" if declared and not ok else ""))
    return "\n".join(out)


def doctor(as_json: bool) -> tuple[str, int]:
    from .doctor import run

    report = run()
    code = 0 if report["ok"] else 1
    if as_json:
        return json.dumps(report, indent=2, default=str), code
    mark = {"ok": "ok  ", "fail": "FAIL", "skip": "--  "}
    out = [f"sweep {report['sweep']} on Python {report['python']}", ""]
    out += [f"[{mark[c['status']]}] {c['name']}" + (f": {c['detail']}" if c["detail"] else "") for c in report["checks"]]
    core = report["core"]
    out += ["", "compiled core:", f"  module: {core.get('module_path')}", f"  build:  {core.get('build')}"]
    out += [f"  targets ({platform}): {', '.join(t)}" for platform, t in core.get("targets", {}).items()]
    for family in ("jax", "torch"):
        info = {k: v for k, v in report[family].items() if k not in ("targets", "build", "module_path", "import_error")}
        out.append(f"{family} family: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    out.append("")
    out.append("everything works" if code == 0 else "something is broken (see FAIL above)")
    return "\n".join(out), code


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
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    lst = sub.add_parser("list", help="what the package provides (a table, or --json)")
    lst.add_argument("what", choices=("equations",), nargs="?", default="equations")
    lst.add_argument("--json", action="store_true")
    show = sub.add_parser("show", help="one equation in full")
    show.add_argument("equation", help="its name, e.g. Acoustic")
    show.add_argument("--json", action="store_true")
    doc = sub.add_parser("doctor", help="diagnostics of both backend families; exits 1 when something is broken")
    doc.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from .demo import run

        run(out=args.out, shots=args.shots, nt=args.nt, impl=args.impl, progress=not args.no_progress)
        return 0
    if args.command == "list":
        print(list_equations(args.json))
        return 0
    if args.command == "show":
        try:
            print(show_equation(args.equation, args.json))
        except KeyError as exc:
            print(f"sweep show: {exc.args[0]}", file=sys.stderr)
            return 2
        return 0
    text, code = doctor(args.json)
    print(text)
    return code


if __name__ == "__main__":
    sys.exit(main())

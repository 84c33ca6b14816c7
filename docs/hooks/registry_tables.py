"""mkdocs hook: the support tables are generated from sweep's equation registry at build time.

`<!-- sweep:support-table -->` becomes the equation x execution table of what each equation
implements (green / red, as PyLops's GPU table), and `<!-- sweep:build-status -->` what the
installation that built the docs can run now (`EquationInfo.status()`, as `sweep list` shows).
"""

from __future__ import annotations

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

"""The equation registry: what each equation is and where it runs.

An equation class declares itself with `@register(...)`: its dimensions, models (names and
units), state fields (and which take sources and record at receivers) and the executions it
implements. `status()` then says which of those the installed package can run right now (the
compiled core imports, its FFI targets exist for CPU / CUDA, torch imports). `sweep list`,
`sweep show`, `sweep doctor` and the docs' support table are generated from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Executions, in the order tables show them.
EXECUTIONS = {
    "jax": "JAX reference",
    "cpu": "JAX kernels CPU",
    "cuda": "JAX kernels CUDA",
    "torch_eager": "Torch eager",
    "torch_c": "Torch c",
}


@dataclass(frozen=True)
class Model:
    name: str
    unit: str
    description: str


@dataclass(frozen=True)
class Field:
    name: str
    description: str
    source: bool = False  # takes sources
    receiver: bool = False  # recorded at receivers


@dataclass(frozen=True)
class EquationInfo:
    name: str  # the class name, e.g. "Acoustic"
    cls: type
    summary: str
    dims: tuple[int, ...]
    models: tuple[Model, ...]
    fields: tuple[Field, ...]
    executions: tuple[str, ...]  # declared: what the equation implements
    orders: tuple[int, ...] = field(default=(2, 4, 6, 8))

    @property
    def torch_binding(self) -> bool:
        """Declared by the equation: PropTorch can run it."""
        return any(e.startswith("torch") for e in self.executions)

    @property
    def source_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.source)

    @property
    def receiver_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.receiver)

    def status(self) -> dict[str, tuple[bool, str]]:
        """{execution: (runs in this installation now, why not)} for every execution; never
        raises and does not start JAX's or torch's device runtime."""
        from .backend import compiled as core
        from .backend import jax as jax_family
        from .backend import torch as torch_family

        eq = self.cls()
        out = {}
        for key in EXECUTIONS:
            if key not in self.executions:
                out[key] = (False, f"{self.name} does not implement it")
            elif key == "jax":
                out[key] = (jax_family.is_available(), "" if jax_family.is_available() else "jax does not import")
            elif key in ("cpu", "cuda"):
                out[key] = core.covers(eq, "cpu" if key == "cpu" else "CUDA")
            elif not torch_family.is_available():
                out[key] = (False, "torch does not import (pip install 'sweep[torch]')")
            elif key == "torch_eager":
                out[key] = (True, "")
            else:  # torch_c: the compiled core through JAX, on the CPU or a CUDA device
                cpu, cuda = core.covers(eq, "cpu"), core.covers(eq, "CUDA")
                out[key] = (True, "") if cpu[0] or cuda[0] else (False, cpu[1])
        return out

    def as_dict(self, live: bool = True) -> dict:
        info = dict(
            name=self.name,
            module=f"{self.cls.__module__}.{self.cls.__qualname__}",
            summary=self.summary,
            dims=list(self.dims),
            spatial_orders=list(self.orders),
            models=[dict(name=m.name, unit=m.unit, description=m.description) for m in self.models],
            fields=[dict(name=f.name, description=f.description, source=f.source, receiver=f.receiver) for f in self.fields],
            source_fields=list(self.source_fields),
            receiver_fields=list(self.receiver_fields),
            torch_binding=self.torch_binding,
            executions=list(self.executions),
        )
        if live:
            info["status"] = {k: dict(ok=ok, why=why) for k, (ok, why) in self.status().items()}
        return info


_REGISTRY: dict[str, EquationInfo] = {}


def register(*, summary, dims, models, fields, executions, orders=(2, 4, 6, 8)):
    """Class decorator: record an equation and give the class its `model_names` and
    `state_names` (from `models` and `fields`, so they are written once)."""
    unknown = [e for e in executions if e not in EXECUTIONS]
    if unknown:
        raise ValueError(f"executions: expected names from {tuple(EXECUTIONS)}, got {unknown}")

    def wrap(cls):
        info = EquationInfo(cls.__name__, cls, summary, tuple(dims), tuple(models), tuple(fields), tuple(executions), tuple(orders))
        if not info.source_fields or not info.receiver_fields:
            raise ValueError(f"{cls.__name__}: at least one field must take sources and one must be recorded")
        cls.model_names = tuple(m.name for m in info.models)
        cls.state_names = tuple(f.name for f in info.fields)
        cls.info = info
        _REGISTRY[cls.__name__.lower()] = info
        return cls

    return wrap


def equations() -> list[EquationInfo]:
    from . import equations as _  # noqa: F401  (importing the package registers them)

    return list(_REGISTRY.values())


def get(name: str) -> EquationInfo:
    """The equation called `name` (case-insensitive)."""
    known = {e.name.lower(): e for e in equations()}
    try:
        return known[name.lower()]
    except KeyError:
        raise KeyError(f"equation: expected one of {sorted(e.name for e in known.values())}, got {name!r}") from None

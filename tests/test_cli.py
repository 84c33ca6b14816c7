"""The registry and the `sweep` command line: list, show, doctor (text and --json)."""

import json
import subprocess
import sys

import pytest

import sweep.backend.compiled as core
from sweep import cli, registry
from sweep.equations import Acoustic


def sweep_cli(*args):
    return subprocess.run([sys.executable, "-m", "sweep.cli", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture
def missing_core(monkeypatch):
    """The compiled core as if it failed to import (the caches are cleared both ways)."""
    for fn in (core.registrations, core.ensure_registered):
        fn.cache_clear()
    monkeypatch.setattr(core, "_load", lambda: (None, "ImportError: simulated missing core"))
    yield
    monkeypatch.undo()
    for fn in (core.registrations, core.ensure_registered):
        fn.cache_clear()


def test_registry_declares_the_acoustic_equation():
    info = registry.get("ACOUSTIC")
    assert info.cls is Acoustic and Acoustic.info is info
    assert info.dims == (2, 3)
    assert [(m.name, m.unit) for m in info.models] == [("vp", "m/s")]
    assert info.source_fields == ("p",) and info.receiver_fields == ("p",)
    # the names the propagators use come from the registration
    assert Acoustic.model_names == ("vp",) and Acoustic.state_names == ("p", "p_prev", "psi", "zeta")
    assert set(info.executions) == set(registry.EXECUTIONS)
    with pytest.raises(KeyError, match=r"equation: expected one of \['Acoustic'\], got 'elastic'"):
        registry.get("elastic")


def test_registry_rejects_an_unknown_execution():
    with pytest.raises(ValueError, match="executions: expected names from"):
        registry.register(summary="", dims=(2,), models=(), fields=(), executions=("fortran",))


@pytest.mark.needs_core
def test_status_is_live(missing_core):
    info = registry.get("Acoustic")
    status = info.status()
    assert status["jax"] == (True, "")
    for key in ("cpu", "cuda", "torch_c"):
        ok, why = status[key]
        assert not ok and "simulated missing core" in why
    assert status["torch_eager"] == (True, "")


@pytest.mark.needs_core
def test_list_equations_table_and_json():
    res = sweep_cli("list", "equations")
    assert res.returncode == 0, res.stderr
    header, _, row = res.stdout.splitlines()[:3]
    for col in ("Equation", "dims", "models", "Torch binding", "Binding ready", "JAX kernels CPU", "JAX kernels CUDA"):
        assert col in header
    assert row.split()[:4] == ["Acoustic", "2D/3D", "vp", "(m/s)"]
    assert row.split()[4:7] == ["yes", "yes", "yes"]  # Torch binding, Binding ready, CPU kernels
    data = json.loads(sweep_cli("list", "--json").stdout)
    assert [e["name"] for e in data] == ["Acoustic"]
    assert data[0]["status"]["cpu"] == {"ok": True, "why": ""}
    assert data[0]["status"]["cuda"]["ok"] == ("CUDA" in core.registrations())


def test_list_says_when_the_core_is_missing(missing_core):
    text = cli.list_equations(as_json=False)
    row = text.splitlines()[2].split()
    assert row[5:] == ["no", "no", "no"]  # Binding ready, JAX kernels CPU / CUDA
    assert "does not import: ImportError: simulated missing core" in text


def test_show_equation():
    res = sweep_cli("show", "acoustic")
    assert res.returncode == 0, res.stderr
    assert "Acoustic (sweep.equations.acoustic.Acoustic)" in res.stdout
    assert "vp       m/s    P-wave velocity" in res.stdout
    assert "[sources, receivers]" in res.stdout and "zeta" in res.stdout
    assert json.loads(sweep_cli("show", "Acoustic", "--json").stdout)["fields"][0]["source"] is True
    bad = sweep_cli("show", "Elastic")
    assert bad.returncode == 2 and "expected one of ['Acoustic'], got 'Elastic'" in bad.stderr


@pytest.mark.needs_core
def test_doctor_passes_here():
    res = sweep_cli("doctor")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "[ok  ] compiled kernels on cpu" in res.stdout and "everything works" in res.stdout
    report = json.loads(sweep_cli("doctor", "--json").stdout)
    assert report["ok"] is True
    names = {c["name"]: c["status"] for c in report["checks"]}
    assert names["compiled core sweep._C imports"] == "ok" and names["FFI targets register with JAX"] == "ok"
    assert report["jax"]["jax"] and "targets" in report["core"]


def test_doctor_fails_without_the_core(missing_core, capsys):
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] compiled core sweep._C imports: RuntimeError: ImportError: simulated missing core" in out
    assert "[FAIL] compiled kernels on cpu" in out and "something is broken" in out

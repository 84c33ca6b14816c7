"""Packaging: import without the compiled core, impl fallbacks, and backend inspection."""

import subprocess
import sys
import textwrap
import warnings

import pytest

import sweep
from sweep.equations import Acoustic
from sweep.propagator.jax import PropJax


def _run(code: str) -> str:
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_import_and_reference_path_without_the_compiled_core():
    out = _run(
        """
        import sys, warnings
        sys.modules["sweep._C"] = None          # make `import sweep._C` fail
        import numpy as np
        import sweep
        from sweep.equations import Acoustic
        from sweep.propagator.jax import PropJax
        print("available", sweep.backend.jax.binding.is_available())
        print("error", sweep.backend.jax.binding.diagnostics()["import_error"])
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            auto = PropJax(Acoustic(4), shape=(10, 10), dh=10.0, dt=1e-3, impl="auto")
            print("auto", auto.impl, len(w))
            c = PropJax(Acoustic(4), shape=(10, 10), dh=10.0, dt=1e-3, impl="c")
            print("c", c.impl, len(w), str(w[-1].message))
        rec = c(np.ones(5, np.float32), np.array([[5, 5]]), np.array([[[6, 6]]]), [np.full((10, 10), 2000.0, np.float32)])
        print("shape", rec.shape)
        """
    )
    assert "available False" in out
    assert "error ModuleNotFoundError: import of sweep._C halted" in out
    assert "auto jax 0" in out
    assert "c jax 1 impl='c' requested but the compiled core sweep._C could not be imported" in out
    assert "falling back to impl='jax'" in out
    assert "shape (1, 5, 1, 1)" in out


@pytest.mark.needs_core
def test_auto_picks_compiled_on_cpu():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert PropJax(Acoustic(4), shape=(10, 10), dh=10.0, dt=1e-3).impl == "c"


def test_inspection_is_cheap_and_never_raises():
    assert sweep.backend.jax.is_available() is True
    info = sweep.backend.jax.binding.diagnostics()
    assert {"available", "import_error", "jax", "jaxlib", "default_backend"} <= set(info)
    if info["available"]:
        assert info["build"]["ffi_api"] == "0.3"
        assert "sweep_acoustic_forward" in info["targets"]["cpu"]

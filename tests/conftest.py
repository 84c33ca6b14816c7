import jax
import pytest

# The suite compares float64 results to rounding; float32 cases pass float32 data explicitly.
jax.config.update("jax_enable_x64", True)


def pytest_collection_modifyitems(config, items):
    import sweep.backend.compiled as core

    if core.is_available():
        return
    skip = pytest.mark.skip(reason=f"compiled core unavailable: {core.import_error()}")
    for item in items:
        if "needs_core" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_core: needs the compiled extension sweep._C")

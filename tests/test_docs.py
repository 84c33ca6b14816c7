"""The docs site builds with warnings as errors, with the support tables generated from the
registry and the API reference from the docstrings."""

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).parent.parent


def test_docs_build_strict(tmp_path):
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    res = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(site)],
        capture_output=True, text=True, timeout=600, env=env, cwd=ROOT,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    backends = (site / "backends" / "index.html").read_text()
    assert "sweep:support-table" not in backends and "sweep:build-status" not in backends
    tables = [" ".join(re.sub(r"<[^>]+>", " ", t).split()) for t in re.findall(r"<table>.*?</table>", backends, re.S)]
    assert any(t.startswith("Equation dims models JAX reference") and "Acoustic 2D/3D vp (m/s) ✅ ✅ ✅ ✅ ✅" in t for t in tables)
    assert (site / "assets" / "quickstart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 'src="assets/quickstart.png"' in (site / "index.html").read_text()
    reference = (site / "reference" / "index.html").read_text()
    for name in ("PropJax", "PropTorch", "CallbackState", "shot_gather", "MemoryOptions", "EquationInfo"):
        assert name in reference

"""The README's main job runs end to end (shortened) and writes its PNG."""

import subprocess
import sys

import numpy as np

from sweep.models import marmousi_like, smooth


def test_demo_cli_writes_png(tmp_path):
    out = tmp_path / "demo.png"
    res = subprocess.run(
        [sys.executable, "-m", "sweep.cli", "demo", "--out", str(out), "--nt", "300", "--shots", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    assert "FWI gradient" in res.stdout and f"wrote {out}" in res.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_embedded_model():
    vp = marmousi_like()
    assert vp.shape == (150, 400) and vp.dtype == np.float32
    assert vp.min() == 1500.0 and vp.max() <= 4500.0
    assert np.all(vp[:12] == 1500.0)  # water
    s = smooth(vp, 5)
    assert s.shape == vp.shape and np.abs(np.diff(s, axis=1)).max() < np.abs(np.diff(vp, axis=1)).max()

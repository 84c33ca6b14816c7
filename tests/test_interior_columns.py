"""The CUDA box's column updates, on a cell or a vector of cells, against the CPU rows: the
shared row code is compiled for the host (tests/cpp/interior_columns.cc), so the forms only the
GPU runs are checked on every machine with a C++ compiler."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_interior_columns_equal_the_rows_bitwise(tmp_path):
    cxx = shutil.which(os.environ.get("CXX", "c++"))
    if cxx is None:
        pytest.skip("no C++ compiler")
    exe = tmp_path / "interior_columns"
    # No contraction into FMAs: the rows and the columns must round alike.
    build = [cxx, "-std=c++17", "-O2", "-ffp-contract=off", f"-I{ROOT / 'kernels'}", str(ROOT / "tests/cpp/interior_columns.cc"), "-o", str(exe)]
    subprocess.run(build, check=True, capture_output=True, text=True)
    run = subprocess.run([str(exe)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr

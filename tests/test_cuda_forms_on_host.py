"""The forms of the shared row code that only the CUDA kernels run, against the CPU rows, on the
host (tests/cpp/*.cc compiled here), so that they are checked on every machine with a C++
compiler: the box's column updates on a cell or a vector of cells (interior_columns.cc), and
the frame's updates on a cell or a vector, PML terms included (frame_cells.cc). Bitwise: the
same sums in the same order."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("source", ["interior_columns", "frame_cells"])
def test_cuda_forms_equal_the_rows_bitwise(tmp_path, source):
    cxx = shutil.which(os.environ.get("CXX", "c++"))
    if cxx is None:
        pytest.skip("no C++ compiler")
    exe = tmp_path / source
    # No contraction into FMAs: the rows and the other forms must round alike.
    build = [cxx, "-std=c++17", "-O2", "-ffp-contract=off", f"-I{ROOT / 'kernels'}", str(ROOT / f"tests/cpp/{source}.cc"), "-o", str(exe)]
    subprocess.run(build, check=True, capture_output=True, text=True)
    run = subprocess.run([str(exe)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr

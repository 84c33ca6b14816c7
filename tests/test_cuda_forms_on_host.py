"""The forms of the shared row code that only the CUDA kernels run, against the CPU rows, on the
host (tests/cpp/*.cc compiled here), so that they are checked on every machine with a C++
compiler: the box's column updates on a cell or a vector of cells (interior_columns.cc), and
the frame's updates on a cell or a vector, PML terms included (frame_cells.cc). Bitwise: the
same sums in the same order. Also the CUDA calls' host-side shot-group rule (shot_groups.cc)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _build_and_run(tmp_path, source):
    """Compiles tests/cpp/{source}.cc against kernels/ and runs it; asserts it exits 0."""
    cxx = shutil.which(os.environ.get("CXX", "c++"))
    if cxx is None:
        pytest.skip("no C++ compiler")
    exe = tmp_path / source
    # No contraction into FMAs: the rows and the other forms must round alike.
    build = [cxx, "-std=c++17", "-O2", "-ffp-contract=off", f"-I{ROOT / 'kernels'}", str(ROOT / f"tests/cpp/{source}.cc"), "-o", str(exe)]
    subprocess.run(build, check=True, capture_output=True, text=True)
    run = subprocess.run([str(exe)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("source", ["interior_columns", "frame_cells"])
def test_cuda_forms_equal_the_rows_bitwise(tmp_path, source):
    _build_and_run(tmp_path, source)


def test_cuda_shot_group_rule(tmp_path):
    """The CUDA calls' shot groups (kernels/common/shot_groups.h): the sizes that ran fastest on
    the H100's grids, the rule's limits and SWEEP_CUDA_SHOT_GROUP's parsing (shot_groups.cc)."""
    _build_and_run(tmp_path, "shot_groups")

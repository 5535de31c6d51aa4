"""Issue 25, "a ROS user's first hour, second round": the items that need no ROS graph (README rows, tool output,
help texts, first-time step lines). The node's items (Ctrl-C, --help, a deaf node, runtime parameters) are in
test_issue25_ros.py, over real DDS."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _readme() -> str:
    return (REPO / "README.md").read_text()


# -- item 3: what PyPI's torch really pulls ---------------------------------------------------------------------------
def test_issue25_i03_readme_gpu_rows_say_pypi_torch_is_cuda13_and_how_to_get_cuda12():
    """torch==2.13.0's wheel metadata on PyPI (x86-64 and aarch64, read with `pip install --dry-run --no-deps
    --report`) requires cuda-toolkit==13.0.3 and nvidia-*-cu13: the README must not promise CUDA 12 from PyPI, and
    must give the CUDA 12 route (PyTorch's cu126 index) for older drivers."""
    readme = _readme()
    rows = [line for line in readme.splitlines() if line.startswith("| x86-64 with an NVIDIA GPU")]
    assert len(rows) == 2, rows
    cuda13, cuda12 = rows
    assert "CUDA 12" not in cuda13.split("|")[2] and "CUDA 13" in cuda13 and "cuda-toolkit` 13.0.3" in cuda13
    assert "`pip install torch==2.13.0`" in cuda13
    assert "--index-url https://download.pytorch.org/whl/cu126" in cuda12 and "CUDA 12" in cuda12
    assert not re.search(r"bundles CUDA 12", readme)
    assert "nvidia-cudnn-cu13" in readme and "--dry-run --no-deps" in readme  # what it pulls, and how to check


# -- item 10: colcon with ROS from PyPI ---------------------------------------------------------------------------------
def test_issue25_i10_readme_says_where_colcon_needs_the_venv_on_the_ament_path():
    readme = _readme()
    block = readme[readme.index("cd ~/seld_ws && colcon build"):]
    block = block[:block.index("```")]
    assert "No 'rosidl_typesupport_c' found" in block
    assert 'export AMENT_PREFIX_PATH="$VIRTUAL_ENV' in block

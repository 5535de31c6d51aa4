"""The install story: the README's per-target torch pins pull no CUDA where they should not, and set-up and colcon
print what they do without spurious warnings."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import REPO


# -- torch pins per target ------------------------------------------------------------------------------------
def test_install_story_pins_cpu_torch_per_target():
    readme = (REPO / "README.md").read_text()
    # one documented way per target, the CPU one from PyTorch's CPU index (PyPI's default Linux wheel bundles CUDA)
    assert "--index-url https://download.pytorch.org/whl/cpu" in readme
    for target in ("x86-64, CPU only", "x86-64 with an NVIDIA GPU", "Jetson"):
        assert target in readme, target
    node_req = (REPO / "requirements" / "node.txt").read_text()
    pins = [line.split("#")[0].strip() for line in node_req.splitlines() if line.split("#")[0].strip()]
    assert {"onnxruntime", "onnx", "onnxscript"} <= {re.split(r"[=<>\[]", p)[0] for p in pins}
    assert "torch" not in {re.split(r"[=<>\[]", p)[0] for p in pins}, "torch is installed per target, not here"
    assert "torch==2.13.0" in (REPO / "requirements" / "ml.txt").read_text()
    # the CPU torch install comes first in every documented command list, so pip never resolves torch from PyPI
    cpu = readme[readme.index("x86-64, CPU only"):]
    assert cpu.index("download.pytorch.org/whl/cpu") < cpu.index("requirements/node.txt")
    # package.xml names the node's Python runtime needs (rosdep keys)
    pkg = (REPO / "package.xml").read_text()
    for key in ("python3-onnxruntime-pip", "python3-onnx-pip", "python3-onnxscript-pip", "python3-torch"):
        assert re.search(rf"<exec_depend[^>]*>{key}</exec_depend>", pkg), key


def test_pip_install_dot_after_cpu_torch_pulls_no_cuda(tmp_path):
    """`pip install .` with CPU torch already installed (the documented order) resolves no nvidia-* / CUDA
    packages (pip --dry-run --report against this environment)."""
    import json

    report = tmp_path / "r.json"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--no-build-isolation",
                        "--report", str(report), str(REPO)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    names = [i["metadata"]["name"].lower() for i in json.loads(report.read_text())["install"]]
    assert not [n for n in names if n.startswith(("nvidia", "triton", "cuda"))], names
    assert "torch" not in names  # satisfied by the CPU build already installed


# -- noise ----------------------------------------------------------------------------------------------------
def test_setup_reports_pip_progress_and_silences_colcons_prefix_warning():
    text = (REPO / "scripts" / "setup.sh").read_text()
    pip_cmds = [c for c in re.split(r"\n(?=\s*\"\$VENV/bin/python\" -m pip)", text) if "-m pip install" in c]
    big = [c for c in pip_cmds if "ros-jazzy.txt" in c][0]
    assert " -q " not in big.split("\n\n")[0], "the long pip step must not be silent"
    assert "one line per package" in text
    venv = Path(sys.prefix)
    if (venv / "share" / "ament_index").is_dir():  # the set-up venv (scripts/setup.sh) is an ament prefix
        assert (venv / "local_setup.sh").is_file(), "re-run scripts/setup.sh"


def test_colcon_build_prints_no_ament_prefix_warning(tmp_path):
    """colcon warns for every AMENT_PREFIX_PATH entry without local_setup.* files (the venv): a real colcon
    build of an empty package with the venv on AMENT_PREFIX_PATH, as the demo does, must not."""
    import shutil

    venv = Path(sys.prefix)
    if not (venv / "share" / "ament_index").is_dir() or not shutil.which("colcon"):
        pytest.skip("needs the venv made by scripts/setup.sh (colcon, ROS wheels)")
    pkg = tmp_path / "src" / "empty_pkg"
    pkg.mkdir(parents=True)
    (pkg / "package.xml").write_text(
        '<?xml version="1.0"?><package format="3"><name>empty_pkg</name><version>0.0.0</version>'
        '<description>x</description><maintainer email="a@b.c">a</maintainer><license>MIT</license>'
        '<export><build_type>ament_python</build_type></export></package>')
    (pkg / "setup.py").write_text("from setuptools import setup\nsetup(name='empty_pkg', version='0.0.0')\n")
    env = dict(os.environ, AMENT_PREFIX_PATH=f"{venv}{os.pathsep}{os.environ.get('AMENT_PREFIX_PATH', '')}")
    r = subprocess.run(["colcon", "--log-base", str(tmp_path / "log"), "build", "--base-paths", "src",
                        "--build-base", "build", "--install-base", "install"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "local_setup" not in r.stdout + r.stderr, (r.stdout + r.stderr)[-2000:]


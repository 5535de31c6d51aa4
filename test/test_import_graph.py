"""The package's import graph: the node starts with only the documented node dependencies (requirements/node.txt,
torch, ROS) — no rosbags, no bag tools, no training code."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import seld_ros

PACKAGE = Path(seld_ros.__file__).resolve().parent
# third-party packages the node set (requirements/node.txt, README) does not contain (tqdm is not listed: torch
# imports it where it is installed)
NOT_IN_THE_NODE_SET = ("rosbags", "matplotlib", "soundfile", "pyroomacoustics", "sklearn", "pandas")
# rooms of the package the node has no use for
NOT_FOR_THE_NODE = ("seld_ros.bag", "seld_ros.cli", "seld_ros.train", "seld_ros.data", "seld_ros.metrics")


def _closure(code: str, env=None) -> dict:
    """Run ``code`` in a fresh interpreter; the top-level third-party and the seld_ros modules it imported."""
    probe = code + (
        "\nimport sys, json\n"
        "mods = sorted(sys.modules)\n"
        "print(json.dumps({'top': sorted({m.split('.')[0] for m in mods}), "
        "'seld': [m for m in mods if m.startswith('seld_ros.')]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, **(env or {})))
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _check(found: dict) -> None:
    assert not set(NOT_IN_THE_NODE_SET) & set(found["top"]), set(NOT_IN_THE_NODE_SET) & set(found["top"])
    strays = [m for m in found["seld"] if m.startswith(NOT_FOR_THE_NODE)]
    assert not strays, f"the node imports {strays}"


def test_the_node_module_imports_nothing_outside_the_node_dependencies():
    pytest.importorskip("rclpy", reason="ROS overlay not sourced")
    found = _closure("import seld_ros.ros.node")
    assert "rclpy" in found["top"] and "seld_ros.ros.node" in found["seld"]
    _check(found)


def test_a_running_pipeline_with_the_onnx_backend_imports_nothing_outside_the_node_dependencies(bundle, tmp_path):
    """What the node loads at start-up beyond its module: the bundle, the ONNX export, onnxruntime."""
    pytest.importorskip("onnxruntime")
    found = _closure(
        "from seld_ros.pipeline import PipelineConfig, SeldPipeline\n"
        f"SeldPipeline(PipelineConfig(model_file_path={str(bundle)!r}, backend='onnxruntime'))\n",
        env={"SELD_CACHE_DIR": str(tmp_path / "cache")})
    assert "onnxruntime" in found["top"] and "torch" in found["top"]
    _check(found)

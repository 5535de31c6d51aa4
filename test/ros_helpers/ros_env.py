"""Where the ROS side of the tests comes from, and a clear failure when it is missing.

The ROS tests need the colcon overlay (scripts/setup.sh + scripts/env.sh). They
do not skip silently when it is absent: a test run that claims to test the ROS
node must really have run it. Set SELD_SKIP_ROS_TESTS=1 to skip them on purpose
(e.g. a pip-only install of the ROS-free core).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def require_ros():
    """Skip (only when asked to) or fail loudly if the ROS overlay is not sourced."""
    if os.environ.get("SELD_SKIP_ROS_TESTS") == "1":
        pytest.skip("SELD_SKIP_ROS_TESTS=1")
    try:
        import rclpy  # noqa: F401
        from seld_ros.msg import MultichannelAudio  # noqa: F401
    except ImportError as exc:  # pragma: no cover - environment problem
        pytest.fail(
            f"ROS overlay not available ({exc}); run `bash scripts/setup.sh && source scripts/env.sh` "
            "or set SELD_SKIP_ROS_TESTS=1 to skip the ROS tests on purpose"
        )


def install_prefix() -> Path:
    """The colcon install prefix of seld_ros (from AMENT_PREFIX_PATH)."""
    for entry in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if entry and (Path(entry) / "share" / "seld_ros" / "package.xml").exists():
            return Path(entry)
    pytest.fail("seld_ros is not in AMENT_PREFIX_PATH; source scripts/env.sh after the colcon build")


def node_executable() -> Path:
    exe = install_prefix() / "lib" / "seld_ros" / "seld_node"
    assert exe.exists() and os.access(exe, os.X_OK), f"{exe} missing or not executable"
    return exe


def python_executable() -> str:
    return shutil.which("python3") or "python3"

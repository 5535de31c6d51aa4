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


def mgonzs13_env() -> dict:
    """Environment for a child process that must see mgonzs13/audio_common's audio_common_msgs (AudioStamped):
    the fixture overlay ws_mgonzs13/ (scripts/setup.sh) in front of everything, so it shadows the ros-drivers
    fixture of the same package name that ws/ provides."""
    pkg = REPO_ROOT / "ws_mgonzs13" / "install" / "audio_common_msgs"
    site = next(iter(sorted((pkg / "lib").glob("python3*/site-packages"))), None)
    if site is None or not (site / "audio_common_msgs" / "msg" / "_audio_stamped.py").exists():
        pytest.fail(f"AudioStamped test fixture not built in {pkg}; run `bash scripts/setup.sh`")
    env = dict(os.environ)

    def front(name, value):
        env[name] = str(value) + (os.pathsep + env[name] if env.get(name) else "")

    front("PYTHONPATH", site)
    front("AMENT_PREFIX_PATH", pkg)
    front("LD_LIBRARY_PATH", pkg / "lib")
    return env

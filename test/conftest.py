"""Test-session set-up shared by every test.

ROS isolation: each pytest run picks its own ROS_DOMAIN_ID (and keeps DDS
discovery on this host) before anything imports rclpy, so parallel runs, CI
jobs and a developer's other ROS processes never see each other's topics.
Child processes started by tests inherit the same environment.
"""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# pytest-xdist (scripts/test.sh runs `-n 2`): each worker process (gw0, gw1, ...) gets a domain of its own, the
# base plus its number, so two workers' nodes never see each other either. The controller picks the base before it
# starts the workers, which inherit it through the environment.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
_worker_offset = int(_worker[2:]) + 1 if _worker.startswith("gw") and _worker[2:].isdigit() else 0
if "SELD_TEST_DOMAIN_ID" in os.environ:
    _domain = int(os.environ["SELD_TEST_DOMAIN_ID"]) + _worker_offset
else:
    # 1..100: inside the range every RMW accepts (ports stay below 65535 for
    # up to ~120 participants per domain). Random, not pid-derived, so two
    # runs started at the same time on different machines/containers differ too.
    if "SELD_TEST_DOMAIN_BASE" not in os.environ:
        os.environ["SELD_TEST_DOMAIN_BASE"] = str(random.SystemRandom().randint(1, 92))
    _domain = int(os.environ["SELD_TEST_DOMAIN_BASE"]) + _worker_offset
os.environ["ROS_DOMAIN_ID"] = str(_domain)
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
os.environ.setdefault("PYTHONUNBUFFERED", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Tests never write into the user's home: the engine/ONNX cache (seld_ros.engine.default_cache_dir,
# SeldPipeline) goes to a per-run temporary folder, inherited by every node and tool the tests start. HOME itself
# (and XDG_CACHE_HOME) point at a per-run sentinel folder, so code that ignored SELD_CACHE_DIR and wrote under ~
# would land there, where `_home_cache_untouched` below finds it and fails the run -- without being fooled by other
# programs on the machine writing into the real home meanwhile.
import tempfile  # noqa: E402

_TEST_CACHE = tempfile.mkdtemp(prefix="seld_test_cache_")
_SENTINEL_HOME = tempfile.mkdtemp(prefix="seld_test_home_")
os.environ["SELD_CACHE_DIR"] = _TEST_CACHE
# pip's per-user configuration (package mirrors) lives under the real home: keep pip using it
for _pip_conf in (Path.home() / ".config" / "pip" / "pip.conf", Path.home() / ".pip" / "pip.conf"):
    if _pip_conf.is_file() and "PIP_CONFIG_FILE" not in os.environ:
        os.environ["PIP_CONFIG_FILE"] = str(_pip_conf)
os.environ["HOME"] = _SENTINEL_HOME
os.environ["XDG_CACHE_HOME"] = os.path.join(_SENTINEL_HOME, ".cache")

# The helpers below are imported by tests as `ros_helpers.*`.
sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_report_header(config):
    return f"seld_ros tests: ROS_DOMAIN_ID={_domain}"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A tiny AT2SELD bundle with random weights, made once per test module (model_helpers.make_tiny_bundle)."""
    from model_helpers import make_tiny_bundle

    return make_tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny.pt")


@pytest.fixture(scope="module")
def stereo_bundle(tmp_path_factory):
    """A tiny stereo AT2SELD bundle (StereoFeatureConfig front end, random weights), once per test module
    (model_helpers.make_tiny_stereo_bundle)."""
    from model_helpers import make_tiny_stereo_bundle

    return make_tiny_stereo_bundle(tmp_path_factory.mktemp("stereo_bundle") / "tiny_stereo.pt")


@pytest.fixture
def node_env(tmp_path):
    """Environment for a node process under test: its ONNX/engine cache in the test's temporary folder."""
    return {"SELD_CACHE_DIR": str(tmp_path / "cache")}


@pytest.fixture(scope="module")
def ros(request):
    """An rclpy context and node for one test module (the test's side of a DDS exchange)."""
    from ros_helpers.ros_env import require_ros

    require_ros()
    import rclpy

    rclpy.init()
    node = rclpy.create_node("seld_tester_" + request.module.__name__.rsplit(".", 1)[-1])
    yield node
    node.destroy_node()
    rclpy.shutdown()


@pytest.fixture(scope="session", autouse=True)
def _home_cache_untouched():
    """Fails the run if anything the tests ran wrote a seld_ros cache under the (sentinel) home folder."""
    yield
    import shutil

    written = sorted(str(p) for p in Path(_SENTINEL_HOME).rglob("*") if "seld_ros" in p.parts and p.is_file())
    shutil.rmtree(_TEST_CACHE, ignore_errors=True)
    shutil.rmtree(_SENTINEL_HOME, ignore_errors=True)
    assert not written, f"the tests wrote into the user's home cache (~/.cache/seld_ros): {written[:5]}"

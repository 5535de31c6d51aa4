"""The README's install story, end to end (issue 16, acceptance): a fresh virtual environment with ONLY the node
dependencies the README documents for an x86-64 CPU machine, a colcon build of this package, seld_node started with
an EMPTY engine cache, audio over DDS in, events out.

Stand-ins, and why: a user has ROS from apt (/opt/ros/<distro>); here ROS comes from the PyPI wheels this
repository pins (requirements/ros-jazzy.txt, used for rclpy, the message packages and colcon) and
`AMENT_PREFIX_PATH=<venv>` plays `source /opt/ros/jazzy/setup.bash`. The README's CPU torch line names PyTorch's CPU
index (https://download.pytorch.org/whl/cpu), which this machine cannot reach: the same build, torch==2.13.0+cpu,
comes from the local wheel mirror pip is configured with (find-links), so the `--index-url` option is dropped.
Everything else is the README's text, parsed from it. The slowest test of the suite (a pip install of ~190 wheels
and a colcon build).
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path


from ros_helpers.node_outputs import NodeOutputs
from ros_helpers.node_proc import spin_until

REPO = Path(__file__).resolve().parents[1]
CPU_ROW = "x86-64, CPU only"


def readme_cpu_commands() -> list[list[str]]:
    """The `pip install ...` commands of the README's CPU row, as argument lists."""
    readme = (REPO / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith(f"| {CPU_ROW} |"))
    cmds = [shlex.split(c) for c in re.findall(r"`([^`]+)`", row)]
    assert cmds and all(c[:2] == ["pip", "install"] for c in cmds), cmds
    return cmds


def _clean_env(**extra) -> dict:
    """The environment of a new shell: nothing of this test run's venv, overlay or ROS set-up."""
    keep = ("HOME", "USER", "LANG", "LC_ALL", "TMPDIR", "PIP_CONFIG_FILE", "ROS_DOMAIN_ID",
            "ROS_AUTOMATIC_DISCOVERY_RANGE", "RMW_IMPLEMENTATION")
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("PIP_")}  # pip's mirror settings
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    env.update(extra)
    return env


def test_readme_node_dependencies_install_build_and_run_in_a_fresh_venv(ros, tmp_path):
    from seld_ros.ros.conversions import audio_to_msg

    venv, ws, cache = tmp_path / "venv", tmp_path / "ws", tmp_path / "empty_cache"
    py = "python3.11" if subprocess.run(["which", "python3.11"], capture_output=True).returncode == 0 else "python3"
    t0 = time.monotonic()
    subprocess.run([py, "-m", "venv", str(venv)], check=True, env=_clean_env())
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--no-compile",
           "-q"]
    args = ["-r", str(REPO / "requirements" / "ros-jazzy.txt"),
            "-c", str(REPO / "requirements" / "constraints-ros-jazzy.txt")]
    for cmd in readme_cpu_commands():
        rest = cmd[2:]
        if "--index-url" in rest:  # the CPU build comes from the local wheel mirror here (module docstring)
            i = rest.index("--index-url")
            rest = rest[:i] + rest[i + 2:]
        args += [str(REPO / a) if a.startswith("requirements/") else a for a in rest]
    r = subprocess.run(pip + args, capture_output=True, text=True, env=_clean_env(), timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    t_pip = time.monotonic() - t0
    freeze = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
                            capture_output=True, text=True, check=True, env=_clean_env()).stdout
    assert "torch==2.13.0+cpu" in freeze and not re.search(r"^nvidia", freeze, re.M), freeze
    assert "pytest" not in freeze.lower().split("==")[0]  # nothing of the test tooling sneaked in

    # colcon build of this package, as the README says (src/seld_ros = the clone)
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "seld_ros").symlink_to(REPO)
    shell_env = _clean_env(VIRTUAL_ENV=str(venv), PATH=f"{venv}/bin:/usr/local/bin:/usr/bin:/bin",
                           AMENT_PREFIX_PATH=str(venv))
    r = subprocess.run(["colcon", "--log-base", "log", "build", "--base-paths", "src",
                        "--event-handlers", "console_cohesion-", "console_stderr-",
                        "--cmake-args", f"-DPython3_EXECUTABLE={venv}/bin/python", "-DBUILD_TESTING=OFF"],
                       cwd=ws, capture_output=True, text=True, env=shell_env, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    t_build = time.monotonic() - t0 - t_pip

    # the node, started from that install with an empty cache: the first start exports the model
    ns = f"/fresh{os.getpid()}"
    node_cmd = (f"source {ws}/install/setup.bash && exec {ws}/install/seld_ros/lib/seld_ros/seld_node --ros-args "
                f"--params-file {ws}/install/seld_ros/share/seld_ros/config/seld.yaml -r __ns:={ns} "
                f"-p class_thresholds:=[{','.join(['0.001'] * 13)}] -p qos_reliability:=reliable "
                f"-p qos_depth:=1000")
    proc = subprocess.Popen(["bash", "-c", node_cmd], env=dict(shell_env, SELD_CACHE_DIR=str(cache)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)

    class _P:  # what NodeOutputs needs to know about the node
        namespace = ns

        @staticmethod
        def topic(name):
            return f"{ns}/seld_node/{name}"

    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    from seld_ros.msg import MultichannelAudio

    outputs = NodeOutputs(ros, _P)
    pub = ros.create_publisher(MultichannelAudio, _P.topic("audio"),
                               QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE))
    try:
        assert spin_until(ros, lambda: pub.get_subscription_count() > 0 or proc.poll() is not None, 180.0)
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        import numpy as np

        x = (np.random.default_rng(1).standard_normal((24000 * 3, 4)) * 0.05).astype(np.float32)
        for i in range(0, x.shape[0], 2400):
            pub.publish(audio_to_msg(x[i:i + 2400], 24000, "foa_acn_sn3d", i,
                                     1_700_000_000_000_000_000 + i * 10**9 // 24000, "mic"))
        assert spin_until(ros, lambda: len(outputs.events) >= 30, 120.0), len(outputs.events)
        assert [m.frame_index for m in outputs.events[:30]] == list(range(30))
        assert sum(len(m.events) for m in outputs.events) > 0
        t_stop = time.monotonic()
        proc.send_signal(2)
        out, _ = proc.communicate(timeout=60)
        stop_s = time.monotonic() - t_stop
        assert proc.returncode == 0, out[-3000:]
        assert stop_s < 2.0, f"SIGINT to exit took {stop_s:.2f} s (issue 25: within 2 s)"
        assert "exporting the model to ONNX" in out  # the first start says what it spends its time on
        assert "backend onnxruntime" in out, out[-3000:]  # auto picked onnxruntime: the export worked
        assert list(cache.glob("*.onnx")), "the first start exported the model into the (empty) cache"
        assert "Traceback" not in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        outputs.close()
        ros.destroy_publisher(pub)
    print(f"\nfresh install: pip {t_pip:.0f} s, colcon build {t_build:.0f} s, total {time.monotonic() - t0:.0f} s",
          file=sys.stderr)


def test_readme_cpu_row_is_what_this_test_installs():
    cmds = readme_cpu_commands()
    flat = [a for c in cmds for a in c]
    assert "torch==2.13.0" in flat and "https://download.pytorch.org/whl/cpu" in flat
    assert "requirements/node.txt" in flat
    text = (REPO / "requirements" / "node.txt").read_text()  # the node's runtime needs, in the named file
    assert {"onnxruntime", "onnx", "onnxscript"} <= set(re.findall(r"^([a-z0-9_-]+)", text, re.M))

"""Start the installed seld_node as a separate process and talk to it over DDS."""
from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

from ros_helpers.ros_env import REPO_ROOT, node_executable


class NodeProcess:
    """The real executable from lib/seld_ros/, with the real params file and extra -p overrides."""

    def __init__(self, params: dict | None = None, params_file: Path | None = None, namespace: str | None = None,
                 env: dict | None = None):
        self.namespace = namespace or f"/t{uuid.uuid4().hex[:8]}"
        args = [str(node_executable()), "--ros-args", "--params-file",
                str(params_file or REPO_ROOT / "config" / "seld.yaml"), "-r", f"__ns:={self.namespace}"]
        for k, v in (params or {}).items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            args += ["-p", f"{k}:={v}"]
        self.args = args
        self._env = dict(os.environ, **(env or {}))
        self.proc: subprocess.Popen | None = None

    def topic(self, name: str) -> str:
        return f"{self.namespace}/seld_node/{name}"

    def start(self) -> "NodeProcess":
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=self._env, start_new_session=True)
        return self

    def wait_exit(self, timeout: float = 60.0) -> tuple[int, str]:
        out, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out

    def interrupt(self, timeout: float = 30.0) -> tuple[int, str]:
        """SIGINT (what Ctrl-C and `ros2 launch` send), then collect the exit code and output."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.wait_exit(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
            raise AssertionError(f"node did not exit within {timeout} s of SIGINT:\n{out[-3000:]}")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def spin_until(node, predicate, timeout: float) -> bool:
    import rclpy

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        rclpy.spin_once(node, timeout_sec=0.02)
    return predicate()

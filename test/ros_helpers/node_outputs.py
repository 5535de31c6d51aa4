"""Subscribe to everything a seld_node under test publishes and keep it in lists."""
from __future__ import annotations


class NodeOutputs:
    """``events`` (SoundEventArray), ``markers`` (MarkerArray) and ``diags`` (this node's diagnostic values as a
    dict, plus its level (0 OK, 1 WARN, 2 ERROR) under ``_level`` and message under ``_message``) received from the
    node of a NodeProcess, in arrival order."""

    def __init__(self, ros, proc):
        from diagnostic_msgs.msg import DiagnosticArray
        from visualization_msgs.msg import MarkerArray

        from seld_ros.msg import SoundEventArray

        self.ros, self.proc = ros, proc
        self.events, self.markers, self.diags = [], [], []
        self.subs = [
            ros.create_subscription(SoundEventArray, proc.topic("events"), self.events.append, 1000),
            ros.create_subscription(MarkerArray, proc.topic("markers"), self.markers.append, 1000),
            ros.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 100),
        ]

    def wait_matched(self, timeout: float = 30.0) -> bool:
        """Spin until this process has discovered the node's events publisher. Needed when the audio comes from a
        third process: the node may publish its frames before our subscription is matched, and a volatile
        topic does not replay them."""
        import time

        import rclpy

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.ros.count_publishers(self.proc.topic("events")) > 0:
                return True
            rclpy.spin_once(self.ros, timeout_sec=0.05)
        return False

    def _on_diag(self, msg):
        for st in msg.status:  # /diagnostics is global: keep only this node's status
            if st.name.startswith(f"{self.proc.namespace}/seld_node:"):
                d = {kv.key: kv.value for kv in st.values}
                d["_level"] = int.from_bytes(st.level, "little") if isinstance(st.level, bytes) else int(st.level)
                d["_message"] = st.message
                self.diags.append(d)

    def close(self):
        for s in self.subs:
            self.ros.destroy_subscription(s)

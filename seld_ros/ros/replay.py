"""The ROS half of seld_replay (seld_ros/cli/replay.py): start a seld_node, publish audio into it over DDS paced by
bag time, and collect what it publishes. Reading the bag and comparing with the offline evaluation are the CLI's.

MultichannelAudio messages are published from their CDR bytes (as stored in the bag, or encoded here from decoded
audio_common chunks: no re-encoding of stored messages), followed by 20 ms of silence so the last frame completes.
"""
from __future__ import annotations

import math
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message, serialize_message
from visualization_msgs.msg import MarkerArray

from seld_ros.constants import LABEL_HOP_S, NS
from seld_ros.msg import MultichannelAudio, SoundEventArray
from seld_ros.ros.conversions import BUILD, time_to_ns

END_PADDING_S = 0.02
NODE_START_WAIT_S = 120.0  # extra wait for a node seld_replay starts itself: model load, first-start ONNX export


class ReplayError(RuntimeError):
    """The replay cannot go on (the node exited, nobody listens on the input topic); the message says why."""


@dataclass
class Played:
    """What the node published while the audio was played: (stamp ns, message, CDR bytes) per message."""

    events: list = field(default_factory=list)
    markers: list = field(default_factory=list)
    play_seconds: float = 0.0
    audio_seconds: float = 0.0
    expected_frames: int = 0
    node_diagnostics: dict = field(default_factory=dict)  # the node's latest /diagnostics values (and "message")

    def why_frames_are_missing(self) -> str:
        """The node's own account (its /diagnostics) of why it published fewer frames than the audio holds."""
        d = self.node_diagnostics
        if not d:
            return "no /diagnostics from the node (is it running, and under the name given by --node?)"
        rejected = {k[len("chunks_rejected_"):]: v for k, v in d.items()
                    if k.startswith("chunks_rejected_") and v not in ("0", "")}
        parts = [f"node says: {d.get('message', '')}", f"chunks received {d.get('chunks_in', '?')}"]
        if rejected:
            parts.append("rejected " + ", ".join(f"{k} {v}" for k, v in rejected.items())
                         + f" (the node is a {d.get('front_end', '?')} model taking {d.get('input_channels', '?')}"
                         " channels)")
        if d.get("lost_audio_s", "0.000") != "0.000":
            parts.append(f"lost audio {d['lost_audio_s']} s")
        return "; ".join(parts)


def encode_audio(chunks) -> list:
    """[(bag time ns, MultichannelAudio CDR bytes)] of decoded audio chunks (seld_ros.bag.audio.BagChunk)."""
    return [(c.bag_time_ns, bytes(serialize_message(BUILD.audio(c.samples, c.sample_rate, c.layout,
                                                                  c.first_sample_index, c.stamp_ns, c.frame_id))))
            for c in chunks]


def start_node(node_name: str, backend: str, bundle: str, params_file: str, log_path: Path) -> subprocess.Popen:
    """The installed seld_node in replay mode (back-pressure, nothing dropped), named ``node_name``."""
    from ament_index_python.packages import get_package_prefix  # where the installed node lives

    exe = Path(get_package_prefix("seld_ros")) / "lib" / "seld_ros" / "seld_node"
    share = Path(get_package_prefix("seld_ros")) / "share" / "seld_ros"
    cmd = [str(exe), "--ros-args", "--params-file", params_file or str(share / "config" / "seld.yaml"),
           "-p", "mode:=replay", "-p", f"backend:={backend}", "-r", f"__node:={node_name.rsplit('/', 1)[1]}"]
    ns = node_name.rsplit("/", 1)[0]
    if ns:
        cmd += ["-r", f"__ns:={ns}"]
    if bundle:
        cmd += ["-p", f"model_file_path:={bundle}"]
    return subprocess.Popen(cmd, stdout=log_path.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def end_padding(last, total: int) -> MultichannelAudio:
    """20 ms of silence after the last sample. A live node has no end of stream to flush at, and at rates other
    than 24 kHz its resampler holds back the last few samples (its filter's look-ahead), so the last output frame
    would never complete (5.0 s of 48 kHz audio: 49 of 50 frames). The offline evaluation's flush treats the
    future as silence too, so both see the same audio; 20 ms is less than a frame and completes no extra one."""
    n = int(round(last.sample_rate * END_PADDING_S))
    stamp = time_to_ns(last.header.stamp) + (total - int(last.first_sample_index)) * NS // max(int(last.sample_rate), 1)
    return BUILD.make("seld_ros/msg/MultichannelAudio", header=BUILD.header(stamp, last.header.frame_id),
                      first_sample_index=total, sample_rate=last.sample_rate, channels=last.channels,
                      layout=last.layout, data=[0.0] * (n * int(last.channels)))


def describe(ev) -> str:
    return (f"#{ev.track_id:<3d} {ev.class_name:<16s} az {math.degrees(ev.azimuth):+7.1f}° "
            f"el {math.degrees(ev.elevation):+6.1f}°  conf {ev.confidence:.2f}"
            + (f"  dist {ev.distance:.1f} m" if math.isfinite(ev.distance) else ""))


def play(audio: list, node_name: str, input_topic: str = "", speed: float = 1.0, timeout: float = 60.0,
         quiet: bool = False, node_proc: subprocess.Popen | None = None, log_path: Path | None = None) -> Played:
    """Publish ``audio`` ([(bag time ns, MultichannelAudio CDR)]) into ``node_name`` at ``speed`` x real time
    (0: as fast as it takes them) and collect its events and markers until its last frame (or ``timeout``)."""
    first = deserialize_message(audio[0][1], MultichannelAudio)
    last = deserialize_message(audio[-1][1], MultichannelAudio)
    total = int(last.first_sample_index) + len(last.data) // max(int(last.channels), 1)
    expected_last = total // int(round(first.sample_rate * LABEL_HOP_S)) - 1
    played = Played(audio_seconds=total / first.sample_rate, expected_frames=expected_last + 1)
    rclpy.init()
    node = rclpy.create_node("seld_replay")
    reliable = QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE)
    in_topic = input_topic or f"{node_name}/audio"
    pub = node.create_publisher(MultichannelAudio, in_topic, reliable)
    t0 = time_to_ns(first.header.stamp)

    def on_events(msg):
        played.events.append((time_to_ns(msg.header.stamp), msg, bytes(serialize_message(msg))))
        if not quiet:
            for ev in msg.events:
                print(f"[{(played.events[-1][0] - t0) / NS:7.2f} s] {describe(ev)}", flush=True)

    node.create_subscription(SoundEventArray, f"{node_name}/events", on_events, reliable)
    node.create_subscription(MarkerArray, f"{node_name}/markers",
                             lambda m: played.markers.append((time.time_ns(), m, bytes(serialize_message(m)))),
                             reliable)
    diagnostics_seen = [0]

    def on_diagnostics(msg):
        for st in msg.status:  # /diagnostics is global: this node's status only
            if st.name.startswith(f"{node_name}:"):
                played.node_diagnostics = {kv.key: kv.value for kv in st.values}
                played.node_diagnostics["message"] = st.message
                diagnostics_seen[0] += 1

    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    try:
        wait_s = timeout + (NODE_START_WAIT_S if node_proc is not None else 0.0)
        print(f"seld_replay: waiting up to {wait_s:.0f} s for "
              + ("the node it started" if node_proc is not None else f"a node ({node_name})")
              + f" to subscribe to {in_topic}" + (f" (node log: {log_path})" if node_proc is not None else ""),
              flush=True)
        deadline = time.monotonic() + wait_s
        while pub.get_subscription_count() == 0:
            if node_proc is not None and node_proc.poll() is not None:
                raise ReplayError(f"the node exited ({node_proc.returncode}); see {log_path}")
            if time.monotonic() > deadline:
                raise ReplayError(f"no node subscribed to {in_topic} within {wait_s:.0f} s (a node started by the "
                                  "launch file listens on its input_topic: pass it as --input-topic)")
            rclpy.spin_once(node, timeout_sec=0.05)
        print(f"seld_replay: playing {len(audio)} audio messages ({played.audio_seconds:.1f} s) into "
              f"{in_topic} at {'max speed' if speed <= 0 else f'{speed:g}x'}", flush=True)
        t_start = time.monotonic()
        bag_t0 = audio[0][0]
        for bag_t, raw in audio:
            if speed > 0:
                due = t_start + (bag_t - bag_t0) / NS / speed
                while time.monotonic() < due:
                    rclpy.spin_once(node, timeout_sec=max(0.0, min(0.01, due - time.monotonic())))
            pub.publish(deserialize_message(raw, MultichannelAudio))
            rclpy.spin_once(node, timeout_sec=0.0)
        pub.publish(end_padding(last, total))
        played.play_seconds = time.monotonic() - t_start
        end = time.monotonic() + timeout
        while time.monotonic() < end and not (played.events and played.events[-1][1].frame_index >= expected_last):
            rclpy.spin_once(node, timeout_sec=0.05)
        for _ in range(20):
            rclpy.spin_once(node, timeout_sec=0.01)
        if not (played.events and played.events[-1][1].frame_index >= expected_last):
            seen, until = diagnostics_seen[0], time.monotonic() + 3.0  # the node's next status: why
            while diagnostics_seen[0] == seen and time.monotonic() < until:
                rclpy.spin_once(node, timeout_sec=0.05)
    finally:
        node.destroy_node()
        rclpy.shutdown()
    return played

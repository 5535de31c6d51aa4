"""seld_replay: play a bag's audio into a running seld_node over DDS, record what the node publishes,
and compare it with the offline evaluation of the same bag.

    ros2 run seld_ros seld_replay demo_bag --out runs/replay [--speed 1.0] [--start-node --bundle B]
    ros2 run seld_ros seld_replay demo_bag --input-topic /audio --node /seld_node   # node from the launch file
    ros2 run seld_ros seld_replay recording.bag --start-node --bundle seld_ros/models/stereo_default.pt

* The bag: rosbag2 with MultichannelAudio (any layout: FOA, stereo, ...), or an audio_common recording (ros-drivers
  AudioDataStamped / AudioData raw PCM with an AudioInfo topic or the --sample-* options, mgonzs13 AudioStamped),
  rosbag2 or a ROS 1 .bag. audio_common audio is decoded, its sample index counted from the bytes (as seld-eval-bag
  does) and sent as MultichannelAudio (layout by channel count: 2 stereo, 4 foa_acn_sn3d, or --layout).
* MultichannelAudio messages are published as they are stored (raw CDR bytes -> rclpy message, no re-encoding),
  on the node's `~/audio` topic (or `--input-topic`, e.g. the launch file's `input_topic`), paced by their bag
  timestamps at `--speed` x real time (`--speed 0`: as fast as the node takes them; use the node's `mode: replay`
  for that, which applies back-pressure instead of dropping), followed by 20 ms of silence so the last frame
  completes.
* Every SoundEventArray the node publishes is printed as it arrives and written, with the markers, to
  `<out>/node_outputs` (rosbag2, mcap).
* With `--compare`, the bag is also evaluated offline (`seld_ros.bag.evaluate`, the same pipeline without ROS) and
  the two are compared frame by frame: per-class event counts and directions.
"""
from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import rclpy
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message, serialize_message
from visualization_msgs.msg import MarkerArray

from seld_ros.constants import LABEL_HOP_S
from seld_ros.msg import MultichannelAudio, SoundEventArray

NS = 1_000_000_000


def build_parser() -> argparse.ArgumentParser:
    from seld_ros.audio.pcm import PCM_FORMATS
    from seld_ros.cli import add_alias

    p = argparse.ArgumentParser(prog="seld_replay", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bag", help="rosbag2 directory (mcap or sqlite3) or ROS 1 .bag with MultichannelAudio or "
                               "audio_common audio")
    p.add_argument("--out", default="runs/replay", help="output directory (default: %(default)s)")
    p.add_argument("--audio-topic", default="",
                   help="audio topic in the bag (default: the bag's only audio topic)")
    p.add_argument("--node", default="/seld_node",
                   help="fully qualified name of the node to feed; its events are read from <node>/events "
                        "(default: %(default)s)")
    p.add_argument("--input-topic", default="",
                   help="topic to publish the audio on, e.g. the launch file's input_topic (default: <node>/audio)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="playback speed: 1 = real time, 0 = as fast as the node takes it (default: %(default)s)")
    add_alias(p, "--rate", "--speed")
    p.add_argument("--start-node", action="store_true",
                   help="start the installed seld_node for the replay (default: feed a running one)")
    p.add_argument("--bundle", default="",
                   help="model bundle for --start-node / --compare (default: the shipped model)")
    p.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime", "tensorrt"),
                   help="backend for --start-node / --compare (default: %(default)s)")
    p.add_argument("--params-file", default="",
                   help="params file for --start-node (default: the installed config/seld.yaml)")
    p.add_argument("--compare", action="store_true",
                   help="also evaluate the bag offline and compare (default: off)")
    p.add_argument("--quiet", action="store_true", help="do not print every event (default: printed)")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds to wait for a node to subscribe (with --start-node: plus its start-up) and for "
                        "its last frame (default: %(default)s)")
    g = p.add_argument_group("raw audio topics (audio_common; default: the format from an AudioInfo topic in the bag)")
    g.add_argument("--sample-rate", type=int, default=0, help="sample rate in Hz (default: from AudioInfo)")
    g.add_argument("--channels", type=int, default=0, help="channel count (default: from AudioInfo)")
    g.add_argument("--sample-format", choices=sorted(PCM_FORMATS), default="",
                   help="PCM sample format (default: from AudioInfo)")
    g.add_argument("--layout", default="", help="channel layout (default by channels: 4 foa_acn_sn3d, 2 stereo)")
    return p


def _args(argv):
    return build_parser().parse_args(argv)


def _pcm(args):
    from seld_ros.bag.audio import PcmFormat

    return PcmFormat(args.sample_rate, args.channels, args.sample_format, args.layout)


def _read_audio(bag: str, topic: str, pcm=None):
    """[(bag time ns, MultichannelAudio CDR bytes)] of the bag's audio topic: stored bytes for MultichannelAudio in
    a rosbag2, decoded and re-encoded for audio_common and ROS 1 bags."""
    from seld_ros.bag.audio import iter_audio, pick_audio_topic
    from seld_ros.bag.io import BagError, connections_for, open_bag
    from seld_ros.bag.messages import AUDIO_MSGTYPE

    try:
        with open_bag(bag) as reader:
            topic, msgtype = pick_audio_topic(reader, topic or None, bag)
            if msgtype == AUDIO_MSGTYPE and not reader.ros1 and not (pcm and pcm.layout):
                return [(t, bytes(raw)) for _, t, raw in reader.messages(connections=connections_for(reader, topic))]
        from seld_ros.ros.conversions import audio_to_msg

        return [(c.bag_time_ns, bytes(serialize_message(audio_to_msg(c.samples, c.sample_rate, c.layout,
                                                                      c.first_sample_index, c.stamp_ns,
                                                                      c.frame_id))))
                for c in iter_audio(bag, topic, pcm, (pcm.layout or None) if pcm else None)]
    except BagError as exc:
        raise SystemExit(f"seld_replay: {exc}") from None


def _start_node(args, log_path: Path) -> subprocess.Popen:
    from ament_index_python.packages import get_package_prefix

    exe = Path(get_package_prefix("seld_ros")) / "lib" / "seld_ros" / "seld_node"
    share = Path(get_package_prefix("seld_ros")) / "share" / "seld_ros"
    cmd = [str(exe), "--ros-args", "--params-file", args.params_file or str(share / "config" / "seld.yaml"),
           "-p", "mode:=replay", "-p", f"backend:={args.backend}", "-r", f"__node:={args.node.rsplit('/', 1)[1]}"]
    ns = args.node.rsplit("/", 1)[0]
    if ns:
        cmd += ["-r", f"__ns:={ns}"]
    if args.bundle:
        cmd += ["-p", f"model_file_path:={args.bundle}"]
    return subprocess.Popen(cmd, stdout=log_path.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


END_PADDING_S = 0.02


def _end_padding(last, total: int) -> MultichannelAudio:
    """20 ms of silence after the last sample. A live node has no end of stream to flush at, and at rates other
    than 24 kHz its resampler holds back the last few samples (its filter's look-ahead), so the last output frame
    would never complete (5.0 s of 48 kHz audio: 49 of 50 frames). The offline evaluation's flush treats the
    future as silence too, so both see the same audio; 20 ms is less than a frame and completes no extra one."""
    n = int(round(last.sample_rate * END_PADDING_S))
    msg = MultichannelAudio()
    msg.header.frame_id = last.header.frame_id
    stamp = last.header.stamp.sec * NS + last.header.stamp.nanosec + \
        (total - int(last.first_sample_index)) * NS // max(int(last.sample_rate), 1)
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp // NS, stamp % NS
    msg.first_sample_index = total
    msg.sample_rate, msg.channels, msg.layout = last.sample_rate, last.channels, last.layout
    msg.data = [0.0] * (n * int(last.channels))
    return msg


def _describe(ev) -> str:
    return (f"#{ev.track_id:<3d} {ev.class_name:<16s} az {math.degrees(ev.azimuth):+7.1f}° "
            f"el {math.degrees(ev.elevation):+6.1f}°  conf {ev.confidence:.2f}"
            + (f"  dist {ev.distance:.1f} m" if math.isfinite(ev.distance) else ""))


def replay(args) -> dict:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    audio = _read_audio(args.bag, args.audio_topic, _pcm(args))
    if not audio:
        raise SystemExit(f"seld_replay: no audio messages in {args.bag}")
    first = deserialize_message(audio[0][1], MultichannelAudio)
    last = deserialize_message(audio[-1][1], MultichannelAudio)
    total = int(last.first_sample_index) + len(last.data) // max(int(last.channels), 1)
    per_frame = int(round(first.sample_rate * LABEL_HOP_S))
    expected_last = total // per_frame - 1
    node_proc = _start_node(args, out / "node.log") if args.start_node else None

    rclpy.init()
    node = rclpy.create_node("seld_replay")
    reliable = QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE)
    in_topic = args.input_topic or f"{args.node}/audio"
    pub = node.create_publisher(MultichannelAudio, in_topic, reliable)
    received: list[tuple[int, SoundEventArray]] = []
    markers: list[tuple[int, MarkerArray]] = []

    def on_events(msg):
        received.append((msg.header.stamp.sec * NS + msg.header.stamp.nanosec, msg))
        if not args.quiet:
            t = (received[-1][0] - (first.header.stamp.sec * NS + first.header.stamp.nanosec)) / NS
            for ev in msg.events:
                print(f"[{t:7.2f} s] {_describe(ev)}", flush=True)

    node.create_subscription(SoundEventArray, f"{args.node}/events", on_events, reliable)
    node.create_subscription(MarkerArray, f"{args.node}/markers",
                             lambda m: markers.append((time.time_ns(), m)), reliable)
    diagnostics = NodeDiagnostics(node, args.node)
    try:
        # a node we start loads its model first (on a first start it also exports it to ONNX: ~20 s)
        wait_s = args.timeout + (120.0 if node_proc is not None else 0.0)
        print(f"seld_replay: waiting up to {wait_s:.0f} s for "
              + ("the node it started" if node_proc is not None else f"a node ({args.node})")
              + f" to subscribe to {in_topic}" + (f" (node log: {out / 'node.log'})" if node_proc else ""),
              flush=True)
        deadline = time.monotonic() + wait_s
        while pub.get_subscription_count() == 0:
            if node_proc is not None and node_proc.poll() is not None:
                raise SystemExit(f"seld_replay: the node exited ({node_proc.returncode}); see {out / 'node.log'}")
            if time.monotonic() > deadline:
                raise SystemExit(f"seld_replay: no node subscribed to {in_topic} within {wait_s:.0f} s (a node "
                                 "started by the launch file listens on its input_topic: pass it as --input-topic)")
            rclpy.spin_once(node, timeout_sec=0.05)
        print(f"seld_replay: playing {len(audio)} audio messages ({total / first.sample_rate:.1f} s) into "
              f"{in_topic} at {'max speed' if args.speed <= 0 else f'{args.speed:g}x'}", flush=True)
        t_start = time.monotonic()
        bag_t0 = audio[0][0]
        for bag_t, raw in audio:
            if args.speed > 0:
                due = t_start + (bag_t - bag_t0) / NS / args.speed
                while time.monotonic() < due:
                    rclpy.spin_once(node, timeout_sec=max(0.0, min(0.01, due - time.monotonic())))
            pub.publish(deserialize_message(raw, MultichannelAudio))
            rclpy.spin_once(node, timeout_sec=0.0)
        pub.publish(_end_padding(last, total))
        play_s = time.monotonic() - t_start
        end = time.monotonic() + args.timeout
        while time.monotonic() < end and not (received and received[-1][1].frame_index >= expected_last):
            rclpy.spin_once(node, timeout_sec=0.05)
        for _ in range(20):
            rclpy.spin_once(node, timeout_sec=0.01)
        if not (received and received[-1][1].frame_index >= expected_last):
            diagnostics.wait_for_next(node, timeout=3.0)  # the node's own account of what it got
    finally:
        if node_proc is not None:
            node_proc.send_signal(signal.SIGINT)
            try:
                node_proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                node_proc.kill()
        node.destroy_node()
        rclpy.shutdown()

    _write_outputs(out / "node_outputs", received, markers, args.node)
    counts = Counter(ev.class_name for _, m in received for ev in m.events)
    summary = {"frames_received": len(received), "expected_frames": expected_last + 1, "play_seconds": play_s,
               "audio_seconds": total / first.sample_rate, "events_per_class": dict(counts),
               "output_bag": str(out / "node_outputs")}
    print(f"seld_replay: node published {len(received)} frames (expected {expected_last + 1}), "
          f"{sum(counts.values())} events: {dict(counts)}")
    if len(received) < expected_last + 1:
        why = diagnostics.explain()
        summary["node_diagnostics"] = diagnostics.last
        print(f"seld_replay: why: {why}" + (f"; node log: {out / 'node.log'}" if node_proc is not None else ""),
              flush=True)
    if args.compare:
        summary["comparison"] = compare_with_offline(args, received, out)
    return summary


class NodeDiagnostics:
    """The fed node's latest /diagnostics status (values by key), to say why frames are missing."""

    def __init__(self, ros_node, node_name: str):
        from diagnostic_msgs.msg import DiagnosticArray

        self.prefix = f"{node_name}:"
        self.last: dict = {}
        self.count = 0
        ros_node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_diagnostics(self, msg) -> None:
        for st in msg.status:
            if st.name.startswith(self.prefix):
                self.last = {kv.key: kv.value for kv in st.values}
                self.last["message"] = st.message
                self.count += 1

    def wait_for_next(self, ros_node, timeout: float) -> None:
        seen, end = self.count, time.monotonic() + timeout
        while self.count == seen and time.monotonic() < end:
            rclpy.spin_once(ros_node, timeout_sec=0.05)

    def explain(self) -> str:
        d = self.last
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


def _write_outputs(path: Path, received, markers, node_name: str) -> None:
    from rosbags.rosbag2 import StoragePlugin, Writer

    from seld_ros.bag import seld_typestore

    if path.exists():
        import shutil

        shutil.rmtree(path)
    ts = seld_typestore()
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        ce = w.add_connection(f"{node_name}/events", "seld_ros/msg/SoundEventArray", typestore=ts)
        cm = w.add_connection(f"{node_name}/markers", "visualization_msgs/msg/MarkerArray", typestore=ts)
        for stamp, msg in received:
            w.write(ce, stamp, serialize_message(msg))
        for stamp, msg in markers:
            w.write(cm, stamp, serialize_message(msg))


def compare_with_offline(args, received, out: Path) -> dict:
    """Node outputs vs the offline pipeline on the same bag: per-class counts and matched directions."""
    import numpy as np

    from seld_ros.bag.evaluate import evaluate_bag

    offline = evaluate_bag(args.bag, bundle=args.bundle or None, out_dir=str(out / "offline"),
                           backend=args.backend, audio_topic=args.audio_topic or None, pcm=_pcm(args),
                           layout=args.layout or None)
    off_frames = {f.frame_index: f for f in offline.frames}
    node_counts, off_counts = Counter(), Counter()
    angles, stamp_err = [], []
    for _, msg in received:
        node_counts.update(ev.class_name for ev in msg.events)
        ref = off_frames.get(msg.frame_index)
        if ref is None:
            continue
        stamp_err.append(abs(msg.header.stamp.sec * NS + msg.header.stamp.nanosec - ref.stamp_ns))
        for ev in msg.events:
            same = [o for o in ref.events if o.track_id == ev.track_id and o.class_id == ev.class_id]
            if same:
                v = np.array([ev.direction.x, ev.direction.y, ev.direction.z])
                angles.append(math.degrees(math.acos(float(np.clip(v @ same[0].doa, -1, 1)))))
    for f in offline.frames:
        off_counts.update(e.class_name for e in f.events)
    classes = sorted(set(node_counts) | set(off_counts))
    rel = {c: abs(node_counts[c] - off_counts[c]) / max(off_counts[c], 1) for c in classes}
    result = {
        "node_events_per_class": dict(node_counts), "offline_events_per_class": dict(off_counts),
        "max_relative_count_difference": max(rel.values()) if rel else 0.0,
        "max_direction_difference_deg": max(angles) if angles else 0.0,
        "matched_events": len(angles), "max_stamp_difference_ns": max(stamp_err) if stamp_err else 0,
        "frames_compared": len(stamp_err),
        "agree": (not rel or max(rel.values()) <= 0.02) and (not angles or max(angles) <= 1.0)
        and (not stamp_err or max(stamp_err) == 0),
        "offline_outputs": str(out / "offline"),
    }
    print(f"seld_replay: node vs offline: count difference {result['max_relative_count_difference'] * 100:.1f} % "
          f"(max per class), direction difference {result['max_direction_difference_deg']:.3f}° over "
          f"{len(angles)} matched events, stamps identical: {not stamp_err or max(stamp_err) == 0} "
          f"-> {'AGREE' if result['agree'] else 'DISAGREE'}")
    return result


def main(argv=None) -> int:
    args = _args(sys.argv[1:] if argv is None else argv)
    # Ctrl-C / SIGTERM: stop the node it started and leave with 130, without a traceback
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        summary = replay(args)
    except KeyboardInterrupt:
        print("seld_replay: interrupted", file=sys.stderr, flush=True)
        return 130
    import json

    Path(args.out, "replay_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    if args.compare and not summary["comparison"]["agree"]:
        return 2
    return 0 if summary["frames_received"] >= summary["expected_frames"] else 3


if __name__ == "__main__":
    sys.exit(main())

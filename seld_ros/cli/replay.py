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
import json
import math
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer

from seld_ros.bag.audio import PCM_FORMATS, PcmFormat, iter_audio, pick_audio_topic
from seld_ros.bag.evaluate import evaluate_bag
from seld_ros.bag.io import BagError, connections_for, open_bag
from seld_ros.bag.types import seld_typestore
from seld_ros.cli import add_alias
from seld_ros.messages import AUDIO_MSGTYPE, EVENTS_MSGTYPE, MARKERS_MSGTYPE, time_to_ns


def build_parser() -> argparse.ArgumentParser:
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
                   help="seconds to wait for a node to subscribe (with --start-node: plus 120 s for its start-up) "
                        "and for its last frame (default: %(default)s)")
    g = p.add_argument_group("raw audio topics (audio_common; default: the format from an AudioInfo topic in the bag)")
    g.add_argument("--sample-rate", type=int, default=0, help="sample rate in Hz (default: from AudioInfo)")
    g.add_argument("--channels", type=int, default=0, help="channel count (default: from AudioInfo)")
    g.add_argument("--sample-format", choices=sorted(PCM_FORMATS), default="",
                   help="PCM sample format (default: from AudioInfo)")
    g.add_argument("--layout", default="", help="channel layout (default by channels: 4 foa_acn_sn3d, 2 stereo)")
    return p


def _pcm(args) -> PcmFormat:
    return PcmFormat(args.sample_rate, args.channels, args.sample_format, args.layout)


def read_audio(bag: str, topic: str, pcm: PcmFormat | None = None) -> list:
    """[(bag time ns, MultichannelAudio CDR bytes)] of the bag's audio topic: stored bytes for MultichannelAudio in
    a rosbag2, decoded and re-encoded for audio_common and ROS 1 bags."""
    with open_bag(bag) as reader:
        topic, msgtype = pick_audio_topic(reader, topic or None, bag)
        if msgtype == AUDIO_MSGTYPE and not reader.ros1 and not (pcm and pcm.layout):
            return [(t, bytes(raw)) for _, t, raw in reader.messages(connections=connections_for(reader, topic))]
    from seld_ros.ros import replay as ros_replay  # imports rclpy: only when there is audio to encode

    return ros_replay.encode_audio(iter_audio(bag, topic, pcm, (pcm.layout or None) if pcm else None))


def replay(args) -> dict:
    from seld_ros.ros import replay as ros_replay  # the ROS half (start the node, publish, collect): imports rclpy

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        audio = read_audio(args.bag, args.audio_topic, _pcm(args))
    except BagError as exc:
        raise SystemExit(f"seld_replay: {exc}") from None
    if not audio:
        raise SystemExit(f"seld_replay: no audio messages in {args.bag}")
    node_proc = None
    if args.start_node:
        node_proc = ros_replay.start_node(args.node, args.backend, args.bundle, args.params_file, out / "node.log")
    try:
        played = ros_replay.play(audio, args.node, args.input_topic, args.speed, args.timeout, args.quiet,
                                 node_proc, out / "node.log")
    except ros_replay.ReplayError as exc:
        raise SystemExit(f"seld_replay: {exc}") from None
    finally:
        if node_proc is not None:
            node_proc.send_signal(signal.SIGINT)
            try:
                node_proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                node_proc.kill()
    _write_outputs(out / "node_outputs", played, args.node)
    counts = Counter(ev.class_name for _, m, _raw in played.events for ev in m.events)
    summary = {"frames_received": len(played.events), "expected_frames": played.expected_frames,
               "play_seconds": played.play_seconds, "audio_seconds": played.audio_seconds,
               "events_per_class": dict(counts), "output_bag": str(out / "node_outputs")}
    print(f"seld_replay: node published {len(played.events)} frames (expected {played.expected_frames}), "
          f"{sum(counts.values())} events: {dict(counts)}")
    if len(played.events) < played.expected_frames:
        summary["node_diagnostics"] = played.node_diagnostics
        print(f"seld_replay: why: {played.why_frames_are_missing()}"
              + (f"; node log: {out / 'node.log'}" if node_proc is not None else ""), flush=True)
    if args.compare:
        summary["comparison"] = compare_with_offline(args, played.events, out)
    return summary


def _write_outputs(path: Path, played, node_name: str) -> None:
    """The node's events and markers as a rosbag2 (mcap), from the CDR bytes it published."""
    if path.exists():
        shutil.rmtree(path)
    ts = seld_typestore()
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        ce = w.add_connection(f"{node_name}/events", EVENTS_MSGTYPE, typestore=ts)
        cm = w.add_connection(f"{node_name}/markers", MARKERS_MSGTYPE, typestore=ts)
        for stamp, _msg, raw in played.events:
            w.write(ce, stamp, raw)
        for stamp, _msg, raw in played.markers:
            w.write(cm, stamp, raw)


def compare_with_offline(args, received, out: Path) -> dict:
    """Node outputs vs the offline pipeline on the same bag: per-class counts and matched directions."""
    offline = evaluate_bag(args.bag, bundle=args.bundle or None, out_dir=str(out / "offline"),
                           backend=args.backend, audio_topic=args.audio_topic or None, pcm=_pcm(args),
                           layout=args.layout or None)
    off_frames = {f.frame_index: f for f in offline.frames}
    node_counts, off_counts = Counter(), Counter()
    angles, stamp_err = [], []
    for _, msg, _raw in received:
        node_counts.update(ev.class_name for ev in msg.events)
        ref = off_frames.get(msg.frame_index)
        if ref is None:
            continue
        stamp_err.append(abs(time_to_ns(msg.header.stamp) - ref.stamp_ns))
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
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    # Ctrl-C / SIGTERM: stop the node it started (replay's finally) and leave with 130, without a traceback
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        summary = replay(args)
    except KeyboardInterrupt:
        print("seld_replay: interrupted", file=sys.stderr, flush=True)
        return 130
    Path(args.out, "replay_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    if args.compare and not summary["comparison"]["agree"]:
        return 2
    return 0 if summary["frames_received"] >= summary["expected_frames"] else 3


if __name__ == "__main__":
    sys.exit(main())

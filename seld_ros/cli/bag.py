"""seld-bag: rosbag2 (mcap / sqlite3) tools without ROS.

    seld-bag from-dcase scene.wav scene.csv out_bag [--chunk-ms 100] [--layout foa_acn_sn3d] [--storage mcap]
    seld-bag from-dcase stereo.wav stereo.csv out_bag --audio-common ros2   # as an audio_common driver records
    seld-bag from-dcase stereo.wav - out.bag --audio-common ros1            # a ROS 1 bag (audio_capture)
    seld-bag to-wav out_bag back.wav [--audio-topic /audio]
    seld-bag info out_bag                # also ROS 1 .bag files (audio_common_msgs/AudioData)

from-dcase writes MultichannelAudio chunks (stamps = --start-time + sample offsets, running first_sample_index,
bag time = header stamp) and, when a CSV is given ('-' for none), the reference events as one SoundEventArray per
100 ms label frame on the ground-truth topic. to-wav writes the audio back as a float32 wav (bit-exact); gaps in
first_sample_index are zero-filled and overlaps dropped, each with a warning. docs/bags.md has the details.
"""
from __future__ import annotations

import argparse
import json
import sys

from seld_ros.bag.audio import KNOWN_LAYOUTS, PcmFormat, bag_info
from seld_ros.bag.convert import (
    AUDIO_COMMON_TOPICS,
    DEFAULT_AUDIO_TOPIC,
    PCM_WRITE_FORMATS,
    DEFAULT_FRAME_ID,
    DEFAULT_GT_TOPIC,
    DEFAULT_START_TIME_S,
)
from seld_ros.bag.convert import from_dcase, to_wav
from seld_ros.bag.io import STORAGES, BagError
from seld_ros.cli import add_alias
from seld_ros.cli.eval_bag import add_pcm_options


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seld-bag", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="{from-dcase,to-wav,info}")

    f = sub.add_parser("from-dcase", help="wav (+ DCASE CSV) -> bag", description="wav (+ DCASE CSV) -> bag")
    f.add_argument("wav", help="multichannel wav (8/16/24/32-bit integer or float)")
    f.add_argument("csv", help="DCASE label CSV (2024 format: distances in cm; others auto-detected), or '-' for none")
    f.add_argument("out_bag", help="bag folder to create")
    f.add_argument("--chunk-ms", type=float, default=100.0, help="audio per message in ms (default: %(default)s)")
    f.add_argument("--start-time", type=float, default=DEFAULT_START_TIME_S,
                   help=f"acquisition time of the first sample, unix seconds (default: {DEFAULT_START_TIME_S:.0f})")
    f.add_argument("--layout", choices=sorted(KNOWN_LAYOUTS), default=None,
                   help="channel layout written in the messages (default by channels: 4 foa_acn_sn3d, 2 stereo, "
                        "1 mono)")
    f.add_argument("--storage", choices=STORAGES, default="mcap", help="bag storage (default: %(default)s)")
    f.add_argument("--audio-topic", default=None,
                   help=f"audio topic to write (default: {DEFAULT_AUDIO_TOPIC}; with --audio-common "
                        f"{AUDIO_COMMON_TOPICS['ros2']} (ros2) or {AUDIO_COMMON_TOPICS['ros1']} (ros1))")
    f.add_argument("--audio-common", choices=("ros2", "ros1"), default=None,
                   help="write the audio as ros-drivers audio_common raw PCM (AudioDataStamped in a rosbag2, or "
                        "AudioData in a ROS 1 .bag) plus an AudioInfo, instead of MultichannelAudio (default: off)")
    f.add_argument("--pcm-format", choices=PCM_WRITE_FORMATS, default="S16LE",
                   help="PCM sample format with --audio-common (default: %(default)s)")
    f.add_argument("--gt-topic", default=DEFAULT_GT_TOPIC, help="ground-truth topic to write (default: %(default)s)")
    f.add_argument("--frame-id", default=DEFAULT_FRAME_ID, help="frame_id of the messages (default: %(default)s)")
    f.add_argument("--classes", default=None, help="comma-separated class names in index order (default: STARSS23)")
    f.add_argument("--overwrite", action="store_true", help="replace out_bag if it exists (default: refuse)")

    w = sub.add_parser("to-wav", help="bag audio -> float32 wav", description="bag audio -> float32 wav")
    w.add_argument("bag", help="rosbag2 folder, .mcap or .db3, or a ROS 1 .bag")
    w.add_argument("out_wav", help="wav file to write")
    w.add_argument("--audio-topic", default=None, help="audio topic (default: the bag's only audio topic)")
    add_alias(w, "--topic", "--audio-topic")
    add_pcm_options(w, "raw audio topics (audio_common; default: the format from an AudioInfo topic in the bag)")

    i = sub.add_parser("info", help="topics, audio format and continuity of a bag",
                       description="topics, audio format and continuity of a bag")
    i.add_argument("bag", help="rosbag2 folder, .mcap or .db3, or a ROS 1 .bag")
    i.add_argument("--json", action="store_true", help="print JSON (default: text)")
    add_pcm_options(i, "raw audio topics (audio_common; default: the format from an AudioInfo topic in the bag)")
    return p


def pcm_from_args(args) -> PcmFormat:
    return PcmFormat(args.sample_rate, args.channels, args.sample_format, args.layout)


def _print_info(info: dict) -> None:
    print(f"bag {info['path']} ({info['format']}): {info['messages']} messages, {info['duration_s']:.2f} s")
    for topic, d in info["topics"].items():
        print(f"  {topic:<28} {d['type']:<40} {d['count']:>7}")
    for topic, a in info["audio"].items():
        if "error" in a:
            print(f"audio {topic}: {a['error']}")
            continue
        if not a.get("messages"):
            print(f"audio {topic}: no messages")
            continue
        print(f"audio {topic}: {a['channels']} ch {a['layout']} @ {a['sample_rate']} Hz, {a['duration_s']:.2f} s in "
              f"{a['messages']} chunks of {a['chunk_ms']:.1f} ms, first_sample_index {a['first_sample_index']}, "
              f"frame_id '{a['frame_id']}'")
        if a["gaps"] or a["overlaps"]:
            print(f"  discontinuities: {a['gaps']} gaps ({a['gap_samples']} samples), {a['overlaps']} overlaps")
            for line in a["issues"]:
                print(f"    {line}")
        else:
            print("  continuous (no gaps or overlaps in first_sample_index)")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from seld_ros.cli import setup_logging

    setup_logging("seld-bag")
    try:
        if args.command == "from-dcase":
            classes = tuple(c.strip() for c in args.classes.split(",")) if args.classes else None
            topic = args.audio_topic or (AUDIO_COMMON_TOPICS[args.audio_common] if args.audio_common
                                         else DEFAULT_AUDIO_TOPIC)
            s = from_dcase(args.wav, None if args.csv == "-" else args.csv, args.out_bag, args.chunk_ms,
                           args.start_time, args.layout, args.storage, topic, args.gt_topic,
                           args.frame_id, classes, args.overwrite, audio_common=args.audio_common or "",
                           sample_format=args.pcm_format)
            kind = f" as audio_common {args.pcm_format}" if args.audio_common else ""
            print(f"wrote {s.bag} ({s.storage}): {s.duration_s:.2f} s of {s.channels} ch {s.layout} @ "
                  f"{s.sample_rate} Hz{kind} in {s.audio_messages} messages on {topic}"
                  + (f"; {s.gt_messages} ground-truth frames ({s.gt_events} events) on {args.gt_topic}"
                     if s.gt_messages else ""))
        elif args.command == "to-wav":
            a = to_wav(args.bag, args.out_wav, args.audio_topic, pcm_from_args(args), args.layout or None)
            print(f"wrote {args.out_wav}: {a.samples.shape[0]} ch {a.layout} @ {a.sample_rate} Hz, "
                  f"{a.duration_s:.2f} s from {a.chunks} messages"
                  + (f"; {len(a.issues)} discontinuities (see warnings)" if a.issues else ""))
        else:
            info = bag_info(args.bag, pcm_from_args(args))
            if args.json:
                print(json.dumps(info, indent=1))
            else:
                _print_info(info)
    except BagError as exc:
        print(f"seld-bag: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

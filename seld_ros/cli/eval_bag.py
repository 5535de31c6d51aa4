"""seld-eval-bag: offline evaluation of a bag with the same pipeline the node runs.

    seld-eval-bag scene_bag --bundle seld_ros/models/default.pt --out runs/eval_bag/scene
    seld-eval-bag recording_bag --audio-common --sample-rate 48000 --channels 4 --sample-format S16LE
    seld-eval-bag recording.bag          # ROS 1 bag (audio_common_msgs/AudioData + AudioInfo)
    seld-eval-bag stereo_bag --bundle seld_ros/models/stereo_default.pt --ref metadata_stereo_test/scene.csv

Every audio message is pushed through seld_ros.pipeline.SeldPipeline in bag order (no pacing, no drops), then
flushed. Writes to --out: results/ (a bag with /seld_node/events and /seld_node/markers stamped by audio time),
pred/<bag>.csv (DCASE 2024 format, source = track id, degrees, distance in cm), and, when the bag has ground truth
on --gt-topic, ref/<bag>.csv, metrics.json and metrics.txt; plus <bag>_doa.png and summary.json. Prints a summary.
With --tags the plot also shows the watch-list events (stars, one legend entry per AudioSet label) and each track's
top AudioSet tag; watch-list events on --gt-topic (a recording of the node) are drawn as pale stars.
Exit status: 0 ok; 2 unreadable bag, bad options or the pipeline cannot start; 3 no audio could be processed
(every chunk rejected, e.g. stereo audio into an FOA model: the summary says why).

A stereo bundle (DCASE 2025 setting) is scored with the DCASE 2025 stereo metric (azimuth folded to [-90, 90] deg,
distance; --metric picks another) and its CSVs are in the DCASE 2025 stereo format. --ref scores against a DCASE
label CSV (any format seld-score reads, e.g. a DCASE 2025 stereo metadata file; frame 0 = the bag's first audio
frame) instead of the ground-truth topic: audio_common recordings have none.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from seld_ros.bag.audio import AUDIO_TYPES, PCM_FORMATS, PcmFormat, bag_path_name, pick_audio_topic
from seld_ros.bag.convert import DEFAULT_GT_TOPIC
from seld_ros.bag.evaluate import evaluate_bag
from seld_ros.bag.io import STORAGES, BagError, open_bag
from seld_ros.bag.messages import AUDIO_COMMON_DATA, AUDIO_COMMON_STAMPED, AUDIO_MSGTYPE, AUDIO_STAMPED
from seld_ros.cli import add_alias, setup_logging
from seld_ros.pipeline import PipelineConfig, PipelineError, SeldPipeline


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seld-eval-bag", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bag", help="rosbag2 folder, .mcap or .db3, or a ROS 1 .bag")
    p.add_argument("--bundle", default="", help="model bundle (default: the shipped seld_ros/models/default.pt)")
    p.add_argument("--out", default=None, help="output folder (default: runs/eval_bag/<bag name>)")
    p.add_argument("--audio-topic", default=None, help="audio topic in the bag (default: the bag's only one)")
    p.add_argument("--gt-topic", default=DEFAULT_GT_TOPIC,
                   help="ground-truth SoundEventArray topic (default: %(default)s)")
    p.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime", "tensorrt"),
                   help="inference backend (default: %(default)s, as the node)")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for inference (default: %(default)s, as the node)")
    p.add_argument("--context-seconds", type=float, default=2.0,
                   help="network window per hop in seconds (default: %(default)s, as the node)")
    p.add_argument("--threshold-scale", type=float, default=1.0,
                   help="multiplies the calibrated thresholds (default: %(default)s)")
    p.add_argument("--frame-id", default="", help="frame_id of the results (default: the audio's)")
    p.add_argument("--storage", choices=STORAGES, default="mcap",
                   help="storage of the results bag (default: %(default)s)")
    p.add_argument("--metric", choices=("auto", "dcase2024", "dcase2025"), default="auto",
                   help="DCASE metric (default: %(default)s = dcase2025 for a stereo bundle, whose directions are "
                        "front-folded, else dcase2024)")
    p.add_argument("--ref", default=None, metavar="CSV",
                   help="reference label CSV instead of --gt-topic (frame 0 = the bag's first audio frame; default: "
                        "the ground-truth topic)")
    p.add_argument("--ref-format", default="auto",
                   choices=("auto", "dcase2024", "dcase2022", "dcase2020", "dcase2025", "tau2019", "pred4", "pred7"),
                   help="format of --ref (default: %(default)s; a DCASE 2025 stereo CSV is recognised by its header)")
    p.add_argument("--no-distance", action="store_true",
                   help="do not score distance (default: scored when the model and the reference have distances)")
    add_alias(p, "--no-dist", "--no-distance")
    p.add_argument("--tags", action="store_true", help="AudioSet tags on the tracks and the watch list, as the "
                   "node's tags.enabled (the node's other tags.* / watch_list.* defaults); the summary lists the top "
                   "tag per class and the watch-list events, the plot draws the watch-list events (stars) and each "
                   "track's top tag, the results bag carries them")
    p.add_argument("--yamnet-weights", default="", help="with --tags: the converted YAMNet weights (default: where "
                   "`seld-pretrained fetch yamnet` puts them)")
    p.add_argument("--no-plot", action="store_true", help="do not draw the DOA plot (default: drawn)")
    p.add_argument("--no-results-bag", action="store_true", help="do not write the results bag (default: written)")
    p.add_argument("--quiet", action="store_true", help="no progress bar (default: shown on long bags)")
    add_pcm_options(p, "raw audio topics: audio_common AudioDataStamped/AudioData (PCM bytes; format from these "
                       "options, else from an AudioInfo topic in the bag) and AudioStamped (format in every message)")
    g = p._action_groups[-1]
    g.add_argument("--audio-common", action="store_true",
                   help="the audio topic must be an audio_common one (default: any audio topic)")
    return p


def add_pcm_options(p: argparse.ArgumentParser, title: str) -> None:
    """--sample-rate / --channels / --sample-format / --layout (old names --rate / --format stay hidden aliases);
    shared with seld-bag."""
    g = p.add_argument_group(title)
    g.add_argument("--sample-rate", type=int, default=0, help="sample rate in Hz (default: from AudioInfo)")
    g.add_argument("--channels", type=int, default=0, help="channel count (default: from AudioInfo)")
    g.add_argument("--sample-format", choices=sorted(PCM_FORMATS), default="",
                   help="PCM sample format (default: from AudioInfo)")
    g.add_argument("--layout", default="", help="channel layout (default by channels: 4 foa_acn_sn3d, 2 stereo); "
                                                "also overrides the layout of MultichannelAudio messages")
    add_alias(p, "--rate", "--sample-rate")
    add_alias(p, "--format", "--sample-format")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging("seld-eval-bag")

    out = Path(args.out) if args.out else Path("runs") / "eval_bag" / bag_path_name(args.bag)
    try:
        with open_bag(args.bag) as reader:
            topic, msgtype = pick_audio_topic(reader, args.audio_topic, args.bag) if not args.audio_common else \
                _audio_common_topic(reader, args.audio_topic, args.bag)
        if args.audio_common and msgtype == AUDIO_MSGTYPE:
            raise BagError(f"{topic} is {msgtype}, not audio_common ({', '.join(AUDIO_TYPES[1:])})")
        t_start = time.perf_counter()
        try:
            pipe = SeldPipeline(PipelineConfig(model_file_path=args.bundle, backend=args.backend,
                                               context_seconds=args.context_seconds, num_threads=args.threads,
                                               event_tags=_event_tags(args)))
            pipe.set_thresholds(args.threshold_scale)
        except Exception as exc:  # noqa: BLE001 - any start-up failure is exit 2 with one line, not a traceback
            detail = str(exc) if isinstance(exc, (PipelineError, ValueError)) else f"{type(exc).__name__}: {exc}"
            raise BagError(f"cannot start the pipeline: {detail}") from None
        if args.tags and pipe.tagger is None:
            raise BagError("--tags: the AudioSet tagger could not start (no converted YAMNet weights, or a stereo "
                           "model); see the line above")
        start_s = time.perf_counter() - t_start
        res = evaluate_bag(args.bag, out_dir=out, audio_topic=topic, gt_topic=args.gt_topic,
                           pcm=PcmFormat(args.sample_rate, args.channels, args.sample_format, args.layout),
                           layout=args.layout or None, frame_id=args.frame_id, progress=not args.quiet,
                           results_bag=not args.no_results_bag, plot=not args.no_plot, storage=args.storage,
                           eval_dist=False if args.no_distance else None, pipeline=pipe, metric=args.metric,
                           reference_csv=args.ref, reference_format=args.ref_format)
    except BagError as exc:
        print(f"seld-eval-bag: error: {exc}", file=sys.stderr)
        return 2
    print(res.summary())
    # the summary's "processed in" is the pass over the bag; a first start also loads (and may export) the model
    print(f"total {start_s + res.wall_seconds:.1f} s: model start-up {start_s:.1f} s"
          + (" (includes the first-start ONNX export, cached for the next run)" if start_s > 5 else "")
          + f" + bag {res.wall_seconds:.1f} s")
    if res.audio_messages and not res.audio_seconds:
        print(f"seld-eval-bag: error: all {res.audio_messages} audio chunks were rejected ("
              + ", ".join(f"{k}: {v}" for k, v in res.rejected.items()) + f"), {res.received_seconds:.1f} s of "
              f"{res.layout} audio: {res.issues[0] if res.issues else '?'}; no results bag, CSV or plot written, only "
              f"{res.outputs.get('summary', 'nothing')}", file=sys.stderr)
        return 3
    return 0


def _event_tags(args) -> dict:
    """The node's tags.* / watch_list.* defaults with tags.enabled = --tags (empty: no tags)."""
    if not args.tags:
        return {}
    from seld_ros.ros.params import NodeSettings
    values = {k: v for k, v in NodeSettings.defaults().values.items() if k.startswith(("tags.", "watch_list."))}
    return dict(values, **{"tags.enabled": True, "tags.yamnet_weights": args.yamnet_weights})


def _audio_common_topic(reader, topic, path):
    if topic:
        return pick_audio_topic(reader, topic, path)
    kinds = (AUDIO_STAMPED,) if reader.audio_common == "mgonzs13" else (AUDIO_COMMON_STAMPED, AUDIO_COMMON_DATA)
    found = sorted({c.topic for c in reader.connections if c.msgtype in kinds})
    if len(found) != 1:
        listed = ": " + ", ".join(found) if found else ""
        raise BagError(f"bag {path} has {len(found) or 'no'} audio_common topics{listed}; "
                       "choose one with --audio-topic")
    return pick_audio_topic(reader, found[0], path)


if __name__ == "__main__":
    sys.exit(main())

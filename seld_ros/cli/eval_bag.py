"""seld-eval-bag: offline evaluation of a bag with the same pipeline the node runs.

    seld-eval-bag scene_bag --bundle seld_ros/models/default.pt --out runs/eval_bag/scene
    seld-eval-bag recording_bag --audio-common --rate 48000 --channels 4 --format S16LE --layout foa_acn_sn3d

Every audio message is pushed through seld_ros.pipeline.SeldPipeline in bag order (no pacing, no drops), then
flushed. Writes to --out: results/ (a bag with /seld_node/events and /seld_node/markers stamped by audio time),
pred/<bag>.csv (DCASE 2024 format, source = track id, degrees, distance in cm), and, when the bag has ground truth
on --gt-topic, ref/<bag>.csv, metrics.json and metrics.txt; plus <bag>_doa.png and summary.json. Prints a summary.
Exit status: 0 ok, 2 unreadable bag / bad options / pipeline cannot start.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from seld_ros.bag.audio import PCM_FORMATS, PcmFormat
from seld_ros.bag.convert import DEFAULT_GT_TOPIC
from seld_ros.bag.io import STORAGES, BagError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seld-eval-bag", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("bag", help="bag folder, .mcap or .db3")
    p.add_argument("--bundle", default="", help="model bundle (default: the shipped seld_ros/models/default.pt)")
    p.add_argument("--out", default=None, help="output folder (default runs/eval_bag/<bag name>)")
    p.add_argument("--audio-topic", default=None, help="default: the bag's only audio topic")
    p.add_argument("--gt-topic", default=DEFAULT_GT_TOPIC, help="ground-truth SoundEventArray topic")
    p.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime", "tensorrt"))
    p.add_argument("--threads", type=int, default=1, help="CPU threads for inference (default 1, as the node)")
    p.add_argument("--context-seconds", type=float, default=2.0, help="network window per hop (as the node)")
    p.add_argument("--threshold-scale", type=float, default=1.0, help="multiplies the calibrated thresholds")
    p.add_argument("--frame-id", default="", help="frame_id of the results (default: the audio's)")
    p.add_argument("--storage", choices=STORAGES, default="mcap", help="storage of the results bag")
    p.add_argument("--no-dist", action="store_true", help="do not score distance")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--no-results-bag", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("audio_common_msgs/AudioDataStamped bags (raw PCM bytes)")
    g.add_argument("--audio-common", action="store_true",
                   help="the audio topic must be audio_common (format from the options below, else from an "
                        "AudioInfo topic in the bag)")
    g.add_argument("--rate", type=int, default=0, help="sample rate, Hz")
    g.add_argument("--channels", type=int, default=0)
    g.add_argument("--format", dest="sample_format", choices=sorted(PCM_FORMATS), default="")
    g.add_argument("--layout", default="", help="channel layout (default by channels: 4 foa_acn_sn3d, 2 stereo); "
                                                "also overrides the layout of MultichannelAudio messages")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="seld-eval-bag: warning: %(message)s")
    from seld_ros.bag.audio import AUDIO_TYPES, bag_path_name, pick_audio_topic
    from seld_ros.bag.evaluate import evaluate_bag
    from seld_ros.bag.io import open_bag
    from seld_ros.bag.messages import AUDIO_MSGTYPE
    from seld_ros.pipeline import PipelineConfig, PipelineError, SeldPipeline

    out = Path(args.out) if args.out else Path("runs") / "eval_bag" / bag_path_name(args.bag)
    try:
        with open_bag(args.bag) as reader:
            topic, msgtype = pick_audio_topic(reader, args.audio_topic, args.bag) if not args.audio_common else \
                _audio_common_topic(reader, args.audio_topic, args.bag)
        if args.audio_common and msgtype == AUDIO_MSGTYPE:
            raise BagError(f"{topic} is {msgtype}, not audio_common ({', '.join(AUDIO_TYPES[1:])})")
        try:
            pipe = SeldPipeline(PipelineConfig(model_file_path=args.bundle, backend=args.backend,
                                               context_seconds=args.context_seconds, num_threads=args.threads))
            pipe.set_thresholds(args.threshold_scale)
        except (PipelineError, ValueError) as exc:
            raise BagError(f"cannot start the pipeline: {exc}") from None
        res = evaluate_bag(args.bag, out_dir=out, audio_topic=topic, gt_topic=args.gt_topic,
                           pcm=PcmFormat(args.rate, args.channels, args.sample_format, args.layout),
                           layout=args.layout or None, frame_id=args.frame_id, progress=not args.quiet,
                           results_bag=not args.no_results_bag, plot=not args.no_plot, storage=args.storage,
                           eval_dist=False if args.no_dist else None, pipeline=pipe)
    except BagError as exc:
        print(f"seld-eval-bag: error: {exc}", file=sys.stderr)
        return 2
    print(res.summary())
    return 0


def _audio_common_topic(reader, topic, path):
    from seld_ros.bag.audio import pick_audio_topic
    from seld_ros.bag.messages import AUDIO_COMMON_DATA, AUDIO_COMMON_STAMPED

    if topic:
        return pick_audio_topic(reader, topic, path)
    found = sorted({c.topic for c in reader.connections if c.msgtype in (AUDIO_COMMON_STAMPED, AUDIO_COMMON_DATA)})
    if len(found) != 1:
        listed = ": " + ", ".join(found) if found else ""
        raise BagError(f"bag {path} has {len(found) or 'no'} audio_common topics{listed}; "
                       "choose one with --audio-topic")
    return pick_audio_topic(reader, found[0], path)


if __name__ == "__main__":
    sys.exit(main())

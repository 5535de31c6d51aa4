"""seld-synth: generate labelled FOA scenes in the DCASE 2024 layout.

    seld-synth --out data/dev --split train --minutes 40 --workers 2 --seed 1
    seld-synth --out data/dev --split test  --num-scenes 10 --stereo

Writes <out>/foa_<split>/<name>.wav (24 kHz, 4 ch ACN/SN3D), <out>/metadata_<split>/<name>.csv
(frame,class,source,azimuth,elevation,distance; degrees, cm), rooms_<split>.json and summary_<split>.json.
Splits use disjoint room-id ranges by default (train 0-9999, val 10000-19999, test 20000-29999), so their room
geometries never coincide; --rooms-from A:B or --rooms-from <out>/rooms_<split>.json chooses rooms explicitly.

Real sounds (a bank built by `seld-bank build-real`):

    seld-synth --out data/real --split train --minutes 60 --bank real:/data/real_bank --level-db -20 20
    seld-synth --out data/mix  --split train --minutes 60 --bank mix:/data/real_bank:0.7
    seld-synth --out data/fa   --split test  --num-scenes 6 --duration 10 --bank real:/data/real_bank --no-targets

draw targets from the bank's split of the same name (--bank-split to choose), add non-target distractors as
unlabelled point sources (--distractors-per-min) and the bank's ambiences as diffuse background, and with
--level-db set each source's level in dB re -30 dBFS (no peak normalisation). <out>/sources_<split>/<name>.json
lists every clip a scene used (role, class, clip, split, source, level, direction).
"""
from __future__ import annotations

import argparse
import json
import math
import sys

from seld_ros.cli import add_alias
from seld_ros.data.synth import SynthConfig, generate_split


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seld-synth", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="dataset root (required)")
    p.add_argument("--split", default="train", help="split name (train / val / test / anything; default: train)")
    n = p.add_mutually_exclusive_group(required=True)
    n.add_argument("--num-scenes", type=int, help="number of scenes (this or --minutes; no default)")
    n.add_argument("--minutes", type=float, help="total audio minutes, rounded up to whole scenes (this or --num-scenes; no default)")
    p.add_argument("--duration", type=float, default=60.0, help="scene length in seconds (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the scenes (default: %(default)s)")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes (default: %(default)s)")
    p.add_argument("--rooms-from", default=None,
                   help="room ids START:END, or a rooms_<split>.json to reuse its rooms (default: per-split range)")
    p.add_argument("--num-rooms", type=int, default=None, help="distinct rooms to cycle through (default: one per scene)")
    p.add_argument("--room-seed", type=int, default=0, help="random seed of the rooms (default: %(default)s)")
    p.add_argument("--bank", default="procedural",
                   help="'procedural', real:DIR (a real-sound bank), mix:DIR:RATIO (real with probability RATIO per "
                        "event, procedural otherwise), or a folder bank/<class>/*.wav (default: %(default)s)")
    p.add_argument("--real-ratio", type=float, default=None,
                   help="fraction of events drawn from the real bank (overrides mix:...:RATIO; with real:DIR < 1 "
                        "mixes in procedural sounds; default: the bank spec's)")
    p.add_argument("--bank-split", choices=("train", "val", "test"), default=None,
                   help="real bank split to draw from (default: --split when it is train / val / test)")
    p.add_argument("--level-db", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                   help="absolute source levels in dB re -30 dBFS active RMS, e.g. -20 20 (default: relative "
                        "levels and a peak-normalised mix)")
    p.add_argument("--distractors-per-min", type=float, default=6.0,
                   help="mean rate of unlabelled non-target sources, banks with distractors (default: %(default)s)")
    p.add_argument("--no-ambience", action="store_true", help="synthetic diffuse noise even if the bank has ambiences (default: real ambience when the bank has it)")
    p.add_argument("--ambience-dirs", type=int, choices=(0, 8), default=0,
                   help="real ambience as W + decorrelated X/Y/Z (0) or as plane waves from a rotated cube (8) (default: %(default)s)")
    p.add_argument("--no-targets", action="store_true",
                   help="distractors and background only (false-alarm test scenes; labels are empty; default: off)")
    p.add_argument("--stereo", action="store_true", help="also write the DCASE2025-style stereo variant (default: off)")
    p.add_argument("--pcm16", action="store_true", help="16-bit PCM wav instead of float32 (default: float32)")
    p.add_argument("--mic", choices=("bformat", "tetra"), default="bformat",
                   help="coincident B-format capsules, or a tetrahedral A-format array converted to B-format (default: %(default)s)")
    p.add_argument("--anechoic", action="store_true", help="direct path only, no reflections and no tail (default: off)")
    p.add_argument("--max-order", type=int, default=3, help="image-source order of the early part (default: %(default)s)")
    p.add_argument("--max-polyphony", type=int, default=3, choices=(1, 2, 3), help="most simultaneous events (default: %(default)s)")
    p.add_argument("--moving-prob", type=float, default=0.35, help="probability that an event moves (default: %(default)s)")
    p.add_argument("--snr", type=float, nargs=2, default=(0.0, 30.0), metavar=("LO", "HI"),
                   help="ambient-noise SNR range in dB (default: 0 30)")
    p.add_argument("--no-noise", action="store_true", help="no ambient noise or ambience (default: off)")
    p.add_argument("--quiet", action="store_true", help="no progress output (default: off)")
    add_alias(p, "--no-progress", "--quiet")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    num = args.num_scenes if args.num_scenes is not None else math.ceil(args.minutes * 60 / args.duration)
    if num < 1:
        print("seld-synth: error: nothing to generate (--num-scenes / --minutes)", file=sys.stderr)
        return 2
    try:
        cfg = SynthConfig(duration_s=args.duration, max_polyphony=args.max_polyphony, max_order=args.max_order,
                          anechoic=args.anechoic, mic=args.mic, moving_prob=args.moving_prob,
                          snr_db=None if args.no_noise else tuple(args.snr),
                          level_db=None if args.level_db is None else tuple(args.level_db),
                          distractors_per_min=args.distractors_per_min, ambience=not args.no_ambience,
                          ambience_dirs=args.ambience_dirs,
                          targets=not args.no_targets)
        summary = generate_split(args.out, args.split, num, cfg, seed=args.seed, workers=args.workers,
                                 rooms_from=args.rooms_from, num_rooms=args.num_rooms, room_seed=args.room_seed,
                                 bank=args.bank, stereo=args.stereo, pcm16=args.pcm16,
                                 progress=not args.quiet, bank_split=args.bank_split,
                                 real_ratio=args.real_ratio)
    except ValueError as exc:
        print(f"seld-synth: error: {exc}", file=sys.stderr)
        return 2
    brief = {k: summary[k] for k in ("split", "scenes", "audio_seconds", "wall_seconds", "events", "moving_events",
                                     "real_events", "distractors", "ambience_clips", "events_per_class", "frames_by_polyphony")}
    print(json.dumps(brief, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

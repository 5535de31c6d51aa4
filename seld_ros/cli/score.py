"""seld-score: DCASE SELD metrics of a folder of predicted CSVs against a folder of reference CSVs.

    seld-score REF_DIR PRED_DIR                                 # DCASE2024 frame-level, distance scored
    seld-score REF_DIR PRED_DIR --pred-distance-unit m          # predictions written in metres
    seld-score REF_DIR PRED_DIR --mode dcase2023                # 1 s segment-level, direction only
    seld-score REF_DIR PRED_DIR --mode dcase2025                # stereo, folded azimuth

Files are paired by name (searched recursively). References and predictions are read in their format's own
distance unit unless told otherwise: centimetres for DCASE2024/2025 (what seld-eval, seld-eval-bag and seld-synth
write), metres for the older formats. No silent cm/m mix-up: a distance column whose values contradict its unit
(all below 10 cm, or a median above 100 m) is refused with a message naming the option to fix it.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seld_ros.classes import STARSS23_CLASSES
from seld_ros.data.dcase import FORMATS, list_label_files, read_labels
from seld_ros.data.labels import LabelError, SceneLabels
from seld_ros.metrics.seld import MODES, MetricsError, SeldEvaluator


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seld-score", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("ref_dir", help="folder of reference CSVs (searched recursively)")
    p.add_argument("pred_dir", help="folder of predicted CSVs, paired with the references by file name")
    p.add_argument("--mode", choices=MODES, default="dcase2024", help="metric definition (default: %(default)s)")
    p.add_argument("--pred-distance-unit", choices=("m", "cm"), default=None,
                   help="unit of the predictions' distance column (default: the format's own, cm for "
                        "DCASE2024/2025 as this project writes them)")
    p.add_argument("--ref-distance-unit", choices=("m", "cm"), default=None,
                   help="unit of the reference distances (default: the format's own, cm for DCASE2024/2025)")
    p.add_argument("--no-distance", action="store_true",
                   help="do not score distance (default: scored in dcase2024/2025 modes)")
    p.add_argument("--ref-format", choices=FORMATS, default="auto",
                   help="reference CSV format (default: %(default)s, detected from the columns)")
    p.add_argument("--pred-format", choices=FORMATS, default="auto",
                   help="prediction CSV format (default: %(default)s, detected from the columns)")
    p.add_argument("--classes", default=None,
                   help="comma-separated class names in index order (default: the 13 STARSS23 classes)")
    p.add_argument("--doa-threshold", type=float, default=20.0,
                   help="angular error in degrees under which a detection counts as localized (default: "
                        "%(default)s)")
    p.add_argument("--reldist-threshold", type=float, default=1.0,
                   help="relative distance error under which a detection counts as localized (default: "
                        "%(default)s)")
    p.add_argument("--official-frame-count", action="store_true",
                   help="evaluate frames 0..last_ref_frame-1 exactly as the official code does (it drops the last "
                        "labelled frame); default evaluates 0..last_ref_frame")
    p.add_argument("--strict", action="store_true",
                   help="fail when a reference has no prediction file (default: score it as an empty prediction)")
    p.add_argument("--json", default=None, help="also write all scores as JSON here (default: not written)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    classes = tuple(c.strip() for c in args.classes.split(",")) if args.classes else STARSS23_CLASSES
    eval_dist = args.mode != "dcase2023" and not args.no_distance
    try:
        refs = list_label_files(args.ref_dir)
        preds = list_label_files(args.pred_dir)
        extra = sorted(set(preds) - set(refs))
        if extra:
            raise LabelError(f"predictions without a reference: {', '.join(extra[:5])}"
                             f"{' ...' if len(extra) > 5 else ''}")
        missing = sorted(set(refs) - set(preds))
        if missing and args.strict:
            raise LabelError(f"{len(missing)} references have no prediction, e.g. {missing[0]}")
        ev = SeldEvaluator(len(classes), args.mode, args.doa_threshold, args.reldist_threshold,
                           eval_dist=eval_dist, official_frame_count=args.official_frame_count, class_names=classes)
        for name in sorted(refs):
            ref = read_labels(refs[name], args.ref_format, classes, args.ref_distance_unit)
            if name in preds:
                pred = read_labels(preds[name], args.pred_format, classes, args.pred_distance_unit,
                                   check_units=eval_dist)
            else:
                pred = SceneLabels.empty(ref.num_frames, classes)
            ev.update(ref, pred, name=name)
        scores = ev.compute()
    except (LabelError, MetricsError) as exc:
        hint = (" (set the unit with --pred-distance-unit m|cm / --ref-distance-unit m|cm, or --no-distance)"
                if "distance_unit" in str(exc) else "")
        print(f"seld-score: error: {exc}{hint}", file=sys.stderr)
        return 2
    print(f"{len(refs)} reference files, {len(refs) - len(missing)} with predictions"
          + (f" ({len(missing)} scored as empty predictions)" if missing else ""))
    print(scores.table())
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(scores.to_dict(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""seld-score: DCASE SELD metrics of a folder of predicted CSVs against a folder of reference CSVs.

    seld-score REF_DIR PRED_DIR --pred-distance-unit m          # DCASE2024 frame-level, distance scored
    seld-score REF_DIR PRED_DIR --mode dcase2023                # 1 s segment-level, direction only
    seld-score REF_DIR PRED_DIR --mode dcase2025 --pred-distance-unit cm   # stereo, folded azimuth

Files are paired by name (searched recursively). References are read in their format's unit (cm for DCASE2024);
the predictions' distance unit must be stated whenever distances are scored -- no silent cm/m mix-up.
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
    p = argparse.ArgumentParser(prog="seld-score", description=__doc__.split("\n\n")[0])
    p.add_argument("ref_dir")
    p.add_argument("pred_dir")
    p.add_argument("--mode", choices=MODES, default="dcase2024")
    p.add_argument("--pred-distance-unit", choices=("m", "cm"), default=None,
                   help="unit of the distance column in the predictions (required when distances are scored)")
    p.add_argument("--ref-distance-unit", choices=("m", "cm"), default=None,
                   help="unit of the reference distances (default: the format's own, cm for DCASE2024/2025)")
    p.add_argument("--no-distance", action="store_true", help="do not score distance (2024 mode)")
    p.add_argument("--ref-format", choices=FORMATS, default="auto")
    p.add_argument("--pred-format", choices=FORMATS, default="auto")
    p.add_argument("--classes", default=None,
                   help="comma-separated class names in index order (default: the 13 STARSS23 classes)")
    p.add_argument("--doa-threshold", type=float, default=20.0)
    p.add_argument("--reldist-threshold", type=float, default=1.0)
    p.add_argument("--official-frame-count", action="store_true",
                   help="evaluate frames 0..last_ref_frame-1 exactly as the official code does (it drops the last "
                        "labelled frame); default evaluates 0..last_ref_frame")
    p.add_argument("--strict", action="store_true", help="fail when a reference has no prediction file")
    p.add_argument("--json", default=None, help="also write all scores as JSON here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    classes = tuple(c.strip() for c in args.classes.split(",")) if args.classes else STARSS23_CLASSES
    eval_dist = args.mode != "dcase2023" and not args.no_distance
    if eval_dist and args.pred_distance_unit is None:
        print("seld-score: error: distances are scored, so the predictions' unit must be explicit: "
              "--pred-distance-unit m or --pred-distance-unit cm (or --no-distance)", file=sys.stderr)
        return 2
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
                pred = read_labels(preds[name], args.pred_format, classes, args.pred_distance_unit or "m",
                                   check_units=eval_dist)
            else:
                pred = SceneLabels.empty(ref.num_frames, classes)
            ev.update(ref, pred, name=name)
        scores = ev.compute()
    except (LabelError, MetricsError) as exc:
        print(f"seld-score: error: {exc}", file=sys.stderr)
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

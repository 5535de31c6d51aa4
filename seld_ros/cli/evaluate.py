"""seld-eval: run a model bundle over a dataset split, write DCASE CSVs, score.

    seld-eval --data data/synth --split test --out runs/eval_test        # the shipped default model
    seld-eval --bundle runs/train/bundle.pt --data data/synth --split test

Writes ``<out>/pred/<clip>.csv`` (DCASE 2024 format), ``<out>/scores.json`` and
prints the per-class table of ``seld_ros.metrics``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seld_ros.cli import add_alias
from seld_ros.data.dcase import write_labels
from seld_ros.data.labels import LabelError
from seld_ros.metrics.seld import score_scenes
from seld_ros.pipeline import DEFAULT_MODEL


def evaluate(bundle_path, data_root, split="test", out=None, merge_angle_deg=20.0, chunk_seconds=None,
             eval_dist=None, progress=True) -> dict:
    import torch

    from seld_ros.model.bundle import load_bundle  # these three import torch: not for --help
    from seld_ros.train.dataset import build_cache, cache_dir, load_cached
    from seld_ros.train.inference import clip_reference, events_to_labels, predict_clip

    b = load_bundle(bundle_path)
    if chunk_seconds is None:
        chunk_seconds = (b.provenance.get("config", {}) or {}).get("data", {}).get("chunk_seconds", 5.0)
    chunk = int(round(float(chunk_seconds) * 10))
    build_cache(data_root, split, b.feature_config, b.class_names, progress=progress)
    clips = load_cached(cache_dir(data_root, b.feature_config) / split)
    dec = b.make_decoder(merge_angle_deg)
    refs, preds = [], []
    out = Path(out) if out else None
    with torch.no_grad():
        for c in clips:
            o = predict_clip(b.model, c.features, chunk)
            p = events_to_labels(dec.decode(o), b.class_names)
            refs.append(clip_reference(c, b.class_names))
            preds.append(p)
            if out:
                write_labels(out / "pred" / f"{c.name}.csv", p)
    has_dist = eval_dist if eval_dist is not None else ("distance" in b.output_names)
    sc = score_scenes(refs, preds, mode="dcase2024", eval_dist=bool(has_dist), names=[c.name for c in clips])
    res = {"bundle": str(bundle_path), "bundle_sha256": b.sha256, "data": str(data_root), "split": split,
           "clips": len(clips), "scores": sc.to_dict()}
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "scores.json").write_text(json.dumps(res, indent=1))
        (out / "scores.txt").write_text(sc.table() + "\n")
    res["table"] = sc.table()
    return res


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="seld-eval", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default="",
                    help="model bundle (default: the shipped seld_ros/models/default.pt)")
    ap.add_argument("--data", required=True, help="dataset root with foa_<split>/ and metadata_<split>/ (required)")
    ap.add_argument("--split", default="test", help="split to evaluate (default: %(default)s)")
    ap.add_argument("--out", default=None, help="output folder for CSVs and scores (default: runs/eval_<split>)")
    ap.add_argument("--merge-angle", type=float, default=20.0,
                    help="merge same-class tracks closer than this many degrees (default: %(default)s)")
    ap.add_argument("--chunk-seconds", type=float, default=None,
                    help="window length in seconds (default: as the bundle was trained)")
    ap.add_argument("--no-distance", action="store_true",
                    help="do not score distance (default: scored when the model has a distance output)")
    add_alias(ap, "--no-dist", "--no-distance")
    ap.add_argument("--quiet", action="store_true", help="no progress bar (default: progress shown)")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from seld_ros.model.bundle import BundleError  # imports torch: not for --help

    bundle = Path(args.bundle or DEFAULT_MODEL).expanduser()
    if not bundle.is_file():
        print(f"seld-eval: error: model bundle not found: {bundle} (resolved to {bundle.resolve()})", file=sys.stderr)
        return 2
    if not Path(args.data).is_dir():
        print(f"seld-eval: error: dataset root not found: {args.data}", file=sys.stderr)
        return 2
    try:
        res = evaluate(bundle, args.data, args.split, args.out or f"runs/eval_{args.split}", args.merge_angle,
                       args.chunk_seconds, False if args.no_distance else None, progress=not args.quiet)
    except (BundleError, LabelError, OSError) as exc:
        print(f"seld-eval: error: {exc}", file=sys.stderr)
        return 2
    print(res["table"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

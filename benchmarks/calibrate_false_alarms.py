#!/usr/bin/env python3
"""Per-class thresholds calibrated on **val** under a false-alarm budget (issue 27: false event-frames per 10 s).

The trainer calibrates each class's threshold for val F20 alone. This script adds a val false-alarm set (real
distractors + ambience from the bank's **val** split, no target, rooms 19000-19099 of the val range) and, for a
penalty lambda, gives each class the grid threshold maximising ``F20_k - lambda * false_k`` (false_k: class k's
event-frames per 10 s on that set, offline). It takes the smallest lambda whose summed false rate is within
``--max-false-per-10s`` and writes a copy of the bundle with those thresholds (content digest recomputed). The
test split is never read: score the result with ``benchmarks/bench_real.py --bundle OUT``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/calibrate_false_alarms.py --bundle runs/yam_partial3g/bundle.pt \
        --val-data data/real_mix --bank data/real_bank --out-bundle runs/yam_partial3g/bundle_fa1.pt
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

LAMBDAS = [0.0, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--val-data", default="data/real_mix")
    ap.add_argument("--bank", default="data/real_bank")
    ap.add_argument("--cache", default="benchmarks/cache/fa_val")
    ap.add_argument("--fa-scenes", type=int, default=18)
    ap.add_argument("--fa-seconds", type=float, default=10.0)
    ap.add_argument("--max-false-per-10s", type=float, default=2.0)
    ap.add_argument("--out-bundle", required=True)
    ap.add_argument("--out", default="benchmarks/results/calibrate_false_alarms.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    from bench_real import load_set, offline_outputs

    from seld_ros.data.synth import SynthConfig, generate_split
    from seld_ros.metrics.seld import score_scenes
    from seld_ros.model.bundle import DIGEST_ALGORITHM, content_digest, load_bundle
    from seld_ros.train.inference import TrackDecoder, events_to_labels

    t0 = time.perf_counter()
    bundle = load_bundle(args.bundle)
    names = list(bundle.class_names)
    fa_root = Path(args.cache) / f"false_alarm_val_{args.fa_scenes}x{args.fa_seconds:g}"
    if not (fa_root / "complete.json").is_file():
        cfg = SynthConfig(duration_s=args.fa_seconds, level_db=(-20.0, 0.0), distractors_per_min=12.0, targets=False)
        generate_split(fa_root, "val", args.fa_scenes, cfg, seed=7, workers=1, rooms_from="19000:19100",
                       bank=f"real:{args.bank}", bank_split="val", progress=False)
        (fa_root / "complete.json").write_text("{}")
    val = load_set(Path(args.val_data), "val", names)
    fa = load_set(fa_root, "val", names)
    out_val = [offline_outputs(bundle, a) for _, a, _ in val]
    out_fa = [offline_outputs(bundle, a) for _, a, _ in fa]
    refs = [r for _, _, r in val]
    fa_seconds = sum(r.num_frames for _, _, r in fa) * 0.1
    mode, merge = bundle.output_mode, 20.0  # Bundle.make_decoder's default, as bench_real decodes
    grid = [round(float(g), 3) for g in np.arange(0.1, 0.951, 0.05)]
    K = len(names)
    f = np.zeros((len(grid), K))
    false = np.zeros((len(grid), K))
    for gi, th in enumerate(grid):
        dec = TrackDecoder(names, th, mode, merge)
        preds = [events_to_labels(dec.decode(o), names).with_num_frames(r.num_frames) for o, r in zip(out_val, refs)]
        f[gi] = np.nan_to_num(score_scenes(refs, preds, mode="dcase2024").f, nan=0.0)
        for o, (_, _, r) in zip(out_fa, fa):
            p = events_to_labels(dec.decode(o), names).with_num_frames(r.num_frames)
            for k in range(K):
                false[gi, k] += int((p.class_id == k).sum())
    false *= 10.0 / fa_seconds
    present = np.array([any(np.any(r.class_id == k) for r in refs) for k in range(K)])
    rows = []
    for lam in LAMBDAS:
        idx = [int(np.argmax(f[:, k] - lam * false[:, k])) if present[k] else int(np.argmin(false[:, k]))
               for k in range(K)]
        th = [grid[i] for i in idx]
        dec_f = float(np.mean([f[i, k] for k, i in enumerate(idx) if present[k]]))
        rows.append({"lambda": lam, "thresholds": th, "val_f20_per_class_mean": dec_f,
                     "val_false_per_10s": float(sum(false[i, k] for k, i in enumerate(idx)))})
        print(f"lambda {lam:<6g} val F20 (class mean) {dec_f:.3f}  val false/10 s {rows[-1]['val_false_per_10s']:.2f}")
    ok = [r for r in rows if r["val_false_per_10s"] <= args.max_false_per_10s]
    pick = ok[0] if ok else rows[-1]
    raw = torch.load(args.bundle, map_location="cpu", weights_only=True)
    raw["thresholds"] = [float(t) for t in pick["thresholds"]]
    raw.setdefault("provenance", {})["thresholds"] = {
        "method": "per-class F20 - lambda * false event-frames per 10 s (benchmarks/calibrate_false_alarms.py)",
        "lambda": pick["lambda"], "max_false_per_10s": args.max_false_per_10s, "val_false_per_10s":
        pick["val_false_per_10s"], "false_alarm_set": f"{args.fa_scenes} x {args.fa_seconds:g} s, bank val split"}
    raw.pop("digest", None)
    raw["digest"] = {"algorithm": DIGEST_ALGORITHM, "sha256": content_digest(raw)}
    Path(args.out_bundle).parent.mkdir(parents=True, exist_ok=True)
    torch.save(raw, args.out_bundle)
    load_bundle(args.out_bundle)  # the digest verifies
    res = {"bundle": args.bundle, "out_bundle": args.out_bundle, "original_thresholds": list(bundle.thresholds),
           "picked": pick, "rows": rows, "fa_seconds": fa_seconds, "val_clips": len(val),
           "seconds": time.perf_counter() - t0}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    print(f"picked lambda {pick['lambda']}: thresholds {pick['thresholds']} -> {args.out_bundle} "
          f"({res['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

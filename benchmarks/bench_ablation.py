"""Issue 5's comparison: AT2SELD with the self-pretrained backbone, AT2SELD from a random backbone, and the
DCASE-baseline CRNN, trained with the same data and budget, scored on the same held-out split.

    .venv/bin/python benchmarks/bench_ablation.py --data data/dev --split test \
        --run at2seld=seld_ros/models/default.pt \
        --run at2seld_scratch=runs/at2seld_scratch/bundle.pt \
        --run dcase_baseline=runs/dcase_baseline/bundle.pt

For every bundle: DCASE 2024 frame-level scores (macro and micro F20, DOAE, LR, ER; per class F20) with the
bundle's own val-calibrated thresholds and the same merge angle for all, plus parameters, MMAC per second of
audio and the training budget recorded in the bundle. Prints a markdown table and writes
benchmarks/results/bench_ablation.json. Training commands: docs/training.md.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from bench_models import measure  # noqa: E402
from common import cpu_model, git_commit  # noqa: E402

from seld_ros.cli.evaluate import evaluate  # noqa: E402
from seld_ros.model.bundle import load_bundle  # noqa: E402

DEFAULT_RUNS = ("at2seld=seld_ros/models/default.pt", "at2seld_scratch=runs/at2seld_scratch/bundle.pt",
                "dcase_baseline=runs/dcase_baseline/bundle.pt")


def budget(b) -> dict:
    """What the bundle says about how it was trained (config and best epoch)."""
    cfg = (b.provenance or {}).get("config", {}) or {}
    t = cfg.get("training", {}) or {}
    steps_per_epoch = None
    if t.get("chunks_per_epoch") and t.get("batch_size"):
        steps_per_epoch = int(t["chunks_per_epoch"]) // int(t["batch_size"])
    return {"epochs": t.get("epochs"), "steps_per_epoch": steps_per_epoch, "batch_size": t.get("batch_size"),
            "lr": t.get("lr"), "data": (cfg.get("data", {}) or {}).get("root"),
            "epochs_trained": (b.provenance or {}).get("epochs_trained"),
            "pretrained_backbone": (cfg.get("model", {}) or {}).get("pretrained_backbone"),
            "val_calibrated": {k: (b.metrics or {}).get("val_calibrated", {}).get(k)
                               for k in ("macro_f", "macro_doa_error", "macro_loc_recall")}}


def row(name: str, r: dict) -> str:
    ma, mi = r["macro"], r["micro"]
    return (f"| {name} | {r['params'] / 1e6:.3f} M | {r['mmac_per_s']:.1f} | {ma['f']:.3f} | {ma['doa_error']:.1f}° | "
            f"{ma['loc_recall']:.2f} | {mi['f']:.3f} | {mi['doa_error']:.1f}° | {mi['loc_recall']:.2f} | "
            f"{ma['error_rate']:.2f} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/dev")
    ap.add_argument("--split", default="test")
    ap.add_argument("--run", action="append", metavar="NAME=BUNDLE",
                    help="a bundle to score (repeatable; default: the three of issue 5)")
    ap.add_argument("--merge-angle", type=float, default=20.0)
    ap.add_argument("--out", default=str(HERE / "results" / "bench_ablation.json"))
    args = ap.parse_args(argv)
    runs = [r.split("=", 1) for r in (args.run or DEFAULT_RUNS)]
    res = {"data": args.data, "split": args.split, "merge_angle_deg": args.merge_angle, "cpu": cpu_model(),
           "commit": git_commit("seld_ros", "benchmarks"), "runs": {}}
    for name, path in runs:
        if not Path(path).is_file():
            print(f"{name}: {path} not found (train it first, docs/training.md)", file=sys.stderr)
            return 2
        b = load_bundle(path)
        cost = measure(b.model, threads=1, reps=3)
        ev = evaluate(path, args.data, args.split, out=None, merge_angle_deg=args.merge_angle, progress=False)
        sc = ev["scores"]
        res["runs"][name] = {"bundle": path, "sha256": b.sha256, "params": cost["params"],
                             "mmac_per_s": cost["mmac_per_s"], "budget": budget(b),
                             "macro": sc["macro"], "micro": sc["micro"],
                             "per_class_f": {c: v.get("f") for c, v in sc["per_class"].items()}}
        print(f"== {name} ({path})\n{ev['table']}\n")
    print(f"{args.split} split of {args.data}, DCASE 2024 frame metrics, 20°:\n")
    print("| model | params | MMAC/s | macro F20 | macro DOAE | macro LR | micro F20 | micro DOAE | micro LR | ER |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in res["runs"].items():
        print(row(name, r))
    classes = list(next(iter(res["runs"].values()))["per_class_f"])
    print("\nper-class F20 (%):\n\n| class | " + " | ".join(res["runs"]) + " |")
    print("|---|" + "---|" * len(res["runs"]))
    for c in classes:
        print(f"| {c} | " + " | ".join(f"{100 * (r['per_class_f'][c] or 0):.1f}" for r in res["runs"].values()) + " |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1, default=float))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Issue 17's comparison: stereo SELD models trained with the same data and budget, scored on the held-out stereo
test split (unseen rooms) with the DCASE 2025 metric (azimuth front-folded, F at 20 deg with the relative distance
threshold 1.0, DOAE, RDE), offline and through the node path; plus the stpACC ablation on val.

    .venv/bin/python benchmarks/bench_stereo.py --data data/stereo \
        --run stereo_at2seld=runs/stereo/at2seld.pt \
        --run two_branch=runs/stereo/two_branch.pt \
        --run dcase2025_baseline=runs/stereo/baseline.pt \
        --ablation stpacc_in=runs/stereo/at2seld.pt --ablation stpacc_out=runs/stereo/at2seld_nostpacc.pt

Training commands (one thread each): docs/training.md "Stereo models".
For every ``--run`` bundle:

* **offline**: the network over each test clip's features (cached by the trainer's feature cache under
  ``<data>/cache``) — a causal bundle over the whole clip in one pass (= its streaming output), a non-causal one in
  the windows it was trained on (``data.chunk_seconds``) — decoded with the bundle's val-calibrated thresholds, no
  tracker. ``runs.<name>.macro`` / ``micro`` / ``per_class`` hold these (``macro.f``, ``macro.rel_dist_error``);
* **node path** (``runs.<name>.node_path``; skipped with ``--no-node``): the clip's stereo audio in 100 ms chunks
  through :class:`seld_ros.pipeline.SeldPipeline` (streaming features, the bundle's inference mode, decoder,
  tracker — what the node and ``seld-eval-bag`` run), the published events scored;
* parameters and MMAC per second of audio (``bench_models.measure``), the training budget from the bundle.

``--ablation NAME=BUNDLE`` (two or more): the same scores on the val split (``--ablation-split``), offline; the
bundles should differ in one thing (here ``data.features.stpacc``). Writes benchmarks/results/bench_stereo.json.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from bench_ablation import budget  # noqa: E402
from bench_models import measure  # noqa: E402
from common import cpu_model, git_commit  # noqa: E402

from seld_ros.bag.evaluate import frames_to_labels  # noqa: E402
from seld_ros.data.dcase import iter_dataset, read_wav  # noqa: E402
from seld_ros.features import StereoFeatureConfig  # noqa: E402
from seld_ros.metrics.seld import score_scenes  # noqa: E402
from seld_ros.model.bundle import load_bundle  # noqa: E402
from seld_ros.train.dataset import build_cache, load_cached  # noqa: E402
from seld_ros.train.inference import clip_reference, events_to_labels, predict_clip  # noqa: E402

DEFAULT_RUNS = ("stereo_at2seld=runs/stereo/at2seld.pt", "two_branch=runs/stereo/two_branch.pt",
                "dcase2025_baseline=runs/stereo/baseline.pt")
SCORE_KEYS = ("f", "doa_error", "dist_error", "rel_dist_error", "loc_recall", "error_rate", "seld")


def _clean(d: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def score(refs, preds) -> dict:
    sc = score_scenes(refs, preds, mode="dcase2025", eval_dist=True)
    per_class = {c: _clean({"f": float(sc.f[i]), "doa_error": float(sc.doa_error[i]),
                            "rel_dist_error": float(sc.rel_dist_error[i]), "n_ref": int(sc.counts["n_ref"][i])})
                 for i, c in enumerate(sc.class_names)}
    return {"macro": _clean({k: sc.macro[k] for k in SCORE_KEYS}),
            "micro": _clean({k: sc.micro[k] for k in SCORE_KEYS}), "per_class": per_class}


def offline(b, data: str, split: str):
    """(references, predictions, seconds) of a bundle on a split, from the trainer's feature cache."""
    fcfg = b.make_feature_config()
    if not isinstance(fcfg, StereoFeatureConfig):
        raise SystemExit(f"{b.path}: not a stereo bundle (front_end {b.front_end})")
    clips = load_cached(build_cache(data, split, b.feature_config, b.class_names, progress=False))
    causal = bool(b.model_config.get("causal", False))
    chunk = int(round(float(((b.provenance or {}).get("config", {}) or {}).get("data", {}).get("chunk_seconds", 5.0))
                      * 10))
    dec = b.make_decoder()
    refs, preds = [], []
    t0 = time.perf_counter()
    for c in clips:
        n_lab = c.num_labels
        out = predict_clip(b.model, c.features, n_lab if causal else chunk, fcfg.frames_per_label, "cpu")
        refs.append(clip_reference(c, b.class_names))
        preds.append(events_to_labels(dec.decode(out), b.class_names))
    return refs, preds, time.perf_counter() - t0, [c.name for c in clips]


def node_path(bundle_path: str, b, data: str, split: str, names: list, refs: list) -> dict:
    """The test clips' stereo audio, 100 ms chunks, through SeldPipeline (tracker included); DCASE 2025 scores."""
    from seld_ros.pipeline import AudioChunk, PipelineConfig, SeldPipeline

    fcfg = b.make_feature_config()
    rate = fcfg.sample_rate
    wavs = {name: wav for name, wav, _ in iter_dataset(data, split, fmt="dcase2025", audio_prefix="stereo",
                                                       metadata_prefix="metadata_stereo", class_names=b.class_names)}
    preds = []
    hops = 0
    with tempfile.TemporaryDirectory() as tmp:
        pipe = SeldPipeline(PipelineConfig(model_file_path=bundle_path, backend="onnxruntime", num_threads=1,
                                           onnx_cache_dir=tmp))
        mode = pipe.mode
        t0 = time.perf_counter()
        for name, ref in zip(names, refs):
            audio, _ = read_wav(wavs[name], rate)
            pipe.reset()
            frames = []
            step = int(round(0.1 * rate))
            for s in range(0, audio.shape[1], step):
                part = np.ascontiguousarray(audio[:, s:s + step].T, np.float32)
                res = pipe.push(AudioChunk(samples=part, sample_rate=rate, channels=2, layout="stereo",
                                           first_sample_index=s, stamp_ns=int(round(s * 1e9 / rate))))
                frames += res.frames
            frames += pipe.flush().frames
            hops += len(frames)
            preds.append(frames_to_labels(frames, b.class_names, 0, ref.num_frames))
        dt = time.perf_counter() - t0
    out = score(refs, preds)
    out.update({"mode": mode, "ms_per_hop": 1e3 * dt / max(hops, 1), "backend": "onnxruntime"})
    return out


def table(title: str, runs: dict) -> None:
    print(f"\n{title}\n")
    print("| model | params | MMAC/s | F20 | DOAE | RDE | LR | ER | node F20 | node DOAE | node RDE |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in runs.items():
        m = r["macro"]
        n = (r.get("node_path") or {}).get("macro", {})

        def f(x, fmt):
            return "–" if x is None else format(x, fmt)
        params = r.get("params")
        print(f"| {name} | {f(params and params / 1e6, '.3f')} M | {f(r.get('mmac_per_s'), '.1f')} | "
              f"{f(m['f'], '.3f')} | {f(m['doa_error'], '.1f')}° | {f(m['rel_dist_error'], '.3f')} | "
              f"{f(m['loc_recall'], '.2f')} | {f(m['error_rate'], '.2f')} | {f(n.get('f'), '.3f')} | "
              f"{f(n.get('doa_error'), '.1f')} | {f(n.get('rel_dist_error'), '.3f')} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/stereo", help="stereo dataset root (stereo_<split>/, "
                    "metadata_stereo_<split>/; scripts/make_stereo_data.sh; default: data/stereo)")
    ap.add_argument("--split", default="test", help="split scored (default: test)")
    ap.add_argument("--run", action="append", metavar="NAME=BUNDLE",
                    help="a stereo bundle to score (repeatable; default: the three of issue 17, the baseline "
                         "named dcase2025_baseline)")
    ap.add_argument("--ablation", action="append", metavar="NAME=BUNDLE",
                    help="bundles of the one-change ablation, scored on --ablation-split (default: none)")
    ap.add_argument("--ablation-split", default="val", help="split of the ablation (default: val)")
    ap.add_argument("--no-node", action="store_true", help="skip the node path (default: scored)")
    ap.add_argument("--out", default=str(HERE / "results" / "bench_stereo.json"),
                    help="JSON written (default: benchmarks/results/bench_stereo.json)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    runs = [r.split("=", 1) for r in (args.run or DEFAULT_RUNS)]
    res = {"data": args.data, "split": args.split, "metric": "dcase2025 (folded azimuth, F20 with rel. distance "
           "threshold 1.0, macro over 13 classes)", "cpu": cpu_model(), "threads": 1,
           "commit": git_commit("seld_ros", "benchmarks"), "runs": {}, "ablation": {}}
    for name, path in runs + [r.split("=", 1) for r in (args.ablation or [])]:
        if not Path(path).is_file():
            print(f"{name}: {path} not found (train it first: docs/training.md, Stereo models)", file=sys.stderr)
            return 2
    for name, path in runs:
        b = load_bundle(path)
        cost = measure(b.model, threads=1, reps=3)
        refs, preds, secs, names = offline(b, args.data, args.split)
        r = {"bundle": path, "sha256": b.sha256, "model": b.model_config["name"], "output_mode": b.output_mode,
             "causal": bool(b.model_config.get("causal", False)), "params": cost["params"],
             "mmac_per_s": cost["mmac_per_s"], "cpu_ms_per_5s_window_p50": cost["cpu_ms_per_5s_window_p50"],
             "feature_config": b.feature_config, "budget": budget(b), "clips": len(refs),
             "offline_seconds": secs, **score(refs, preds)}
        print(f"== {name}: offline macro F20 {r['macro']['f']:.3f} DOAE {r['macro']['doa_error']} "
              f"RDE {r['macro']['rel_dist_error']}", flush=True)
        if not args.no_node:
            r["node_path"] = node_path(path, b, args.data, args.split, names, refs)
            print(f"   node path ({r['node_path']['mode']}): macro F20 {r['node_path']['macro']['f']:.3f} "
                  f"RDE {r['node_path']['macro']['rel_dist_error']}", flush=True)
        res["runs"][name] = r
    for name, path in [r.split("=", 1) for r in (args.ablation or [])]:
        b = load_bundle(path)
        refs, preds, _, _ = offline(b, args.data, args.ablation_split)
        res["ablation"][name] = {"bundle": path, "split": args.ablation_split,
                                 "stpacc": bool(b.make_feature_config().stpacc),
                                 "in_channels": int(b.model_config["in_channels"]), "budget": budget(b),
                                 **score(refs, preds)}
    table(f"{args.split} split of {args.data}, DCASE 2025 metric (macro; node = SeldPipeline, 100 ms chunks, "
          f"tracker):", res["runs"])
    if res["runs"]:
        classes = list(next(iter(res["runs"].values()))["per_class"])
        print("\nper-class F20 (%), offline:\n\n| class | " + " | ".join(res["runs"]) + " |")
        print("|---|" + "---|" * len(res["runs"]))
        for c in classes:
            print(f"| {c} | " + " | ".join(f"{100 * (r['per_class'][c]['f'] or 0):.1f}"
                                           for r in res["runs"].values()) + " |")
    if res["ablation"]:
        table(f"ablation on {args.ablation_split} (offline):", res["ablation"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1, default=float) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Streaming vs offline inference on a test split: the cost of the sliding window in DCASE metrics.

    .venv/bin/python benchmarks/bench_streaming.py --bundle seld_ros/models/default.pt --data data/synth \
        [--split test] [--context-seconds 1 2 4] [--lookahead 0 2] [--backend onnxruntime] [--max-clips N]

For every clip of ``<data>/foa_<split>`` (labels in ``<data>/metadata_<split>``, the seld-synth layout):

* offline:   the bundle's network on the whole clip's features in one pass (torch, CPU) — every frame sees
             the entire clip (what training-style evaluation reports);
* streaming: :class:`seld_ros.engine.StreamingInference` over the chosen backend, fed 100 ms hops, for
             each window length W (``--context-seconds``) and lookahead L (``--lookahead``) — what the node does.

Both are decoded with the bundle's calibrated thresholds (``TrackDecoder``) and scored against the references
with ``seld_ros.metrics.score_scenes`` (DCASE 2024: F at 20 deg / DOA error / relative distance error). Also
reported: max |streaming - offline| over the raw outputs. Writes flat JSON to
benchmarks/results/bench_streaming.json.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from benchmarks.bench_inference import cpu_model, git_commit  # noqa: E402
from seld_ros.data.dcase import iter_dataset, read_wav  # noqa: E402
from seld_ros.data.labels import SceneLabels  # noqa: E402
from seld_ros.engine.factory import create_backend  # noqa: E402
from seld_ros.engine.streaming import StreamingInference  # noqa: E402
from seld_ros.features import FeatureConfig, FoaFeatures  # noqa: E402
from seld_ros.metrics.seld import score_scenes  # noqa: E402
from seld_ros.model.bundle import bundle_hash, load_bundle  # noqa: E402


def events_to_labels(frames_events, class_names, num_frames) -> SceneLabels:
    rows = []
    for t, events in enumerate(frames_events[:num_frames]):
        for slot, e in enumerate(events):
            rows.append((t, e.class_id, slot, math.degrees(e.azimuth), math.degrees(e.elevation), e.distance))
    return SceneLabels.from_rows(rows, class_names, num_frames=num_frames)


def offline_outputs(model, feats: np.ndarray) -> dict:
    with torch.inference_mode():
        outs = model(torch.from_numpy(feats[None]))
    return {n: o[0].numpy() for n, o in zip(model.output_names, outs)}


def summarise(scores) -> dict:
    m = scores.macro
    return {"f20": m.get("f"), "doae_deg": m.get("doa_error"), "rde": m.get("rel_dist_error"),
            "seld": m.get("seld"), "loc_recall": m.get("loc_recall"), "error_rate": scores.error_rate}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bundle", required=True)
    p.add_argument("--data", required=True, help="dataset root (foa_<split>/, metadata_<split>/)")
    p.add_argument("--split", default="test")
    p.add_argument("--context-seconds", type=float, nargs="+", default=[1.0, 2.0, 4.0])
    p.add_argument("--lookahead", type=int, nargs="+", default=[0, 2])
    p.add_argument("--backend", default="onnxruntime")
    p.add_argument("--max-clips", type=int, default=0)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "bench_streaming.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    bundle = load_bundle(args.bundle)
    model = bundle.model.eval()
    fcfg = FeatureConfig.from_dict(bundle.feature_config)
    fx = FoaFeatures(fcfg)
    hop = fcfg.frames_per_label
    decoder = bundle.make_decoder()
    pad = 0.0
    if bundle.feature_stats.get("mean") is not None:  # raw-feature mean: "average background" padding
        pad = np.asarray(bundle.feature_stats["mean"], np.float32)

    clips = []
    for i, (name, wav, ref) in enumerate(iter_dataset(args.data, args.split, class_names=bundle.class_names)):
        if args.max_clips and i >= args.max_clips:
            break
        audio, _ = read_wav(wav, fcfg.sample_rate)
        feats = fx.compute(audio)
        feats = np.ascontiguousarray(feats[:, :feats.shape[1] // hop * hop], np.float32)
        clips.append((name, feats, ref))
    if not clips:
        raise SystemExit(f"no clips under {args.data} split {args.split}")
    print(f"{len(clips)} clips, {sum(c[1].shape[1] for c in clips) // hop} label frames")

    refs = [c[2] for c in clips]
    dist = "distance" in bundle.output_names  # a model without a distance output is scored without it
    offline = [offline_outputs(model, f) for _, f, _ in clips]
    res = {"bundle": Path(args.bundle).name, "bundle_hash": bundle_hash(args.bundle)[:16], "data": args.data,
           "split": args.split, "clips": len(clips), "backend": args.backend}
    preds = [events_to_labels(decoder.decode(o), bundle.class_names, r.num_frames) for o, r in zip(offline, refs)]
    for k, v in summarise(score_scenes(refs, preds, doa_threshold=20.0, eval_dist=dist)).items():
        res[f"offline_{k}"] = v
    print("offline   ", {k: res[f"offline_{k}"] for k in ("f20", "doae_deg", "seld")})

    with tempfile.TemporaryDirectory() as tmp:
        for ctx in args.context_seconds:
            frames = int(round(ctx / 0.1)) * hop
            backend = create_backend(args.backend, model=model, frames=frames, num_threads=1,
                                     onnx_path=os.path.join(tmp, f"m{frames}.onnx"))
            for la in args.lookahead:
                if la >= frames // hop:
                    continue
                tag = f"streaming_w{ctx:g}s_l{la}"
                s = StreamingInference(backend, lookahead=la, pad_value=pad)
                t0 = time.perf_counter()
                outs = [s.run_clip(f) for _, f, _ in clips]
                dt = time.perf_counter() - t0
                diff = max(float(np.max(np.abs(o[n] - off[n]))) for o, off in zip(outs, offline) for n in o)
                preds = [events_to_labels(decoder.decode(o), bundle.class_names, r.num_frames)
                         for o, r in zip(outs, refs)]
                for k, v in summarise(score_scenes(refs, preds, doa_threshold=20.0, eval_dist=dist)).items():
                    res[f"{tag}_{k}"] = v
                res[f"{tag}_max_abs_output_diff_vs_offline"] = diff
                res[f"{tag}_latency_ms"] = la * 100.0
                res[f"{tag}_ms_per_hop"] = 1e3 * dt / sum(f.shape[1] // hop for _, f, _ in clips)
                print(f"{tag:22s}", {k: res[f"{tag}_{k}"] for k in ("f20", "doae_deg", "seld")},
                      f"max|diff| {diff:.3g}")
            backend.close()
    res.update({"hardware": cpu_model() + " (1 thread)", "commit": git_commit(),
                "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, sort_keys=True, default=lambda x: None) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Issue 14's acceptance benchmark: does the model name *real* sounds, offline and as the node runs it?

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_real.py --bank data/real_bank \
        [--bundle seld_ros/models/default.pt] [--procedural-data data/dev] \
        [--scenes 10 --seconds 60] [--fa-scenes 6 --fa-seconds 10] [--cache benchmarks/cache/real]

1. Synthesises (once; cached under --cache by bank manifest and settings) a real-sound test set from the bank's
   **test** split (sources never in train/val) in unseen rooms (the test room range): --scenes x --seconds of
   real targets only, with unlabelled distractors, diffuse real ambience and source levels over --level-db; and
   a false-alarm set: --fa-scenes x --fa-seconds of distractors + ambience only, each in its own room.
2. Scores the bundle with the DCASE 2024 metric (macro F20, seld_ros.metrics):
   * offline -- the network over each clip in windows of its training length, decoded with the bundle's
     calibrated thresholds (seld-eval's way): ``real_test_macro_f20``;
   * as the node runs it -- :class:`seld_ros.pipeline.SeldPipeline` (streaming features, the ONNX backend,
     decoder, tracker, confirmed tracks only) fed 100 ms chunks: ``real_test_node_macro_f20``;
   * ``real_test_class_correct_rate``: among reference events a prediction finds within 20 deg (any class),
     the fraction where such a prediction has the right class (offline; the node's figure beside it);
   * ``procedural_test_macro_f20``: offline on --procedural-data's test split (the project's procedural test);
   * ``gain_consistency``: the real scenes at --gains dB (offline): fraction of frames with the same set of
     active classes at every gain;
   * ``false_frames_per_10s``: event-frames the node publishes per 10 s on the false-alarm set (offline beside).
   Plus per-class F20 / class-correct tables, hardware and commit. Writes benchmarks/results/bench_real.json.

Runtime on the 2-core VM with the defaults: a few minutes (synthesis once, then features + network for
~15 min of audio and the node pipeline over ~11 min); --scenes / --seconds / --skip-node shrink it.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import cpu_model, git_commit  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "bench_real.json"
DEFAULT_CACHE = REPO / "benchmarks" / "cache" / "real"
SET_VERSION = 2  # bump when the synthesis of the test sets changes


# ------------------------------------------------------------------------------------------- test sets
def manifest_stamp(bank: Path) -> str:
    p = bank / "manifest.csv"
    if not p.is_file():
        raise SystemExit(f"no real sound bank at {bank} (build one with `seld-bank build-real {bank}`)")
    return hashlib.sha1(p.read_bytes()).hexdigest()[:12]


def make_sets(bank: Path, cache: Path, scenes: int, seconds: float, fa_scenes: int, fa_seconds: float,
              level_db, distractors_per_min: float, seed: int, workers: int,
              fa_distractors_per_min: float = 12.0, ambience_dirs: int = 0) -> tuple[Path, Path]:
    """-> (real test set root, false-alarm set root), both with foa_test/ metadata_test/ sources_test/."""
    from seld_ros.data.synth import SynthConfig, generate_split

    key = hashlib.sha1(json.dumps([SET_VERSION, manifest_stamp(bank), scenes, seconds, fa_scenes, fa_seconds,
                                   list(level_db), distractors_per_min, fa_distractors_per_min,
                                   ambience_dirs, seed]).encode()).hexdigest()[:12]
    root = cache / key
    sets = []
    for name, n, dur, targets, rooms, rate in (
            ("real_test", scenes, seconds, True, None, distractors_per_min),
            ("false_alarm", fa_scenes, fa_seconds, False, "29000:29100", fa_distractors_per_min)):
        d = root / name
        if not (d / "complete.json").is_file():
            cfg = SynthConfig(duration_s=dur, level_db=tuple(level_db), distractors_per_min=rate, targets=targets,
                              ambience_dirs=ambience_dirs)
            t0 = time.perf_counter()
            summary = generate_split(d, "test", n, cfg, seed=seed, workers=workers, rooms_from=rooms,
                                     bank=f"real:{bank}", bank_split="test", progress=False)
            (d / "complete.json").write_text(json.dumps({"bank": str(bank), "seconds": time.perf_counter() - t0,
                                                         "summary": summary}, indent=1))
            print(f"{name}: {n} x {dur:g} s synthesised in {time.perf_counter() - t0:.0f} s -> {d}")
        else:
            print(f"{name}: reusing {d}")
        sets.append(d)
    return sets[0], sets[1]


def load_set(root: Path, split: str, class_names, max_clips: int = 0):
    """-> [(name, audio (4, N) float32, reference SceneLabels)]"""
    from seld_ros.data.dcase import iter_dataset, read_wav

    out = []
    for i, (name, wav, ref) in enumerate(iter_dataset(root, split, class_names=list(class_names))):
        if max_clips and i >= max_clips:
            break
        audio, _ = read_wav(wav, 24000)
        # a reference CSV ends at its last event (an empty one at frame 0): the audio sets the length
        out.append((name, audio[:4], ref.with_num_frames(audio.shape[1] // 2400)))
    if not out:
        raise SystemExit(f"no clips under {root}/foa_{split}")
    return out


# ------------------------------------------------------------------------------------------- inference
def offline_outputs(bundle, audio: np.ndarray, gain_db: float = 0.0) -> dict:
    """seld-eval's way: features of the whole clip, network in windows of the training length -> raw outputs."""
    from seld_ros.features import FeatureConfig, FoaFeatures
    from seld_ros.train.inference import predict_clip

    fcfg = FeatureConfig.from_dict(bundle.feature_config)
    chunk_s = (bundle.provenance.get("config", {}) or {}).get("data", {}).get("chunk_seconds", 5.0)
    feats = FoaFeatures(fcfg).compute((audio * 10 ** (gain_db / 20)).astype(np.float32))
    k = fcfg.frames_per_label
    feats = np.ascontiguousarray(feats[:, :feats.shape[1] // k * k], np.float32)
    return predict_clip(bundle.model, feats, int(round(float(chunk_s) * 10)), k)


def offline_predict(bundle, audio: np.ndarray, num_frames: int, gain_db: float = 0.0):
    """:func:`offline_outputs` decoded with the bundle's thresholds."""
    from seld_ros.train.inference import events_to_labels

    pred = events_to_labels(bundle.make_decoder().decode(offline_outputs(bundle, audio, gain_db)), bundle.class_names)
    return pred.with_num_frames(num_frames)


def backbone_of(bundle) -> str:
    """The pretrained model the bundle's semantic stream is (issue 27 asks bench_real.json to name it)."""
    if bundle.model_config.get("semantic") == "yamnet":
        src = (bundle.provenance.get("backbone_weights") or {}).get("provenance", {}).get("source_requirement")
        return "yamnet" + (f" (AudioSet, from {src})" if src else " (weights not from the AudioSet file)")
    pre = bundle.provenance.get("pretrained_backbone")
    return f"panns-style CNN from {Path(str(pre)).name}" if pre else "panns-style CNN trained in this project"


def node_predict(pipeline, audio: np.ndarray, num_frames: int, chunk_ms: int = 100):
    """The node's path: 100 ms chunks through SeldPipeline (tracker on), confirmed tracks as labels."""
    from seld_ros.bag.evaluate import frames_to_labels
    from seld_ros.pipeline import AudioChunk

    pipeline.reset()
    n = int(24000 * chunk_ms / 1000)
    x = np.ascontiguousarray(audio.T, np.float32)
    frames = []
    for i in range(0, x.shape[0], n):
        frames += pipeline.push(AudioChunk(x[i:i + n], 24000, 4, "foa_acn_sn3d", i,
                                           int(i / 24000 * 1e9))).frames
    frames += pipeline.flush().frames
    return frames_to_labels(frames, tuple(pipeline.class_names), 0, num_frames)


def scores(refs, preds, names, eval_dist: bool) -> dict:
    """DCASE 2024 frame scores; with distances (relative error <= 1) when the model has them, as seld-eval."""
    from seld_ros.metrics.seld import score_scenes

    return score_scenes(refs, preds, mode="dcase2024", eval_dist=eval_dist, names=names).to_dict()


def per_class_correct(refs, preds, class_names) -> dict:
    from seld_ros.metrics.robustness import class_correct_counts

    m, c = class_correct_counts(refs, preds, 20.0, len(class_names))
    return {n: (float(c[i]) / m[i] if m[i] else None) for i, n in enumerate(class_names)}


# ------------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bank", default=str(REPO / "data" / "real_bank"),
                    help="real sound bank (scripts/build_real_bank.sh data/real_bank; default: %(default)s)")
    ap.add_argument("--bundle", default=str(REPO / "seld_ros" / "models" / "default.pt"))
    ap.add_argument("--procedural-data", default=str(REPO / "data" / "dev"),
                    help="dataset root with the procedural foa_test/ metadata_test/ ('' to skip)")
    ap.add_argument("--cache", default=str(DEFAULT_CACHE), help="where the synthesised test sets are kept")
    ap.add_argument("--scenes", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--fa-scenes", type=int, default=6, help="false-alarm scenes (distractors + ambience only)")
    ap.add_argument("--fa-seconds", type=float, default=10.0)
    ap.add_argument("--level-db", type=float, nargs=2, default=(-20.0, 20.0), metavar=("LO", "HI"),
                    help="source levels in dB re -30 dBFS")
    ap.add_argument("--distractors-per-min", type=float, default=6.0, help="in the real-sound test scenes")
    ap.add_argument("--fa-distractors-per-min", type=float, default=12.0, help="in the false-alarm scenes")
    ap.add_argument("--ambience-dirs", type=int, choices=(0, 8), default=0,
                    help="ambience as W + decorrelated X/Y/Z (0) or plane waves from a rotated cube (8)")
    ap.add_argument("--gains", type=float, nargs="+", default=(-20.0, 0.0, 20.0))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--max-procedural-clips", type=int, default=0)
    ap.add_argument("--skip-node", action="store_true", help="offline figures only")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    if args.scenes < 1 or args.fa_scenes < 1 or args.seconds < 1 or args.fa_seconds < 1:
        ap.error("--scenes / --fa-scenes must be >= 1 and --seconds / --fa-seconds >= 1")
    if 0.0 not in args.gains:
        ap.error("--gains must include 0 (the scenes as synthesised)")

    import torch

    from seld_ros.metrics.robustness import class_correct_rate, event_frames_per_10s, gain_consistency
    from seld_ros.model.bundle import load_bundle

    torch.set_num_threads(1)
    t_start = time.perf_counter()
    bank = Path(args.bank)
    real_root, fa_root = make_sets(bank, Path(args.cache), args.scenes, args.seconds, args.fa_scenes,
                                   args.fa_seconds, args.level_db, args.distractors_per_min, args.seed, args.workers,
                                   args.fa_distractors_per_min, args.ambience_dirs)
    t_synth = time.perf_counter() - t_start
    b = load_bundle(args.bundle)
    names = tuple(b.class_names)
    real = load_set(real_root, "test", names)
    fa = load_set(fa_root, "test", names)
    refs = [r for _, _, r in real]
    clip_names = [n for n, _, _ in real]
    res: dict = {"bundle": str(Path(args.bundle).name), "bundle_sha256": b.sha256[:16], "bank": str(bank),
                 "bank_manifest_sha1": manifest_stamp(bank), "real_test_set": str(real_root),
                 "real_test_clips": len(real), "real_test_seconds": sum(a.shape[1] for _, a, _ in real) / 24000,
                 "false_alarm_seconds": sum(a.shape[1] for _, a, _ in fa) / 24000,
                 "backbone": backbone_of(b),
                 "level_db": list(args.level_db), "gains_db": list(args.gains),
                 "distractors_per_min": args.distractors_per_min, "ambience_dirs": args.ambience_dirs}

    # offline, at each gain
    t0 = time.perf_counter()
    by_gain = {g: [offline_predict(b, a, r.num_frames, g) for _, a, r in real] for g in args.gains}
    off = by_gain[0.0]
    dist = "distance" in b.output_names
    res["eval_dist"] = dist
    sc = scores(refs, off, clip_names, dist)
    ccr, n_matched = class_correct_rate(refs, off)
    res.update({"real_test_macro_f20": sc["macro"]["f"], "real_test_macro_doae_deg": sc["macro"]["doa_error"],
                "real_test_macro_lr": sc["macro"]["loc_recall"], "real_test_micro_f20": sc["micro"]["f"],
                "real_test_class_correct_rate": ccr, "real_test_direction_matched_pairs": n_matched,
                # official macro F averages all classes (absent ones count 0): say how many the set holds
                "real_test_classes_present": sc["classes_present"],
                "real_test_macro_f20_present_classes": float(np.mean(
                    [v["f"] or 0.0 for v in sc["per_class"].values() if v["n_ref"] > 0] or [float("nan")])),
                "gain_consistency": gain_consistency([by_gain[g] for g in args.gains])})
    per_class = {n: {"n_ref_frames": sc["per_class"][n].get("n_ref"), "offline_f20": sc["per_class"][n]["f"],
                     "offline_doae_deg": sc["per_class"][n]["doa_error"]} for n in names}
    for n, v in per_class_correct(refs, off, names).items():
        per_class[n]["offline_class_correct"] = v
    fa_off = [offline_predict(b, a, r.num_frames) for _, a, r in fa]
    res["false_frames_per_10s_offline"] = event_frames_per_10s(fa_off)
    res["offline_seconds"] = time.perf_counter() - t0
    print(f"offline: F20 {res['real_test_macro_f20']:.3f}, class-correct {ccr:.3f} ({n_matched} pairs), gain "
          f"consistency {res['gain_consistency']:.3f}, false frames/10 s {res['false_frames_per_10s_offline']:.2f}")

    # as the node runs it
    if not args.skip_node:
        from seld_ros.pipeline import PipelineConfig, SeldPipeline

        t0 = time.perf_counter()
        pipe = SeldPipeline(PipelineConfig(model_file_path=args.bundle, backend="onnxruntime",
                                           onnx_cache_dir=str(Path(args.cache) / "onnx")))
        node = [node_predict(pipe, a, r.num_frames) for _, a, r in real]
        nsc = scores(refs, node, clip_names, dist)
        nccr, _ = class_correct_rate(refs, node)
        res.update({"real_test_node_macro_f20": nsc["macro"]["f"],
                    "real_test_node_macro_doae_deg": nsc["macro"]["doa_error"],
                    "real_test_node_class_correct_rate": nccr})
        for n in names:
            per_class[n]["node_f20"] = nsc["per_class"][n]["f"]
        res["false_frames_per_10s"] = event_frames_per_10s([node_predict(pipe, a, r.num_frames) for _, a, r in fa])
        res["node_seconds"] = time.perf_counter() - t0
        print(f"node:    F20 {res['real_test_node_macro_f20']:.3f}, class-correct {nccr:.3f}, false frames/10 s "
              f"{res['false_frames_per_10s']:.2f}")
    else:
        res["real_test_node_macro_f20"] = None
        res["false_frames_per_10s"] = res["false_frames_per_10s_offline"]
        res["node_skipped"] = True  # false_frames_per_10s is the offline figure

    # procedural test split
    res["procedural_test_macro_f20"] = None
    if args.procedural_data:
        proc = load_set(Path(args.procedural_data), "test", names, args.max_procedural_clips)
        psc = scores([r for _, _, r in proc], [offline_predict(b, a, r.num_frames) for _, a, r in proc],
                     [n for n, _, _ in proc], dist)
        res.update({"procedural_test_macro_f20": psc["macro"]["f"], "procedural_test_clips": len(proc),
                    "procedural_data": args.procedural_data})
        for n in names:
            per_class[n]["procedural_f20"] = psc["per_class"][n]["f"]
        print(f"procedural test: F20 {res['procedural_test_macro_f20']:.3f}")

    res["per_class"] = per_class
    res.update({"synth_seconds": t_synth, "total_seconds": time.perf_counter() - t_start,
                "hardware": cpu_model() + " (1 thread)", "commit": git_commit("seld_ros", "benchmarks"),
                "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    print("\n| class | ref frames | offline F20 | node F20 | class correct | procedural F20 |")
    print("|---|---|---|---|---|---|")

    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}"

    for n, r in per_class.items():
        print(f"| {n} | {r['n_ref_frames']} | {pct(r['offline_f20'])} | {pct(r.get('node_f20'))} | "
              f"{pct(r['offline_class_correct'])} | {pct(r.get('procedural_f20'))} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1, default=float) + "\n")
    print(f"\nwrote {out} ({res['total_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

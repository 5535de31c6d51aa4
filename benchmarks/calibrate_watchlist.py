"""Choose the watch list's default thresholds from data that no acceptance figure uses: the "tune" watch-list clips
of bench_watchlist.WATCH_CLIPS (positives, in unseen simulated rooms, alone and with a 13-class source 90 degrees
away) and 13-class real-sound val scenes (negatives: the bank's val split, val rooms; bench_watchlist
--make-val-set). The test clips and the real test scenes are not read.

    SELD_DEB_CACHE=data/deb_cache OMP_NUM_THREADS=1 .venv/bin/python benchmarks/calibrate_watchlist.py \\
        [--val-set benchmarks/cache/watch_val] [--false-per-min 0.25]

The node runs as bench_watchlist runs it (SeldPipeline, tags and watch list on, the current defaults). Every score
the watch check sees (omni channel, watch beams, the tracks' microphones) is recorded per output frame, best of
them, for every candidate label. Then, per label, a threshold from a grid (0.20-0.95): start from the label's
first guess (``FIRST_GUESS``) and raise it to the lowest value whose val episodes (frames at or above the
threshold, joined when less than ``hold_s`` apart: what opens a watch event) fit the label's share of
``--false-per-min`` (``--method per-label``, the default: the negatives alone decide, the tune clips only report
the recall that gives). ``--method greedy`` starts where each label opens nothing on val and lowers, within the
budget, the thresholds that buy the most tune-clip recall per false val episode (it overfits 15 clips: measured,
docs/BENCHMARKS.md).

Writes benchmarks/results/calibrate_watchlist.json: the thresholds, the tune recall and val false rate they give
(this model of the node's opening rule, not the node: bench_watchlist measures the node with them).
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import bench_watchlist as bw  # noqa: E402

GRID = np.round(np.arange(0.2, 0.96, 0.05), 2)
HOLD_FRAMES = 10  # watch_list.hold_s default (1 s)
# where each label starts (its threshold before any calibration): alarms, sirens and horns are loud, tonal and rarely
# confused; glass, dog and baby sounds are short or confusable with speech and music; a scream with shouting
FIRST_GUESS = {"Glass": 0.4, "Shatter": 0.4, "Dog": 0.4, "Bark": 0.4, "Baby cry, infant cry": 0.4, "Screaming": 0.5}
FIRST_GUESS_OTHERS = 0.3


class ScoreTrace:
    """The best score of each of ``indices`` per output frame over all the watch checks of the pipeline's tagger
    (a benchmark's instrument around the real tagger: it changes nothing it runs)."""

    def __init__(self, tagger, indices):
        self.indices, self.frames, self._frame = np.asarray(indices), {}, 0
        tag_frame, detect = tagger.tag_frame, tagger.watch_list.detect

        def traced_tag_frame(frame_in_segment, frame_index, *a, **k):
            self._frame = frame_index
            return tag_frame(frame_in_segment, frame_index, *a, **k)

        def traced_detect(scores):
            row = np.asarray(scores, np.float64)[self.indices]
            old = self.frames.get(self._frame)
            self.frames[self._frame] = row if old is None else np.maximum(old, row)
            return detect(scores)

        tagger.tag_frame, tagger.watch_list.detect = traced_tag_frame, traced_detect

    def take(self, num_frames: int) -> np.ndarray:
        """(num_frames, labels) of the run since the last take (0 where no check ran); starts afresh."""
        out = np.zeros((num_frames, len(self.indices)))
        for k, row in self.frames.items():
            if 0 <= k < num_frames:
                out[k] = row
        self.frames = {}
        return out


def episodes(scores: np.ndarray, threshold: float) -> int:
    """Watch events that ``scores`` (frames,) would open: runs of frames at or above ``threshold`` joined when
    less than HOLD_FRAMES apart."""
    on = np.flatnonzero(scores >= threshold)
    return 0 if on.size == 0 else int(1 + np.sum(np.diff(on) >= HOLD_FRAMES))


def record(args) -> tuple:
    """Run the pipeline over the tune clips' scenes and the val scenes -> (candidate labels, their current
    thresholds, [(clip, family, condition, best score per label in the clip's window)], [val scores (frames,
    labels)], val minutes)."""
    import torch
    torch.set_num_threads(1)
    from benchmarks.bench_real import load_set
    from seld_ros.event_tags import open_yamnet
    from seld_ros.pipeline import PipelineConfig, SeldPipeline
    from seld_ros.ros.params import NodeSettings
    from seld_ros.tagging import DEFAULT_SAFETY_WATCH_LIST
    values = NodeSettings.defaults().values
    event_tags = {k: v for k, v in values.items() if k.startswith(("tags.", "watch_list."))}
    event_tags["tags.yamnet_weights"] = args.weights
    event_tags["tags.rate_hz"] = args.rate_hz or event_tags["tags.rate_hz"]
    event_tags["tags.max_per_s"] = args.max_per_s or event_tags["tags.max_per_s"]
    cache_dir = str(REPO / "benchmarks" / "cache" / "onnx")
    pipe = SeldPipeline(PipelineConfig(backend="onnxruntime", onnx_cache_dir=cache_dir, event_tags=event_tags))
    network, info = open_yamnet(args.weights, cache_dir)
    names = info["class_names"]
    candidates = list(dict.fromkeys([n for n, _ in DEFAULT_SAFETY_WATCH_LIST]
                                    + [n for fam in bw.FAMILY_LABELS.values() for n in fam]))
    trace = ScoreTrace(pipe.tagger, [names.index(n) for n in candidates])
    defaults = {e.name: e.threshold for e in pipe.tagger.watch_list.entries}

    # positives: the tune clips, as bench_watchlist places them (same rooms, seed and conditions)
    clips, partners = bw.load_sounds(args.deb_cache, ("tune",))
    positives = []
    for sc in bw.scenes(clips, partners, args.rooms, args.room_base, args.seed):
        bw.run_pipeline(pipe, sc.audio)
        window = trace.take(sc.audio.shape[1] // bw.HOP + 1)[(sc.start + sc.on) // bw.HOP:
                                                            (sc.start + sc.off) // bw.HOP + 10]
        positives.append((sc.clip, sc.family, sc.condition, window.max(axis=0)))
    # negatives: 13-class real-sound val scenes without a watched sound among their sources
    val_root = bw.make_val_set(args.bank, args.val_set, args.val_scenes)
    negatives, minutes = [], 0.0
    for name, audio, _ in load_set(val_root, "val", list(pipe.class_names), args.val_scenes):
        meta = json.loads((val_root / "sources_val" / f"{name}.json").read_text())["sources"]
        if any(w in (s.get("clip", "") + s.get("source", "")).lower() for s in meta for w in bw.WATCH_WORDS):
            continue
        bw.run_pipeline(pipe, audio)
        negatives.append(trace.take(audio.shape[1] // bw.HOP + 1))
        minutes += audio.shape[1] / bw.RATE / 60

    return candidates, defaults, positives, negatives, minutes


def save_traces(path, candidates, defaults, positives, negatives, minutes) -> None:
    np.savez(path, candidates=np.array(candidates), defaults=json.dumps(defaults), minutes=minutes,
             negatives=np.concatenate(negatives), positives=np.stack([b for *_, b in positives]),
             positive_meta=np.array([f"{c}|{f}|{cond}" for c, f, cond, _ in positives]))


def load_traces(path) -> tuple:
    d = np.load(path)
    positives = [(*str(m).split("|"), b) for m, b in zip(d["positive_meta"], d["positives"])]
    return (list(map(str, d["candidates"])), json.loads(str(d["defaults"])), positives, [d["negatives"]],
            float(d["minutes"]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=str(bw.WEIGHTS))
    ap.add_argument("--deb-cache", type=Path,
                    default=Path(os.environ.get("SELD_DEB_CACHE") or REPO / "benchmarks" / "cache" / "debs"))
    ap.add_argument("--bank", type=Path, default=REPO / "data" / "real_bank")
    ap.add_argument("--val-set", type=Path, default=REPO / "benchmarks" / "cache" / "watch_val")
    ap.add_argument("--val-scenes", type=int, default=10)
    ap.add_argument("--rooms", type=int, default=2)
    ap.add_argument("--room-base", type=int, default=31000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rate-hz", type=float, default=0.0, help="tags.rate_hz (0: the parameter's default)")
    ap.add_argument("--max-per-s", type=int, default=0, help="tags.max_per_s (0: the parameter's default)")
    ap.add_argument("--false-per-min", type=float, default=0.25, help="val false watch events per minute allowed")
    ap.add_argument("--method", choices=("per-label", "greedy"), default="per-label",
                    help="per-label: each label its share of the budget on the val scenes alone; greedy: also "
                    "lower thresholds where that buys recall on the tune clips")
    ap.add_argument("--traces", default="", help="an .npz of the recorded scores: written by this run, or read "
                    "instead of running the pipeline when it exists (to choose again, e.g. with another budget)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "calibrate_watchlist.json")
    args = ap.parse_args()

    if args.traces and Path(args.traces).is_file():  # scores recorded by an earlier run: choose again
        candidates, defaults, positives, negatives, minutes = load_traces(args.traces)
    else:
        candidates, defaults, positives, negatives, minutes = record(args)
        if args.traces:
            save_traces(args.traces, candidates, defaults, positives, negatives, minutes)
    budget = args.false_per_min * minutes
    col = {n: i for i, n in enumerate(candidates)}
    false_at = {n: {float(t): sum(episodes(neg[:, col[n]], t) for neg in negatives) for t in GRID} for n in candidates}

    def recall(th: dict) -> float:
        return float(np.mean([any(best[col[n]] >= th[n] for n in bw.FAMILY_LABELS[fam] if n in th)
                              for _, fam, _, best in positives]))

    tuned = {n for _, fam, _, _ in positives for n in bw.FAMILY_LABELS[fam]}
    # start safe: each label at its default (0.3 for a new one), raised to the lowest grid value that opens nothing
    # on the val scenes where the default does
    # each label at its first guess (FIRST_GUESS), raised to the lowest grid value whose
    # val episodes fit its share of the budget ("per-label", the default: negatives only, the tune clips just
    # report) or that opens nothing on val ("greedy" then lowers thresholds for tune recall within the budget)
    share = budget / len(candidates) if args.method == "per-label" else 0.0
    th = {}
    for n in candidates:
        first = FIRST_GUESS.get(n, FIRST_GUESS_OTHERS)
        fits = [float(t) for t in GRID if false_at[n][float(t)] <= share and t >= first - 1e-9]
        th[n] = fits[0] if fits else float(GRID[-1])
    if args.method == "greedy":
        while True:  # greedy: the lowering that buys the most tune recall per false val episode, within the budget
            spent, base = sum(false_at[n][th[n]] for n in candidates), recall(th)
            best_move, best_gain = None, 0.0
            for n in tuned:
                for t in (float(t) for t in GRID if t < th[n]):
                    extra = false_at[n][t] - false_at[n][th[n]]
                    gain = recall({**th, n: t}) - base
                    if gain > 0 and spent + extra <= budget and gain / (extra + 0.5) > best_gain:
                        best_move, best_gain = (n, t), gain / (extra + 0.5)
            if best_move is None:
                break
            th[best_move[0]] = best_move[1]
    res = {"method": args.method, "thresholds": th, "defaults_before": defaults,
           "tune_recall": recall(th), "tune_recall_with_defaults_before":
               recall({n: defaults.get(n, 1.01) for n in candidates}),
           "val_minutes": minutes, "val_false_episodes": int(sum(false_at[n][th[n]] for n in candidates)),
           "val_false_episodes_with_defaults_before": int(sum(false_at[n][defaults[n]] if defaults[n] in false_at[n]
                                                              else sum(episodes(neg[:, col[n]], defaults[n])
                                                                       for neg in negatives)
                                                              for n in defaults)),
           "tune_scenes": len(positives), "false_per_min_budget": args.false_per_min,
           "per_label_val_false_at_threshold": {n: false_at[n][th[n]] for n in candidates},
           "val_false_by_threshold": {n: {f"{t:.2f}": v for t, v in false_at[n].items()} for n in candidates},
           "tune_best_scores": [(c, f, cond, {n: round(float(b[col[n]]), 3) for n in bw.FAMILY_LABELS[f]})
                                for c, f, cond, b in positives]}
    print(json.dumps({k: v for k, v in res.items() if k != "tune_best_scores"}, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

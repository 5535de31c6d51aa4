"""Frame-level checks of what a SELD output *says*, beyond the DCASE score (numpy only):

* :func:`class_correct_rate` -- among reference events that some prediction finds in direction (within
  ``doa_threshold`` degrees, any class), the fraction for which such a prediction also has the right class:
  "it knows where, does it know what?";
* :func:`gain_consistency` -- the same scenes at several input gains: fraction of frames whose set of active
  classes is the same at every gain;
* :func:`event_frames_per_10s` -- active (frame, event) pairs per 10 s of audio: false alarms on scenes that
  hold no target sound.

All take :class:`seld_ros.data.labels.SceneLabels` (DOAs as unit vectors).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from seld_ros.constants import LABEL_HOP_S


def _check_pair(ref, pred) -> int:
    if tuple(ref.class_names) != tuple(pred.class_names):
        raise ValueError("reference and prediction class lists differ")
    return min(ref.num_frames, pred.num_frames)


def class_correct_counts(refs: Sequence, preds: Sequence, doa_threshold: float = 20.0,
                         num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """-> (matched, correct) per reference class: reference (frame, event) pairs with a prediction within
    ``doa_threshold`` degrees, and those where one of those predictions has the reference's class."""
    if len(refs) != len(preds):
        raise ValueError(f"{len(refs)} references but {len(preds)} predictions")
    k = num_classes if num_classes is not None else (len(refs[0].class_names) if refs else 0)
    matched = np.zeros(k, np.int64)
    correct = np.zeros(k, np.int64)
    cos_thr = math.cos(math.radians(doa_threshold))
    for ref, pred in zip(refs, preds):
        t = _check_pair(ref, pred)
        for f in range(t):
            ra = ref.class_id[f] >= 0
            pa = pred.class_id[f] >= 0
            if not ra.any() or not pa.any():
                continue
            rd = ref.doa[f, ra].astype(np.float64)
            pd = pred.doa[f, pa].astype(np.float64)
            rd /= np.linalg.norm(rd, axis=1, keepdims=True) + 1e-12
            pd /= np.linalg.norm(pd, axis=1, keepdims=True) + 1e-12
            near = rd @ pd.T >= cos_thr - 1e-9  # (refs, preds)
            rc = ref.class_id[f, ra]
            pc = pred.class_id[f, pa]
            for i in range(len(rc)):
                if near[i].any():
                    matched[rc[i]] += 1
                    correct[rc[i]] += bool(np.any(pc[near[i]] == rc[i]))
    return matched, correct


def class_correct_rate(refs: Sequence, preds: Sequence, doa_threshold: float = 20.0) -> tuple[float, int]:
    """-> (rate, matched pairs); rate is NaN when no reference event was found in direction."""
    matched, correct = class_correct_counts(refs, preds, doa_threshold)
    n = int(matched.sum())
    return (float(correct.sum()) / n if n else float("nan")), n


def active_class_sets(labels) -> list[frozenset]:
    return [frozenset(int(c) for c in row if c >= 0) for row in labels.class_id]


def gain_consistency(preds_by_gain: Sequence[Sequence]) -> float:
    """``preds_by_gain[g][s]``: prediction for scene ``s`` at gain ``g``. Fraction of frames (over all scenes,
    each cut to its shortest prediction) whose set of active classes is identical at every gain."""
    if len(preds_by_gain) < 2:
        raise ValueError("gain consistency needs predictions at two gains or more")
    n_scenes = len(preds_by_gain[0])
    if any(len(p) != n_scenes for p in preds_by_gain):
        raise ValueError("every gain needs a prediction for every scene")
    same = total = 0
    for s in range(n_scenes):
        sets = [active_class_sets(p[s]) for p in preds_by_gain]
        t = min(len(x) for x in sets)
        total += t
        same += sum(all(x[f] == sets[0][f] for x in sets[1:]) for f in range(t))
    return same / total if total else float("nan")


def event_frames_per_10s(preds: Sequence, frame_hop_s: float = LABEL_HOP_S) -> float:
    """Active (frame, event) pairs per 10 s over ``preds``."""
    frames = sum(p.num_frames for p in preds)
    if frames == 0:
        raise ValueError("no frames")
    events = sum(int(p.active.sum()) for p in preds)
    return 10.0 * events / (frames * frame_hop_s)

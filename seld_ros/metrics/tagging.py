"""Clip-level audio-tagging scores (numpy only): average precision per class and their mean (mAP), as
scikit-learn's ``average_precision_score`` defines it (the step-wise area: sum over the ranked positives of
precision times recall increment; tied scores count as one threshold)."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def average_precision(y_true, scores) -> float:
    """AP of one class: ``y_true`` 0/1 per clip, ``scores`` higher = more likely. NaN without any positive."""
    y = np.asarray(y_true, dtype=bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true and scores differ in shape: {y.shape} vs {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    tp = np.cumsum(y)
    # one threshold per distinct score: the last index of each run of ties
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp_at = tp[last]
    precision = tp_at / (last + 1)
    recall_step = np.diff(np.r_[0, tp_at]) / n_pos
    return float(np.sum(precision * recall_step))


def mean_average_precision(Y, S, class_names: Sequence[str] | None = None) -> tuple[float, dict]:
    """-> (mAP over classes with at least one positive clip, {class: AP or None}). ``Y``, ``S``: (clips, K)."""
    Y = np.asarray(Y)
    S = np.asarray(S)
    if Y.ndim != 2 or Y.shape != S.shape:
        raise ValueError(f"targets and scores must both be (clips, classes), got {Y.shape} and {S.shape}")
    names = list(class_names) if class_names is not None else [str(k) for k in range(Y.shape[1])]
    if len(names) != Y.shape[1]:
        raise ValueError(f"{len(names)} class names for {Y.shape[1]} columns")
    per = {}
    for k, n in enumerate(names):
        ap = average_precision(Y[:, k], S[:, k])
        per[n] = None if np.isnan(ap) else ap
    vals = [v for v in per.values() if v is not None]
    return (float(np.mean(vals)) if vals else float("nan")), per

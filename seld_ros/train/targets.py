"""Label frames -> training targets.

Input is the ``SceneLabels`` contract of ``seld_ros.data.labels``:
``class_id`` int (T, M) with -1 = empty slot, ``source_id`` (T, M), ``doa``
(T, M, 3) unit vectors, ``distance`` (T, M) metres (NaN = unknown), at 100 ms
frames.

* Track-wise (for PIT): each frame's events fill N track slots in source-id
  order; the loss searches the slot permutation, so the order is arbitrary.
* Multi-ACCDOA (for ADPIT): per class up to 3 same-class events
  (``acc_doa`` (T, 3, K, 3), ``acc_dist`` (T, 3, K), ``acc_count`` (T, K)).
"""
from __future__ import annotations

import numpy as np


def _arrays(labels):
    cid = np.asarray(labels.class_id)
    sid = np.asarray(getattr(labels, "source_id", np.zeros_like(cid)))
    doa = np.asarray(labels.doa, dtype=np.float32)
    dist = np.asarray(getattr(labels, "distance", np.full(cid.shape, np.nan)), dtype=np.float32)
    return cid, sid, doa, dist


def _frame_order(cid_row, sid_row):
    idx = np.nonzero(cid_row >= 0)[0]
    return idx[np.lexsort((cid_row[idx], sid_row[idx]))]


def trackwise_targets(labels, num_classes: int, num_tracks: int = 3) -> dict:
    """-> {"cls" int64 (T, N) (-1 empty), "doa" (T, N, 3), "dist" (T, N) NaN unknown}."""
    cid, sid, doa, dist = _arrays(labels)
    T = cid.shape[0]
    out_c = np.full((T, num_tracks), -1, np.int64)
    out_d = np.zeros((T, num_tracks, 3), np.float32)
    out_r = np.full((T, num_tracks), np.nan, np.float32)
    for t in range(T):
        for n, m in enumerate(_frame_order(cid[t], sid[t])[:num_tracks]):
            if cid[t, m] >= num_classes:
                raise ValueError(f"class id {cid[t, m]} >= num_classes {num_classes}")
            out_c[t, n] = cid[t, m]
            v = doa[t, m]
            out_d[t, n] = v / max(float(np.linalg.norm(v)), 1e-9)
            out_r[t, n] = dist[t, m]
    return {"cls": out_c, "doa": out_d, "dist": out_r}


def accdoa_targets(labels, num_classes: int, max_same: int = 3) -> dict:
    """-> {"acc_doa" (T, 3, K, 3), "acc_dist" (T, 3, K) (0 unknown/empty),
    "acc_dist_known" (T, 3, K) bool, "acc_count" int64 (T, K)}."""
    cid, sid, doa, dist = _arrays(labels)
    T = cid.shape[0]
    K = num_classes
    acc = np.zeros((T, max_same, K, 3), np.float32)
    accd = np.zeros((T, max_same, K), np.float32)
    known = np.zeros((T, max_same, K), bool)
    cnt = np.zeros((T, K), np.int64)
    for t in range(T):
        for m in _frame_order(cid[t], sid[t]):
            k = int(cid[t, m])
            if cnt[t, k] >= max_same:
                continue
            j = cnt[t, k]
            v = doa[t, m]
            acc[t, j, k] = v / max(float(np.linalg.norm(v)), 1e-9)
            if np.isfinite(dist[t, m]):
                accd[t, j, k] = dist[t, m]
                known[t, j, k] = True
            cnt[t, k] += 1
    return {"acc_doa": acc, "acc_dist": accd, "acc_dist_known": known, "acc_count": cnt}


def build_targets(labels, num_classes: int, num_tracks: int = 3) -> dict:
    """Both target kinds (cheap; the loss picks what it needs)."""
    out = trackwise_targets(labels, num_classes, num_tracks)
    out.update(accdoa_targets(labels, num_classes))
    return out


class SimpleLabels:
    """Minimal stand-in with the SceneLabels fields (tests, synthetic data)."""

    def __init__(self, class_id, doa, distance=None, source_id=None, class_names=None):
        self.class_id = np.asarray(class_id)
        self.doa = np.asarray(doa, np.float32)
        self.distance = (np.full(self.class_id.shape, np.nan, np.float32) if distance is None
                         else np.asarray(distance, np.float32))
        self.source_id = (np.tile(np.arange(self.class_id.shape[1]), (self.class_id.shape[0], 1))
                          if source_id is None else np.asarray(source_id))
        self.class_names = class_names

"""Run a network over whole clips, decode to SceneLabels, score, calibrate."""
from __future__ import annotations

import numpy as np
import torch

from seld_ros.constants import LABEL_HOP_S
from seld_ros.data.labels import SceneLabels
from seld_ros.decode import TrackDecoder
from seld_ros.metrics.seld import score_scenes


@torch.no_grad()
def predict_clip(model, features: np.ndarray, chunk_labels: int = 50, frames_per_label: int = 5,
                 device="cpu", batch: int = 16, semantic: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """features (C, T, F) -> outputs dict (batch dim removed), L = T // 5 frames.
    The clip is cut into consecutive windows of ``chunk_labels`` frames (the
    length the network was trained on); the last window is padded.
    ``semantic`` (L, *D): YAMNet's cached fixed part per label frame (``semantic: yamnet`` networks)."""
    model.eval()
    C, T, F = features.shape
    L = T // frames_per_label
    w = chunk_labels * frames_per_label
    n = max(1, -(-L // chunk_labels))
    x = np.empty((n, C, w, F), np.float32)
    for j in range(n):
        seg = features[:, j * w:(j + 1) * w].astype(np.float32)
        if seg.shape[1] < w:
            fill = np.broadcast_to(features.min(axis=1, keepdims=True), (C, w - seg.shape[1], F))
            seg = np.concatenate([seg, fill], axis=1)
        x[j] = seg
    sem = None
    if semantic is not None:
        sem = np.zeros((n * chunk_labels,) + semantic.shape[1:], np.float32)
        sem[:min(L, semantic.shape[0])] = semantic[:L]
        sem = sem.reshape((n, chunk_labels) + semantic.shape[1:])
    outs = []
    for j in range(0, n, batch):
        kw = {} if sem is None else {"semantic": torch.from_numpy(sem[j:j + batch]).to(device)}
        o = model(torch.from_numpy(x[j:j + batch]).to(device), **kw)
        outs.append([t.float().cpu().numpy() for t in o])
    res = {}
    for k, name in enumerate(model.output_names):
        a = np.concatenate([o[k] for o in outs], axis=0)      # (n, chunk, ...)
        res[name] = a.reshape((-1,) + a.shape[2:])[:L]
    return res


def events_to_labels(frames, class_names, frame_hop_s: float = LABEL_HOP_S):
    """Decoded events per frame -> SceneLabels (source id = rank within frame/class)."""
    T = len(frames)
    M = max(1, max((len(f) for f in frames), default=1))
    cid = np.full((T, M), -1, np.int16)
    sid = np.full((T, M), -1, np.int32)
    doa = np.zeros((T, M, 3), np.float32)
    dist = np.full((T, M), np.nan, np.float32)
    for t, evs in enumerate(frames):
        seen: dict[int, int] = {}
        for m, e in enumerate(evs):
            cid[t, m] = e.class_id
            sid[t, m] = seen.get(e.class_id, 0)
            seen[e.class_id] = sid[t, m] + 1
            doa[t, m] = e.doa
            dist[t, m] = e.distance
    return SceneLabels(class_id=cid, source_id=sid, doa=doa, distance=dist, class_names=tuple(class_names),
                       frame_hop_s=frame_hop_s)


def clip_reference(clip, class_names):
    return SceneLabels(class_id=clip.class_id.astype(np.int16), source_id=clip.source_id.astype(np.int32),
                       doa=clip.doa.astype(np.float32), distance=clip.distance.astype(np.float32),
                       class_names=tuple(class_names))


def score(refs, preds, eval_dist: bool = False, mode: str = "dcase2024"):
    """``mode`` "dcase2024" (3-D DOA, FOA models) or "dcase2025" (front-folded azimuth, stereo models)."""
    return score_scenes(refs, preds, mode=mode, eval_dist=eval_dist)


def summarize(scores) -> dict:
    d = scores.to_dict()
    out = {}
    for agg in ("macro", "micro"):
        for k in ("f", "doa_error", "loc_recall", "error_rate", "seld", "dist_error", "rel_dist_error"):
            v = d[agg].get(k)
            if v is not None:
                out[f"{agg}_{k}"] = v
    out["classes_present"] = d["classes_present"]
    return out


def calibrate_thresholds(outputs_list, refs, class_names, output_mode: str, merge_angle_deg: float = 20.0,
                         grid=None, default: float = 0.5, metric_mode: str = "dcase2024"):
    """Per-class activity thresholds maximising F20 on validation clips.

    Decoding and scoring are per class (merging is same-class only), so one
    sweep with a shared threshold gives every class's F at every grid value;
    each class takes its best value (ties -> the value closest to 0.5). Classes
    absent from the validation reference keep ``default``.
    Returns (thresholds list, {threshold: macro F}).
    """
    grid = list(grid if grid is not None else np.round(np.arange(0.1, 0.91, 0.05), 3))
    K = len(class_names)
    per_class = np.zeros((len(grid), K))
    macro = {}
    for gi, th in enumerate(grid):
        dec = TrackDecoder(class_names, th, output_mode, merge_angle_deg)
        preds = [events_to_labels(dec.decode(o), class_names) for o in outputs_list]
        sc = score(refs, preds, mode=metric_mode)
        per_class[gi] = np.nan_to_num(sc.f, nan=0.0)
        macro[float(th)] = float(sc.macro["f"])
    present = np.array([sum(int(np.any(r.class_id == k)) for r in refs) > 0 for k in range(K)])
    th = []
    for k in range(K):
        if not present[k]:
            th.append(float(default))
            continue
        best = per_class[:, k].max()
        cands = [g for gi, g in enumerate(grid) if per_class[gi, k] >= best - 1e-9]
        th.append(float(min(cands, key=lambda g: abs(g - 0.5))))
    return th, macro

"""Network outputs -> sound events per 100 ms frame. ROS-free; shared by
evaluation and the node.

Two output layouts are understood (see ``seld_ros.model.layers.SeldHead``):

* ``trackwise``: ``activity_logits`` (L, N, K), ``doa`` (L, N, 3)
  [, ``distance`` (L, N)] — a track emits class k when sigmoid(logit) exceeds
  the class threshold; its DOA is the track's unit vector.
* ``multi_accdoa``: ``accdoa`` (L, N, K, 3) [, ``distance`` (L, N, K)] — the
  vector length is the activity, its direction the DOA.

Same-class events closer than ``merge_angle_deg`` are merged into one
(confidence-weighted mean direction, max confidence): two tracks (or two
ACCDOA slots) often describe the same source.

``front_folded`` (stereo bundles, DCASE 2025): a left/right pair cannot tell
front from back nor up from down, so its DOAs are projected onto the front half
of the horizontal plane before merging (``fold_front``: x -> |x|, z -> 0,
renormalised; azimuth in [-90, 90] deg, elevation 0). Activity is read from the
network's vector as it is (an ACCDOA vector's length before the projection).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np


@dataclass
class Event:
    """One detected sound event in one 100 ms frame."""

    class_id: int
    class_name: str
    confidence: float
    doa: np.ndarray = field(repr=False)  # unit vector (x, y, z), x forward, y left, z up
    distance: float = float("nan")       # metres, NaN when unknown

    @property
    def azimuth(self) -> float:
        """Radians, counter-clockwise from +x."""
        return float(math.atan2(self.doa[1], self.doa[0]))

    @property
    def elevation(self) -> float:
        """Radians, up from the x-y plane."""
        return float(math.asin(max(-1.0, min(1.0, float(self.doa[2])))))


def fold_front(doa: np.ndarray) -> np.ndarray:
    """Project unit vectors (..., 3) onto the front half of the horizontal plane: (|x|, y, 0), renormalised.

    The azimuth a becomes a for |a| <= 90 deg and its front mirror image +-180 deg - a otherwise (DCASE 2025's
    fold); elevation becomes 0. A vector with no horizontal part (straight up/down) becomes (1, 0, 0)."""
    d = np.array(doa, dtype=np.float64, copy=True)
    d[..., 0] = np.abs(d[..., 0])
    d[..., 2] = 0.0
    n = np.linalg.norm(d, axis=-1, keepdims=True)
    flat = n[..., 0] < 1e-9
    d = d / np.maximum(n, 1e-9)
    d[flat] = (1.0, 0.0, 0.0)
    return d


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-9)


class TrackDecoder:
    """Decode network outputs of one clip/block (batch dim removed)."""

    def __init__(self, class_names: Sequence[str], thresholds=0.5, output_mode: str = "trackwise",
                 merge_angle_deg: float = 20.0, front_folded: bool = False):
        if output_mode not in ("trackwise", "multi_accdoa"):
            raise ValueError(f"output_mode {output_mode!r}: trackwise | multi_accdoa")
        self.class_names = list(class_names)
        K = len(self.class_names)
        th = np.asarray(thresholds, dtype=np.float64)
        self.thresholds = np.full(K, float(th)) if th.ndim == 0 else th.reshape(-1)
        if self.thresholds.shape[0] != K:
            raise ValueError(f"{self.thresholds.shape[0]} thresholds for {K} classes")
        self.output_mode = output_mode
        self.merge_cos = math.cos(math.radians(merge_angle_deg))
        self.front_folded = bool(front_folded)  # project DOAs to the front half-plane (stereo bundles)

    def scores(self, outputs: Mapping[str, np.ndarray]):
        """Per-slot activity scores (L, S, K), DOAs (L, S, K, 3), distances
        (L, S, K) — a uniform view of both output layouts."""
        if self.output_mode == "trackwise":
            act = _sigmoid(np.asarray(outputs["activity_logits"], dtype=np.float64))  # L,N,K
            doa = _unit(np.asarray(outputs["doa"], dtype=np.float64))                 # L,N,3
            L, N, K = act.shape
            doa = np.broadcast_to(doa[:, :, None, :], (L, N, K, 3))
            if "distance" in outputs:
                dist = np.broadcast_to(np.asarray(outputs["distance"], np.float64)[:, :, None], (L, N, K))
            else:
                dist = np.full((L, N, K), np.nan)
        else:
            acc = np.asarray(outputs["accdoa"], dtype=np.float64)  # L,N,K,3
            act = np.linalg.norm(acc, axis=-1)
            doa = _unit(acc)
            dist = (np.asarray(outputs["distance"], np.float64) if "distance" in outputs
                    else np.full(act.shape, np.nan))
        if self.front_folded:
            doa = fold_front(doa)
        if act.shape[-1] != len(self.class_names):
            raise ValueError(f"outputs have {act.shape[-1]} classes, decoder {len(self.class_names)}")
        return act, doa, dist

    def decode(self, outputs: Mapping[str, np.ndarray]) -> list[list[Event]]:
        act, doa, dist = self.scores(outputs)
        frames: list[list[Event]] = []
        on = act > self.thresholds[None, None, :]
        for l in range(act.shape[0]):
            events: list[Event] = []
            slots, classes = np.nonzero(on[l])
            for k in np.unique(classes):
                sel = slots[classes == k]
                # strongest first; merge weaker same-class slots pointing the same way
                sel = sel[np.argsort(-act[l, sel, k])]
                groups: list[list[int]] = []
                for s in sel:
                    for g in groups:
                        if float(np.dot(doa[l, g[0], k], doa[l, s, k])) >= self.merge_cos:
                            g.append(s)
                            break
                    else:
                        groups.append([s])
                for g in groups:
                    w = act[l, g, k]
                    d = _unit((doa[l, g, k] * w[:, None]).sum(axis=0))
                    dd = dist[l, g, k]
                    distance = float(np.sum(dd * w) / np.sum(w)) if np.all(np.isfinite(dd)) else float("nan")
                    events.append(Event(int(k), self.class_names[k], float(min(1.0, w.max())),
                                        d.astype(np.float32), distance))
            frames.append(events)
        return frames

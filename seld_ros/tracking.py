"""Persistent tracks from per-frame sound events.

The network says, for every 100 ms frame, which classes are active and from
where. Behaviour nodes want more: "the same footsteps as before, now here". The
tracker gives each physical source a persistent id:

* association per class (a knock never continues a footsteps track), by the
  Hungarian method on the angle between the track's predicted direction and
  each detection, with a gate;
* a track is confirmed after ``birth_frames`` hits (suppresses one-frame blips),
  or at once when its first detection is confident (``confirm_confidence``:
  the network's own activity says the sound is there, so the track is
  published from the frame where the sound starts instead of one frame late);
  it dies after ``death_frames`` consecutive misses (bridges short pauses: a
  speaker taking a breath keeps their id);
* each track's direction follows an alpha-beta filter on the unit sphere (a
  tangent-plane velocity), so two same-class sources that cross keep their ids:
  the prediction carries each track through the crossing.

ROS-free: numpy and scipy only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass
class Detection:
    """One event of one frame, as the decoder emits it."""

    class_id: int
    confidence: float
    doa: np.ndarray  # unit vector (3,)
    distance: float = float("nan")
    class_name: str = ""


@dataclass
class TrackedEvent:
    """A confirmed track's state in the current frame (what the node publishes)."""

    track_id: int
    class_id: int
    class_name: str
    confidence: float
    doa: np.ndarray
    distance: float
    first_frame: int
    age_frames: int
    first_stamp_ns: int = 0  # acquisition time of the track's first frame (SoundEvent.first_stamp)


@dataclass
class TrackerConfig:
    gate_deg: float = 30.0  # max angle between prediction and detection to associate
    birth_frames: int = 2  # hits needed before a track is published
    # a new track whose first detection has at least this confidence is published at once (from its first
    # frame: no publication lag); weaker ones wait for birth_frames hits. > 1 disables (the old rule).
    confirm_confidence: float = 0.5
    death_frames: int = 5  # consecutive missed frames before a track is dropped
    alpha: float = 0.6  # direction smoothing (1 = no smoothing)
    beta: float = 0.1  # angular-velocity gain (0 = constant-direction model)
    confidence_alpha: float = 0.5  # EMA weight of the newest confidence
    distance_alpha: float = 0.3  # EMA weight of the newest distance
    frame_s: float = 0.1

    def validate(self) -> "TrackerConfig":
        if not 0.0 < self.gate_deg <= 180.0:
            raise ValueError(f"tracker gate_deg must be in (0, 180], got {self.gate_deg}")
        if self.birth_frames < 1 or self.death_frames < 1:
            raise ValueError("tracker birth_frames and death_frames must be >= 1")
        for name in ("alpha", "confidence_alpha", "distance_alpha"):
            v = getattr(self, name)
            if not 0.0 < v <= 1.0:
                raise ValueError(f"tracker {name} must be in (0, 1], got {v}")
        if not 0.0 <= self.confirm_confidence:
            raise ValueError(f"tracker confirm_confidence must be >= 0 (> 1 disables it), got {self.confirm_confidence}")
        if not 0.0 <= self.beta < 1.0:
            raise ValueError(f"tracker beta must be in [0, 1), got {self.beta}")
        return self


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-12 else np.array([1.0, 0.0, 0.0])


@dataclass
class _Track:
    track_id: int
    class_id: int
    class_name: str
    doa: np.ndarray
    velocity: np.ndarray  # tangent-plane angular velocity, per frame
    confidence: float
    distance: float
    first_frame: int
    first_stamp_ns: int = 0
    hits: int = 1
    misses: int = 0
    age: int = 1
    confirmed: bool = False
    updated: bool = True

    def predicted(self) -> np.ndarray:
        return _unit(self.doa + self.velocity)


@dataclass
class Tracker:
    config: TrackerConfig = field(default_factory=TrackerConfig)

    def __post_init__(self):
        self.config.validate()
        self._tracks: list[_Track] = []
        self._next_id = 1

    def reset(self) -> None:
        """Forget every track (ids keep increasing: they are never reused)."""
        self._tracks.clear()

    @property
    def num_tracks(self) -> int:
        return len(self._tracks)

    def update(self, detections: list[Detection], frame_index: int, stamp_ns: int = 0) -> list[TrackedEvent]:
        """Advance one output frame (its audio time ``stamp_ns``: a track born now keeps it as its first stamp);
        return the confirmed tracks observed in this frame."""
        cfg = self.config
        cos_gate = math.cos(math.radians(cfg.gate_deg))
        for tr in self._tracks:
            tr.updated = False
        by_class: dict[int, list[int]] = {}
        for i, det in enumerate(detections):
            by_class.setdefault(int(det.class_id), []).append(i)

        for class_id, det_idx in by_class.items():
            tracks = [t for t in self._tracks if t.class_id == class_id]
            dets = [detections[i] for i in det_idx]
            unmatched = set(range(len(dets)))
            if tracks:
                pred = np.stack([t.predicted() for t in tracks])
                obs = np.stack([_unit(np.asarray(d.doa, dtype=float)) for d in dets])
                cos = np.clip(pred @ obs.T, -1.0, 1.0)
                cost = np.arccos(cos)
                # unreachable pairs get a large finite cost so the assignment stays feasible
                cost = np.where(cos >= cos_gate, cost, 1e6)
                rows, cols = linear_sum_assignment(cost)
                for r, c in zip(rows, cols):
                    if cost[r, c] >= 1e6:
                        continue
                    self._correct(tracks[r], dets[c], obs[c])
                    unmatched.discard(c)
            for c in sorted(unmatched):
                self._birth(dets[c], frame_index, stamp_ns)

        survivors = []
        for tr in self._tracks:
            if not tr.updated:
                tr.misses += 1
                tr.age += 1
                # coast along the predicted direction while missing
                tr.doa = tr.predicted()
            if tr.misses < cfg.death_frames and (tr.confirmed or tr.misses == 0):
                survivors.append(tr)
        self._tracks = survivors
        out = []
        for tr in self._tracks:
            if tr.updated and tr.confirmed:
                out.append(
                    TrackedEvent(tr.track_id, tr.class_id, tr.class_name, tr.confidence, tr.doa.copy(),
                                 tr.distance, tr.first_frame, tr.age, tr.first_stamp_ns)
                )
        return out

    # -- internals -----------------------------------------------------------------
    def _birth(self, det: Detection, frame_index: int, stamp_ns: int) -> None:
        tr = _Track(
            track_id=self._next_id,
            class_id=int(det.class_id),
            class_name=det.class_name,
            doa=_unit(np.asarray(det.doa, dtype=float)),
            velocity=np.zeros(3),
            confidence=float(det.confidence),
            distance=float(det.distance),
            first_frame=frame_index,
            first_stamp_ns=int(stamp_ns),
        )
        self._next_id += 1
        tr.confirmed = tr.hits >= self.config.birth_frames or tr.confidence >= self.config.confirm_confidence
        self._tracks.append(tr)

    def _correct(self, tr: _Track, det: Detection, obs: np.ndarray) -> None:
        cfg = self.config
        pred = tr.predicted()
        residual = obs - pred
        residual -= np.dot(residual, pred) * pred  # keep it in the tangent plane
        tr.doa = _unit(pred + cfg.alpha * residual)
        tr.velocity = tr.velocity + cfg.beta * residual
        tr.velocity -= np.dot(tr.velocity, tr.doa) * tr.doa
        tr.confidence = (1 - cfg.confidence_alpha) * tr.confidence + cfg.confidence_alpha * float(det.confidence)
        if math.isfinite(det.distance):
            tr.distance = (
                float(det.distance)
                if not math.isfinite(tr.distance)
                else (1 - cfg.distance_alpha) * tr.distance + cfg.distance_alpha * float(det.distance)
            )
        tr.hits += 1
        tr.misses = 0
        tr.age += 1
        tr.updated = True
        if tr.hits >= cfg.birth_frames:
            tr.confirmed = True

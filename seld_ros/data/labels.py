"""One in-memory label representation for every DCASE format and for the scene generator.

``SceneLabels`` stores, per 100 ms label frame, up to M simultaneous events ("slots"). A slot holds a class index, a
source (track) id, a unit DOA vector in the microphone frame (x forward, y left, z up) and a distance in metres.
Readers in :mod:`seld_ros.data.dcase` convert every file format (and unit) into this; nothing downstream needs to know
which format a file was.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from seld_ros.constants import LABEL_HOP_S
from seld_ros.data.geometry import azel_to_xyz, normalize, xyz_to_azel


class LabelError(ValueError):
    """Raised for malformed label data (bad rows, unknown classes, wrong units)."""


@dataclass
class SceneLabels:
    """Events per 100 ms label frame. M = max simultaneous events stored (slots).

    class_id:  int16 (T, M), -1 = empty slot
    source_id: int32 (T, M), -1 = empty
    doa:       float32 (T, M, 3) unit vectors x fwd, y left, z up (0 where empty)
    distance:  float32 (T, M) metres, NaN = unknown (and NaN where empty)
    """

    class_id: np.ndarray
    source_id: np.ndarray
    doa: np.ndarray
    distance: np.ndarray
    class_names: tuple[str, ...]
    frame_hop_s: float = LABEL_HOP_S

    def __post_init__(self) -> None:
        self.class_id = np.asarray(self.class_id, dtype=np.int16)
        if self.class_id.ndim != 2:
            raise LabelError(f"class_id must be (T, M), got shape {self.class_id.shape}")
        t, m = self.class_id.shape
        self.source_id = np.asarray(self.source_id, dtype=np.int32)
        self.doa = np.asarray(self.doa, dtype=np.float32)
        self.distance = np.asarray(self.distance, dtype=np.float32)
        self.class_names = tuple(self.class_names)
        if self.source_id.shape != (t, m) or self.doa.shape != (t, m, 3) or self.distance.shape != (t, m):
            raise LabelError(
                f"inconsistent shapes: class_id {self.class_id.shape}, source_id {self.source_id.shape}, "
                f"doa {self.doa.shape} (want (T, M, 3)), distance {self.distance.shape}")
        if self.class_id.size and int(self.class_id.max()) >= len(self.class_names):
            raise LabelError(f"class index {int(self.class_id.max())} out of range for "
                             f"{len(self.class_names)} classes {self.class_names}")
        if self.class_id.size and int(self.class_id.min()) < -1:
            raise LabelError("class_id must be >= 0, or -1 for an empty slot")
        if self.frame_hop_s <= 0:
            raise LabelError(f"frame_hop_s must be > 0, got {self.frame_hop_s}")

    # ------------------------------------------------------------------ basic properties
    @property
    def num_frames(self) -> int:
        return int(self.class_id.shape[0])

    @property
    def max_events(self) -> int:
        return int(self.class_id.shape[1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def active(self) -> np.ndarray:
        """bool (T, M): slot holds an event."""
        return self.class_id >= 0

    @property
    def duration_s(self) -> float:
        return self.num_frames * self.frame_hop_s

    def __len__(self) -> int:
        return self.num_frames

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty(cls, num_frames: int, class_names: Sequence[str], max_events: int = 1,
              frame_hop_s: float = LABEL_HOP_S) -> "SceneLabels":
        t, m = int(num_frames), max(1, int(max_events))
        return cls(class_id=np.full((t, m), -1, np.int16), source_id=np.full((t, m), -1, np.int32),
                   doa=np.zeros((t, m, 3), np.float32), distance=np.full((t, m), np.nan, np.float32),
                   class_names=tuple(class_names), frame_hop_s=frame_hop_s)

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence], class_names: Sequence[str], num_frames: int | None = None,
                  frame_hop_s: float = LABEL_HOP_S, max_events: int | None = None) -> "SceneLabels":
        """Build from DCASE rows ``(frame, class, source, azimuth_deg, elevation_deg, distance_m)``.

        ``class`` may be an index or a class name; ``distance_m`` may be NaN/None (unknown). Rows of one frame keep
        their order in the slots. ``num_frames`` defaults to last frame + 1; rows beyond it raise.
        """
        class_names = tuple(class_names)
        name_to_idx = {n: i for i, n in enumerate(class_names)}
        parsed = []
        for k, row in enumerate(rows):
            if len(row) != 6:
                raise LabelError(f"row {k}: expected 6 fields (frame, class, source, azimuth_deg, elevation_deg, "
                                 f"distance_m), got {len(row)}: {tuple(row)!r}")
            frame, cls_, src, az, el, dist = row
            if isinstance(cls_, str) and not cls_.lstrip("-").isdigit():
                if cls_ not in name_to_idx:
                    raise LabelError(f"row {k}: unknown class name {cls_!r}; known: {', '.join(class_names)}")
                ci = name_to_idx[cls_]
            else:
                ci = int(cls_)
                if not 0 <= ci < len(class_names):
                    raise LabelError(f"row {k}: class index {ci} out of range 0..{len(class_names) - 1}")
            fi = int(frame)
            if fi < 0:
                raise LabelError(f"row {k}: negative frame index {fi}")
            az, el = float(az), float(el)
            if not (np.isfinite(az) and np.isfinite(el)):
                raise LabelError(f"row {k}: non-finite direction azimuth={az} elevation={el}")
            if not -90.0 - 1e-6 <= el <= 90.0 + 1e-6:
                raise LabelError(f"row {k}: elevation {el} deg outside [-90, 90] (columns swapped?)")
            d = np.nan if dist is None else float(dist)
            if np.isfinite(d) and d < 0:
                raise LabelError(f"row {k}: negative distance {d}")
            parsed.append((fi, ci, int(src), az, el, d))
        last = max((p[0] for p in parsed), default=-1)
        t = last + 1 if num_frames is None else int(num_frames)
        if last >= t:
            raise LabelError(f"frame {last} beyond num_frames={t}")
        counts = np.zeros(max(t, 1), np.int64)
        for p in parsed:
            counts[p[0]] += 1
        m = max(1, int(counts.max()) if parsed else 1, int(max_events or 1))
        out = cls.empty(t, class_names, m, frame_hop_s)
        fill = np.zeros(max(t, 1), np.int64)
        for fi, ci, src, az, el, d in parsed:
            s = fill[fi]
            fill[fi] += 1
            out.class_id[fi, s] = ci
            out.source_id[fi, s] = src
            out.doa[fi, s] = azel_to_xyz(az, el)
            out.distance[fi, s] = d
        return out

    def to_rows(self) -> list[tuple[int, int, int, float, float, float]]:
        """DCASE rows ``(frame, class, source, azimuth_deg, elevation_deg, distance_m)`` in frame/slot order."""
        az, el = xyz_to_azel(self.doa)
        rows = []
        for fi, s in zip(*np.nonzero(self.active)):
            rows.append((int(fi), int(self.class_id[fi, s]), int(self.source_id[fi, s]), float(az[fi, s]),
                         float(el[fi, s]), float(self.distance[fi, s])))
        return rows

    # ------------------------------------------------------------------ views
    def slice_frames(self, start: int, stop: int) -> "SceneLabels":
        """Frames [start, stop); frames past the end are padded as empty (so fixed-length chunks are easy)."""
        start, stop = int(start), int(stop)
        if start < 0 or stop < start:
            raise LabelError(f"bad frame range [{start}, {stop})")
        out = SceneLabels.empty(stop - start, self.class_names, self.max_events, self.frame_hop_s)
        n = max(0, min(stop, self.num_frames) - start)
        if n:
            out.class_id[:n] = self.class_id[start:start + n]
            out.source_id[:n] = self.source_id[start:start + n]
            out.doa[:n] = self.doa[start:start + n]
            out.distance[:n] = self.distance[start:start + n]
        return out

    def __getitem__(self, item) -> "SceneLabels":
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise TypeError("SceneLabels supports frame slicing with step 1 only, e.g. labels[10:60]")
        n = self.num_frames
        start = 0 if item.start is None else (item.start + n if item.start < 0 else item.start)
        stop = n if item.stop is None else (item.stop + n if item.stop < 0 else item.stop)
        return self.slice_frames(max(0, start), max(max(0, start), stop))  # past the end pads with empty frames

    def with_num_frames(self, num_frames: int) -> "SceneLabels":
        """Truncate or pad (empty) to ``num_frames``."""
        return self.slice_frames(0, num_frames)

    def with_max_events(self, max_events: int) -> "SceneLabels":
        """Re-slot to ``max_events`` slots (raises if a frame holds more events)."""
        need = int(self.active.sum(axis=1).max()) if self.num_frames else 0
        if max_events < need:
            raise LabelError(f"a frame holds {need} events, cannot store them in {max_events} slots")
        out = SceneLabels.empty(self.num_frames, self.class_names, max_events, self.frame_hop_s)
        for fi in range(self.num_frames):
            idx = np.nonzero(self.active[fi])[0]
            k = len(idx)
            out.class_id[fi, :k] = self.class_id[fi, idx]
            out.source_id[fi, :k] = self.source_id[fi, idx]
            out.doa[fi, :k] = self.doa[fi, idx]
            out.distance[fi, :k] = self.distance[fi, idx]
        return out

    def events_in_frame(self, frame: int) -> list[tuple[int, int, np.ndarray, float]]:
        """[(class, source, doa(3,), distance_m)] of one frame."""
        return [(int(self.class_id[frame, s]), int(self.source_id[frame, s]), self.doa[frame, s],
                 float(self.distance[frame, s])) for s in np.nonzero(self.active[frame])[0]]

    def event_counts(self) -> dict[str, int]:
        """Number of distinct (class, source) events per class name (contiguous runs of one source count once)."""
        counts = {n: 0 for n in self.class_names}
        prev: set[tuple[int, int]] = set()
        for fi in range(self.num_frames):
            cur = {(int(c), int(s)) for c, s in zip(self.class_id[fi], self.source_id[fi]) if c >= 0}
            for c, _ in cur - prev:
                counts[self.class_names[c]] += 1
            prev = cur
        return counts

    def normalized(self) -> "SceneLabels":
        """Copy with DOA vectors renormalised to unit length (zeros stay zero)."""
        doa = np.where(self.active[..., None], normalize(self.doa), 0.0)
        return SceneLabels(self.class_id.copy(), self.source_id.copy(), doa, self.distance.copy(), self.class_names,
                           self.frame_hop_s)

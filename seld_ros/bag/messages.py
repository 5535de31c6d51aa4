"""seld_ros messages in bags: the rosbags type provider of seld_ros.messages (the one builder the node uses too, so
a results bag written offline reads exactly like a recording of the node), and what only bags need: reference labels
as event messages and back, and zero-valued messages of any registered type."""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np

from seld_ros.bag.plot import WatchPoint
from seld_ros.bag.types import seld_typestore
from seld_ros.constants import LABEL_HOP_S, NS
from seld_ros.data.labels import LabelError, SceneLabels
from seld_ros.messages import (  # noqa: F401 (re-exported: the bag tools' names for them)
    AUDIO_MSGTYPE,
    EVENTS_MSGTYPE,
    MARKERS_MSGTYPE,
    MIRROR_ALPHA,
    MessageBuilder,
    MessageTypes,
    arrow_length,
    audio_from_msg,
    class_rgb,
    label_text,
    time_to_ns,
)

AUDIO_COMMON_STAMPED = "audio_common_msgs/msg/AudioDataStamped"
AUDIO_COMMON_DATA = "audio_common_msgs/msg/AudioData"
AUDIO_COMMON_INFO = "audio_common_msgs/msg/AudioInfo"
AUDIO_STAMPED = "audio_common_msgs/msg/AudioStamped"  # mgonzs13/audio_common


class RosbagsTypes(MessageTypes):
    """rosbags dataclasses of the seld_ros typestore. They take every field: those not given get their zero (or
    .msg default) value, from the typestore's field definitions, so any distribution's Marker works."""

    def __init__(self) -> None:
        self._defaults: dict = {}

    def make(self, msgtype: str, **fields):
        base = self._defaults.get(msgtype)
        if base is None:
            zero = default_message(msgtype)
            base = self._defaults[msgtype] = {f.name: getattr(zero, f.name) for f in dataclasses.fields(zero)}
        return seld_typestore().types[msgtype](**{**base, **fields})

    def float32_array(self, values: np.ndarray):
        return np.ascontiguousarray(values, dtype=np.float32).reshape(-1)


BUILD = MessageBuilder(RosbagsTypes())
# the bag tools' names for the builder's parts
ns_to_time, ns_to_duration, header = BUILD.time, BUILD.duration, BUILD.header
audio_to_msg, sound_event, events_msg = BUILD.audio, BUILD.sound_event, BUILD.events
frame_to_events_msg, build_markers = BUILD.frame_events, BUILD.markers


def labels_to_events_msgs(labels, frame_stamp_ns: Callable[[int], int], frame_id: str,
                          frame_offset: int = 0, front_folded: bool = False) -> list:
    """Reference SceneLabels -> one SoundEventArray per label frame (empty frames included).

    track_id = the label's source id, confidence = 1, distance in metres (NaN unknown), first_stamp = start of the
    contiguous run of frames in which this (class, source) is active. ``frame_index`` of message k is
    ``frame_offset + k``; ``frame_stamp_ns(k)`` gives its stamp. ``front_folded``: the labels are DCASE 2025
    stereo references (azimuth folded to the front, elevation 0); the events say so."""
    hop_ns = int(round(labels.frame_hop_s * NS))
    out = []
    run_start: dict[tuple[int, int], int] = {}
    for k in range(labels.num_frames):
        active = {}
        evs = []
        for m in range(labels.max_events):
            c = int(labels.class_id[k, m])
            if c < 0:
                continue
            s = int(labels.source_id[k, m])
            key = (c, s)
            active[key] = run_start.get(key, k)
            evs.append(sound_event(max(s, 0), c, labels.class_names[c], 1.0, labels.doa[k, m],
                                   float(labels.distance[k, m]), frame_stamp_ns(active[key]), front_folded))
        run_start = active
        out.append(events_msg(frame_stamp_ns(k), frame_id, frame_offset + k, hop_ns, evs))
    return out


def events_msgs_to_labels(msgs: Sequence, class_names: Sequence[str], frame_offset: int = 0,
                          num_frames: int | None = None, frame_hop_s: float = LABEL_HOP_S):
    """SoundEventArray messages -> SceneLabels, frame = msg.frame_index - frame_offset (source = track_id).

    Events whose class_id is outside ``class_names`` are looked up by class_name; unknown names raise
    LabelError. Watch-list events (``outside_model_classes``: AudioSet labels, not the model's classes) are left
    out. Distances stay in metres (NaN unknown)."""
    names = tuple(class_names)
    by_name = {n: i for i, n in enumerate(names)}
    per_frame: dict[int, list] = {}
    for msg in msgs:
        fr = int(msg.frame_index) - int(frame_offset)
        if fr < 0:
            continue
        lst = per_frame.setdefault(fr, [])
        for ev in msg.events:
            if getattr(ev, "outside_model_classes", False):
                continue
            c = int(ev.class_id)
            if ev.class_name and (c >= len(names) or names[c] != ev.class_name):
                if ev.class_name not in by_name:
                    raise LabelError(f"event class {ev.class_name!r} (id {c}) is not in the class list "
                                     f"{', '.join(names)}")
                c = by_name[ev.class_name]
            if not 0 <= c < len(names):
                raise LabelError(f"event class id {c} out of range for {len(names)} classes")
            d = ev.direction
            lst.append((c, int(ev.track_id), (float(d.x), float(d.y), float(d.z)), float(ev.distance)))
    t = (max(per_frame) + 1 if per_frame else 0) if num_frames is None else int(num_frames)
    m = max([1] + [len(v) for v in per_frame.values()])
    lab = SceneLabels.empty(t, names, m, frame_hop_s)
    for fr, evs in per_frame.items():
        if fr >= t:
            continue
        for j, (c, s, doa, dist) in enumerate(evs):
            v = np.asarray(doa, dtype=np.float64)
            n = float(np.linalg.norm(v))
            lab.class_id[fr, j] = c
            lab.source_id[fr, j] = s
            lab.doa[fr, j] = v / n if n > 0 else (1.0, 0.0, 0.0)
            lab.distance[fr, j] = dist
    return lab


def watch_points_from_msgs(msgs: Sequence, frame_offset: int = 0, frame_hop_s: float = LABEL_HOP_S) -> list:
    """The watch-list events (``outside_model_classes``) of SoundEventArray messages as plot points, on the time axis
    of :func:`events_msgs_to_labels` (frame = msg.frame_index - frame_offset, at the frame's centre)."""
    out = []
    for msg in msgs:
        fr = int(msg.frame_index) - int(frame_offset)
        if fr < 0:
            continue
        for ev in msg.events:
            if getattr(ev, "outside_model_classes", False):
                d = ev.direction
                out.append(WatchPoint((fr + 0.5) * frame_hop_s, str(ev.class_name),
                                      (float(d.x), float(d.y), float(d.z))))
    return out


_NUMPY_DTYPES = {"bool": np.bool_, "byte": np.uint8, "char": np.uint8, "int8": np.int8, "uint8": np.uint8,
                 "int16": np.int16, "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32, "int64": np.int64,
                 "uint64": np.uint64, "float32": np.float32, "float64": np.float64}


def default_message(msgtype: str):
    """A message of ``msgtype`` with every field at its zero value, built from the typestore's field
    definitions (so it works whatever fields the ROS distribution's type has, e.g. Marker in Humble vs Jazzy)."""
    ts = seld_typestore()
    _, fields = ts.fielddefs[msgtype]
    values = {name: _zero_value(desc) for name, desc in fields}
    values.update(_IDL_DEFAULTS.get(msgtype, {}))
    return ts.types[msgtype](**values)


# Non-zero field defaults of the .msg files (rosbags' field definitions do not carry them); rclpy applies these.
_IDL_DEFAULTS = {"geometry_msgs/msg/Quaternion": {"w": 1.0}}


def _zero_value(desc):
    kind, spec = desc
    kind = int(kind)
    if kind == 1:  # BASE
        typ = spec[0]
        if typ == "string" or typ == "wstring":
            return ""
        if typ == "bool":
            return False
        return 0.0 if typ.startswith("float") else 0
    if kind == 2:  # NAME: nested message
        return default_message(spec)
    sub, count = spec  # 3 ARRAY (fixed size) / 4 SEQUENCE
    if int(sub[0]) == 1 and sub[1][0] in _NUMPY_DTYPES:
        return np.zeros(count if kind == 3 else 0, dtype=_NUMPY_DTYPES[sub[1][0]])
    return [_zero_value(sub) for _ in range(count)] if kind == 3 else []

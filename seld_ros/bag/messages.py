"""seld_ros messages as rosbags dataclasses, built without ROS.

The same field semantics as the node's rclpy conversions (``seld_ros/ros/conversions.py``) and markers
(``seld_ros/ros/markers.py``), so a results bag written offline reads exactly like a recording of the node:

* MultichannelAudio: stamp = acquisition time of the first sample, running ``first_sample_index``, float32
  interleaved ``data``;
* SoundEventArray: stamp = audio time of the output frame, azimuth = atan2(y, x), elevation = atan2(z, hypot(x, y))
  in radians, distance in metres (NaN unknown), ``first_stamp`` = audio time of the track's first frame,
  ``direction_front_folded`` = the frame's ``doa_front_folded`` (stereo bundles);
* MarkerArray: an arrow along each event's direction plus a text label, namespace per class, colour per class; a
  front-folded event also gets a faint "mirror" arrow at its back mirror image (x -> -x), namespace
  ``<class>/mirror``, and a "front/back?" label: the source is at one of the two.

The two small marker helpers (colour, arrow length) are re-implemented here rather than imported, because
``seld_ros.ros.markers`` imports rclpy message packages; the functions are pure and must stay in step.
"""
from __future__ import annotations

import colorsys
import math
from typing import Callable, Sequence

import numpy as np

from seld_ros.bag.types import seld_typestore
from seld_ros.constants import LABEL_HOP_S

NS = 1_000_000_000

AUDIO_MSGTYPE = "seld_ros/msg/MultichannelAudio"
EVENTS_MSGTYPE = "seld_ros/msg/SoundEventArray"
MARKERS_MSGTYPE = "visualization_msgs/msg/MarkerArray"
AUDIO_COMMON_STAMPED = "audio_common_msgs/msg/AudioDataStamped"
AUDIO_COMMON_DATA = "audio_common_msgs/msg/AudioData"
AUDIO_COMMON_INFO = "audio_common_msgs/msg/AudioInfo"
AUDIO_STAMPED = "audio_common_msgs/msg/AudioStamped"  # mgonzs13/audio_common


def _t(name: str):
    return seld_typestore().types[name]


# -- time -------------------------------------------------------------------------------------------------------
def ns_to_time(ns: int):
    return _t("builtin_interfaces/msg/Time")(sec=int(ns // NS), nanosec=int(ns % NS))


def ns_to_duration(ns: int):
    return _t("builtin_interfaces/msg/Duration")(sec=int(ns // NS), nanosec=int(ns % NS))


def time_to_ns(t) -> int:
    return int(t.sec) * NS + int(t.nanosec)


def header(stamp_ns: int, frame_id: str):
    return _t("std_msgs/msg/Header")(stamp=ns_to_time(stamp_ns), frame_id=str(frame_id))


# -- audio ------------------------------------------------------------------------------------------------------
def audio_to_msg(samples: np.ndarray, sample_rate: int, layout: str, first_sample_index: int, stamp_ns: int,
                 frame_id: str):
    """(samples, channels) float32 -> MultichannelAudio (interleaved, bit-exact float32)."""
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if samples.ndim != 2:
        raise ValueError(f"samples must be (samples, channels), got shape {samples.shape}")
    return _t(AUDIO_MSGTYPE)(
        header=header(stamp_ns, frame_id), first_sample_index=int(first_sample_index),
        sample_rate=int(sample_rate), channels=int(samples.shape[1]), layout=str(layout),
        data=samples.reshape(-1),
    )


def audio_from_msg(msg) -> np.ndarray:
    """MultichannelAudio -> float32 (samples, channels). Raises ValueError when len(data) is not a multiple of
    ``channels`` (a malformed message)."""
    flat = np.asarray(msg.data, dtype=np.float32).reshape(-1)
    ch = int(msg.channels)
    if ch <= 0 or flat.size % ch:
        raise ValueError(f"MultichannelAudio with channels={ch} and {flat.size} values: not a whole number of "
                         "sample frames")
    return flat.reshape(-1, ch)


# -- events -----------------------------------------------------------------------------------------------------
def sound_event(track_id: int, class_id: int, class_name: str, confidence: float, doa, distance: float,
                first_stamp_ns: int, front_folded: bool = False):
    x, y, z = (float(v) for v in doa)
    return _t("seld_ros/msg/SoundEvent")(
        track_id=int(track_id), class_id=int(class_id), class_name=str(class_name), confidence=float(confidence),
        direction=_t("geometry_msgs/msg/Vector3")(x=x, y=y, z=z),
        azimuth=math.atan2(y, x), elevation=math.atan2(z, math.hypot(x, y)),
        distance=float(distance), first_stamp=ns_to_time(first_stamp_ns),
        direction_front_folded=bool(front_folded),
    )


def events_msg(stamp_ns: int, frame_id: str, frame_index: int, duration_ns: int, events: Sequence):
    return _t(EVENTS_MSGTYPE)(header=header(stamp_ns, frame_id), frame_duration=ns_to_duration(duration_ns),
                              frame_index=int(frame_index), events=list(events))


def frame_to_events_msg(frame, frame_id: str, first_stamp_ns: Callable[[int], int]):
    """A pipeline OutputFrame -> SoundEventArray (as ``seld_ros.ros.conversions.events_to_msg``).
    ``first_stamp_ns(frame_index)`` gives a track's birth time (``SeldPipeline.frame_stamp_ns``)."""
    folded = bool(getattr(frame, "doa_front_folded", False))
    evs = [sound_event(ev.track_id, ev.class_id, ev.class_name, ev.confidence, ev.doa, ev.distance,
                       first_stamp_ns(ev.first_frame), folded) for ev in frame.events]
    return events_msg(frame.stamp_ns, frame_id, frame.frame_index, frame.duration_ns, evs)


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
    LabelError. Distances stay in metres (NaN unknown)."""
    from seld_ros.data.labels import LabelError, SceneLabels

    names = tuple(class_names)
    by_name = {n: i for i, n in enumerate(names)}
    per_frame: dict[int, list] = {}
    for msg in msgs:
        fr = int(msg.frame_index) - int(frame_offset)
        if fr < 0:
            continue
        lst = per_frame.setdefault(fr, [])
        for ev in msg.events:
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


# -- markers (same look as seld_ros/ros/markers.py) --------------------------------------------------------------
def class_rgb(class_id: int, num_classes: int) -> tuple[float, float, float]:
    """Distinct, stable hues around the colour wheel (also used by seld_ros.ros.markers)."""
    h = (class_id * 0.618033988749895) % 1.0 if num_classes > 12 else class_id / max(num_classes, 1)
    return colorsys.hsv_to_rgb(h, 0.85, 0.95)


def arrow_length(ev, mode: str, scale: float) -> float:
    if mode == "distance" and math.isfinite(ev.distance) and ev.distance > 0:
        return scale * ev.distance
    if mode == "fixed":
        return scale
    return scale * max(ev.confidence, 0.05)


MIRROR_ALPHA = 0.25  # opacity of the mirror-image arrow of a front-folded event (the main arrow: 0.9)


def label_text(ev) -> str:
    """The marker label of an event: class, confidence, track id; a front-folded one says it may be behind."""
    text = f"{ev.class_name} {ev.confidence:.2f} #{ev.track_id}"
    return text + " (front/back?)" if getattr(ev, "direction_front_folded", False) else text


def build_markers(events_msg_, num_classes: int, arrow_mode: str = "confidence", scale: float = 1.0,
                  lifetime_s: float = 0.3, show_text: bool = True):
    """SoundEventArray -> MarkerArray: per event an arrow (ns = class name) and a text label (ns + '/label');
    a front-folded event (stereo) also a faint arrow at its back mirror image (ns + '/mirror')."""
    Marker, Point, Vector3 = _t("visualization_msgs/msg/Marker"), _t("geometry_msgs/msg/Point"), \
        _t("geometry_msgs/msg/Vector3")
    Pose, Quaternion, ColorRGBA = _t("geometry_msgs/msg/Pose"), _t("geometry_msgs/msg/Quaternion"), \
        _t("std_msgs/msg/ColorRGBA")
    life = _t("builtin_interfaces/msg/Duration")(sec=int(lifetime_s), nanosec=int((lifetime_s % 1.0) * 1e9))
    base = _marker_defaults()
    markers = []
    for ev in events_msg_.events:
        length = arrow_length(ev, arrow_mode, scale)
        d = ev.direction
        r, g, b = class_rgb(ev.class_id, num_classes)
        color = ColorRGBA(r=r, g=g, b=b, a=0.9)
        ns = ev.class_name or f"class_{ev.class_id}"
        ident = int(ev.track_id % 2**31)
        tip = Point(x=d.x * length, y=d.y * length, z=d.z * length)
        markers.append(Marker(**{**base, "header": events_msg_.header, "ns": ns, "id": ident, "type": Marker.ARROW,
                                 "action": Marker.ADD, "points": [Point(x=0.0, y=0.0, z=0.0), tip],
                                 "scale": Vector3(x=0.04 * scale, y=0.08 * scale, z=0.1 * scale),
                                 "color": color, "lifetime": life}))
        if getattr(ev, "direction_front_folded", False):
            ghost = Point(x=-tip.x, y=tip.y, z=tip.z)
            markers.append(Marker(**{**base, "header": events_msg_.header, "ns": ns + "/mirror", "id": ident,
                                     "type": Marker.ARROW, "action": Marker.ADD,
                                     "points": [Point(x=0.0, y=0.0, z=0.0), ghost],
                                     "scale": Vector3(x=0.04 * scale, y=0.08 * scale, z=0.1 * scale),
                                     "color": ColorRGBA(r=r, g=g, b=b, a=MIRROR_ALPHA), "lifetime": life}))
        if show_text:
            pose = Pose(position=Point(x=tip.x, y=tip.y, z=tip.z + 0.1 * scale),
                        orientation=Quaternion(x=0.0, y=0.0, z=0.0, w=1.0))
            markers.append(Marker(**{**base, "header": events_msg_.header, "ns": ns + "/label", "id": ident,
                                     "type": Marker.TEXT_VIEW_FACING, "action": Marker.ADD, "pose": pose,
                                     "scale": Vector3(x=0.0, y=0.0, z=0.1 * scale), "color": color,
                                     "text": label_text(ev),
                                     "lifetime": life}))
    return _t(MARKERS_MSGTYPE)(markers=markers)


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


_MARKER_DEFAULTS: dict | None = None


def _marker_defaults() -> dict:
    """Zero values of every Marker field (cached; the fields we set are always replaced)."""
    global _MARKER_DEFAULTS
    if _MARKER_DEFAULTS is None:
        import dataclasses

        m = default_message("visualization_msgs/msg/Marker")
        _MARKER_DEFAULTS = {f.name: getattr(m, f.name) for f in dataclasses.fields(m)}
    return dict(_MARKER_DEFAULTS)

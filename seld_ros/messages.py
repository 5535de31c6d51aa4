"""One builder for every message seld_ros writes, and the readers of the ones it takes, without ROS.

The node builds rclpy messages and the bag tools rosbags dataclasses, from the same code: a
:class:`MessageBuilder` is given a type provider (:class:`MessageTypes`) that turns a ROS type name and field
values into a message of its stack (``seld_ros.ros.conversions.RCLPY_TYPES`` for the node,
``seld_ros.bag.messages.ROSBAGS_TYPES`` for bags). So a results bag written offline reads exactly like a recording
of the node (a test compares the serialised bytes):

* MultichannelAudio: stamp = acquisition time of the first sample, running ``first_sample_index``, float32
  interleaved ``data``;
* SoundEventArray: stamp = audio time of the output frame, azimuth = atan2(y, x), elevation = atan2(z, hypot(x, y))
  in radians, distance in metres (NaN unknown), ``first_stamp`` = audio time of the track's first frame (carried by
  the ``TrackedEvent``), ``direction_front_folded`` = the frame's ``doa_front_folded`` (stereo bundles), ``tags``
  / ``tag_scores`` = the frame's AudioSet tags of the track (``OutputFrame.tags``), then the frame's watch-list
  events (``OutputFrame.watch_events``) with ``outside_model_classes`` set;
* MarkerArray: an arrow along each event's direction plus a text label (with the top AudioSet tag), namespace per
  class, colour per class; a
  front-folded event also gets a faint "mirror" arrow at its back mirror image (x -> -x), namespace
  ``<class>/mirror``, and a "front/back?" label: the source is at one of the two.

Reading: :func:`audio_from_msg` (MultichannelAudio -> samples) and :func:`time_to_ns` work on either stack's messages.
"""
from __future__ import annotations

import colorsys
import math
from typing import Sequence

import numpy as np

from seld_ros.constants import NS

AUDIO_MSGTYPE = "seld_ros/msg/MultichannelAudio"
EVENT_MSGTYPE = "seld_ros/msg/SoundEvent"
EVENTS_MSGTYPE = "seld_ros/msg/SoundEventArray"
MARKER_MSGTYPE = "visualization_msgs/msg/Marker"
MARKERS_MSGTYPE = "visualization_msgs/msg/MarkerArray"
MIRROR_ALPHA = 0.25  # opacity of the mirror-image arrow of a front-folded event (the main arrow: 0.9)
ARROW_ALPHA = 0.9
# Marker type / action constants (visualization_msgs/Marker), the same in every distribution
MARKER_ARROW, MARKER_TEXT_VIEW_FACING, MARKER_ADD, MARKER_DELETEALL = 0, 9, 0, 3


class MessageTypes:
    """A type provider: ``make("geometry_msgs/msg/Vector3", x=1.0, ...)`` -> a message of one ROS stack, fields not
    given at their defaults; ``float32_array`` -> what that stack takes for a ``float32[]`` field."""

    def make(self, msgtype: str, **fields):
        raise NotImplementedError

    def float32_array(self, values: np.ndarray):
        raise NotImplementedError


# -- reading (either stack) -------------------------------------------------------------------------------------
def time_to_ns(t) -> int:
    return int(t.sec) * NS + int(t.nanosec)


def audio_from_msg(msg) -> np.ndarray:
    """MultichannelAudio -> float32 (samples, channels); no copy where the message's buffer allows it.

    Raises ValueError when ``data`` is not a whole number of ``channels``-channel sample frames."""
    data = msg.data
    if isinstance(data, np.ndarray):
        flat = np.asarray(data, dtype=np.float32).reshape(-1)
    else:  # rclpy: array.array('f')
        flat = np.frombuffer(data, dtype=np.float32) if len(data) else np.zeros(0, np.float32)
    channels = int(msg.channels)
    if channels <= 0 or flat.size % channels:
        raise ValueError(f"data length is not a multiple of channels={channels} ({flat.size} values)")
    return flat.reshape(-1, channels)


# -- what the markers look like (pure) --------------------------------------------------------------------------
def class_rgb(class_id: int, num_classes: int) -> tuple[float, float, float]:
    """Distinct, stable hues around the colour wheel."""
    h = (class_id * 0.618033988749895) % 1.0 if num_classes > 12 else class_id / max(num_classes, 1)
    return colorsys.hsv_to_rgb(h, 0.85, 0.95)


def arrow_length(ev, mode: str, scale: float) -> float:
    if mode == "distance" and math.isfinite(ev.distance) and ev.distance > 0:
        return scale * ev.distance
    if mode == "fixed":
        return scale
    return scale * max(ev.confidence, 0.05)


def label_text(ev) -> str:
    """The marker label of an event: class, confidence, track id, then its top AudioSet tag ("[Dog 0.81]") where
    it has one; a front-folded one says it may be behind; a watch-list event is marked "watch:"."""
    text = f"{ev.class_name} {ev.confidence:.2f} #{ev.track_id}"
    tags = getattr(ev, "tags", None)
    if getattr(ev, "outside_model_classes", False):
        text = "watch: " + text
    elif tags is not None and len(tags):
        text += f" [{tags[0]} {float(ev.tag_scores[0]):.2f}]"
    return text + " (front/back?)" if getattr(ev, "direction_front_folded", False) else text


# -- building (one stack, given by the type provider) -----------------------------------------------------------
class MessageBuilder:
    def __init__(self, types: MessageTypes):
        self.types = types
        self.make = types.make

    def time(self, ns: int):
        return self.make("builtin_interfaces/msg/Time", sec=int(ns // NS), nanosec=int(ns % NS))

    def duration(self, ns: int):
        return self.make("builtin_interfaces/msg/Duration", sec=int(ns // NS), nanosec=int(ns % NS))

    def header(self, stamp_ns: int, frame_id: str):
        return self.make("std_msgs/msg/Header", stamp=self.time(stamp_ns), frame_id=str(frame_id))

    # -- audio --------------------------------------------------------------------------------------------------
    def audio(self, samples: np.ndarray, sample_rate: int, layout: str, first_sample_index: int, stamp_ns: int,
              frame_id: str):
        """(samples, channels) float32 -> MultichannelAudio (interleaved, bit-exact float32)."""
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if samples.ndim != 2:
            raise ValueError(f"samples must be (samples, channels), got shape {samples.shape}")
        return self.make(AUDIO_MSGTYPE, header=self.header(stamp_ns, frame_id),
                         first_sample_index=int(first_sample_index), sample_rate=int(sample_rate),
                         channels=int(samples.shape[1]), layout=str(layout),
                         data=self.types.float32_array(samples.reshape(-1)))

    # -- events -------------------------------------------------------------------------------------------------
    def sound_event(self, track_id: int, class_id: int, class_name: str, confidence: float, doa, distance: float,
                    first_stamp_ns: int, front_folded: bool = False, tags: Sequence = (),
                    outside_model_classes: bool = False):
        """``tags``: the track's top AudioSet labels, ((display name, score), ...) best first."""
        x, y, z = (float(v) for v in doa)
        return self.make(
            EVENT_MSGTYPE, track_id=int(track_id), class_id=int(class_id), class_name=str(class_name),
            confidence=float(confidence), direction=self.make("geometry_msgs/msg/Vector3", x=x, y=y, z=z),
            azimuth=math.atan2(y, x), elevation=math.atan2(z, math.hypot(x, y)), distance=float(distance),
            first_stamp=self.time(first_stamp_ns), direction_front_folded=bool(front_folded),
            tags=[str(name) for name, _ in tags],
            tag_scores=self.types.float32_array(np.array([score for _, score in tags], np.float32)),
            outside_model_classes=bool(outside_model_classes),
        )

    def events(self, stamp_ns: int, frame_id: str, frame_index: int, duration_ns: int, events: Sequence):
        return self.make(EVENTS_MSGTYPE, header=self.header(stamp_ns, frame_id),
                         frame_duration=self.duration(duration_ns), frame_index=int(frame_index), events=list(events))

    def frame_events(self, frame, frame_id: str):
        """A pipeline OutputFrame -> SoundEventArray; each event's ``first_stamp_ns`` is its track's birth time, its
        ``tags`` the frame's AudioSet tags of its track; the frame's watch-list events follow the model's events
        (``outside_model_classes``)."""
        folded = bool(getattr(frame, "doa_front_folded", False))
        tags = getattr(frame, "tags", None) or {}
        evs = [self.sound_event(ev.track_id, ev.class_id, ev.class_name, ev.confidence, ev.doa, ev.distance,
                                ev.first_stamp_ns, folded, tags.get(ev.track_id, ())) for ev in frame.events]
        evs += [self.sound_event(w.track_id, w.class_id, w.class_name, w.confidence, w.doa, float("nan"),
                                 w.first_stamp_ns, False, w.tags, outside_model_classes=True)
                for w in getattr(frame, "watch_events", ())]
        return self.events(frame.stamp_ns, frame_id, frame.frame_index, frame.duration_ns, evs)

    # -- markers ------------------------------------------------------------------------------------------------
    def markers(self, events_msg, num_classes: int, arrow_mode: str = "confidence", scale: float = 1.0,
                lifetime_s: float = 0.3, show_text: bool = True):
        """SoundEventArray -> MarkerArray: per event an arrow (ns = class name) and a text label (ns + '/label');
        a front-folded event (stereo) also a faint arrow at its back mirror image (ns + '/mirror')."""
        make = self.make
        life = self.make("builtin_interfaces/msg/Duration", sec=int(lifetime_s),
                         nanosec=int((lifetime_s % 1.0) * 1e9))
        out = []
        for ev in events_msg.events:
            length = arrow_length(ev, arrow_mode, scale)
            d = ev.direction
            r, g, b = class_rgb(ev.class_id, num_classes)
            color = make("std_msgs/msg/ColorRGBA", r=r, g=g, b=b, a=ARROW_ALPHA)
            ns = ev.class_name or f"class_{ev.class_id}"
            ident = int(ev.track_id % 2**31)
            tip = (d.x * length, d.y * length, d.z * length)
            shape = make("geometry_msgs/msg/Vector3", x=0.04 * scale, y=0.08 * scale, z=0.1 * scale)  # shaft, head
            out.append(self._arrow(events_msg.header, ns, ident, tip, shape, color, life))
            if getattr(ev, "direction_front_folded", False):
                out.append(self._arrow(events_msg.header, ns + "/mirror", ident, (-tip[0], tip[1], tip[2]), shape,
                                       make("std_msgs/msg/ColorRGBA", r=r, g=g, b=b, a=MIRROR_ALPHA), life))
            if show_text:
                pose = make("geometry_msgs/msg/Pose", position=self._point(tip[0], tip[1], tip[2] + 0.1 * scale),
                            orientation=make("geometry_msgs/msg/Quaternion", x=0.0, y=0.0, z=0.0, w=1.0))
                out.append(make(MARKER_MSGTYPE, header=events_msg.header, ns=ns + "/label", id=ident,
                                type=MARKER_TEXT_VIEW_FACING, action=MARKER_ADD, pose=pose,
                                scale=make("geometry_msgs/msg/Vector3", x=0.0, y=0.0, z=0.1 * scale), color=color,
                                text=label_text(ev), lifetime=life))
        return make(MARKERS_MSGTYPE, markers=out)

    def delete_all_markers(self, frame_id: str, stamp_ns: int):
        """One DELETEALL marker: clears this node's markers from RViz (sent at shutdown)."""
        marker = self.make(MARKER_MSGTYPE, header=self.header(stamp_ns, frame_id), action=MARKER_DELETEALL)
        return self.make(MARKERS_MSGTYPE, markers=[marker])

    def _arrow(self, header, ns: str, ident: int, tip, shape, color, life):
        return self.make(MARKER_MSGTYPE, header=header, ns=ns, id=ident, type=MARKER_ARROW, action=MARKER_ADD,
                         points=[self._point(0.0, 0.0, 0.0), self._point(*tip)], scale=shape, color=color,
                         lifetime=life)

    def _point(self, x: float, y: float, z: float):
        return self.make("geometry_msgs/msg/Point", x=float(x), y=float(y), z=float(z))

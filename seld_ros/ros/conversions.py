"""Message <-> array conversions on the hot path (no copies where rclpy allows it)."""
from __future__ import annotations

import array
import math

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Vector3

from seld_ros.msg import MultichannelAudio, SoundEvent, SoundEventArray

NS = 1_000_000_000


def time_to_ns(t: Time) -> int:
    return int(t.sec) * NS + int(t.nanosec)


def ns_to_time(ns: int) -> Time:
    return Time(sec=int(ns // NS), nanosec=int(ns % NS))


def ns_to_duration(ns: int) -> Duration:
    return Duration(sec=int(ns // NS), nanosec=int(ns % NS))


def audio_from_msg(msg: MultichannelAudio) -> np.ndarray:
    """The interleaved samples as a float32 array of shape (samples, channels), sharing memory
    with the message (no copy). Shape checks live in the pipeline, which reports them."""
    flat = np.frombuffer(msg.data, dtype=np.float32) if len(msg.data) else np.zeros(0, np.float32)
    channels = int(msg.channels)
    if channels > 0 and flat.size % channels == 0:
        return flat.reshape(-1, channels)
    return flat.reshape(-1, 1)  # inconsistent: let the pipeline reject it with a precise message


def audio_to_msg(samples: np.ndarray, sample_rate: int, layout: str, first_sample_index: int,
                 stamp_ns: int, frame_id: str) -> MultichannelAudio:
    """(samples, channels) float32 -> message. array.array from bytes is ~300x faster than a list."""
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    msg = MultichannelAudio()
    msg.header.stamp = ns_to_time(stamp_ns)
    msg.header.frame_id = frame_id
    msg.first_sample_index = int(first_sample_index)
    msg.sample_rate = int(sample_rate)
    msg.channels = int(samples.shape[1])
    msg.layout = layout
    msg.data = array.array("f", samples.tobytes())
    return msg


def events_to_msg(frame, frame_id: str, first_stamp_ns) -> SoundEventArray:
    """A pipeline OutputFrame -> SoundEventArray. first_stamp_ns(frame_index) gives a track's birth time."""
    out = SoundEventArray()
    out.header.stamp = ns_to_time(frame.stamp_ns)
    out.header.frame_id = frame_id
    out.frame_duration = ns_to_duration(frame.duration_ns)
    out.frame_index = int(frame.frame_index)
    folded = bool(getattr(frame, "doa_front_folded", False))  # stereo bundle: front/back ambiguous
    for ev in frame.events:
        x, y, z = (float(v) for v in ev.doa)
        m = SoundEvent()
        m.track_id = int(ev.track_id)
        m.class_id = int(ev.class_id)
        m.class_name = ev.class_name
        m.confidence = float(ev.confidence)
        m.direction = Vector3(x=x, y=y, z=z)
        m.azimuth = math.atan2(y, x)
        m.elevation = math.atan2(z, math.hypot(x, y))
        m.distance = float(ev.distance)
        m.direction_front_folded = folded
        m.first_stamp = ns_to_time(first_stamp_ns(ev.first_frame))
        out.events.append(m)
    return out

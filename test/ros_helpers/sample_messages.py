"""Deterministic sample messages, built identically in publisher and subscriber processes,
and a field-by-field comparison that names the first differing field."""
from __future__ import annotations

import array
import math

import numpy as np


def audio_chunk(seed: int = 7, channels: int = 4, samples: int = 2400) -> np.ndarray:
    """A 100 ms 4-channel float32 chunk with awkward values (denormals, extremes, signed zero)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, channels)).astype(np.float32) * 0.3
    x[0, 0] = np.float32(1e-42)  # denormal
    x[1, 1] = np.float32(-0.0)
    x[2, 2] = np.finfo(np.float32).max
    x[3, 3] = np.finfo(np.float32).tiny
    return x


def build_messages():
    """One instance of every message type the package publishes, keyed by topic name."""
    from builtin_interfaces.msg import Duration, Time
    from geometry_msgs.msg import Point, Vector3
    from std_msgs.msg import ColorRGBA
    from visualization_msgs.msg import Marker, MarkerArray

    from seld_ros.msg import MultichannelAudio, SoundEvent, SoundEventArray

    audio = MultichannelAudio()
    audio.header.stamp = Time(sec=1_700_000_000, nanosec=123_456_789)
    audio.header.frame_id = "mic_array"
    audio.first_sample_index = 2**40 + 17
    audio.sample_rate = 24000
    audio.channels = 4
    audio.layout = MultichannelAudio.LAYOUT_FOA_ACN_SN3D
    audio.data = array.array("f", audio_chunk().tobytes())

    def event(track_id, class_id, name, conf, az, el, dist, folded=False):
        ev = SoundEvent()
        ev.track_id = track_id
        ev.class_id = class_id
        ev.class_name = name
        ev.confidence = conf
        ev.azimuth = az
        ev.elevation = el
        ev.direction = Vector3(
            x=math.cos(el) * math.cos(az), y=math.cos(el) * math.sin(az), z=math.sin(el)
        )
        ev.distance = dist
        ev.first_stamp = Time(sec=1_700_000_000, nanosec=0)
        ev.direction_front_folded = folded
        return ev

    e1 = event(3, 6, "footsteps", 0.875, 0.5, -0.25, 2.5)
    e2 = event(4_000_000_000, 12, "knock", 0.5, -3.0, 1.5, float("nan"))
    events = SoundEventArray()
    events.header.stamp = Time(sec=1_700_000_000, nanosec=100_000_000)
    events.header.frame_id = "mic_array"
    events.frame_duration = Duration(sec=0, nanosec=100_000_000)
    events.frame_index = 12345
    e3 = event(5, 2, "clapping", 0.625, -1.25, 0.0, 1.75, folded=True)  # a stereo model's event
    e1.tags = ["Walk, footsteps", "Speech"]  # AudioSet tags (issue 26)
    e1.tag_scores = array.array("f", [0.75, 0.125])
    glass = event(2**31 + 1, 435, "Glass", 0.5, 2.0, 0.25, float("nan"))  # a watch-list event
    glass.outside_model_classes = True
    events.events = [e1, e2, e3, glass]

    markers = MarkerArray()
    for i, ev in enumerate((e1, e2)):
        m = Marker()
        m.header = events.header
        m.ns = ev.class_name
        m.id = ev.track_id % 2**31
        m.type = Marker.ARROW
        m.action = Marker.ADD
        m.points = [Point(x=0.0, y=0.0, z=0.0), Point(x=ev.direction.x, y=ev.direction.y, z=ev.direction.z)]
        m.scale = Vector3(x=0.05, y=0.1, z=0.1)
        m.color = ColorRGBA(r=1.0, g=0.25 * i, b=0.0, a=0.875)  # float32 fields: values exactly representable
        m.lifetime = Duration(sec=0, nanosec=300_000_000)
        m.text = f"{ev.class_name} {ev.confidence:.2f}"
        markers.markers.append(m)
    return {"audio": audio, "events": events, "markers": markers}


def diff_fields(a, b, path: str = "msg") -> str | None:
    """Return the path of the first field where a and b differ (NaN == NaN, -0.0 != 0.0), else None."""
    if hasattr(a, "get_fields_and_field_types"):
        if type(a) is not type(b):
            return f"{path}: type {type(a).__name__} != {type(b).__name__}"
        for name in a.get_fields_and_field_types():
            d = diff_fields(getattr(a, name), getattr(b, name), f"{path}.{name}")
            if d:
                return d
        return None
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = diff_fields(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    if isinstance(a, (array.array, np.ndarray)) or isinstance(b, (array.array, np.ndarray)):
        ab = np.asarray(a).tobytes()
        bb = np.asarray(b).tobytes()
        if ab != bb:
            aa, ba = np.asarray(a), np.asarray(b)
            if aa.shape != ba.shape:
                return f"{path}: shape {aa.shape} != {ba.shape}"
            bad = np.flatnonzero(np.frombuffer(ab, np.uint8) != np.frombuffer(bb, np.uint8))
            first = int(bad[0]) // aa.itemsize
            return f"{path}: arrays differ (first at element {first})"
        return None
    if isinstance(a, float) and isinstance(b, float):
        same = (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
        return None if same else f"{path}: {a!r} != {b!r}"
    return None if a == b else f"{path}: {a!r} != {b!r}"

"""ROS-free message builders (seld_ros.bag.messages) against the node's rclpy ones.

The first tests need only rosbags. The last one compares with seld_ros.ros.conversions / markers byte for byte
and runs where the ROS overlay is sourced (scripts/env.sh); without it, it is skipped (these tools must work from
a pip install, so rclpy cannot be a requirement of this file)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from seld_ros.bag import messages as M
from seld_ros.bag.types import seld_typestore
from seld_ros.classes import STARSS23_CLASSES
from seld_ros.data.labels import SceneLabels
from seld_ros.event_tags import WATCH_TRACK_ID_BASE, WatchEvent
from seld_ros.pipeline import OutputFrame
from seld_ros.tracking import TrackedEvent

T0 = 1_700_000_000_000_000_000


def _stamp(k: int) -> int:
    return T0 + k * 100_000_000


def _frame() -> OutputFrame:
    evs = [TrackedEvent(7, 3, "telephone", 0.83, np.array([0.6, -0.64, 0.48], np.float32), 2.5, 10, 4, _stamp(10)),
           TrackedEvent(2**31 + 5, 12, "knock", 0.4, np.array([-0.3, 0.2, -0.933], np.float32), float("nan"), 12, 2,
                        _stamp(12))]
    return OutputFrame(frame_index=14, stamp_ns=_stamp(14), duration_ns=100_000_000, events=evs)


def test_events_message_fields():
    m = M.frame_to_events_msg(_frame(), "mic")
    assert M.time_to_ns(m.header.stamp) == _stamp(14) and m.frame_index == 14 and m.header.frame_id == "mic"
    a, b = m.events
    assert (a.track_id, a.class_id, a.class_name) == (7, 3, "telephone")
    assert math.isclose(a.azimuth, math.atan2(-0.64, 0.6), rel_tol=1e-6)
    assert math.isclose(a.elevation, math.atan2(0.48, math.hypot(0.6, -0.64)), rel_tol=1e-6)
    assert M.time_to_ns(a.first_stamp) == _stamp(10) and math.isnan(b.distance)
    ts = seld_typestore()
    back = ts.deserialize_cdr(ts.serialize_cdr(m, M.EVENTS_MSGTYPE), M.EVENTS_MSGTYPE)
    assert back.events[0].class_name == "telephone" and math.isnan(back.events[1].distance)


def test_markers_arrow_and_text_per_event():
    mk = M.build_markers(M.frame_to_events_msg(_frame(), "mic"), 13, "distance", 2.0, 0.3, True)
    kinds = [(x.ns, x.type, x.id) for x in mk.markers]
    assert kinds == [("telephone", 0, 7), ("telephone/label", 9, 7), ("knock", 0, 5), ("knock/label", 9, 5)]
    arrow = mk.markers[0]
    assert math.isclose(arrow.points[1].x, 0.6 * 2.0 * 2.5, rel_tol=1e-6)  # distance mode: scale * distance
    knock = mk.markers[2]
    assert math.isclose(knock.points[1].z, -0.933 * 2.0 * 0.4, rel_tol=1e-5)  # NaN distance: confidence
    assert mk.markers[1].pose.orientation.w == 1.0 and mk.markers[1].text == "telephone 0.83 #7"
    assert M.time_to_ns(arrow.lifetime) == 300_000_000
    assert M.build_markers(M.events_msg(0, "mic", 0, 100_000_000, []), 13).markers == []


def _tagged_frame() -> OutputFrame:
    """A frame with AudioSet tags on one track and a watch-list event (issue 26)."""
    fr = _frame()
    fr.tags = {7: (("Telephone bell ringing", 0.75), ("Ringtone", 0.5))}
    fr.watch_events = [WatchEvent(WATCH_TRACK_ID_BASE + 1, 435, "Glass", 0.625,
                                  np.array([0.0, 1.0, 0.0], np.float32), _stamp(13), (("Glass", 0.625),))]
    return fr


def test_tags_and_watch_events_round_trip_and_label_the_markers():
    m = M.frame_to_events_msg(_tagged_frame(), "mic")
    ts = seld_typestore()
    back = ts.deserialize_cdr(ts.serialize_cdr(m, M.EVENTS_MSGTYPE), M.EVENTS_MSGTYPE)
    phone, knock, glass = back.events
    assert list(phone.tags) == ["Telephone bell ringing", "Ringtone"] and list(phone.tag_scores) == [0.75, 0.5]
    assert list(knock.tags) == [] and len(knock.tag_scores) == 0 and not knock.outside_model_classes
    assert (glass.track_id, glass.class_id, glass.class_name, glass.outside_model_classes) == \
        (2**31 + 1, 435, "Glass", True)
    assert glass.confidence == 0.625 and math.isnan(glass.distance)
    assert math.isclose(glass.azimuth, math.pi / 2, rel_tol=1e-6)
    assert M.time_to_ns(glass.first_stamp) == _stamp(13)
    # the 13-class evaluation reads the model's events and leaves the watch-list ones out
    lab = M.events_msgs_to_labels([M.events_msg(_stamp(14), "mic", 14, 100_000_000, [phone, glass])],
                                  STARSS23_CLASSES, frame_offset=14)
    assert [int(c) for c in lab.class_id[0] if c >= 0] == [3]
    texts = [x.text for x in M.build_markers(m, 13, "confidence", 1.0, 0.3, True).markers if x.type == 9]
    assert texts == ["telephone 0.83 #7 [Telephone bell ringing 0.75]", "knock 0.40 #2147483653",
                     "watch: Glass 0.62 #2147483649"]


def _folded_frame() -> OutputFrame:
    """What a stereo bundle's pipeline emits: directions in the front half-plane, elevation 0, flagged."""
    evs = [TrackedEvent(9, 2, "clapping", 0.7, np.array([0.6, 0.8, 0.0], np.float32), 3.0, 11, 3, _stamp(11))]
    return OutputFrame(frame_index=15, stamp_ns=_stamp(15), duration_ns=100_000_000, events=evs,
                       doa_front_folded=True)


def test_front_folded_events_carry_the_flag_and_markers_draw_the_mirror_image():
    m = M.frame_to_events_msg(_folded_frame(), "mic")
    ev = m.events[0]
    assert ev.direction_front_folded is True and ev.elevation == 0.0
    assert math.isclose(ev.azimuth, math.atan2(0.8, 0.6), rel_tol=1e-6) and ev.distance == 3.0
    assert not any(e.direction_front_folded for e in M.frame_to_events_msg(_frame(), "mic").events)
    ts = seld_typestore()
    back = ts.deserialize_cdr(ts.serialize_cdr(m, M.EVENTS_MSGTYPE), M.EVENTS_MSGTYPE)
    assert back.events[0].direction_front_folded is True
    mk = M.build_markers(m, 13, "distance", 1.0, 0.3, True)
    assert [(x.ns, x.type, x.id) for x in mk.markers] == [("clapping", 0, 9), ("clapping/mirror", 0, 9),
                                                           ("clapping/label", 9, 9)]
    front, mirror, label = mk.markers
    assert math.isclose(front.points[1].x, 0.6 * 3.0, rel_tol=1e-6) and front.color.a == pytest.approx(0.9)
    # the back mirror image: x negated, same y, faint
    assert math.isclose(mirror.points[1].x, -0.6 * 3.0, rel_tol=1e-6)
    assert math.isclose(mirror.points[1].y, front.points[1].y) and mirror.color.a == pytest.approx(M.MIRROR_ALPHA)
    assert (mirror.color.r, mirror.color.g, mirror.color.b) == (front.color.r, front.color.g, front.color.b)
    assert label.text == "clapping 0.70 #9 (front/back?)"
    # reference labels of a stereo (DCASE 2025) scene say they are folded too
    lab = SceneLabels.from_rows([(0, "bell", 0, 30, 0, 1.5)], STARSS23_CLASSES, num_frames=1)
    assert M.labels_to_events_msgs(lab, _stamp, "mic", front_folded=True)[0].events[0].direction_front_folded
    assert not M.labels_to_events_msgs(lab, _stamp, "mic")[0].events[0].direction_front_folded


def test_labels_messages_labels_round_trip():
    rows = [(2, "bell", 0, 30, 10, 1.5), (3, "bell", 0, 32, 10, 1.5), (3, "knock", 4, -170, -40, float("nan")),
            (5, "bell", 0, 40, 12, 1.6)]
    lab = SceneLabels.from_rows(rows, STARSS23_CLASSES, num_frames=8)
    msgs = M.labels_to_events_msgs(lab, _stamp, "mic", frame_offset=100)
    assert len(msgs) == 8 and [m.frame_index for m in msgs] == list(range(100, 108))
    bell3 = next(e for e in msgs[3].events if e.class_name == "bell")
    assert M.time_to_ns(bell3.first_stamp) == _stamp(2)
    bell5 = msgs[5].events[0]
    assert M.time_to_ns(bell5.first_stamp) == _stamp(5)  # a new run after a pause
    back = M.events_msgs_to_labels(msgs, STARSS23_CLASSES, frame_offset=100)
    assert back.num_frames == 8  # empty messages are frames too (silence is ground truth)
    assert np.array_equal(back.class_id, lab.class_id) and np.array_equal(back.source_id, lab.source_id)
    assert np.allclose(back.doa, lab.doa, atol=1e-7)
    assert np.array_equal(back.distance, lab.distance, equal_nan=True)


def test_default_message_follows_the_distribution_fields():
    m = M.default_message("visualization_msgs/msg/Marker")
    assert m.pose.orientation.w == 1.0 and m.points == [] and m.text == ""
    ts = seld_typestore()
    ts.serialize_cdr(m, "visualization_msgs/msg/Marker")


def test_same_bytes_as_the_node_conversions():
    """One builder, two type providers: the node's rclpy messages and the bag tools' rosbags ones serialise to the
    same bytes (audio, events, markers, the shutdown DELETEALL)."""
    pytest.importorskip("rclpy", reason="ROS overlay not sourced: byte comparison with rclpy skipped")
    try:
        from rclpy.serialization import serialize_message

        from seld_ros.ros.conversions import BUILD as NODE
    except ImportError as exc:
        pytest.skip(f"ROS overlay not sourced ({exc}): byte comparison with rclpy skipped")
    ts = seld_typestore()

    def norm(raw, t):  # rclpy leaves CDR padding bytes uninitialised; rosbags writes zeros
        return bytes(ts.serialize_cdr(ts.deserialize_cdr(raw, t), t))

    for fr in (_frame(), _folded_frame(), _tagged_frame()):
        node_events = NODE.frame_events(fr, "mic")
        ours = M.frame_to_events_msg(fr, "mic")
        assert norm(serialize_message(node_events), M.EVENTS_MSGTYPE) == \
            bytes(ts.serialize_cdr(ours, M.EVENTS_MSGTYPE))
        for n in (13, 5):
            for mode in ("confidence", "distance", "fixed"):
                for text in (True, False):
                    a = norm(serialize_message(NODE.markers(node_events, n, mode, 1.5, 0.7, text)),
                             M.MARKERS_MSGTYPE)
                    b = bytes(ts.serialize_cdr(M.build_markers(ours, n, mode, 1.5, 0.7, text), M.MARKERS_MSGTYPE))
                    assert a == b, (n, mode, text)
    a = norm(serialize_message(NODE.delete_all_markers("mic", 5)), M.MARKERS_MSGTYPE)
    assert a == bytes(ts.serialize_cdr(M.BUILD.delete_all_markers("mic", 5), M.MARKERS_MSGTYPE))
    x = np.random.default_rng(0).standard_normal((480, 4)).astype(np.float32)
    a = serialize_message(NODE.audio(x, 24000, "a_format_tetra", 960, 123456789, "mic"))
    b = bytes(ts.serialize_cdr(M.audio_to_msg(x, 24000, "a_format_tetra", 960, 123456789, "mic"), M.AUDIO_MSGTYPE))
    assert norm(a, M.AUDIO_MSGTYPE) == b


def test_both_stacks_read_audio_alike_and_refuse_a_ragged_message():
    """audio_from_msg is one function for rclpy and rosbags messages: same samples, same error."""
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    msg = M.audio_to_msg(x, 24000, "foa_acn_sn3d", 0, 1, "mic")
    assert np.array_equal(M.audio_from_msg(msg), x)
    ragged = M.BUILD.make(M.AUDIO_MSGTYPE, channels=4, data=np.zeros(10, np.float32))
    with pytest.raises(ValueError, match="not a multiple of channels=4"):
        M.audio_from_msg(ragged)
    try:
        from seld_ros.ros.conversions import BUILD as NODE, audio_from_msg
    except ImportError:
        return  # no ROS overlay
    assert np.array_equal(audio_from_msg(NODE.audio(x, 24000, "foa_acn_sn3d", 0, 1, "mic")), x)
    with pytest.raises(ValueError, match="not a multiple of channels=4"):
        audio_from_msg(NODE.make(M.AUDIO_MSGTYPE, channels=4, data=NODE.types.float32_array(np.zeros(10))))

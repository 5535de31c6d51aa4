"""The package's interfaces are real: messages cross process boundaries over Fast DDS,
serialize with rclpy, and round-trip through rosbag2 files (mcap and sqlite3)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ros_helpers.ros_env import REPO_ROOT, install_prefix, require_ros
from ros_helpers.sample_messages import audio_chunk, build_messages, diff_fields

HELPERS = Path(__file__).resolve().parent / "ros_helpers"


def _receive_from_child(node, prefix: str, extra_args=()):
    """Start a publisher process, subscribe to its topics here, return what arrived."""
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    expected = build_messages()
    received: dict[str, object] = {}
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    subs = [
        node.create_subscription(type(msg), f"{prefix}/{name}", lambda m, n=name: received.setdefault(n, m), qos)
        for name, msg in expected.items()
    ]
    child = subprocess.Popen(
        [sys.executable, str(HELPERS / "publish_samples.py"), prefix, *extra_args],
        cwd=HELPERS, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30.0
        while len(received) < len(expected) and time.monotonic() < deadline and child.poll() is None:
            rclpy.spin_once(node, timeout_sec=0.05)
        # drain what is already in flight when the child exits early
        for _ in range(20):
            rclpy.spin_once(node, timeout_sec=0.01)
    finally:
        for s in subs:
            node.destroy_subscription(s)
        try:
            out, err = child.communicate(timeout=25)
        except subprocess.TimeoutExpired:
            child.kill()
            out, err = child.communicate()
    assert "published" in out, f"publisher process failed (rc={child.returncode}): {err[-2000:]}"
    return expected, received


def test_two_processes_exchange_every_message_bit_exact(ros):
    expected, received = _receive_from_child(ros, "/seld_test/exact")
    assert set(received) == set(expected), f"nothing arrived on {set(expected) - set(received)}"
    for name, msg in expected.items():
        assert diff_fields(msg, received[name], name) is None, diff_fields(msg, received[name], name)
    # the audio chunk: 4 channels x 100 ms at 24 kHz, bit-exact samples in interleaved order
    got = np.frombuffer(received["audio"].data, dtype=np.float32).reshape(-1, 4)
    assert got.shape == (2400, 4)
    assert got.tobytes() == audio_chunk().tobytes()
    assert np.isnan(received["events"].events[1].distance)


def test_comparison_catches_a_corrupted_sample(ros):
    """The same path with one audio sample changed by the publisher must be reported."""
    expected, received = _receive_from_child(ros, "/seld_test/corrupt", ["--corrupt"])
    assert "audio" in received
    diff = diff_fields(expected["audio"], received["audio"], "audio")
    assert diff is not None and diff.startswith("audio.data") and "element 5" in diff
    assert diff_fields(expected["events"], received["events"], "events") is None


def test_field_comparison_detects_each_kind_of_difference():
    require_ros()
    a, b = build_messages(), build_messages()
    b["events"].events[0].class_name = "knock"
    assert diff_fields(a["events"], b["events"], "e") == "e.events[0].class_name: 'footsteps' != 'knock'"
    b = build_messages()
    b["events"].events[1].distance = 1.0
    assert diff_fields(a["events"], b["events"], "e").startswith("e.events[1].distance")
    b = build_messages()
    b["markers"].markers.pop()
    assert "length" in diff_fields(a["markers"], b["markers"], "m")


@pytest.mark.parametrize("name", ["audio", "events", "markers"])
def test_rclpy_serialization_round_trip(name):
    require_ros()
    from rclpy.serialization import deserialize_message, serialize_message

    msg = build_messages()[name]
    raw = serialize_message(msg)
    back = deserialize_message(raw, type(msg))
    assert diff_fields(msg, back, name) is None


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_rosbag2_round_trip(tmp_path, storage):
    """rclpy CDR bytes -> rosbag2 file (rosbags writer) -> bytes -> rclpy message, and rosbags
    decodes our custom types with the same field values."""
    require_ros()
    from rclpy.serialization import deserialize_message, serialize_message
    from rosbags.rosbag2 import Reader, StoragePlugin, Writer

    from seld_ros.bag import seld_typestore

    ts = seld_typestore()
    msgs = build_messages()
    type_names = {
        "audio": "seld_ros/msg/MultichannelAudio",
        "events": "seld_ros/msg/SoundEventArray",
        "markers": "visualization_msgs/msg/MarkerArray",
    }
    bag = tmp_path / f"bag_{storage}"
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(bag, version=9, storage_plugin=plugin) as writer:
        for i, (name, msg) in enumerate(msgs.items()):
            conn = writer.add_connection(f"/seld/{name}", type_names[name], typestore=ts)
            for k in range(3):
                writer.write(conn, 1_000_000_000 * (k + 1) + i, serialize_message(msg))
    meta = (bag / "metadata.yaml").read_text()
    assert storage in meta

    seen = {}
    with Reader(bag) as reader:
        assert reader.message_count == 9
        for conn, stamp, raw in reader.messages():
            name = conn.topic.rsplit("/", 1)[1]
            back = deserialize_message(raw, type(msgs[name]))
            assert diff_fields(msgs[name], back, name) is None
            seen.setdefault(name, ts.deserialize_cdr(raw, conn.msgtype))
    assert set(seen) == set(msgs)
    decoded_audio = seen["audio"]
    assert decoded_audio.layout == "foa_acn_sn3d" and decoded_audio.first_sample_index == 2**40 + 17
    assert decoded_audio.data.tobytes() == audio_chunk().tobytes()
    ev = seen["events"].events
    assert [e.class_name for e in ev] == ["footsteps", "knock", "clapping", "Glass"] and ev[1].track_id == 4_000_000_000
    assert [e.direction_front_folded for e in ev] == [False, False, True, False]
    assert list(ev[0].tags) == ["Walk, footsteps", "Speech"] and list(ev[0].tag_scores) == [0.75, 0.125]
    assert list(ev[1].tags) == [] and len(ev[1].tag_scores) == 0  # untagged: empty, not absent
    assert [e.outside_model_classes for e in ev] == [False, False, False, True]
    # and back: rosbags-serialized CDR is what rclpy deserializes
    again = deserialize_message(bytes(ts.serialize_cdr(seen["events"], "seld_ros/msg/SoundEventArray")),
                                type(msgs["events"]))
    assert diff_fields(msgs["events"], again, "events") is None


def test_rosbags_type_hashes_equal_the_generated_ones():
    """The typestore's RIHS01 hashes equal rosidl's, so `ros2 bag play` accepts our bags."""
    require_ros()
    from seld_ros.bag import SELD_MSG_NAMES, seld_typestore

    ts = seld_typestore()
    for name in SELD_MSG_NAMES:
        desc = json.loads((install_prefix() / "share" / "seld_ros" / "msg" / f"{name}.json").read_text())
        generated = {h["type_name"]: h["hash_string"] for h in desc["type_hashes"]}
        assert ts.hash_rihs01(f"seld_ros/msg/{name}") == generated[f"seld_ros/msg/{name}"]


def test_message_files_document_every_field():
    """Each field in msg/*.msg has a comment right above it (the message files are the reference)."""
    for path in sorted((REPO_ROOT / "msg").glob("*.msg")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            s = line.strip()
            if not s or s.startswith("#") or "=" in s:
                continue
            prev = [p.strip() for p in lines[max(0, i - 6):i]]
            assert any(p.startswith("#") for p in prev), f"{path.name}: field '{s}' has no comment"

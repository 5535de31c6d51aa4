"""Stereo over real DDS (issue 17): the installed seld_node runs a tiny stereo bundle, in its own process; a stereo
rosbag2 bag is replayed into it by seld_replay (a third process) and what it publishes is front-folded (flag set,
elevation 0, x >= 0, finite distance) and equals the offline evaluation; FOA audio sent to a stereo node is
rejected chunk by chunk (bad_layout), counted in /diagnostics, and the node keeps running."""
from __future__ import annotations

import json
import math
import subprocess
import time

import numpy as np

from model_helpers import make_tiny_stereo_bundle
from ros_helpers.node_outputs import NodeOutputs
from ros_helpers.node_proc import NodeProcess, spin_until
from ros_helpers.ros_env import install_prefix, require_ros

RATE = 24000
T0 = 1_700_000_000_000_000_000
LOW = "[" + ",".join(["0.001"] * 13) + "]"  # random weights score ~0.01: report (almost) everything


def _stereo(seconds, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    s = np.sin(2 * np.pi * 500 * t) * (rng.random(t.size) > 0.5) * 0.3
    x = rng.standard_normal((t.size, 2)) * 0.01
    x[:, 0] += s
    x[:, 1] += 0.5 * s
    return x.astype(np.float32)


def _assert_folded(events):
    evs = [e for m in events for e in m.events]
    assert len(evs) > 10, "no events with near-zero thresholds"
    for e in evs:
        assert e.direction_front_folded is True
        assert e.elevation == 0.0 and e.direction.z == 0.0 and e.direction.x >= 0.0
        assert abs(e.azimuth) <= math.pi / 2 + 1e-6 and math.isfinite(e.distance) and e.distance > 0
        assert abs(math.atan2(e.direction.y, e.direction.x) - e.azimuth) < 1e-5


def test_node_runs_a_stereo_bundle_on_a_replayed_stereo_bag_like_the_offline_evaluation(tmp_path):
    require_ros()
    from rosbags.rosbag2 import Reader

    from seld_ros.bag.convert import from_dcase
    from seld_ros.bag.types import seld_typestore
    from seld_ros.data.dcase import write_wav

    bundle = make_tiny_stereo_bundle(tmp_path / "tiny_stereo.pt", thresholds=0.005)
    write_wav(tmp_path / "s.wav", _stereo(3.0).T, RATE)
    from_dcase(tmp_path / "s.wav", None, tmp_path / "s_bag", chunk_ms=100)
    out = tmp_path / "replay"
    run = subprocess.run([str(install_prefix() / "lib" / "seld_ros" / "seld_replay"), str(tmp_path / "s_bag"),
                          "--out", str(out), "--start-node", "--bundle", str(bundle), "--backend", "onnxruntime",
                          "--rate", "0", "--compare", "--quiet", "--node", "/stereo_test/seld_node"],
                         capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "SELD_CACHE_DIR": str(tmp_path)})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = json.loads((out / "replay_summary.json").read_text())
    assert summary["frames_received"] == summary["expected_frames"] == 30
    c = summary["comparison"]
    assert c["agree"] and c["frames_compared"] == 30 and c["max_stamp_difference_ns"] == 0
    assert c["node_events_per_class"] == c["offline_events_per_class"]
    assert "stereo front end (2 ch left/right; directions front-folded" in (out / "node.log").read_text()
    ts = seld_typestore()
    with Reader(out / "node_outputs") as r:
        msgs = {c.topic: [] for c in r.connections}
        for conn, _, raw in r.messages():
            msgs[conn.topic].append(ts.deserialize_cdr(raw, conn.msgtype))
    events = msgs["/stereo_test/seld_node/events"]
    assert [m.frame_index for m in events] == list(range(30))
    _assert_folded(events)
    markers = [x for ma in msgs["/stereo_test/seld_node/markers"] for x in ma.markers]
    assert any(x.ns.endswith("/mirror") for x in markers)
    assert any(x.text.endswith("(front/back?)") for x in markers)


def test_foa_audio_into_a_stereo_node_is_rejected_counted_in_diagnostics_and_the_node_keeps_running(
        ros, tmp_path, node_env):
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    from seld_ros.msg import MultichannelAudio
    from seld_ros.ros.conversions import audio_to_msg

    bundle = make_tiny_stereo_bundle(tmp_path / "tiny_stereo.pt")
    proc = NodeProcess({"model_file_path": str(bundle), "backend": "torch", "class_thresholds": LOW,
                        "diagnostics_period_s": 0.3, "qos_reliability": "reliable"}, env=node_env).start()
    outputs = NodeOutputs(ros, proc)
    pub = ros.create_publisher(MultichannelAudio, proc.topic("audio"),
                               QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE))
    try:
        assert spin_until(ros, lambda: pub.get_subscription_count() > 0 or proc.proc.poll() is not None, 60.0)
        assert proc.proc.poll() is None, proc.wait_exit()[1][-2000:]
        foa = (np.random.default_rng(1).standard_normal((2400, 4)) * 0.05).astype(np.float32)
        for k in range(5):  # a miswired FOA driver
            pub.publish(audio_to_msg(foa, RATE, "foa_acn_sn3d", 2400 * k, T0 + k * 100_000_000, "mic_test"))
        assert spin_until(ros, lambda: outputs.diags and outputs.diags[-1].get("chunks_rejected_bad_layout") == "5",
                          20.0), outputs.diags[-1:] or "no diagnostics"
        d = outputs.diags[-1]
        assert d["chunks_rejected"] == "5" and d["front_end"] == "stereo" and d["input_channels"] == "2"
        assert d["direction_front_folded"] == "true" and d["_level"] == 1
        assert "rejected_bad_layout" in d["_message"] and not outputs.events
        x = _stereo(2.0)
        for k in range(20):  # then the right microphone: the node is still there and runs
            pub.publish(audio_to_msg(x[2400 * k:2400 * (k + 1)], RATE, "stereo", 12000 + 2400 * k,
                                     T0 + (5 + k) * 100_000_000, "mic_test"))
            time.sleep(0.02)
        assert spin_until(ros, lambda: len(outputs.events) >= 20, 30.0), [m.frame_index for m in outputs.events]
        assert [m.frame_index for m in outputs.events] == list(range(5, 25))
        stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in outputs.events]
        assert stamps == [T0 + k * 100_000_000 for k in range(5, 25)]
        _assert_folded(outputs.events)
        assert any(m.ns.endswith("/mirror") for ma in outputs.markers for m in ma.markers)
        rc, out = proc.interrupt()
        assert rc == 0, out[-3000:]
        assert "audio chunk rejected: this model is a stereo bundle and takes stereo (left, right) audio; " \
               "foa_acn_sn3d input needs an FOA model bundle" in out
        assert "Traceback" not in out
    finally:
        outputs.close()
        ros.destroy_publisher(pub)
        proc.__exit__()


def test_an_input_layout_that_does_not_fit_the_bundle_is_warned_at_start(tmp_path, node_env):
    require_ros()
    bundle = make_tiny_stereo_bundle(tmp_path / "tiny_stereo.pt")
    proc = NodeProcess({"model_file_path": str(bundle), "backend": "torch", "input_layout": "foa_fuma"},
                       env=node_env).start()
    try:
        deadline = time.monotonic() + 60.0
        lines = []
        while time.monotonic() < deadline:
            line = proc.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "does not fit the model" in line:
                break
        text = "".join(lines)
        assert "input_layout 'foa_fuma' does not fit the model (stereo bundle, takes stereo): every audio chunk " \
               "will be rejected (bad_layout)" in text, text[-2000:]
        assert proc.interrupt()[0] == 0
    finally:
        proc.__exit__()

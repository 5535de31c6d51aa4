"""Replay through the live node: a bag played into the installed seld_node over DDS gives the same
events, at the same audio-time stamps, as the offline evaluation of the same bag (seld_replay --compare)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from model_helpers import make_tiny_bundle
from ros_helpers.ros_env import install_prefix, require_ros


def test_node_and_offline_evaluation_agree_on_a_replayed_bag(tmp_path):
    require_ros()
    from seld_ros.bag.convert import from_dcase
    from seld_ros.data.dcase import write_wav

    # a tiny real model with near-zero thresholds: plenty of events of many classes to compare
    bundle = make_tiny_bundle(tmp_path / "tiny.pt", thresholds=0.005)
    rng = np.random.default_rng(3)
    t = np.arange(24000 * 4) / 24000
    src = np.sin(2 * np.pi * 440 * t) * (rng.random(t.size) > 0.5)
    foa = np.stack([src, 0.5 * src, 0.1 * src, 0.8 * src]) * 0.3 + rng.standard_normal((4, t.size)) * 0.01
    write_wav(tmp_path / "s.wav", foa.astype(np.float32))
    bag = tmp_path / "s_bag"
    from_dcase(tmp_path / "s.wav", None, bag, chunk_ms=100)

    exe = install_prefix() / "lib" / "seld_ros" / "seld_replay"
    out = tmp_path / "replay"
    run = subprocess.run([str(exe), str(bag), "--out", str(out), "--start-node", "--bundle", str(bundle),
                          "--backend", "onnxruntime", "--rate", "0", "--compare", "--quiet",
                          "--node", "/replay_test/seld_node"],
                         capture_output=True, text=True, timeout=300, env={**__import__("os").environ,
                                                                           "SELD_CACHE_DIR": str(tmp_path)})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = json.loads((out / "replay_summary.json").read_text())
    assert summary["frames_received"] == summary["expected_frames"] == 40  # nothing lost at max speed
    c = summary["comparison"]
    assert c["agree"] and c["frames_compared"] == 40
    assert sum(c["node_events_per_class"].values()) > 40  # a real comparison, not two empty sets
    assert c["node_events_per_class"] == c["offline_events_per_class"]
    assert c["max_direction_difference_deg"] <= 1.0 and c["max_stamp_difference_ns"] == 0
    # the recorded outputs are a readable bag with the node's topics
    from rosbags.rosbag2 import Reader

    with Reader(out / "node_outputs") as r:
        topics = {c.topic: c.msgcount for c in r.connections}
    assert topics["/replay_test/seld_node/events"] == 40

"""What reaches the node over real DDS: seld_replay feeding a node whose input is remapped (as the launch file
does), at 48 kHz; mgonzs13/audio_common AudioStamped into the node (its fixture package overlay, scripts/setup.sh)."""
from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import numpy as np

from ros_helpers.node_outputs import NodeOutputs
from ros_helpers.node_proc import NodeProcess, spin_until
from ros_helpers.ros_env import install_prefix, mgonzs13_env, python_executable, require_ros

LOW = "[" + ",".join(["0.001"] * 13) + "]"
T0 = 1_700_000_000_000_000_000


def test_replay_feeds_a_node_with_a_remapped_input_topic_at_48khz(tmp_path, bundle):
    """A node started like the launch file starts it (~/audio remapped to input_topic) is fed by
    `seld_replay --input-topic`; 5.0 s at 48 kHz give all 50 frames (finding 10 end to end: exit 0, not 3)."""
    require_ros()
    from seld_ros.bag.convert import from_dcase
    from seld_ros.data.dcase import write_wav

    rng = np.random.default_rng(5)
    write_wav(tmp_path / "s.wav", (rng.standard_normal((4, 48000 * 5)) * 0.05).astype(np.float32), 48000)
    from_dcase(tmp_path / "s.wav", None, tmp_path / "bag48", chunk_ms=100)
    mic = f"/t{uuid.uuid4().hex[:8]}/mic/foa"
    proc = NodeProcess({"model_file_path": str(bundle), "backend": "torch", "mode": "replay",
                        "class_thresholds": LOW}, env={"SELD_CACHE_DIR": str(tmp_path / "cache")})
    proc.args += ["-r", f"~/audio:={mic}"]
    proc.start()
    try:
        exe = install_prefix() / "lib" / "seld_ros" / "seld_replay"
        run = subprocess.run([str(exe), str(tmp_path / "bag48"), "--out", str(tmp_path / "replay"), "--quiet",
                              "--node", f"{proc.namespace}/seld_node", "--input-topic", mic, "--speed", "0",
                              "--timeout", "60"], capture_output=True, text=True, timeout=240)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        s = json.loads((tmp_path / "replay" / "replay_summary.json").read_text())
        assert s["frames_received"] == s["expected_frames"] == 50
        assert f"into {mic}" in run.stdout
        assert proc.interrupt()[0] == 0
    finally:
        proc.__exit__()


def test_audio_stamped_input_reaches_the_node_over_dds(ros, tmp_path, bundle):
    """mgonzs13 audio_common_msgs/AudioStamped (int16 typed samples, format in each message) on ~/audio_stamped,
    two messages lost: 30 frames at their audio time, the gap counted. Both processes see the mgonzs13 package
    through its overlay (it shares the name audio_common_msgs with the ros-drivers one in ws/)."""
    env = mgonzs13_env()
    env["SELD_CACHE_DIR"] = str(tmp_path / "cache")
    proc = NodeProcess({"model_file_path": str(bundle), "backend": "torch", "class_thresholds": LOW,
                        "qos_reliability": "reliable", "qos_depth": 1000, "diagnostics_period_s": 0.3,
                        "audio_common.msg_type": "AudioStamped"}, env=env).start()
    outputs = NodeOutputs(ros, proc)
    pub = None
    try:
        # the audio comes from a third process: make sure the node's frames will reach us before it starts
        assert outputs.wait_matched(60.0), "the node's events publisher was not discovered within 60 s"
        pub = subprocess.Popen([python_executable(), str(Path(__file__).parent / "ros_helpers" /
                                                         "publish_audio_stamped.py"),
                                proc.topic("audio_stamped"), "3.0", "24000", "2400", "--skip", "20,21"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ok = spin_until(ros, lambda: len(outputs.events) >= 30 or proc.proc.poll() is not None, 180.0)
        if not ok or proc.proc.poll() is not None:
            pub.kill()
            rc, out = proc.interrupt()
            raise AssertionError(f"{len(outputs.events)} frames; node rc {rc}:\n{out[-2000:]}\npublisher:\n"
                                 f"{pub.communicate()[0][-1000:]}")
        assert [m.frame_index for m in outputs.events[:30]] == list(range(30))
        stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in outputs.events[:30]]
        assert all(abs(s - (T0 + k * 100_000_000)) < 1_000_000 for k, s in enumerate(stamps))
        assert sum(len(m.events) for m in outputs.events) > 0
        assert spin_until(ros, lambda: outputs.diags and outputs.diags[-1]["frames_out"] == "30", 10.0)
        assert outputs.diags[-1]["gaps"] == "1" and outputs.diags[-1]["chunks_rejected"] == "0"
        rc, out = proc.interrupt()
        assert rc == 0 and "audio_common_msgs/AudioStamped on ~/audio_stamped" in out, out[-2000:]
        assert pub.wait(timeout=30) == 0, pub.stdout.read()[-2000:]
    finally:
        if pub is not None and pub.poll() is None:
            pub.kill()
        outputs.close()
        proc.__exit__()


def test_audio_stamped_asked_for_but_not_installed_is_fatal_and_clear(tmp_path, bundle):
    """audio_common.msg_type: AudioStamped where only ros-drivers' audio_common_msgs is installed."""
    require_ros()
    rc, out = NodeProcess({"model_file_path": str(bundle), "backend": "torch",
                           "audio_common.msg_type": "AudioStamped"},
                          env={"SELD_CACHE_DIR": str(tmp_path / "cache")}).start().wait_exit(60)
    assert rc == 1 and "the installed audio_common_msgs has no AudioStamped (it has AudioDataStamped" in out, out
    assert "Traceback" not in out

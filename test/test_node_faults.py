"""The node under bad input and bad transport: nothing lost without a word (QoS, health level, stamps, a second
stream, levels, gaps, throttled warnings, shutdown, parameters, cache trust); the node is a separate process talking
real DDS wherever the behaviour is the node's (a tiny real model made here, or the shipped default model)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import time
import warnings

import numpy as np
import pytest

from model_helpers import make_tiny_bundle
from ros_helpers.node_proc import NodeProcess, spin_until
from test_ros_node import LOW, RATE, T0, Harness, noise

from seld_ros.pipeline import AudioChunk, PipelineConfig, PipelineError, SeldPipeline

NS = 1_000_000_000
MAX_STAMP_NS = (2**31 - 1) * NS + NS - 1  # the largest builtin_interfaces/Time


def start(ros, bundle, node_env, **params):
    base = {"model_file_path": str(bundle), "backend": "torch", "class_thresholds": LOW,
            "diagnostics_period_s": 0.3, "queue_size": 1000, "qos_depth": 1000}
    base.update(params)
    proc = NodeProcess(base, env=node_env).start()
    h = Harness(ros, proc)
    h.wait_ready()
    return proc, h


def stop(proc, h):
    try:
        rc, out = proc.interrupt()
    finally:
        h.close()
        proc.__exit__()
    return rc, out

def second_audio_publisher(ros, proc):
    """A second, reliable keep-all publisher on the node's audio topic, matched with the node before it returns."""
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    from seld_ros.msg import MultichannelAudio

    other = ros.create_publisher(MultichannelAudio, proc.topic("audio"),
                                 QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE))
    assert spin_until(ros, lambda: other.get_subscription_count() > 0, 20.0)
    return other


def latest_diag(ros, h, pred, timeout=30.0):
    """The first diagnostics status (waiting for new ones) that satisfies ``pred``."""
    assert spin_until(ros, lambda: h.diags and pred(h.diags[-1]), timeout), \
        "; ".join(f"{k}={v}" for k, v in (h.diags[-1] if h.diags else {}).items())  # whole, not cut by repr
    return h.diags[-1]


def stamp_ns(msg):
    return msg.header.stamp.sec * NS + msg.header.stamp.nanosec


# -- QoS ------------------------------------------------------------------------------------------------------

def test_a_single_10_s_message_arrives_with_the_default_qos(ros, bundle, node_env):
    """A 3.84 MB message (10 s, 4 ch float32) from a reliable driver never arrived over best effort; the default is
    now reliable. A best-effort publisher is reported as incompatible instead of being silently unheard."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from seld_ros.msg import MultichannelAudio
    from seld_ros.ros.conversions import audio_to_msg

    proc = NodeProcess({"model_file_path": str(bundle), "backend": "torch", "class_thresholds": LOW,
                        "diagnostics_period_s": 0.3}, env=node_env).start()  # default QoS parameters
    h = Harness(ros, proc)
    be_pub = None
    try:
        h.wait_ready()
        x = noise(10.0)
        msg = audio_to_msg(x, RATE, "foa_acn_sn3d", 0, T0, "mic")
        assert len(msg.data) * 4 == 3_840_000
        h.pub.publish(msg)
        assert spin_until(ros, lambda: len(h.events) >= 100, 60.0), len(h.events)
        assert [m.frame_index for m in h.events] == list(range(100))
        d = latest_diag(ros, h, lambda d: d["frames_out"] == "100")
        assert d["qos_reliability"] == "reliable" and float(d["lost_audio_s"]) == 0.0 and d["_level"] == 0, d
        # a best-effort driver cannot match a reliable subscription: that must be reported, not silent
        be_pub = ros.create_publisher(MultichannelAudio, proc.topic("audio"),
                                      QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT))
        d = latest_diag(ros, h, lambda d: int(d["qos_incompatible"]) >= 1)
        assert d["_level"] >= 1, d
        rc, out = stop(proc, h)
        assert rc == 0 and "QoS incompatible" in out and "qos_reliability: best_effort" in out, out[-3000:]
    finally:
        if be_pub is not None:
            ros.destroy_publisher(be_pub)
        h.close()
        proc.__exit__()


def test_best_effort_warns_about_messages_larger_than_it_carries(ros, bundle, node_env):
    proc, h = start(ros, bundle, node_env, qos_reliability="best_effort", warn_throttle_s=60.0)
    try:
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        from seld_ros.msg import MultichannelAudio

        ros.destroy_publisher(h.pub)  # best effort, like a sensor driver
        h.pub = ros.create_publisher(MultichannelAudio, proc.topic("audio"),
                                     QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT))
        h.wait_ready()
        h.spin(1.0)  # best effort has no handshake: let discovery settle on both sides
        x = noise(3.0)
        for k in range(3):  # 384 kB each: usually delivered by best effort (measured), but over the documented limit
            h.send(x[RATE * k:RATE * (k + 1)], RATE * k)
            h.spin(0.3)
        d = latest_diag(ros, h, lambda d: int(d["frames_out"]) >= 10)
        assert int(d["large_messages"]) >= 1 and d["_level"] >= 1, d
    finally:
        rc, out = stop(proc, h)
    assert rc == 0 and "can be lost without trace" in out and "384000 bytes" in out, out[-3000:]


# -- health level -----------------------------------------------------------------------------------------------

def test_stopped_node_and_restart_gap_make_diagnostics_warn_with_lost_audio(ros, bundle, node_env):
    """SIGSTOP while audio streams in real time, then a 5.5 s index gap (a restart): both lose audio, and both must
    show in the level and in lost_audio_s (they used to leave diagnostics OK)."""
    proc, h = start(ros, bundle, node_env, queue_size=4, qos_depth=5, diagnostics_period_s=0.2)
    try:
        x = noise(4.0)
        t0 = time.monotonic()
        for k in range(40):  # 4 s at real time; the node is frozen for 1.5 s in the middle
            while time.monotonic() < t0 + 0.1 * k:
                h.spin(0.005)
            if k == 10:
                os.kill(proc.proc.pid, signal.SIGSTOP)
            if k == 25:
                os.kill(proc.proc.pid, signal.SIGCONT)
            h.send(x[2400 * k:2400 * (k + 1)], 2400 * k)
        # done when every frame is out or skipped (gap frames are published, concealed: lost_audio_s counts them
        # too, so waiting on frames_out + lost would stop early while a loaded node still works off its backlog)
        d = latest_diag(ros, h, lambda d: d["chunks_in"] != "0" and int(d["frames_out"]) + 10 * int(
            d["skip_samples"]) / RATE >= 39.5)
        spin_until(ros, lambda: len({m.frame_index for m in h.events}) >= int(d["frames_out"]), 10.0)
        lost = float(d["lost_audio_s"])
        published = {m.frame_index for m in h.events}
        assert lost == 0 or d["_level"] >= 1, d
        # every lost sample is in a counted gap (zero-filled, its frames published without events) or skip
        gap_s, skip_s = int(d["gap_samples"]) / RATE, int(d["skip_samples"]) / RATE
        assert lost == pytest.approx(gap_s + skip_s, abs=1e-6), d
        # every frame is either published or skipped (within a frame); filled frames are concealed
        assert abs(len(published) + 10 * skip_s - 40) <= 1.0, (len(published), d)
        assert int(d["concealed_frames"]) >= 10 * gap_s - 1, d
        n = len(h.events)
        gap = int(5.5 * RATE)
        h.send(x[:2400], 40 * 2400 + gap)
        d = latest_diag(ros, h, lambda d: d["restarts"] == "1" and int(d["frames_out"]) > n - 1)
        assert float(d["lost_audio_s"]) == pytest.approx(lost + 5.5, abs=0.01) and d["_level"] >= 1, d
        assert "restarts" in d["_message"], d
    finally:
        rc, out = stop(proc, h)
    assert rc == 0 and "input summary" in out, out[-3000:]


# -- stamps -------------------------------------------------------------------------------------------------------

def test_zero_backwards_and_overflowing_stamps_are_reported_and_outputs_stay_monotonic(ros, bundle,
                                                                                                  node_env):
    proc, h = start(ros, bundle, node_env, warn_throttle_s=0.0)
    try:
        x = noise(3.0)
        c = lambda k: x[2400 * k:2400 * (k + 1)]  # noqa: E731
        for k in range(5):
            h.send(c(k), 2400 * k, stamp_ns=0)  # unset stamps
        for k in range(5, 10):
            h.send(c(k), 2400 * k)  # real stamps: a forward jump from the sample-count time
        for k in range(10, 15):
            h.send(c(k), 2400 * k, stamp_ns=T0 - 10 * NS)  # clock stepped back by 10 s
        near_limit = (2**31 - 1) * NS + 950_000_000  # where header.stamp used to wrap to -2147483647.95 s
        for k in range(15, 20):
            h.send(c(k), 2400 * k, stamp_ns=near_limit)
        assert spin_until(ros, lambda: len(h.events) >= 20, 30.0), len(h.events)
        stamps = [stamp_ns(m) for m in h.events]
        assert all(0 < s <= MAX_STAMP_NS for s in stamps[1:]) and stamps[0] >= 0, stamps
        assert all(b > a for a, b in zip(stamps, stamps[1:])), stamps  # strictly increasing
        assert stamps[1] == 100_000_000  # zero stamps -> sample-count time
        assert stamps[5] == T0 + 500_000_000 and stamps[12] == T0 + 1_200_000_000 and stamps[17] == T0 + 1_700_000_000
        d = latest_diag(ros, h, lambda d: d["frames_out"] == "20")
        assert (d["stamp_zero"], d["stamp_backwards"], d["stamp_invalid"]) == ("5", "5", "5"), d
        assert d["_level"] >= 1, d
    finally:
        rc, out = stop(proc, h)
    for what in ("header.stamp is 0", "goes back", "int32-seconds limit"):
        assert what in out, (what, out[-3000:])


# -- a second publisher -------------------------------------------------------------------------------------------

def test_a_second_stream_on_the_topic_is_detected_and_the_first_is_kept(ros, bundle, node_env):
    from seld_ros.ros.conversions import audio_to_msg

    proc, h = start(ros, bundle, node_env, warn_throttle_s=60.0)
    other = second_audio_publisher(ros, proc)
    try:
        a, b = noise(3.0, seed=1), noise(3.0, seed=2)
        for k in range(30):
            h.send(a[2400 * k:2400 * (k + 1)], 2400 * k)
            assert spin_until(ros, lambda: len(h.events) > k, 10.0)  # A's chunk k is in before B's
            other.publish(audio_to_msg(b[2400 * k:2400 * (k + 1)], RATE, "foa_acn_sn3d", 2400 * k,
                                       T0 + k * 100_000_000, "mic_b"))
            h.spin(0.01)
        d = latest_diag(ros, h, lambda d: d["chunks_in"] == "60" and d["frames_out"] == "30"
                        and d["audio_publishers"] == "2" and len(h.events) >= 30)
        assert int(d["conflicting_chunks"]) >= 25 and d["_level"] >= 1, d
        assert [m.frame_index for m in h.events] == list(range(30))
        assert {m.header.frame_id for m in h.events} == {"mic_test"}  # the first stream's frames only
    finally:
        ros.destroy_publisher(other)
        rc, out = stop(proc, h)
    assert "second stream is publishing" in out and "2 publishers on" in out, out[-3000:]


# -- amplitude ----------------------------------------------------------------------------------------------------

def test_features_are_finite_for_any_finite_input():
    from seld_ros.features.config import FeatureConfig
    from seld_ros.features.foa import FoaFeatures

    rng = np.random.default_rng(0)
    for scale in (1e6, 1e20, 3e38):
        x = (rng.standard_normal((4, 9600)) * scale).clip(-3e38, 3e38).astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an overflow used to show only as numpy RuntimeWarnings
            for fs in ("logmel", "logmel+iv", "logmel+iv+phase"):
                f = FoaFeatures(FeatureConfig(feature_set=fs)).compute(x)
                assert np.isfinite(f).all(), (scale, fs)


def test_out_of_range_and_clipped_input_is_counted_and_warned(ros, bundle, node_env):
    proc, h = start(ros, bundle, node_env, warn_throttle_s=60.0)
    try:
        x = noise(3.0)
        h.send(x[:2400], 0)
        h.send(x[2400:4800] * 1e6, 2400)
        h.send(x[4800:7200] * 1e20, 4800)
        clip = x[7200:9600].copy()
        clip[100:110, 0] = 1.0
        h.send(clip, 7200)
        for k in range(4, 10):
            h.send(x[2400 * k:2400 * (k + 1)], 2400 * k)
        # the events of the last frames may still be in flight when the diagnostics say 10 frames out
        d = latest_diag(ros, h, lambda d: d["frames_out"] == "10" and len(h.events) >= 10)
        assert int(d["out_of_range_samples"]) > 2 * 2400 * 4 * 0.9 and int(d["clipped_samples"]) == 10, d
        assert d["_level"] >= 1 and "out_of_range_samples" in d["_message"], d
        assert [m.frame_index for m in h.events] == list(range(10))
    finally:
        rc, out = stop(proc, h)
    assert rc == 0 and "beyond full scale" in out and "[-1, 1]" in out and "clipping" in out, out[-3000:]
    assert "RuntimeWarning" not in out and "overflow" not in out


# -- gaps and non-finite samples ------------------------------------------------------------------------------

def test_filled_gaps_make_no_events_and_one_nan_keeps_its_chunk(ros, bundle, node_env):
    """LOW thresholds: the tiny model reports events in every clean frame. Frames with filled (lost) audio must be
    published without events and counted as concealed; a NaN sample no longer throws its 100 ms away."""
    proc, h = start(ros, bundle, node_env, warn_throttle_s=60.0)
    try:
        x = noise(4.0)
        n = 240  # 10 ms messages; every 4th of frames 10..19 is lost
        for i in range(0, 40 * 2400, n):
            k = i // 2400
            if 10 <= k < 20 and (i // n) % 4 == 1:
                continue
            chunk = x[i:i + n]
            if k == 30 and i % 2400 == 0:
                chunk = chunk.copy()
                chunk[7, 2] = np.nan
            h.send(chunk, i)
            if i % 2400 == 0:
                h.spin(0.005)
        d = latest_diag(ros, h, lambda d: d["frames_out"] == "40" and len(h.events) >= 40)
        by_frame = {m.frame_index: m for m in h.events}
        assert sorted(by_frame) == list(range(40))
        assert all(len(by_frame[k].events) == 0 for k in range(10, 20)), \
            {k: len(by_frame[k].events) for k in range(10, 20)}
        assert sum(len(by_frame[k].events) > 0 for k in range(3, 10)) >= 5  # clean frames do report events
        assert int(d["concealed_frames"]) == 10 and int(d["non_finite_samples"]) == 1, d
        assert d["chunks_rejected"] == "0" and float(d["lost_audio_s"]) == pytest.approx(0.25, abs=1e-6), d
        assert d["_level"] >= 1, d
    finally:
        rc, out = stop(proc, h)
    assert "concealed" in out and "replaced by 0" in out, out[-3000:]


def test_gap_fill_is_a_ramp_not_a_click():
    from seld_ros.audio import RingBuffer

    buf = RingBuffer(1, 100, gap_fill="linear")
    buf.write(np.array([[1.0, 1.0]], np.float32), 0)
    buf.write(np.array([[5.0]], np.float32), 5)  # samples 2..4 missing
    np.testing.assert_allclose(buf.read(0, 6)[0], [1, 1, 2, 3, 4, 5])


# -- logs and shutdown ----------------------------------------------------------------------------------------

def test_suppressed_counts_reach_the_log_without_a_later_message(ros, bundle, node_env):
    proc, h = start(ros, bundle, node_env, warn_throttle_s=1.0, diagnostics_period_s=0.2)
    try:
        x = noise(2.0)
        for k in range(10):  # a burst of 10 chunks with NaN, then nothing more of that kind
            c = x[2400 * k:2400 * (k + 1)].copy()
            c[0, 0] = np.nan
            h.send(c, 2400 * k)
        latest_diag(ros, h, lambda d: d["frames_out"] == "10")
        h.spin(6.0)  # one throttle period and one summary period pass without another NaN
    finally:
        rc, out = stop(proc, h)
    assert out.count("contains NaN") == 1 + 1, out[-3000:]  # the first warning, and the flushed latest one
    assert "9 similar warnings suppressed (non_finite)" in out, out[-3000:]
    assert "input summary" in out and "non_finite_samples +" in out and "non_finite_samples 10" in out, out[-3000:]


def test_sigterm_during_a_replay_burst_drains_or_counts_every_received_chunk(ros, bundle, node_env):
    env = dict(node_env, SELD_NODE_REPORT_ON_EXIT="1")
    proc, h = start(ros, bundle, env, mode="replay", queue_size=64)
    try:
        x = noise(20.0)
        for k in range(200):
            h.send(x[2400 * k:2400 * (k + 1)], 2400 * k)
        assert spin_until(ros, lambda: len(h.events) >= 5, 30.0)
        proc.proc.send_signal(signal.SIGTERM)
        rc, out = proc.wait_exit(timeout=30)
    finally:
        h.close()
        proc.__exit__()
    assert rc == 0, out[-3000:]
    counters = eval(out.split("[seld_node] counters: ", 1)[1].splitlines()[0], {"Counter": dict})  # noqa: S307
    received, done = counters["chunks_in"], counters["frames_out"]
    discarded = counters.get("chunks_discarded_at_shutdown", 0)
    assert received >= 5 and done + discarded == received, counters
    if discarded:
        assert "could not be processed" in out


# -- parameters -----------------------------------------------------------------------------------------------

def test_misspelt_parameters_are_listed_and_wrong_overrides_are_fatal(ros, bundle, node_env, tmp_path):
    from ros_helpers.ros_env import REPO_ROOT

    text = (REPO_ROOT / "config" / "seld.yaml").read_text()
    bad_yaml = tmp_path / "typos.yaml"
    bad_yaml.write_text(text + "    thresold_scale: 2.0\n    trackr:\n      gate_deg: 10.0\n")
    proc = NodeProcess({"model_file_path": str(bundle), "backend": "torch"}, params_file=bad_yaml,
                       env=node_env).start()
    h = Harness(ros, proc)
    try:
        h.wait_ready()
    finally:
        rc, out = stop(proc, h)
    assert rc == 0 and "unknown parameter(s) ignored" in out, out[-3000:]
    assert "'thresold_scale' (did you mean 'threshold_scale'?)" in out and "'trackr.gate_deg'" in out, out[-3000:]

    proc = NodeProcess({"model_file_path": str(bundle), "backend": "torch", "context_seconds": "abc"},
                       env=node_env).start()  # next to the (default) --params-file
    rc, out = proc.wait_exit(60)
    assert rc == 1 and "FATAL" in out and "context_seconds" in out and "abc" in out, out[-3000:]


# -- model cache trust ----------------------------------------------------------------------------------------

def _onnx_pipe(bundle, cache):
    return SeldPipeline(PipelineConfig(model_file_path=str(bundle), backend="onnxruntime", context_seconds=1.0,
                                       onnx_cache_dir=str(cache)))


def _scores(pipe, x):
    pipe.set_thresholds(1.0, [0.0] * 13)
    out = []
    for k in range(len(x) // 2400):
        for f in pipe.push(AudioChunk(x[2400 * k:2400 * (k + 1)], RATE, 4, "foa_acn_sn3d", 2400 * k,
                                      T0 + k * 100_000_000)).frames:
            out.append([round(d.confidence, 4) for d in f.detections])
    return out


def test_a_foreign_onnx_with_a_matching_sidecar_is_not_loaded(bundle, tmp_path, caplog):
    pytest.importorskip("onnxruntime")
    other = make_tiny_bundle(tmp_path / "other.pt", seed=7)
    cache, cache2 = tmp_path / "cache", tmp_path / "cache2"
    x = noise(1.5)
    clean = _scores(_onnx_pipe(bundle, cache), x)
    assert oct(cache.stat().st_mode & 0o777) == "0o700"  # created private
    _onnx_pipe(other, cache2)
    mine = next(cache.glob("*.onnx"))
    theirs = next(cache2.glob("*.onnx"))
    # the attack: a valid ONNX of another network, under our name, with a sidecar that vouches for it
    shutil.copyfile(theirs, mine)
    meta = json.loads(mine.with_name(mine.name + ".json").read_text())
    import hashlib

    meta["onnx_sha256"] = hashlib.sha256(mine.read_bytes()).hexdigest()
    mine.with_name(mine.name + ".json").write_text(json.dumps(meta))
    with caplog.at_level("WARNING"):
        again = _scores(_onnx_pipe(bundle, cache), x)
    assert any("not trusted" in r.getMessage() for r in caplog.records), caplog.text
    assert again == clean and sum(map(len, clean)) > 0
    # a cache directory others may write is refused, with the fix in the message
    os.chmod(cache, 0o777)
    with pytest.raises(PipelineError, match="writable by group or others.*chmod 700"):
        _onnx_pipe(bundle, cache)
    os.chmod(cache, 0o700)


def test_engine_cache_trusts_only_what_it_wrote_and_engine_path_must_be_private(tmp_path):
    from seld_ros.engine.cache import CacheTrustError, EngineKey, EngineParams, ensure_engine, write_engine

    key = EngineKey("b" * 64, "o" * 64, "10.3.0", "Orin", "8.7", "fp16")
    eng = tmp_path / "engines" / "m.plan"
    params = EngineParams(engine_file_path=str(eng))
    builds = []

    def build():
        builds.append(1)
        return b"GOOD-PLAN"

    assert ensure_engine(params, key, build)[0] == b"GOOD-PLAN"
    assert ensure_engine(params, key, build)[0] == b"GOOD-PLAN" and len(builds) == 1  # trusted hit
    write_engine(str(eng), b"EVIL-PLAN", key)  # replaced, with a sidecar that matches the new bytes
    data, check = ensure_engine(params, key, build)
    assert data == b"GOOD-PLAN" and check.status == "untrusted" and len(builds) == 2
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(CacheTrustError, match="writable by group or others"):
        ensure_engine(EngineParams(engine_file_path=str(shared / "m.plan")), key, build)

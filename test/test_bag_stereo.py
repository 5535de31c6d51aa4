"""Stereo bags (issue 17), ROS-free: a DCASE 2025-style stereo scene as a MultichannelAudio bag, an audio_common
rosbag2 and a ROS 1 .bag; seld-eval-bag scores a stereo bundle with the DCASE 2025 metric against the DCASE 2025
stereo CSV; seld-bag info reads them; FOA audio into a stereo bundle is rejected with the reason."""
from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

from model_helpers import make_tiny_stereo_bundle
from seld_ros.bag import messages as M
from seld_ros.bag.convert import from_dcase
from seld_ros.bag.evaluate import EVENTS_TOPIC, MARKERS_TOPIC, evaluate_bag
from seld_ros.bag.io import connections_for, iter_messages, open_bag
from seld_ros.cli import bag as bag_cli
from seld_ros.cli import eval_bag
from seld_ros.data.dcase import read_labels, write_labels, write_wav
from seld_ros.metrics.seld import score_scenes
from seld_ros.pipeline import PipelineConfig, SeldPipeline

FS = 24000
DURATION_S = 3.0
START = 1_650_000_000.0


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A rendered scene as DCASE 2025 stereo (L = (W+Y)/2, R = (W-Y)/2, int16-exact) + its stereo CSV, a stereo
    bundle whose thresholds sit at the median activity on that audio (random weights score low)."""
    from seld_ros.data.synth import SynthConfig, foa_to_stereo, render_scene, room_from_id

    d = tmp_path_factory.mktemp("stereo_bags")
    cfg = SynthConfig(duration_s=DURATION_S, max_order=1, max_polyphony=2, layer_prob=(1.0, 0.8))
    sc = render_scene(room_from_id(2, cfg), cfg, np.random.default_rng(5))
    st = np.round(foa_to_stereo(sc.foa) * 32767).astype(np.float32) / 32768.0
    write_wav(d / "st.wav", st, FS)
    write_labels(d / "st.csv", sc.labels, fmt="dcase2025")
    probe = SeldPipeline(PipelineConfig(model_file_path=str(make_tiny_stereo_bundle(d / "probe.pt")),
                                        backend="torch"))
    probe.set_thresholds(1.0, [0.0] * 13)
    from seld_ros.pipeline import AudioChunk

    x = np.ascontiguousarray(st.T)
    conf = [e.confidence for i in range(0, x.shape[0], 2400)
            for f in probe.push(AudioChunk(x[i:i + 2400], FS, 2, "stereo", i, 10**18 + i * 10**9 // FS)).frames
            for e in f.detections]
    bundle = make_tiny_stereo_bundle(d / "tiny_stereo.pt", thresholds=float(np.median(conf)))
    from_dcase(d / "st.wav", d / "st.csv", d / "bag", chunk_ms=100, start_time_s=START)
    from_dcase(d / "st.wav", d / "st.csv", d / "ac_bag", chunk_ms=100, start_time_s=START, audio_common="ros2",
               audio_topic="/audio/audio_stamped")
    from_dcase(d / "st.wav", None, d / "rec.bag", chunk_ms=50, start_time_s=START, audio_common="ros1",
               audio_topic="/audio/audio")
    return {"dir": d, "stereo": st, "labels": read_labels(d / "st.csv"), "bundle": bundle}


@pytest.fixture(scope="module")
def result(scene):
    pipe = SeldPipeline(PipelineConfig(model_file_path=str(scene["bundle"]), backend="torch"))
    return evaluate_bag(scene["dir"] / "bag", out_dir=scene["dir"] / "out", pipeline=pipe)


def _events(res):
    return [(f.frame_index, e.class_id, e.track_id) for f in res.frames for e in f.events]


def _same_events(a, b) -> bool:
    """Same tracked events; directions, confidences and distances equal to float tolerance (another chunking)."""
    ea = [e for f in a.frames for e in f.events]
    eb = [e for f in b.frames for e in f.events]
    return _events(a) == _events(b) and all(
        np.allclose(x.doa, y.doa, atol=1e-4) and abs(x.confidence - y.confidence) < 1e-4
        and abs(x.distance - y.distance) < 1e-3 for x, y in zip(ea, eb))


def test_reference_events_in_a_stereo_bag_are_front_folded(scene):
    with open_bag(scene["dir"] / "bag") as r:
        audio = [m for _, _, m in iter_messages(r, connections_for(r, "/audio"))]
        gt = [m for _, _, m in iter_messages(r, connections_for(r, "/seld/ground_truth"))]
    assert {(a.layout, a.channels) for a in audio} == {("stereo", 2)}
    evs = [e for m in gt for e in m.events]
    assert len(gt) == 30 and evs
    assert all(e.direction_front_folded and e.elevation == 0.0 and abs(e.azimuth) <= math.pi / 2 + 1e-6
               and e.distance > 0 for e in evs)


def test_eval_bag_scores_a_stereo_bundle_with_the_dcase2025_metric(scene, result):
    assert result.metric_mode == "dcase2025" and result.doa_front_folded and result.front_end == "stereo"
    assert result.layout == "stereo" and not result.rejected and len(result.frames) == 30
    assert sum(result.events_per_class().values()) > 10  # thresholds at the median: a real comparison
    ref = scene["labels"]
    assert np.array_equal(result.reference.class_id[:ref.num_frames], ref.class_id)
    direct = score_scenes([result.reference], [result.prediction], mode="dcase2025", eval_dist=True)
    assert result.eval_dist and result.scores.to_dict()["macro"] == direct.to_dict()["macro"]
    assert result.scores.to_dict()["macro"] != score_scenes([result.reference], [result.prediction],
                                                            mode="dcase2024").to_dict()["macro"]
    out = scene["dir"] / "out"
    assert result.outputs["pred_format"].startswith("dcase2025")
    pred_csv = (out / "pred" / "bag.csv").read_text().splitlines()
    assert pred_csv[0] == "frame,class,source,azimuth,distance,onscreen" and len(pred_csv) > 10
    assert all(-90 <= int(line.split(",")[3]) <= 90 for line in pred_csv[1:])
    assert (out / "ref" / "bag.csv").read_text().splitlines()[0] == "frame,class,source,azimuth,distance,onscreen"
    assert "metric: dcase2025" in result.summary() and "front-folded" in result.summary()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metric_mode"] == "dcase2025" and summary["doa_front_folded"] is True
    # the results bag: folded events, elevation 0, distances, mirror-image markers
    with open_bag(out / "results") as r:
        events = [m for _, _, m in iter_messages(r, connections_for(r, EVENTS_TOPIC))]
        markers = [m for _, _, m in iter_messages(r, connections_for(r, MARKERS_TOPIC))]
    evs = [e for m in events for e in m.events]
    assert len(events) == 30 and evs
    assert all(e.direction_front_folded and e.elevation == 0.0 and e.direction.x >= 0 and e.direction.z == 0
               and math.isfinite(e.distance) for e in evs)
    assert any(x.ns.endswith("/mirror") for mk in markers for x in mk.markers)


def test_audio_common_rosbag2_and_ros1_stereo_bags_give_the_same_events(scene, result, tmp_path):
    pipe = SeldPipeline(PipelineConfig(model_file_path=str(scene["bundle"]), backend="torch"))
    ac = evaluate_bag(scene["dir"] / "ac_bag", out_dir=tmp_path / "ac", pipeline=pipe)
    assert ac.layout == "stereo" and ac.audio_topic == "/audio/audio_stamped" and ac.metric_mode == "dcase2025"
    assert ac.reference is not None and _same_events(ac, result)  # S16LE carries the int16-exact audio
    # a ROS 1 bag as audio_capture records it: no ground-truth topic, the DCASE 2025 CSV as the reference
    pipe = SeldPipeline(PipelineConfig(model_file_path=str(scene["bundle"]), backend="torch"))  # ids from 1
    r1 = evaluate_bag(scene["dir"] / "rec.bag", out_dir=tmp_path / "r1", pipeline=pipe,
                      reference_csv=scene["dir"] / "st.csv")
    assert r1.layout == "stereo" and r1.audio_messages == 60 and _same_events(r1, result)
    for k, v in result.scores.to_dict()["macro"].items():
        assert r1.scores.to_dict()["macro"][k] == pytest.approx(v, abs=1e-5), k


def test_eval_bag_and_bag_info_cli_on_stereo_bags(scene, tmp_path, capsys):
    rc = eval_bag.main([str(scene["dir"] / "rec.bag"), "--bundle", str(scene["bundle"]), "--backend", "torch",
                        "--out", str(tmp_path / "o"), "--ref", str(scene["dir"] / "st.csv"), "--no-plot"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "s of stereo audio @ 24000 Hz on /audio/audio (60 messages) -> 30 output frames" in out
    assert "metric: dcase2025" in out and "events per class" in out
    assert bag_cli.main(["info", str(scene["dir"] / "rec.bag")]) == 0
    info = capsys.readouterr().out
    assert "ROS 1 bag" in info and "audio /audio/audio: 2 ch stereo @ 24000 Hz, 3.00 s in 60 chunks" in info
    assert "continuous" in info
    assert bag_cli.main(["info", str(scene["dir"] / "ac_bag"), "--json"]) == 0
    a = json.loads(capsys.readouterr().out)["audio"]["/audio/audio_stamped"]
    assert (a["channels"], a["layout"], a["sample_rate"], a["gaps"]) == (2, "stereo", 24000, 0)
    # seld-bag from-dcase --audio-common writes what the library writes
    assert bag_cli.main(["from-dcase", str(scene["dir"] / "st.wav"), "-", str(tmp_path / "cli.bag"),
                         "--audio-common", "ros1", "--pcm-format", "S16LE"]) == 0
    assert "as audio_common S16LE in 30 messages on /audio/audio" in capsys.readouterr().out


def test_foa_bag_into_a_stereo_bundle_is_rejected_with_the_reason(scene, tmp_path, capsys):
    foa = np.zeros((4, FS), np.float32)
    write_wav(tmp_path / "foa.wav", foa, FS)
    from_dcase(tmp_path / "foa.wav", None, tmp_path / "foa_bag")
    rc = eval_bag.main([str(tmp_path / "foa_bag"), "--bundle", str(scene["bundle"]), "--backend", "torch",
                        "--out", str(tmp_path / "o"), "--no-plot"])
    cap = capsys.readouterr()
    assert rc == 3
    assert "all 10 audio chunks were rejected (bad_layout: 10)" in cap.err
    assert "stereo bundle and takes stereo (left, right) audio; foa_acn_sn3d input needs an FOA model" in cap.err


def test_audio_common_writer_errors(scene, tmp_path):
    from seld_ros.bag.io import BagError

    with pytest.raises(BagError, match="cannot write PCM format"):
        from_dcase(scene["dir"] / "st.wav", None, tmp_path / "x", audio_common="ros2", sample_format="S24LE")
    with pytest.raises(BagError, match="audio_common must be"):
        from_dcase(scene["dir"] / "st.wav", None, tmp_path / "y", audio_common="ros3")
    (tmp_path / "z.bag").write_bytes(b"")
    with pytest.raises(BagError, match="already exists"):
        from_dcase(scene["dir"] / "st.wav", None, tmp_path / "z.bag", audio_common="ros1")


def test_a_bag_recorded_with_the_old_sound_event_definition_still_decodes(tmp_path):
    """Bags written before SoundEvent.direction_front_folded existed embed the old definition: they decode with it
    (the ground truth of an old scene bag is still read), not with today's (which would misread the bytes)."""
    import subprocess as sp

    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore, get_types_from_msg

    from seld_ros.bag.evaluate import read_reference
    from seld_ros.bag.types import msg_definition_dir
    from seld_ros.classes import STARSS23_CLASSES

    new = (msg_definition_dir() / "SoundEvent.msg").read_text()
    old = (new[:new.index("# True when the direction is front-folded")]
           + new[new.index("# Source distance"):new.index("# AudioSet tags")])  # nor the tags of issue 26
    assert "direction_front_folded" in new and "direction_front_folded" not in old and "tags" not in old
    ts = get_typestore(Stores.ROS2_JAZZY)
    types = get_types_from_msg(old, "seld_ros/msg/SoundEvent")
    types.update(get_types_from_msg((msg_definition_dir() / "SoundEventArray.msg").read_text(),
                                    "seld_ros/msg/SoundEventArray"))
    ts.register(types)
    T = ts.types
    ev = T["seld_ros/msg/SoundEvent"](
        track_id=3, class_id=11, class_name="bell", confidence=1.0,
        direction=T["geometry_msgs/msg/Vector3"](x=0.0, y=1.0, z=0.0), azimuth=math.pi / 2, elevation=0.0,
        distance=2.0, first_stamp=T["builtin_interfaces/msg/Time"](sec=1, nanosec=0))
    with Writer(tmp_path / "old", version=9, storage_plugin=StoragePlugin.MCAP) as w:
        c = w.add_connection("/seld/ground_truth", "seld_ros/msg/SoundEventArray", typestore=ts)
        for k in range(3):
            msg = T["seld_ros/msg/SoundEventArray"](
                header=T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=1, nanosec=k * 10**8),
                                                frame_id="mic"),
                frame_duration=T["builtin_interfaces/msg/Duration"](sec=0, nanosec=10**8), frame_index=k,
                events=[ev, ev] if k == 1 else [])
            w.write(c, 10**9 + k * 10**8, ts.serialize_cdr(msg, "seld_ros/msg/SoundEventArray"))
    lab = read_reference(tmp_path / "old", "/seld/ground_truth", STARSS23_CLASSES)
    assert lab.num_frames == 3 and list(lab.class_id[1]) == [11, 11] and lab.distance[1, 0] == 2.0
    assert np.allclose(lab.doa[1, 0], [0, 1, 0])
    assert sp.run([sys.executable, "-m", "seld_ros.cli.bag", "info", str(tmp_path / "old")],
                  capture_output=True, text=True).returncode == 0

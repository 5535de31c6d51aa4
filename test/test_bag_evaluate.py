"""seld-eval-bag / evaluate_bag: same results as driving the pipeline directly, CSVs that seld-score reads back to
the same metrics, a results bag like the node's, audio_common input, deterministic runs (ROS-free)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from model_helpers import make_tiny_bundle

from seld_ros.bag import messages as M
from seld_ros.bag.audio import PcmFormat
from seld_ros.bag.convert import from_dcase, sample_stamp_ns
from seld_ros.bag.evaluate import EVENTS_TOPIC, MARKERS_TOPIC, evaluate_bag, frames_to_labels
from seld_ros.bag.io import BagWriter, connections_for, iter_messages, open_bag
from seld_ros.data.dcase import read_labels, write_labels, write_wav
from seld_ros.metrics.seld import score_scenes
from seld_ros.pipeline import AudioChunk, PipelineConfig, SeldPipeline

FS = 24000
DURATION_S = 4.0
START = 1_650_000_000.0


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A short synthetic scene (wav + csv + bag) and a tiny random-weight bundle whose thresholds sit at the median
    activity of that scene, so that the prediction has events of several classes (random weights score low)."""
    from seld_ros.data.synth import SynthConfig, render_scene, room_from_id

    d = tmp_path_factory.mktemp("evalbag")
    cfg = SynthConfig(duration_s=DURATION_S, max_order=1, max_polyphony=2, layer_prob=(1.0, 0.8))
    scene = render_scene(room_from_id(3, cfg), cfg, np.random.default_rng(11))
    # int16-exact samples, so an S16LE audio_common bag carries exactly the same audio
    foa = np.round(scene.foa * 32767).astype(np.float32) / 32768.0
    (d / "data" / "foa_test").mkdir(parents=True)
    write_wav(d / "data" / "foa_test" / "scene.wav", foa, FS)
    write_labels(d / "data" / "metadata_test" / "scene.csv", scene.labels)
    wav, csv = d / "data" / "foa_test" / "scene.wav", d / "data" / "metadata_test" / "scene.csv"
    from_dcase(wav, csv, d / "scene", chunk_ms=100, start_time_s=START)

    probe = SeldPipeline(PipelineConfig(model_file_path=str(make_tiny_bundle(d / "probe.pt")), backend="torch"))
    probe.set_thresholds(1.0, [0.0] * 13)
    conf = [e.confidence for f in _run_direct(probe, foa, 2400) for e in f.detections]
    bundle = make_tiny_bundle(d / "tiny.pt", thresholds=float(np.median(conf)))
    pipe = SeldPipeline(PipelineConfig(model_file_path=str(bundle), backend="torch"))
    return {"dir": d, "foa": foa, "wav": wav, "csv": csv, "bag": d / "scene", "bundle": bundle, "pipe": pipe,
            "labels": scene.labels}


def _run_direct(pipe, foa, chunk):
    """Push the audio straight into the pipeline (no bag), as a driver would, then flush."""
    pipe.reset()
    frames = []
    x = np.ascontiguousarray(foa.T)
    start_ns = int(START * 1e9)
    for i in range(0, x.shape[0], chunk):
        frames += pipe.push(AudioChunk(x[i:i + chunk], FS, 4, "foa_acn_sn3d", i,
                                       sample_stamp_ns(start_ns, i, FS), "mic_array")).frames
    return frames + pipe.flush().frames


@pytest.fixture(scope="module")
def result(setup):
    return evaluate_bag(setup["bag"], out_dir=setup["dir"] / "out", pipeline=setup["pipe"])


def _renumber(frames) -> dict[int, int]:
    ids: dict[int, int] = {}
    for f in frames:
        for e in f.events:
            ids.setdefault(e.track_id, len(ids))
    return ids


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _direct_scores(setup, frames):
    ref = read_labels(setup["csv"], num_frames=40)
    return score_scenes([ref], [frames_to_labels(frames, ref.class_names, 0, 40)], eval_dist=True, names=["scene"])


def test_eval_bag_gives_the_same_metrics_as_the_pipeline_on_the_wav(setup, result):
    """The same audio in the same chunks, pushed without a bag and scored against the CSV: identical numbers."""
    frames = _run_direct(setup["pipe"], setup["foa"], 2400)
    assert result.scores is not None and result.eval_dist
    assert len(result.events_per_class()) >= 2, "thresholds should give events of several classes"
    assert _same(_direct_scores(setup, frames).to_dict(), result.scores.to_dict())
    stored = json.loads((setup["dir"] / "out" / "metrics.json").read_text())
    assert _same(stored["scores"], result.scores.to_dict())
    assert result.scores.counts["n_ref"].sum() == int((setup["labels"].class_id >= 0).sum())


def test_eval_bag_matches_other_chunkings(setup, result):
    """230 ms chunks instead of the bag's 100 ms: same frames, stamps, tracks and classes; directions and
    metrics equal to float32 rounding (the streaming front end sums in a different order)."""
    frames = _run_direct(setup["pipe"], setup["foa"], 5520)
    assert [f.frame_index for f in frames] == [f.frame_index for f in result.frames] == list(range(40))
    assert [f.stamp_ns for f in frames] == [f.stamp_ns for f in result.frames]
    ids_a, ids_b = _renumber(frames), _renumber(result.frames)  # track ids keep counting across pipeline resets
    for a, b in zip(frames, result.frames):
        assert [(ids_a[e.track_id], e.class_id) for e in a.events] == [(ids_b[e.track_id], e.class_id)
                                                                       for e in b.events]
        for ea, eb in zip(a.events, b.events):
            assert np.allclose(ea.doa, eb.doa, atol=1e-5)
            assert math.isclose(ea.confidence, eb.confidence, rel_tol=1e-5)
    direct = _direct_scores(setup, frames).to_dict()
    mine = result.scores.to_dict()
    for agg in ("macro", "micro"):
        for k, v in mine[agg].items():
            assert (v is None and direct[agg][k] is None) or direct[agg][k] == pytest.approx(v, rel=1e-6), (agg, k)


def test_seld_score_reads_the_csvs_back_to_the_same_metrics(setup, result, capsys):
    from seld_ros.cli import score

    out = setup["dir"] / "out"
    assert result.outputs["pred_format"] == "dcase2024 (distance cm)"
    rc = score.main([str(out / "ref"), str(out / "pred"), "--pred-distance-unit", "cm", "--json",
                     str(out / "rescored.json")])
    assert rc == 0, capsys.readouterr().err
    again = json.loads((out / "rescored.json").read_text())
    mine = result.scores.to_dict()
    for name, pc in mine["per_class"].items():
        for k in ("n_ref", "tp", "fp", "fn"):
            if k in pc:
                assert again["per_class"][name][k] == pc[k], (name, k)
    for k in ("f", "loc_recall", "error_rate"):
        assert again["macro"][k] == pytest.approx(mine["macro"][k], abs=1e-9)
    # angles go through the CSV with 2 decimals, distances as cm with 4
    assert again["macro"]["doa_error"] == pytest.approx(mine["macro"]["doa_error"], abs=0.01)


def test_seld_eval_on_the_same_wav_csv(setup, result):
    """seld-eval (batch: whole-clip windows, float16 feature cache, decoder without tracker) scores the same
    reference with the same metric code; its predictions differ by design from the streaming pipeline's."""
    from seld_ros.cli.evaluate import evaluate

    batch = evaluate(str(setup["bundle"]), str(setup["dir"] / "data"), "test", out=None, progress=False)
    sb, ss = batch["scores"], result.scores.to_dict()
    assert sb["num_frames"] == ss["num_frames"] == 40
    for name in ss["per_class"]:
        assert sb["per_class"][name]["n_ref"] == ss["per_class"][name]["n_ref"]


def test_results_bag_is_what_the_node_publishes(setup, result):
    out = setup["dir"] / "out"
    start_ns = int(START * 1e9)
    with open_bag(out / "results") as r:
        events = [(t, m) for _, t, m in iter_messages(r, connections_for(r, EVENTS_TOPIC))]
        markers = [(t, m) for _, t, m in iter_messages(r, connections_for(r, MARKERS_TOPIC))]
    assert len(events) == len(result.frames) == 40
    for k, (t, m) in enumerate(events):
        assert m.frame_index == k and m.header.frame_id == "mic_array"
        assert t == M.time_to_ns(m.header.stamp) == start_ns + k * 100_000_000  # audio time, not wall time
        assert M.time_to_ns(m.frame_duration) == 100_000_000
        for ev in m.events:
            d = ev.direction
            assert math.isclose(ev.azimuth, math.atan2(d.y, d.x), abs_tol=1e-6)
            assert math.isclose(ev.elevation, math.atan2(d.z, math.hypot(d.x, d.y)), abs_tol=1e-6)
            assert M.time_to_ns(ev.first_stamp) <= t
    with_events = [(t, m) for t, m in events if m.events]
    assert len(markers) == len(with_events) > 0
    for (t, mk), (te, ev) in zip(markers, with_events):
        assert t == te and len(mk.markers) == 2 * len(ev.events)
        assert {x.ns for x in mk.markers} == {e.class_name for e in ev.events} | {e.class_name + "/label"
                                                                                   for e in ev.events}
    assert (out / "scene_doa.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 40 and summary["audio_seconds"] == DURATION_S and summary["x_realtime"] > 0


def test_audio_common_bag_gives_the_same_events_deterministically(setup, result, tmp_path):
    ts = M.seld_typestore().types
    x = np.round(setup["foa"].T * 32768).astype("<i2")
    raw = x.tobytes()
    with BagWriter(tmp_path / "ac") as w:
        w.add("/mic/audio", M.AUDIO_COMMON_STAMPED)
        w.add("/mic/audio_info", M.AUDIO_COMMON_INFO)
        w.add("/seld/ground_truth", M.EVENTS_MSGTYPE)
        w.write("/mic/audio_info", int(START * 1e9), ts[M.AUDIO_COMMON_INFO](
            channels=4, sample_rate=FS, sample_format="S16LE", bitrate=0, coding_format="wave"))
        step = 2400 * 8  # the MultichannelAudio bag's chunking (split sample frames: test_bag_convert)
        for off in range(0, len(raw), step):
            t = sample_stamp_ns(int(START * 1e9), off // 8, FS)
            w.write("/mic/audio", t, ts[M.AUDIO_COMMON_STAMPED](
                header=M.header(t, "mic_array"), audio=ts[M.AUDIO_COMMON_DATA](
                    data=np.frombuffer(raw[off:off + step], np.uint8).copy())))
        with open_bag(setup["bag"]) as r:
            for _, t, m in iter_messages(r, connections_for(r, "/seld/ground_truth")):
                w.write("/seld/ground_truth", t, m)
    res = evaluate_bag(tmp_path / "ac", out_dir=tmp_path / "out", pipeline=setup["pipe"])
    assert res.audio_topic == "/mic/audio" and res.audio_seconds == DURATION_S and not res.issues
    assert _same(res.scores.to_dict(), result.scores.to_dict())
    a, b = res.prediction, result.prediction  # bit-identical outputs (track ids count on across runs)
    assert np.array_equal(a.class_id, b.class_id) and np.array_equal(a.doa, b.doa)
    assert np.array_equal(a.distance, b.distance, equal_nan=True)
    ids_a, ids_b = _renumber(res.frames), _renumber(result.frames)
    assert [ids_a[e.track_id] for f in res.frames for e in f.events] == \
        [ids_b[e.track_id] for f in result.frames for e in f.events]
    # explicit options instead of the AudioInfo topic give the same result
    res2 = evaluate_bag(tmp_path / "ac", pcm=PcmFormat(FS, 4, "S16LE"), pipeline=setup["pipe"])
    assert _same(res2.scores.to_dict(), result.scores.to_dict())


def test_gaps_and_bad_chunks_are_reported(setup, tmp_path):
    x = np.ascontiguousarray(setup["foa"].T[:FS * 2])
    with BagWriter(tmp_path / "gappy") as w:
        w.add("/audio", M.AUDIO_MSGTYPE)
        for i in range(0, x.shape[0], 2400):
            if i == 9600:
                continue  # lost message: 100 ms gap
            chunk = x[i:i + 2400].copy()
            if i == 19200:
                chunk[5, 0] = np.nan  # a broken driver
            t = sample_stamp_ns(int(START * 1e9), i, FS)
            w.write("/audio", t, M.audio_to_msg(chunk, FS, "foa_acn_sn3d", i, t, "mic_array"))
    res = evaluate_bag(tmp_path / "gappy", pipeline=setup["pipe"])
    assert res.reference is None and res.scores is None
    # a NaN sample is replaced by 0 and reported; its chunk is kept (issue 19), not rejected
    assert dict(res.rejected) == {}
    assert any(i.startswith("gap: 2400 samples (100.0 ms) missing before index 12000") for i in res.issues), \
        res.issues
    assert any(i.startswith("non_finite: audio contains NaN or Inf: 1 values (first nan at sample 19205")
               for i in res.issues), res.issues
    assert [f.frame_index for f in res.frames] == list(range(20))  # gap filled, nothing lost downstream
    text = res.summary()
    assert "input issues:" in text and "no ground truth" in text


def test_cli(setup, tmp_path, capsys):
    from seld_ros.cli import eval_bag

    rc = eval_bag.main([str(setup["bag"]), "--bundle", str(setup["bundle"]), "--out", str(tmp_path / "o"),
                        "--backend", "torch", "--quiet", "--no-results-bag"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "output frames" in out and "x real time" in out and "macro" in out
    assert (tmp_path / "o" / "metrics.json").is_file() and not (tmp_path / "o" / "results").exists()
    rc = eval_bag.main([str(setup["bag"]), "--bundle", str(setup["dir"] / "nope.pt"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "model bundle not found" in err and "Traceback" not in err

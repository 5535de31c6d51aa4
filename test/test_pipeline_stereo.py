"""The streaming pipeline with a stereo bundle (issue 17): stereo chunks in, front-folded events out; FOA input to a
stereo bundle and stereo input to an FOA bundle are rejected chunk by chunk (tiny real models, random weights)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from model_helpers import make_tiny_stereo_bundle
from seld_ros.decode import TrackDecoder, fold_front
from seld_ros.features import StereoFeatureConfig, make_extractor
from seld_ros.model.bundle import load_bundle
from seld_ros.pipeline import AudioChunk, InputError, PipelineConfig, SeldPipeline

from pipeline_helpers import RATE, T0
from pipeline_helpers import chunk as foa_chunk
from pipeline_helpers import feed as feed_layout
TOL = 1e-4
K = 13


@pytest.fixture(scope="module")
def causal_stereo_bundle(tmp_path_factory):
    return make_tiny_stereo_bundle(tmp_path_factory.mktemp("causal_stereo") / "c.pt", seed=4, causal=True)


@pytest.fixture
def pipe(stereo_bundle, tmp_path):
    p = SeldPipeline(PipelineConfig(model_file_path=str(stereo_bundle), backend="torch", context_seconds=1.0,
                                    onnx_cache_dir=str(tmp_path)))
    p.set_thresholds(1.0, [0.0] * K)  # random weights give low scores: report everything
    return p


def stereo(seconds, rate=RATE, seed=0):
    """(samples, 2) noise with a panned tone burst, so both channels differ and the network sees an onset."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = rng.standard_normal((n, 2)) * 0.03
    s = np.sin(2 * np.pi * 600 * t) * ((t > 0.3) & (t < 1.2)) * 0.3
    x[:, 0] += s
    x[:, 1] += 0.4 * s
    return x.astype(np.float32)


def chunk(x, index, rate=RATE, layout="stereo"):
    return foa_chunk(x, index, rate, layout)


def feed(pipe, x, sizes, rate=RATE, start=0):
    return feed_layout(pipe, x, sizes, rate, start, layout="stereo")


def assert_front_folded(frames):
    dets = [d for f in frames for d in f.detections]
    evs = [e for f in frames for e in f.events]
    assert len(dets) > 20 and evs  # random weights at threshold 0: plenty to check
    for d in dets + evs:
        v = np.asarray(d.doa, dtype=np.float64)
        assert v[0] >= 0.0 and v[2] == 0.0 and abs(np.linalg.norm(v) - 1.0) < 1e-5, v
        assert -math.pi / 2 - 1e-6 <= math.atan2(v[1], v[0]) <= math.pi / 2 + 1e-6
        assert math.isfinite(d.distance)
    assert all(f.doa_front_folded for f in frames)


def test_stereo_bundle_runs_stereo_chunks_any_chunking_and_folds_every_direction(pipe, stereo_bundle):
    assert pipe.front_end == "stereo" and pipe.input_channels == 2 and pipe.doa_front_folded
    assert pipe.info()["front_end"] == "stereo" and pipe.info()["inference_mode"] == "sliding window"
    x = stereo(2.0)
    frames, issues = feed(pipe, x, [2400] * 20)
    assert not issues
    assert [f.frame_index for f in frames] == list(range(20))
    assert [f.stamp_ns for f in frames] == [T0 + k * 100_000_000 for k in range(20)]
    assert_front_folded(frames)
    other = SeldPipeline(PipelineConfig(model_file_path=str(stereo_bundle), backend="torch", context_seconds=1.0))
    other.set_thresholds(1.0, [0.0] * K)
    frames2, _ = feed(other, x, np.random.default_rng(1).integers(1, 5000, size=200).tolist())
    assert [f.frame_index for f in frames2] == list(range(20))
    for a, b in zip(frames, frames2):
        for name in a.outputs:
            np.testing.assert_allclose(a.outputs[name], b.outputs[name], atol=TOL)
    assert pipe.stats()["samples_in"] == x.shape[0]


def test_causal_stereo_bundle_streams_incrementally_and_equals_the_offline_network(causal_stereo_bundle, tmp_path):
    x = stereo(2.0, seed=2)
    b = load_bundle(str(causal_stereo_bundle))
    feats = make_extractor(b.make_feature_config()).compute(np.ascontiguousarray(x.T))
    feats = feats[:, :feats.shape[1] // 5 * 5]
    assert feats.shape[0] == StereoFeatureConfig().num_channels
    with torch.inference_mode():
        ref = {n: o[0].numpy() for n, o in zip(b.model.output_names,
                                                b.model(torch.from_numpy(np.ascontiguousarray(feats[None]))))}
    for backend in ("torch", "onnxruntime"):
        p = SeldPipeline(PipelineConfig(model_file_path=str(causal_stereo_bundle), backend=backend,
                                        onnx_cache_dir=str(tmp_path)))
        assert p.mode == "incremental"
        p.set_thresholds(1.0, [0.0] * K)
        frames, issues = feed(p, x, [7919] * 10)
        frames += p.flush().frames
        assert not issues and [f.frame_index for f in frames] == list(range(20)), backend
        for name in ("activity_logits", "doa", "distance"):
            got = np.stack([f.outputs[name] for f in frames])
            assert float(np.max(np.abs(got - ref[name][:20]))) <= TOL, (backend, name)
        assert_front_folded(frames)


@pytest.mark.parametrize("layout", ["foa_acn_sn3d", "foa_fuma", "a_format_tetra"])
def test_foa_input_to_a_stereo_bundle_is_rejected_chunk_by_chunk_and_the_stream_continues(pipe, layout):
    x = stereo(1.0)
    feed(pipe, x[:2400], [2400])
    foa = np.zeros((2400, 4), np.float32)
    with pytest.raises(InputError, match="stereo bundle.*needs an FOA model bundle") as err:
        pipe.push(chunk(foa, 2400, layout=layout))
    assert err.value.kind == "bad_layout"
    res = pipe.push(chunk(x[4800:7200], 4800))  # the rejected chunk's span is now a reported gap
    assert [i.kind for i in res.issues] == ["gap"]
    assert res.frames and res.frames[-1].frame_index == 2


def test_stereo_input_to_an_foa_bundle_is_rejected(bundle):
    p = SeldPipeline(PipelineConfig(model_file_path=str(bundle), backend="torch", context_seconds=1.0))
    assert p.front_end == "foa" and p.input_channels == 4 and not p.doa_front_folded
    with pytest.raises(InputError, match="this model takes FOA audio; stereo input needs a stereo model bundle") as e:
        p.push(chunk(stereo(0.1), 0))
    assert e.value.kind == "bad_layout"


def test_bad_stereo_chunks_are_rejected_specifically(pipe):
    x = stereo(0.1)
    with pytest.raises(InputError, match="has 2 channels") as e1:  # layout says stereo, 4 channels sent
        pipe.push(AudioChunk(np.zeros((2400, 4), np.float32), RATE, 4, "stereo", 0, T0))
    assert e1.value.kind == "bad_channels"
    with pytest.raises(InputError, match="unknown layout") as e2:
        pipe.push(AudioChunk(x[:, :1].copy(), RATE, 1, "mono", 0, T0))
    assert e2.value.kind == "bad_layout"
    with pytest.raises(InputError) as e3:
        pipe.push(chunk(x.astype(np.int16), 0))
    assert e3.value.kind == "bad_dtype"


def test_stereo_gaps_resampling_and_level_problems_are_counted_per_channel(pipe):
    x = stereo(2.0, rate=48000)
    frames, issues = feed(pipe, x[:24000], [4800] * 5, rate=48000)
    assert not issues and len(frames) >= 4
    bad = x[28800:33600].copy()
    bad[10, 1] = np.nan
    bad[20:30, 0] = 1.5
    res = pipe.push(chunk(bad, 28800, rate=48000))  # 4800 samples (100 ms at 48 kHz) missing before it
    kinds = sorted(i.kind for i in res.issues)
    assert kinds == ["gap", "non_finite", "out_of_range"], res.issues
    assert "channel 1" in next(i.message for i in res.issues if i.kind == "non_finite")
    st = pipe.stats()
    assert st["gap_samples"] == 4800 and st["non_finite_samples"] == 1 and st["out_of_range_samples"] == 10
    assert st["lost_audio_s"] == pytest.approx(0.1) and st["input_rate_hz"] == 48000.0
    more, _ = feed(pipe, x[33600:], [4800] * 20, rate=48000, start=33600)
    frames += res.frames + more + pipe.flush().frames
    assert [f.frame_index for f in frames] == list(range(20))
    assert frames[7].stamp_ns == T0 + 700_000_000
    assert st["concealed_frames"] >= 1
    assert_front_folded(frames)


def test_fold_front_mirrors_back_directions_and_flattens_elevation():
    deg = math.radians
    for az, el, want in ((30, 0, 30), (150, 0, 30), (-120, 0, -60), (90, 40, 90), (180, 0, 0), (-10, -60, -10)):
        v = np.array([math.cos(deg(el)) * math.cos(deg(az)), math.cos(deg(el)) * math.sin(deg(az)),
                      math.sin(deg(el))])
        f = fold_front(v)
        assert f[2] == 0.0 and f[0] >= 0 and math.degrees(math.atan2(f[1], f[0])) == pytest.approx(want, abs=1e-9)
    np.testing.assert_array_equal(fold_front(np.array([0.0, 0.0, -1.0])), [1.0, 0.0, 0.0])  # no horizontal part
    batch = fold_front(np.array([[[-1.0, 1.0, 0.5]]]))
    assert batch.shape == (1, 1, 3) and np.allclose(batch, [[[math.sqrt(0.5), math.sqrt(0.5), 0.0]]])


@pytest.mark.parametrize("mode", ["trackwise", "multi_accdoa"])
def test_front_folded_decoder_reports_a_back_source_at_its_front_mirror_image(mode):
    names = ["a", "b"]
    back = np.array([-math.cos(math.radians(30)), math.sin(math.radians(30)), 0.2])  # azimuth 150 deg, up a bit
    if mode == "trackwise":
        out = {"activity_logits": np.array([[[4.0, -4.0]]]), "doa": back[None, None], "distance": np.array([[2.5]])}
    else:
        acc = np.zeros((1, 1, 2, 3))
        acc[0, 0, 0] = 0.9 * back / np.linalg.norm(back)
        out = {"accdoa": acc, "distance": np.array([[[2.5, 0.0]]])}
    plain = TrackDecoder(names, 0.5, mode).decode(out)[0]
    folded = TrackDecoder(names, 0.5, mode, front_folded=True).decode(out)[0]
    assert len(plain) == len(folded) == 1
    assert math.degrees(plain[0].azimuth) == pytest.approx(150, abs=0.01) and plain[0].elevation > 0.1
    ev = folded[0]
    assert math.degrees(ev.azimuth) == pytest.approx(30, abs=0.01) and ev.elevation == 0.0
    assert ev.distance == pytest.approx(2.5) and ev.confidence == pytest.approx(plain[0].confidence)

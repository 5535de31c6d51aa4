"""The ROS-free streaming pipeline: chunking, time, gaps, bad input, formats (tiny real model)."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline_helpers import RATE, T0, chunk, feed
from seld_ros.pipeline import AudioChunk, InputError, PipelineConfig, PipelineError, SeldPipeline


@pytest.fixture
def pipe(bundle, tmp_path):
    return SeldPipeline(PipelineConfig(model_file_path=str(bundle), backend="torch", context_seconds=1.0,
                                       onnx_cache_dir=str(tmp_path)))


def noise(seconds, rate=RATE, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((int(seconds * rate), 4)) * 0.05).astype(np.float32)


def raw_scores(frames):
    return [[(d.class_id, round(d.confidence, 4)) for d in f.detections] for f in frames]


def test_one_frame_per_100_ms_stamped_with_audio_time_for_any_chunking(pipe, bundle, tmp_path):
    x = noise(3.0)
    pipe.set_thresholds(1.0, [0.0] * 13)  # random weights give low scores: report everything to compare
    frames, issues = feed(pipe, x, [2400] * 30)
    assert not issues
    assert [f.frame_index for f in frames] == list(range(30))
    assert [f.stamp_ns for f in frames] == [T0 + k * 100_000_000 for k in range(30)]
    # odd chunk sizes give the same frames and the same network outputs
    other = SeldPipeline(PipelineConfig(model_file_path=str(bundle), backend="torch", context_seconds=1.0))
    other.set_thresholds(1.0, [0.0] * 13)
    rng = np.random.default_rng(1)
    frames2, _ = feed(other, x, rng.integers(1, 5000, size=200).tolist())
    assert [f.frame_index for f in frames2] == list(range(30))
    assert sum(len(f.detections) for f in frames) > 10  # random weights: plenty of events to compare
    assert raw_scores(frames) == raw_scores(frames2)


def test_stream_starting_mid_way_keeps_its_sample_index_and_stamps(pipe):
    start = 10 * RATE + 2400 * 3  # a node started late: first_sample_index 247200
    frames, _ = feed(pipe, noise(1.0), [1200] * 20, start=start)
    assert frames[0].frame_index == start // 2400
    assert frames[0].stamp_ns == T0 + int(start / RATE * 1e9)


def test_gap_is_zero_filled_and_reported_and_time_stays_aligned(pipe):
    x = noise(2.0)
    r1 = feed(pipe, x[:4800], [2400, 2400])[0]
    res = pipe.push(chunk(x[7200:9600], 7200))  # 2400 samples (100 ms) missing
    assert [i.kind for i in res.issues] == ["gap"] and "2400 samples" in res.issues[0].message
    assert [f.frame_index for f in r1 + res.frames] == [0, 1, 2, 3]
    assert pipe.stats()["gap_samples"] == 2400


def test_duplicate_and_overlapping_chunks_are_dropped_not_processed_twice(pipe):
    x = noise(1.0)
    feed(pipe, x[:4800], [2400, 2400])
    dup = pipe.push(chunk(x[2400:4800], 2400))
    assert [i.kind for i in dup.issues] == ["duplicate"] and dup.frames == []
    part = pipe.push(chunk(x[3600:7200], 3600))  # half already seen
    assert [i.kind for i in part.issues] == ["overlap"]
    assert [f.frame_index for f in part.frames] == [2]


@pytest.mark.parametrize("bad,kind", [
    (lambda x: x[:0], "empty"),
    (lambda x: x.astype(np.int16), "bad_dtype"),
])
def test_bad_chunks_are_rejected_specifically_and_the_stream_continues(pipe, bad, kind):
    x = noise(1.0)
    feed(pipe, x[:2400], [2400])
    with pytest.raises(InputError) as err:
        pipe.push(chunk(bad(x[2400:4800]), 2400))
    assert err.value.kind == kind
    res = pipe.push(chunk(x[4800:7200], 4800))  # the rejected chunk is now a reported gap
    if kind != "empty":
        assert [i.kind for i in res.issues] == ["gap"]
    assert res.frames and res.frames[-1].frame_index == 2


def test_wrong_channel_count_layout_and_rate_are_rejected(pipe):
    x = noise(0.1)
    with pytest.raises(InputError, match="has 4 channels") as e1:
        pipe.push(AudioChunk(x[:, :3].copy(), RATE, 3, "foa_acn_sn3d", 0, T0))
    assert e1.value.kind == "bad_channels"
    with pytest.raises(InputError, match="stereo") as e2:
        pipe.push(AudioChunk(x[:, :2].copy(), RATE, 2, "stereo", 0, T0))
    assert e2.value.kind == "bad_layout"
    with pytest.raises(InputError, match="unknown layout") as e3:
        pipe.push(AudioChunk(x, RATE, 4, "surround_7_1", 0, T0))
    assert e3.value.kind == "bad_layout"
    with pytest.raises(InputError, match="sample_rate") as e4:
        pipe.push(AudioChunk(x, 500, 4, "foa_acn_sn3d", 0, T0))
    assert e4.value.kind == "bad_rate"
    flat = x.reshape(-1)[:-1].reshape(-1, 1)  # odd-length data: not a multiple of channels
    with pytest.raises(InputError, match="multiple of channels") as e5:
        pipe.push(AudioChunk(flat, RATE, 4, "foa_acn_sn3d", 0, T0))
    assert e5.value.kind == "bad_shape"


def test_48khz_input_is_resampled_and_timed_in_input_samples(pipe):
    x = noise(2.0, rate=48000)
    frames, issues = feed(pipe, x, [4800] * 20, rate=48000)
    assert not issues
    # the streaming resampler holds back a few samples: all but possibly the last frame are out
    assert [f.frame_index for f in frames] == list(range(len(frames))) and len(frames) >= 19
    assert frames[5].stamp_ns == T0 + 500_000_000


def test_fuma_input_gives_the_same_outputs_as_the_equivalent_acn_input(pipe, bundle):
    acn = noise(1.5)
    w, y, z, xx = acn.T
    fuma = np.stack([w / np.sqrt(2), xx, y, z], axis=1).astype(np.float32)
    pipe.set_thresholds(1.0, [0.0] * 13)
    a, _ = feed(pipe, acn, [2400] * 15)
    other = SeldPipeline(PipelineConfig(model_file_path=str(bundle), backend="torch", context_seconds=1.0))
    other.set_thresholds(1.0, [0.0] * 13)
    b = []
    for k in range(15):
        b += other.push(chunk(fuma[2400 * k:2400 * (k + 1)], 2400 * k, layout="foa_fuma")).frames
    sa = [[round(d.confidence, 3) for d in f.detections] for f in a]
    sb = [[round(d.confidence, 3) for d in f.detections] for f in b]
    assert sum(map(len, sa)) > 10 and sa == sb
    da = np.array([d.doa for f in a for d in f.detections])
    db = np.array([d.doa for f in b for d in f.detections])
    assert np.abs(da - db).max() < 1e-3


def test_stamp_that_disagrees_with_the_sample_count_is_reported(pipe):
    x = noise(0.5)
    pipe.push(chunk(x[:2400], 0))
    res = pipe.push(chunk(x[2400:4800], 2400, stamp=T0 + 400_000_000))  # should be +100 ms
    assert [i.kind for i in res.issues] == ["stamp_jump"] and "+300.0 ms" in res.issues[0].message


def test_long_gap_restarts_the_stream(pipe):
    x = noise(0.5)
    pipe.push(chunk(x[:2400], 0))
    res = pipe.push(chunk(x[2400:4800], 60 * RATE))
    assert [i.kind for i in res.issues] == ["restart"]
    out = pipe.push(chunk(x[:2400], 60 * RATE + 2400))
    assert out.frames and out.frames[-1].frame_index == 60 * 10 + 1


def test_thresholds_scale_and_per_class_override(pipe):
    pipe.set_thresholds(2.0)
    assert np.allclose(pipe._decoder.thresholds, 1.0)
    pipe.set_thresholds(1.0, [0.1] * 13)
    assert np.allclose(pipe._decoder.thresholds, 0.1)
    with pytest.raises(ValueError, match="13 values"):
        pipe.set_thresholds(1.0, [0.5, 0.5])


def test_missing_and_corrupt_model_files_give_clear_errors(tmp_path):
    with pytest.raises(PipelineError, match="model bundle not found"):
        SeldPipeline(PipelineConfig(model_file_path=str(tmp_path / "nope.pt")))
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"\x80\x04this is not a bundle")
    with pytest.raises(PipelineError, match="cannot load model bundle"):
        SeldPipeline(PipelineConfig(model_file_path=str(bad)))


def test_after_drop_skips_ahead_instead_of_zero_filling(pipe):
    x = noise(2.0)
    feed(pipe, x[:4800], [2400, 2400])
    late = chunk(x[14400:16800], 14400)
    late.after_drop = True
    res = pipe.push(late)
    assert [i.kind for i in res.issues] == ["skip"] and pipe.stats().get("gap_samples", 0) == 0
    assert [f.frame_index for f in res.frames] == [6]  # only the new audio is processed, at its own time
    assert res.frames[0].stamp_ns == T0 + 600_000_000


def test_lookahead_delays_each_frame_but_keeps_its_time_and_flush_emits_the_rest(bundle):
    p = SeldPipeline(PipelineConfig(model_file_path=str(bundle), backend="torch", context_seconds=1.0,
                                    lookahead_frames=2))
    frames, _ = feed(p, noise(1.0), [2400] * 10)
    assert [f.frame_index for f in frames] == list(range(8))  # the last two wait for their future context
    assert frames[3].stamp_ns == T0 + 300_000_000
    assert [f.frame_index for f in p.flush().frames] == [8, 9]
    with pytest.raises(PipelineError, match="lookahead"):
        SeldPipeline(PipelineConfig(model_file_path=str(bundle), backend="torch", context_seconds=1.0,
                                    lookahead_frames=10))

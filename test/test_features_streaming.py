"""Streaming features equal batch features for any chunking: same numbers, same frame count, same frame timing."""

from __future__ import annotations

import numpy as np
import pytest

from seld_ros.audio import AudioDtypeError, ChannelCountError, EmptyAudioError, NonFiniteAudioError
from seld_ros.features import (
    FeatureConfig,
    FoaFeatures,
    LogMelConfig,
    LogMelFeatures,
    StereoFeatures,
    StreamingFoaFeatures,
    StreamingLogMelFeatures,
    StreamingStereoFeatures,
)

FS = 24000
LOGMEL_DB_TOL = 1e-4  # acceptance: log-mel in dB
OTHER_TOL = 1e-5  # acceptance: intensity vectors and phase descriptors


def scene(seconds: float, seed: int = 0) -> np.ndarray:
    """FOA test signal: two moving-level plane-wave noise sources, a diffuse floor, a 2 s stretch of digital silence."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    out = 0.01 * rng.standard_normal((4, n))
    for u in (np.array([0.6, 0.8, 0.0]), np.array([-0.36, 0.48, 0.8])):
        s = rng.standard_normal(n) * (0.5 + 0.5 * np.sin(np.arange(n) / FS * rng.uniform(0.5, 2)))
        out += np.stack([s, s * u[1], s * u[2], s * u[0]])
    if seconds > 10:
        out[:, 5 * FS : 7 * FS] = 0.0
    return out.astype(np.float32)


def stream(streamer, audio: np.ndarray, chunk_sizes) -> np.ndarray:
    """Push ``audio`` in chunks and check after every push that exactly the completed frames came out."""
    hop = streamer.extractor.hop_length
    pieces, start, frames_so_far = [], 0, 0
    for size in chunk_sizes:
        if start >= audio.shape[-1]:
            break
        piece = streamer.push(audio[..., start : start + size])
        start = min(start + size, audio.shape[-1])
        assert piece.shape[1] == start // hop - frames_so_far  # frame t comes out once sample (t+1)*hop-1 is in
        frames_so_far += piece.shape[1]
        assert streamer.samples_consumed == start and streamer.frames_emitted == start // hop
        pieces.append(piece)
    assert start == audio.shape[-1]
    return np.concatenate(pieces, axis=1)


def assert_foa_equal(streamed: np.ndarray, batch: np.ndarray) -> None:
    assert streamed.shape == batch.shape
    assert np.abs(streamed[:4] - batch[:4]).max() <= LOGMEL_DB_TOL
    if batch.shape[0] > 4:
        assert np.abs(streamed[4:] - batch[4:]).max() <= OTHER_TOL


@pytest.fixture(scope="module")
def thirty_seconds():
    audio = scene(30.0)
    return audio, FoaFeatures(FeatureConfig()).compute(audio)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_chunkings_of_30_s_equal_batch(thirty_seconds, seed):
    audio, batch = thirty_seconds
    assert batch.shape == (13, 1500, 64)
    rng = np.random.default_rng(seed)
    # Mixed sizes from 1 to 10 000 samples, log-uniform so small and large chunks both occur often.
    sizes = np.exp(rng.uniform(0, np.log(10_000), 20_000)).astype(int)
    assert_foa_equal(stream(StreamingFoaFeatures(FeatureConfig()), audio, sizes), batch)


def test_100_ms_chunks_yield_five_frames_each(thirty_seconds):
    audio, batch = thirty_seconds
    streamer = StreamingFoaFeatures(FeatureConfig())
    pieces = [streamer.push(audio[:, i : i + 2400]) for i in range(0, audio.shape[1], 2400)]
    assert all(p.shape[1] == 5 for p in pieces)
    assert_foa_equal(np.concatenate(pieces, axis=1), batch)


def test_single_sample_chunks_equal_batch():
    audio = scene(6.0, seed=3)  # one push per sample costs ~6 us of Python each: a shorter stretch than 30 s
    batch = FoaFeatures(FeatureConfig()).compute(audio)
    assert_foa_equal(stream(StreamingFoaFeatures(FeatureConfig()), audio, [1] * audio.shape[1]), batch)


def test_reset_starts_a_new_stream():
    audio = scene(1.0, seed=4)
    streamer = StreamingFoaFeatures(FeatureConfig())
    streamer.push(scene(0.3, seed=5))
    streamer.reset()
    assert streamer.frames_emitted == 0 and streamer.samples_consumed == 0
    assert_foa_equal(streamer.push(audio), FoaFeatures(FeatureConfig()).compute(audio))


@pytest.mark.parametrize("feature_set", ["logmel", "logmel+iv"])
def test_smaller_feature_sets_stream_too(feature_set):
    cfg = FeatureConfig(feature_set=feature_set)
    audio = scene(2.0, seed=6)
    streamed = stream(StreamingFoaFeatures(cfg), audio, [3000, 7, 1234] * 30)
    assert_foa_equal(streamed, FoaFeatures(cfg).compute(audio))


def test_omni_logmel_streams_like_batch():
    cfg = LogMelConfig.preset("panns")
    w = np.random.default_rng(8).standard_normal(3 * cfg.sample_rate).astype(np.float32)
    batch = LogMelFeatures(cfg).compute(w)
    sizes = np.random.default_rng(9).integers(1, 5000, 5000)
    streamed = stream(StreamingLogMelFeatures(cfg), w, sizes)
    assert streamed.shape == batch.shape == (1, 300, 64)
    assert np.abs(streamed - batch).max() <= LOGMEL_DB_TOL


def test_stereo_features_stream_like_batch():
    audio = scene(3.0, seed=10)[[0, 1]]
    batch = StereoFeatures().compute(audio)
    sizes = np.random.default_rng(11).integers(1, 5000, 5000)
    streamed = stream(StreamingStereoFeatures(), audio, sizes)
    assert streamed.shape == batch.shape == (8, 150, 64)
    db_channels = [0, 1, 2, 3, 6, 7]  # mid, L, R log-mels, ILD, stpACC L, R
    assert np.abs(streamed[db_channels] - batch[db_channels]).max() <= LOGMEL_DB_TOL
    assert np.abs(streamed[4:6] - batch[4:6]).max() <= OTHER_TOL


def test_bad_chunks_raise_specific_errors():
    streamer = StreamingFoaFeatures(FeatureConfig())
    with pytest.raises(ChannelCountError, match="StreamingFoaFeatures|FoaFeatures stream chunk: expected 4 channels, got 2"):
        streamer.push(np.zeros((2, 480), np.float32))
    with pytest.raises(EmptyAudioError, match="FoaFeatures stream chunk: empty"):
        streamer.push(np.zeros((4, 0), np.float32))
    with pytest.raises(NonFiniteAudioError, match="NaN or Inf"):
        streamer.push(np.full((4, 10), np.inf, np.float32))
    with pytest.raises(AudioDtypeError, match="int16"):
        streamer.push(np.zeros((4, 10), np.int16))
    # A rejected chunk leaves the stream untouched.
    assert streamer.samples_consumed == 0 and streamer.frames_emitted == 0
    with pytest.raises(ChannelCountError, match="FoaFeatures.compute input: expected 4 channels, got 3"):
        FoaFeatures().compute(np.zeros((3, 4800), np.float32))

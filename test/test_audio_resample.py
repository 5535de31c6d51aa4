"""Resampling to 24 kHz: batch keeps tones where they were, streaming reproduces batch exactly."""

from __future__ import annotations

import numpy as np
import pytest

from seld_ros.audio import AudioDtypeError, ChannelCountError, SampleRateError, StreamingResampler, resample_to

RATES = (16000, 32000, 44100, 48000)


def tone(rate: int, freq: float, seconds: float, channels: int = 2) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.stack([np.sin(2 * np.pi * freq * t + k) for k in range(channels)]).astype(np.float32)


@pytest.mark.parametrize("rate", RATES)
def test_batch_resampling_keeps_a_tone(rate):
    x = tone(rate, 1000.0, 0.5)
    y = resample_to(x, rate)
    assert y.shape == (2, int(np.ceil(x.shape[1] * 24000 / rate))) and y.dtype == np.float32
    # Compare with the analytic 1 kHz tone at 24 kHz, away from the edges (filter transients).
    t = np.arange(y.shape[1]) / 24000
    expected = np.stack([np.sin(2 * np.pi * 1000.0 * t + k) for k in range(2)])
    assert np.abs(y[:, 200:-200] - expected[:, 200:-200]).max() < 2e-3


def test_content_above_the_new_nyquist_is_removed():
    y = resample_to(tone(48000, 15000.0, 0.5), 48000)  # 15 kHz cannot exist at 24 kHz: must not alias to 9 kHz
    assert np.sqrt(np.mean(y[:, 500:-500] ** 2)) < 0.01


def test_same_rate_is_identity():
    x = tone(24000, 440.0, 0.1)
    np.testing.assert_array_equal(resample_to(x, 24000), x)


@pytest.mark.parametrize("rate", RATES)
def test_streaming_equals_batch_for_random_chunks(rate):
    rng = np.random.default_rng(rate)
    x = rng.standard_normal((4, rate)).astype(np.float32)
    batch = resample_to(x, rate)
    resampler = StreamingResampler(rate, channels=4)
    pieces, start = [], 0
    while start < x.shape[1]:
        n = int(rng.integers(1, 5000))
        pieces.append(resampler.push(x[:, start : start + n]))
        start += n
    streamed_before_flush = sum(p.shape[1] for p in pieces)
    # Only the filter look-ahead is held back (a few output samples, < 1 ms).
    assert batch.shape[1] - streamed_before_flush <= resampler.latency_samples + 1
    assert resampler.latency_samples <= 20
    pieces.append(resampler.flush())
    stream = np.concatenate(pieces, axis=1)
    assert stream.shape == batch.shape
    assert np.abs(stream - batch).max() <= 1e-6


def test_streaming_with_100ms_chunks_emits_steadily():
    resampler = StreamingResampler(48000, channels=1)
    counts = [resampler.push(np.zeros((1, 4800), np.float32)).shape[1] for _ in range(10)]
    assert counts[0] == 2400 - resampler.latency_samples and all(c == 2400 for c in counts[1:])


def test_bad_rates_and_inputs():
    with pytest.raises(SampleRateError, match="input sample rate must be a positive integer"):
        resample_to(np.zeros((1, 10), np.float32), 0)
    with pytest.raises(SampleRateError, match="ratios with terms above 1000"):
        resample_to(np.zeros((1, 10), np.float32), 44101)
    with pytest.raises(AudioDtypeError, match="floating-point"):
        resample_to(np.zeros((1, 10), np.int16), 48000)
    with pytest.raises(ChannelCountError, match="expected 4 channels, got 2"):
        StreamingResampler(48000, channels=4).push(np.zeros((2, 10), np.float32))

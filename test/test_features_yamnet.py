"""YAMNet's front end: equal to a reference written from YAMNet's definition, streaming = batch, label alignment."""
import math

import numpy as np
import pytest
from scipy.signal import resample_poly

from seld_ros.features.yamnet import (FRAMES_PER_LABEL, RESAMPLER_LOOKAHEAD_24K, SILENCE_LOG_MEL,
                                      StreamingYAMNetLogMel, StreamingYAMNetPatches, yamnet_log_mel,
                                      yamnet_mel_matrix, yamnet_patches)

FS = 24000


def reference_mel_matrix():
    """tf.signal.linear_to_mel_weight_matrix(64, 257, 16000, 125, 7500), written out bin by bin and band by band."""
    mel = lambda f: 1127.0 * math.log(1.0 + f / 700.0)  # noqa: E731
    lo, hi = mel(125.0), mel(7500.0)
    edges = [lo + (hi - lo) * i / 65 for i in range(66)]
    weights = np.zeros((257, 64))
    for k in range(1, 257):  # the DC bin (k = 0) belongs to no band
        m = mel(8000.0 * k / 256)
        for b in range(64):
            left, centre, right = edges[b], edges[b + 1], edges[b + 2]
            weights[k, b] = max(0.0, min((m - left) / (centre - left), (right - m) / (right - centre)))
    return weights


def reference_log_mel(x24):
    """YAMNet's features from the definition: resample to 16 kHz (scipy's default polyphase filter), causal frames
    of 400 samples every 160 ending at 160 (f+1), periodic Hann, |512-point DFT|, mel, log(. + 0.001)."""
    x16 = resample_poly(x24.astype(np.float64), 2, 3)
    weights = reference_mel_matrix()
    hann = np.array([0.5 - 0.5 * math.cos(2 * math.pi * n / 400) for n in range(400)])
    frames = []
    for f in range(len(x16) // 160):
        end = 160 * (f + 1)
        segment = np.array([x16[i] if i >= 0 else 0.0 for i in range(end - 400, end)])
        magnitude = np.abs(np.fft.fft(segment * hann, 512))[:257]
        frames.append(np.log(magnitude @ weights + 0.001))
    return np.array(frames)


def test_mel_matrix_equals_tensorflows_definition():
    ours = yamnet_mel_matrix()
    assert ours.shape == (257, 64) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference_mel_matrix(), atol=1e-6)
    assert np.all(ours[0] == 0) and ours.max() <= 1.0
    assert np.all(ours[:4].sum(axis=1) == 0)  # below 125 Hz (bins of 31.25 Hz): nothing


@pytest.mark.parametrize("freq_hz", [300.0, 1000.0, 3000.0])
def test_tone_lands_in_the_band_centred_on_it(freq_hz):
    t = np.arange(FS) / FS
    log_mel = yamnet_log_mel(0.5 * np.sin(2 * np.pi * freq_hz * t).astype(np.float32))
    centres_hz = 700.0 * np.expm1(np.linspace(1127 * math.log1p(125 / 700), 1127 * math.log1p(7500 / 700), 66)[1:-1]
                                  / 1127.0)
    loudest = np.argmax(log_mel[20:].mean(axis=0))
    assert abs(loudest - np.argmin(np.abs(centres_hz - freq_hz))) <= 1
    assert abs(centres_hz[loudest] - freq_hz) / freq_hz < 0.1
    # magnitude, not power: a 0.5-amplitude sine under the 400-tap periodic Hann peaks at |DFT| = 0.5 * 200 / 2 = 50;
    # the band sums a few bins of the window's main lobe, so it lies between log(50 * 0.5) and log(50 * 3)
    level = log_mel[20:, loudest].mean()
    assert math.log(25.0) < level < math.log(150.0)
    far = np.abs(np.arange(64) - loudest) > 4
    assert np.all(log_mel[20:, far].mean(axis=0) < level - 3.0)


def test_batch_front_end_equals_reference_computation():
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(FS)).astype(np.float32)
    x[6000:9000] += 0.5 * np.sin(2 * np.pi * 440 * np.arange(3000) / FS).astype(np.float32)
    ours = yamnet_log_mel(x)
    reference = reference_log_mel(x)
    assert ours.shape == reference.shape == (100, 64)
    assert np.abs(ours - reference).max() < 1e-3


def test_silence_gives_log_offset_everywhere():
    assert np.all(yamnet_log_mel(np.zeros(4800, np.float32)) == np.float32(SILENCE_LOG_MEL))
    assert SILENCE_LOG_MEL == pytest.approx(math.log(0.001))


@pytest.fixture(scope="module")
def scene():
    rng = np.random.default_rng(1)
    x = (0.05 * rng.standard_normal(3 * FS + 1234)).astype(np.float32)
    x[FS:FS + 4000] += np.sin(2 * np.pi * 1500 * np.arange(4000) / FS).astype(np.float32)
    return x, yamnet_log_mel(x)


@pytest.mark.parametrize("chunk", [1, 480, 2400, 7919, None])
def test_streaming_equals_batch_frame_for_frame(scene, chunk):
    x, batch = scene
    chunk = chunk or len(x)
    stream = StreamingYAMNetLogMel()
    pieces = [stream.push(x[i:i + chunk]) for i in range(0, len(x), chunk)]
    before_flush = sum(p.shape[0] for p in pieces)
    assert batch.shape[0] - before_flush <= 1  # only the frame waiting for the resampler's look-ahead
    pieces.append(stream.flush())
    streamed = np.concatenate(pieces)
    assert streamed.shape == batch.shape == (len(x) * 2 // 3 // 160, 64)
    assert np.abs(streamed - batch).max() < 1e-4


@pytest.mark.parametrize("chunk", [1, 480, 2400, 7919, None])
def test_streamed_patches_equal_batch_patches(scene, chunk):
    x, batch = scene
    chunk = chunk or len(x)
    stream = StreamingYAMNetPatches()
    streamed = np.concatenate([stream.push(x[i:i + chunk]) for i in range(0, len(x), chunk)] + [stream.flush()])
    expected = yamnet_patches(batch)
    assert streamed.shape == expected.shape == (30, 1, 96, 64)
    assert np.abs(streamed - expected).max() < 1e-4


def test_patch_of_label_frame_t_is_the_96_frames_ending_with_its_own_ten(scene):
    _, log_mel = scene
    patches = yamnet_patches(log_mel)
    assert FRAMES_PER_LABEL == 10
    for t in (0, 3, 8, 9, 29):
        first = FRAMES_PER_LABEL * (t + 1) - 96
        expected = np.concatenate([np.full((max(0, -first), 64), SILENCE_LOG_MEL, np.float32),
                                   log_mel[max(0, first):FRAMES_PER_LABEL * (t + 1)]])
        np.testing.assert_array_equal(patches[t, 0], expected)
    # an event inside label frame 10 (samples 24000..28000) shows in patches 10.. but in no earlier patch
    energy = patches[:, 0, -FRAMES_PER_LABEL:].max(axis=(1, 2))
    assert energy[10] > energy[9] + 3.0


def test_latency_last_frame_of_label_frame_needs_16_samples_past_its_end():
    x = (0.1 * np.random.default_rng(2).standard_normal(4 * 2400)).astype(np.float32)
    for t in range(3):
        end = 2400 * (t + 1)
        stream = StreamingYAMNetPatches()
        assert stream.push(x[:end + RESAMPLER_LOOKAHEAD_24K - 1]).shape[0] == t  # patch t not complete yet
        assert stream.push(x[end + RESAMPLER_LOOKAHEAD_24K - 1:end + RESAMPLER_LOOKAHEAD_24K]).shape[0] == 1
    assert RESAMPLER_LOOKAHEAD_24K / FS * 1000 == pytest.approx(0.667, abs=1e-3)


def test_bad_inputs_are_rejected_clearly():
    with pytest.raises(ValueError, match="expected one channel"):
        yamnet_log_mel(np.zeros((4, 2400), np.float32))
    with pytest.raises(ValueError, match="expected one channel"):
        StreamingYAMNetLogMel().push(np.zeros((2, 10), np.float32))
    with pytest.raises(ValueError, match=r"expected \(frames, 64\)"):
        yamnet_patches(np.zeros((20, 40), np.float32))
    with pytest.raises(ValueError, match="need 30 YAMNet frames"):
        yamnet_patches(np.zeros((20, 64), np.float32), label_frames=3)

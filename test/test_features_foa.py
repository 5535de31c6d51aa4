"""FOA features: channel layout, causal frame timing, and values checked against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import get_window

from seld_ros.features import FeatureConfig, FoaFeatures, mel_filterbank

FS = 24000
RNG = np.random.default_rng(7)


def plane_wave(s: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.stack([s, s * u[1], s * u[2], s * u[0]]).astype(np.float32)  # ACN W, Y, Z, X


def random_unit() -> np.ndarray:
    v = RNG.standard_normal(3)
    return v / np.linalg.norm(v)


@pytest.mark.parametrize("feature_set,channels", [("logmel", 4), ("logmel+iv", 7), ("logmel+iv+phase", 13)])
def test_shape_and_channel_count(feature_set, channels):
    cfg = FeatureConfig(feature_set=feature_set)
    assert cfg.num_channels == channels
    features = FoaFeatures(cfg).compute(RNG.standard_normal((4, 24_000 + 479)).astype(np.float32))
    assert features.shape == (channels, 50, 64) and features.dtype == np.float32  # N // 480 frames


def test_frame_t_covers_exactly_its_causal_window():
    # An impulse at sample 1000 lies in frames t with (t+1)*480 - 960 <= 1000 < (t+1)*480, i.e. t = 2 and 3.
    audio = np.zeros((4, 4800), np.float32)
    audio[0, 1000] = 1.0
    logmel_w = FoaFeatures(FeatureConfig(feature_set="logmel")).compute(audio)[0]
    touched = np.flatnonzero(logmel_w.max(axis=1) > -99.0)
    np.testing.assert_array_equal(touched, [2, 3])
    np.testing.assert_allclose(logmel_w[[0, 1, 4, 5]], -100.0, atol=1e-4)  # silent frames sit at the 1e-10 floor


def test_label_frames_group_five_feature_frames():
    cfg = FeatureConfig()
    assert cfg.frames_per_label == 5
    # 30 s -> 1500 feature frames -> 300 label frames of 100 ms; label l ends at sample 2400 (l + 1).
    assert (30 * FS) // cfg.hop_length // cfg.frames_per_label == 300
    extractor = FoaFeatures(cfg)
    assert extractor.frame_end_sample(5 * 7 + 4) == 2400 * 8


def test_logmel_matches_an_independent_float64_reference():
    cfg = FeatureConfig(feature_set="logmel")
    audio = RNG.standard_normal((4, FS)).astype(np.float32) * 0.3
    features = FoaFeatures(cfg).compute(audio)
    window = get_window("hann", 960)  # periodic Hann (scipy's default for spectral analysis)
    mel = mel_filterbank(FS, 1024, 64, 0.0, 12000.0).astype(np.float64)
    padded = np.concatenate([np.zeros((4, 480)), audio.astype(np.float64)], axis=1)
    for t in (0, 1, 17, 49):
        frame = padded[:, t * 480 : t * 480 + 960]  # = samples [(t+1)*480 - 960, (t+1)*480) of the stream
        power = np.abs(np.fft.rfft(frame * window, 1024)) ** 2
        reference = 10 * np.log10(np.maximum(power @ mel.T, 1e-10))
        np.testing.assert_allclose(features[:, t], reference, atol=2e-3)


def test_mel_filterbank_is_slaney_scaled_and_area_normalised():
    weights = mel_filterbank(FS, 1024, 64, 0.0, 12000.0)
    assert weights.shape == (64, 513)
    # Slaney mel: linear below 1 kHz (200/3 Hz per mel), log above; 64 bands over 0-12 kHz span 0-(~41.8) mel.
    top_mel = 15 + np.log(12000 / 1000) / (np.log(6.4) / 27)
    mel_edges = np.linspace(0, top_mel, 66)
    hz_edges = np.where(mel_edges < 15, mel_edges * 200 / 3, 1000 * np.exp((mel_edges - 15) * np.log(6.4) / 27))
    centres_hz = np.argmax(weights, axis=1) * FS / 1024
    np.testing.assert_allclose(centres_hz[10:], hz_edges[1:-1][10:], atol=FS / 1024)
    # Slaney normalisation: every triangle has unit area in Hz (checked where bands span many bins).
    area = weights.sum(axis=1) * FS / 1024
    np.testing.assert_allclose(area[20:], 1.0, atol=0.05)  # discretisation: up to 3 %


def test_intensity_vectors_point_at_a_plane_wave():
    extractor = FoaFeatures(FeatureConfig(feature_set="logmel+iv"))
    band_weight_sums = mel_filterbank(FS, 1024, 64, 0.0, 12000.0).sum(axis=1)
    for _ in range(20):
        u = random_unit()
        features = extractor.compute(plane_wave(RNG.standard_normal(FS // 2), u))
        iv = features[4:7, 2:]  # skip the first frames (partly zero-padded: still exact, just smaller)
        # Per bin I/E = |W|^2 u / (|W|^2 (1 + |u|^2 / 3)) = 0.75 u, then summed by each mel filter.
        per_band = iv / band_weight_sums[None, None, :]
        np.testing.assert_allclose(per_band, 0.75 * u[[1, 2, 0], None, None] * np.ones_like(per_band), atol=1e-4)
        direction = iv.sum(axis=(1, 2))[[2, 0, 1]]  # ACN (y, z, x) -> (x, y, z)
        angle = np.degrees(np.arccos(np.clip(direction @ u / np.linalg.norm(direction), -1.0, 1.0)))
        assert angle < 2.0


def test_phase_descriptors_of_a_plane_wave_and_of_a_delayed_channel():
    extractor = FoaFeatures(FeatureConfig())
    u = np.array([-0.6, 0.48, 0.64])  # behind, left, up
    features = extractor.compute(plane_wave(RNG.standard_normal(FS // 2), u))
    cos, sin = features[7:10, 2:], features[10:13, 2:]
    # In phase with W where the gain is positive (Y, Z), in anti-phase where negative (X).
    np.testing.assert_allclose(cos, np.sign(u[[1, 2, 0]])[:, None, None] * np.ones_like(cos), atol=1e-4)
    np.testing.assert_allclose(sin, 0.0, atol=1e-4)
    # A pure 1 kHz tone with Y a quarter period late: phase of Y relative to W is -90 degrees at 1 kHz.
    t = np.arange(FS // 2) / FS
    audio = np.stack([np.sin(2 * np.pi * 1000 * t), np.sin(2 * np.pi * 1000 * (t - 0.25e-3)), 0 * t, 0 * t])
    features = extractor.compute(audio.astype(np.float32))
    band = int(np.argmax(features[0, 10]))  # the mel band holding the tone
    assert features[7, 10, band] == pytest.approx(0.0, abs=0.02)
    assert features[10, 10, band] == pytest.approx(-1.0, abs=0.02)
    assert np.all(features[8:10, 10] == 0.0) and np.all(features[11:13, 10] == 0.0)  # silent Z, X: no phase


def test_silence_gives_finite_floor_values():
    features = FoaFeatures(FeatureConfig()).compute(np.zeros((4, 4800), np.float32))
    assert np.all(np.isfinite(features))
    np.testing.assert_allclose(features[:4], -100.0, atol=1e-4)
    assert np.all(features[4:] == 0.0)

"""Omni log-mel (backbone front end) and stereo features: values that follow from the signal, not just shapes."""

from __future__ import annotations

import numpy as np
import pytest

from seld_ros.audio import ChannelCountError, StreamingResampler
from seld_ros.features import (FeatureConfig, FoaFeatures, LogMelConfig, LogMelFeatures, StereoFeatureConfig,
                               StereoFeatures)
from seld_ros.features.stereo import swap_stereo_features

RNG = np.random.default_rng(21)


def test_panns_logmel_of_a_tone_peaks_in_its_band():
    cfg = LogMelConfig.preset("panns")
    t = np.arange(cfg.sample_rate) / cfg.sample_rate
    features = LogMelFeatures(cfg).compute(0.5 * np.sin(2 * np.pi * 3000 * t).astype(np.float32))
    assert features.shape == (1, 100, 64)
    # Band centres on the Slaney mel scale between 50 Hz and 14 kHz; the 3 kHz tone lands in the nearest one.
    mel = lambda f: np.where(f < 1000, f * 3 / 200, 15 + np.log(f / 1000) / (np.log(6.4) / 27))  # noqa: E731
    centres = np.linspace(mel(50.0), mel(14000.0), 66)[1:-1]
    assert int(np.argmax(features[0, 50])) == int(np.argmin(np.abs(centres - mel(3000.0))))
    # Level: a full-band tone of amplitude A in one Slaney band of unit area gives about 10 log10(A^2 win^2 / 16 / df)
    # dB; here it is enough that it sits far above the floor and is stable over time once the window is full.
    assert np.ptp(features[0, 10:, int(np.argmax(features[0, 50]))]) < 0.01


def test_natural_log_scale():
    cfg = LogMelConfig(log_scale="ln", amin=1e-5)
    w = RNG.standard_normal(32000).astype(np.float32)
    db = LogMelFeatures(LogMelConfig(amin=1e-5)).compute(w)
    ln = LogMelFeatures(cfg).compute(w)
    # ln(P + a) vs 10 log10(max(P, a)): the same where P >> a.
    np.testing.assert_allclose(ln[:, 2:], db[:, 2:] * np.log(10) / 10, atol=1e-3)


def test_w_channel_at_24k_resampled_for_panns_matches_a_native_32k_tone():
    # The documented chain for the backbone: W at 24 kHz -> StreamingResampler(24000, 32000) -> PANNs log-mel.
    t24 = np.arange(2 * 24000) / 24000
    w24 = (0.5 * np.sin(2 * np.pi * 1000 * t24)).astype(np.float32)[None]
    resampler = StreamingResampler(24000, 32000, channels=1)
    w32 = np.concatenate([resampler.push(w24[:, i : i + 2400]) for i in range(0, w24.shape[1], 2400)], axis=1)
    t32 = np.arange(w32.shape[1]) / 32000
    native = (0.5 * np.sin(2 * np.pi * 1000 * (t32 - resampler.latency_samples / 32000))).astype(np.float32)
    extractor = LogMelFeatures(LogMelConfig.preset("panns"))
    a, b = extractor.compute(w32), extractor.compute(native)
    peak = int(np.argmax(b[0, 50]))
    assert abs(a[0, 50, peak] - b[0, 50, peak]) < 0.1


def test_stereo_level_and_phase_differences():
    fs = 24000
    s = RNG.standard_normal(fs).astype(np.float32)
    delay = 3  # samples: R lags L
    left, right = s, 0.5 * np.roll(s, delay)  # R is 6 dB quieter and 0.125 ms late
    features = StereoFeatures().compute(np.stack([left, right]))
    assert features.shape == (8, 50, 64)
    np.testing.assert_allclose(features[3, 5:], 20 * np.log10(2), atol=0.3)  # ILD = +6.02 dB everywhere
    # Phase of L relative to R = +2 pi f * delay / fs: check cos/sin in a band around 2 kHz.
    band = 30
    weights = StereoFeatures()._mel_t[:, band]
    freqs = np.fft.rfftfreq(1024, 1 / fs)
    centre = (weights * freqs).sum() / weights.sum()
    phase = 2 * np.pi * centre * delay / fs
    assert features[4, 5:, band].mean() == pytest.approx(np.cos(phase), abs=0.05)
    assert features[5, 5:, band].mean() == pytest.approx(np.sin(phase), abs=0.05)


def test_stpacc_shows_a_reflection_at_its_lag():
    cfg = StereoFeatureConfig()
    fs, lag_index = cfg.sample_rate, 9  # lag = 10 * 7 = 70 samples
    lag = (lag_index + 1) * cfg.stpacc_lag_step
    s = RNG.standard_normal(fs)
    echoic = s + 0.8 * np.concatenate([np.zeros(lag), s[:-lag]])  # direct sound + one strong reflection
    features = StereoFeatures(cfg).compute(np.stack([echoic, s]).astype(np.float32))
    stpacc_echo, stpacc_dry = features[6, 5:].mean(axis=0), features[7, 5:].mean(axis=0)
    # rho(lag) = 0.8 / (1 + 0.64) -> 10 log10(rho^2) = -6.2 dB (minus a little for the window); elsewhere ~ -30 dB.
    assert -9.0 < stpacc_echo[lag_index] < -5.0
    assert np.median(stpacc_echo) < -20 and stpacc_dry.max() < -15


def _foa_scene(seconds: float = 1.0, seed: int = 3) -> np.ndarray:
    """W, Y, Z, X of a few plane-wave noise sources at different azimuths (SN3D)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 24000)
    foa = np.zeros((4, n), np.float32)
    for az in np.radians([30.0, -70.0, 150.0]):
        s = rng.standard_normal(n).astype(np.float32)
        foa += np.stack([s, np.sin(az) * s, 0 * s, np.cos(az) * s])
    return foa


def test_stereo_mid_log_mel_is_the_foa_w_log_mel():
    foa = _foa_scene()
    w, y = foa[0], foa[1]
    stereo = np.stack([0.5 * (w + y), 0.5 * (w - y)])  # DCASE 2025 virtual stereo: mid L + R = W
    mid = StereoFeatures().compute(stereo)[0]
    w_logmel = FoaFeatures(FeatureConfig(feature_set="logmel")).compute(foa)[0]
    assert np.abs(mid - w_logmel).max() < 1e-3


def test_swapping_the_channels_swaps_the_features_and_twice_is_identity():
    stereo = _foa_scene()[[0, 1]]
    for cfg in (StereoFeatureConfig(), StereoFeatureConfig(stpacc=False)):
        features = StereoFeatures(cfg).compute(stereo)
        swapped_audio = StereoFeatures(cfg).compute(stereo[::-1].copy())
        swapped = swap_stereo_features(features, cfg)
        assert np.abs(swapped - swapped_audio).max() < 1e-3
        assert np.abs(features[3]).mean() > 1.0  # the ILD is not trivially zero, so the sign flip is tested
        np.testing.assert_array_equal(swap_stereo_features(swapped, cfg), features)
    with pytest.raises(ValueError, match="expected 8 channels, got 6"):
        swap_stereo_features(np.zeros((6, 5, 64), np.float32), StereoFeatureConfig())


def test_stpacc_switch_drops_only_the_stpacc_channels():
    stereo = _foa_scene(0.5)[[0, 1]]
    full = StereoFeatures(StereoFeatureConfig()).compute(stereo)
    cut = StereoFeatures(StereoFeatureConfig(stpacc=False)).compute(stereo)
    assert full.shape[0] == 8 and cut.shape[0] == 6 and StereoFeatureConfig(stpacc=False).num_channels == 6
    np.testing.assert_array_equal(cut, full[:6])
    assert "stpacc_lr" not in StereoFeatureConfig(stpacc=False).channel_layout


def test_wrong_channel_counts():
    with pytest.raises(ChannelCountError, match="StereoFeatures.compute input: expected 2 channels, got 4"):
        StereoFeatures().compute(np.zeros((4, 960), np.float32))
    with pytest.raises(ChannelCountError, match="LogMelFeatures.compute input: expected 1 channels, got 4"):
        LogMelFeatures().compute(np.zeros((4, 960), np.float32))

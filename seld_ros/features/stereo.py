"""Stereo front end: log-mel of mid, L and R, ILD, IPD (cos/sin) and stpACC. Channel layout: ``StereoFeatureConfig``.

Input (2, N) float32 (L, R) at ``config.sample_rate``; output (config.num_channels (8, or 6 without stpACC, + 2 with
``yamnet``), N // hop, n_mels) float32, causal framing. The YAMNet channels are YAMNet's log-mel of the mid signal
L + R, built as the FOA front end builds them of W (``seld_ros.features.yamnet``).
"""

from __future__ import annotations

import numpy as np

from seld_ros.features.config import StereoFeatureConfig
from seld_ros.features.spectral import FrameFeatureExtractor, mel_filterbank, periodic_hann, power_to_db
from seld_ros.features.yamnet import StreamingWithYAMNetChannels, WithYAMNetChannels

_EPS = np.float32(1e-12)


class StereoFeatures(WithYAMNetChannels, FrameFeatureExtractor):
    input_channels = 2

    def __init__(self, config: StereoFeatureConfig | None = None) -> None:
        self.config = config or StereoFeatureConfig()
        cfg = self.config
        self.num_channels = cfg.spatial_channels  # per frame; ``compute`` appends the YAMNet channels
        self.hop_length, self.win_length, self.num_bins = cfg.hop_length, cfg.win_length, cfg.n_mels
        self._window = periodic_hann(cfg.win_length)
        self._mel_t = np.ascontiguousarray(
            mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax_hz).T
        )
        self._lags = cfg.stpacc_lag_step * np.arange(1, cfg.n_mels + 1)
        # Linear (not circular) autocorrelation up to the largest lag needs an FFT of at least win + max_lag.
        self._acc_fft = 1 << int(np.ceil(np.log2(cfg.win_length + int(self._lags[-1]))))

    def frames_to_features(self, frames: np.ndarray) -> np.ndarray:
        cfg = self.config
        windowed = frames * self._window
        spectrum = np.fft.rfft(windowed, n=cfg.n_fft, axis=-1)  # (2, T, F)
        power = spectrum.real**2 + spectrum.imag**2
        cross = spectrum[0] * np.conj(spectrum[1])  # phase of L relative to R
        # mid = L + R: its power spectrum is |L|^2 + |R|^2 + 2 Re(L R*), no third FFT needed
        mid = power[0] + power[1] + 2.0 * cross.real
        mel = np.concatenate([mid[None], power, cross.real[None], cross.imag[None], np.abs(cross)[None]]) @ self._mel_t
        out = np.empty((self.num_channels,) + mel.shape[1:], dtype=np.float32)
        out[0:3] = power_to_db(mel[0:3], cfg.amin)
        out[3] = out[1] - out[2]  # ILD in dB: the shared floor makes it 0 where both channels are silent
        magnitude = mel[5] + _EPS
        out[4] = mel[3] / magnitude
        out[5] = mel[4] / magnitude
        if cfg.stpacc:
            # stpACC: autocorrelation of each windowed frame = inverse FFT of its power spectrum (Wiener-Khinchin).
            acc_spectrum = np.fft.rfft(windowed, n=self._acc_fft, axis=-1)
            acc = np.fft.irfft(acc_spectrum.real**2 + acc_spectrum.imag**2, n=self._acc_fft, axis=-1)
            rho = acc[..., self._lags] / (acc[..., :1] + np.float32(cfg.amin))
            out[6:8] = power_to_db(rho * rho, cfg.amin)
        return out


    def omni(self, audio: np.ndarray) -> np.ndarray:
        return audio[:1] + audio[1:2]  # the mid L + R (= W of DCASE 2025 virtual stereo; see StereoFeatureConfig)


class StreamingStereoFeatures(StreamingWithYAMNetChannels):
    """Streaming twin of ``StereoFeatures``: ``push(chunk (2, n)) -> (num_channels, t_new, n_mels)``, identical to
    ``StereoFeatures.compute`` for any chunking."""

    def __init__(self, config: StereoFeatureConfig | None = None) -> None:
        super().__init__(StereoFeatures(config))


def swap_stereo_features(features: np.ndarray, config: StereoFeatureConfig) -> np.ndarray:
    """Features (C, ..., F) of (L, R) -> the features of the swapped pair (R, L), exactly (up to float rounding):
    L/R log-mels and stpACCs trade places, the ILD and the IPD sine change sign, mid, IPD cosine and the YAMNet
    channels of the mid stay. The scene it shows is the mirror image y -> -y (azimuth negated). Applying it twice
    gives the input back. ``features``: all ``config.num_channels`` or only the ``config.spatial_channels``."""
    lay = config.channel_layout
    if features.shape[0] not in (config.num_channels, config.spatial_channels):
        raise ValueError(f"swap_stereo_features: expected {config.num_channels} channels, got {features.shape[0]}")
    out = features.copy()
    pairs = [lay["logmel_lr"]] + ([lay["stpacc_lr"]] if "stpacc_lr" in lay else [])
    for a, b in pairs:
        out[a], out[b] = features[b], features[a]
    out[lay["ild"]] = -features[lay["ild"]]
    out[lay["ipd_sin"]] = -features[lay["ipd_sin"]]
    return out

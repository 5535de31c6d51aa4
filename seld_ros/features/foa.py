"""FOA spatial front end (AT2SELD spectral descriptors): log-mel, intensity vectors, relative phase.

Input: ACN/SN3D B-format (4, N) float32 at 24 kHz (W, Y, Z, X). Output: (C, T, n_mels) float32 with the channel
layout documented on ``FeatureConfig`` (4 / 7 / 13 channels for logmel / logmel+iv / logmel+iv+phase, + 2 with
``yamnet``).

YAMNet channels (``FeatureConfig.yamnet``): YAMNet's own log-mel of W, two 10 ms frames per feature frame
(``seld_ros.features.yamnet``: which frames, and why they add no latency).
"""

from __future__ import annotations

import numpy as np

from seld_ros.features.config import FeatureConfig
from seld_ros.features.spectral import (
    FrameFeatureExtractor,
    mel_filterbank,
    periodic_hann,
    power_to_db,
)
from seld_ros.features.yamnet import StreamingWithYAMNetChannels, WithYAMNetChannels

# Keeps the per-bin normalisations finite in silence (0/0). Tiny next to any audible bin's power, so it only
# matters where the numerator is zero too.
_EPS = np.float32(1e-12)


class FoaFeatures(WithYAMNetChannels, FrameFeatureExtractor):
    """Batch FOA features: ``FoaFeatures(cfg).compute(audio (4, N)) -> (cfg.num_channels, N // hop, n_mels)``.
    ``frames_to_features`` gives the spatial channels (``cfg.spatial_channels``); ``compute`` appends the YAMNet
    channels when ``cfg.yamnet``."""

    input_channels = 4

    def __init__(self, config: FeatureConfig | None = None) -> None:
        self.config = config or FeatureConfig()
        cfg = self.config
        self.hop_length, self.win_length = cfg.hop_length, cfg.win_length
        self.num_channels, self.num_bins = cfg.spatial_channels, cfg.n_mels  # per frame; see compute
        self._with_iv = cfg.feature_set in ("logmel+iv", "logmel+iv+phase")
        self._with_phase = cfg.feature_set == "logmel+iv+phase"
        self._window = periodic_hann(cfg.win_length)
        # Transposed so a whole (channels, T, bins) stack projects with one matmul.
        self._mel_t = np.ascontiguousarray(
            mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax_hz).T
        )

    def frames_to_features(self, frames: np.ndarray) -> np.ndarray:
        spectrum = np.fft.rfft(frames * self._window, n=self.config.n_fft, axis=-1)  # (4, T, F) complex64
        power = spectrum.real**2 + spectrum.imag**2
        stacks = [power]
        if self._with_iv:
            # Cross-spectra of Y, Z, X with W: Re is the active intensity, the angle the phase relative to W.
            cross = np.conj(spectrum[0]) * spectrum[1:]  # (3, T, F)
            # DCASE-baseline normalisation: |W|^2 + (|X|^2 + |Y|^2 + |Z|^2) / 3 per bin, before mel projection.
            energy = power[0] + power[1:].sum(axis=0) / np.float32(3.0) + _EPS
            stacks.append(cross.real / energy)
            if self._with_phase:
                stacks += [cross.real, cross.imag, np.abs(cross)]
        mel = np.concatenate(stacks) @ self._mel_t  # one projection for every channel: (4|7|16, T, M)
        out = np.empty((self.num_channels,) + mel.shape[1:], dtype=np.float32)
        out[:4] = power_to_db(mel[:4], self.config.amin)
        if self._with_iv:
            out[4:7] = mel[4:7]
        if self._with_phase:
            # Energy-weighted pooling: sum_k w_mk |C_k| e^{j phi_k} / sum_k w_mk |C_k|, so loud bins dominate and the
            # result is the cos/sin of the band's mean phase scaled by its coherence (|.| <= 1).
            magnitude = mel[13:16] + _EPS
            out[7:10] = mel[7:10] / magnitude
            out[10:13] = mel[10:13] / magnitude
        return out

    def omni(self, audio: np.ndarray) -> np.ndarray:
        return audio[:1]  # W


class StreamingFoaFeatures(StreamingWithYAMNetChannels):
    """Streaming FOA features: ``push(chunk (4, n)) -> (C, t_new, n_mels)``, identical to ``FoaFeatures.compute``."""

    def __init__(self, config: FeatureConfig | None = None) -> None:
        super().__init__(FoaFeatures(config))

"""Single-channel log-mel front end for a pretrained audio-tagging backbone, fed with the omni (W) channel.

The backbone's own settings come from ``LogMelConfig`` (preset "panns": 32 kHz, 64 mels, 50-14000 Hz, hop 320,
window 1024). The input must already be at ``config.sample_rate``: for PANNs, W at 24 kHz goes through
``seld_ros.audio.StreamingResampler(24000, 32000, channels=1)`` first. Framing is causal like every extractor here
(PANNs itself uses centred frames; our frame t is its frame t + win/(2 hop), same content, no look-ahead).
"""

from __future__ import annotations

import numpy as np

from seld_ros.features.config import LogMelConfig
from seld_ros.features.spectral import (
    FrameFeatureExtractor,
    StreamingExtractor,
    mel_filterbank,
    periodic_hann,
    power_to_db,
)


class LogMelFeatures(FrameFeatureExtractor):
    """``LogMelFeatures(cfg).compute(mono (N,) or (1, N)) -> (1, N // hop, n_mels)`` float32."""

    input_channels = 1
    num_channels = 1

    def __init__(self, config: LogMelConfig | None = None) -> None:
        self.config = config or LogMelConfig.preset("panns")
        cfg = self.config
        self.hop_length, self.win_length, self.num_bins = cfg.hop_length, cfg.win_length, cfg.n_mels
        self._window = periodic_hann(cfg.win_length)
        self._mel_t = np.ascontiguousarray(
            mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax_hz).T
        )

    def frames_to_features(self, frames: np.ndarray) -> np.ndarray:
        spectrum = np.fft.rfft(frames * self._window, n=self.config.n_fft, axis=-1)
        mel = (spectrum.real**2 + spectrum.imag**2) @ self._mel_t
        if self.config.log_scale == "db":
            return power_to_db(mel, self.config.amin)
        return np.log(mel + np.float32(self.config.amin))


class StreamingLogMelFeatures(StreamingExtractor):
    """Streaming twin of ``LogMelFeatures``: ``push(chunk (n,) or (1, n)) -> (1, t_new, n_mels)``."""

    def __init__(self, config: LogMelConfig | None = None) -> None:
        super().__init__(LogMelFeatures(config))
        self.config = self.extractor.config

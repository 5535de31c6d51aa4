"""Shared spectral machinery: window, mel filterbank, causal framing, and the batch/streaming extractor pair.

Frame convention (fixed; labels, the model and the node depend on it). Causal framing: for N input samples there are
T = N // hop frames, and frame t covers samples [(t+1)*hop - win, (t+1)*hop), with zeros before the stream start.
Frame t is therefore complete as soon as sample (t+1)*hop - 1 has arrived, and with the DCASE front end (hop 480,
100 ms labels) label frame l <-> feature frames 5l..5l+4 <-> audio samples [2400 l, 2400 (l+1)).

An extractor implements ``frames_to_features(frames (C_in, T, win)) -> (C_out, T, n_bins)``. The batch path
(``compute``) and the streaming path (``StreamingExtractor.push``) cut frames out of the same samples and hand them to
that one function, which is why the two agree to float rounding: streaming is not an approximation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from seld_ros.audio.errors import validate_audio

# Input magnitudes are clamped to this before framing (120 dB above full scale, far beyond any real signal) so that no
# finite input can overflow float32 in the power spectrum (|x| 1e20 would: power ~1e46 -> inf, and inf/inf -> NaN in
# the intensity normalisation). Features are therefore finite for every finite input.
MAX_INPUT_MAGNITUDE = np.float32(1e6)

# Frames per block in batch mode: bounds memory on hour-long files (4 ch x 2048 frames x 513 bins complex64 = 34 MB).
_BATCH_BLOCK_FRAMES = 2048


def periodic_hann(win_length: int) -> np.ndarray:
    """Periodic Hann window (scipy.signal.get_window('hann', n), torch.hann_window default), float32."""
    n = np.arange(win_length)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_length)).astype(np.float32)


def _hz_to_mel_slaney(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, np.log(6.4) / 27.0
    linear = hz / f_sp
    log = min_log_mel + np.log(np.maximum(hz, min_log_hz) / min_log_hz) / logstep
    return np.where(hz >= min_log_hz, log, linear)


def _mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, np.log(6.4) / 27.0
    linear = f_sp * mel
    log = min_log_hz * np.exp(logstep * (mel - min_log_mel))
    return np.where(mel >= min_log_mel, log, linear)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """(n_mels, n_fft//2 + 1) float32 triangular filters on the Slaney mel scale with Slaney area normalisation.

    Same as librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax) with its defaults (htk=False, norm='slaney'), which
    is what the DCASE baseline and PANNs (torchlibrosa) use; reimplemented to keep librosa out of the runtime.
    """
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    mel_points = np.linspace(_hz_to_mel_slaney(fmin), _hz_to_mel_slaney(fmax), n_mels + 2)
    hz_points = _mel_to_hz_slaney(mel_points)
    widths = np.diff(hz_points)
    ramps = hz_points[:, None] - fft_freqs[None, :]
    weights = np.zeros((n_mels, len(fft_freqs)))
    for i in range(n_mels):
        lower = -ramps[i] / widths[i]
        upper = ramps[i + 2] / widths[i + 1]
        weights[i] = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (hz_points[2 : n_mels + 2] - hz_points[:n_mels]))[:, None]
    return weights.astype(np.float32)


def power_to_db(power: np.ndarray, amin: float) -> np.ndarray:
    """10*log10(max(power, amin)); no reference scaling and no top_db (top_db depends on the whole file's max)."""
    return np.float32(10.0) * np.log10(np.maximum(power, np.float32(amin)))


class FrameFeatureExtractor(ABC):
    """Turns causal frames into features. Subclasses set the attributes below and implement ``frames_to_features``."""

    input_channels: int
    hop_length: int
    win_length: int
    num_channels: int  # output feature channels
    num_bins: int  # output bins per frame (mel bands)

    @abstractmethod
    def frames_to_features(self, frames: np.ndarray) -> np.ndarray:
        """(input_channels, T, win_length) float32 frames -> (num_channels, T, num_bins) float32 features."""

    def _validate(self, audio: np.ndarray, what: str) -> np.ndarray:
        audio = np.asarray(audio)
        if audio.ndim == 1 and self.input_channels == 1:
            audio = audio[None, :]
        audio = validate_audio(audio, self.input_channels, what=what)
        if audio.size and float(np.abs(audio).max()) > MAX_INPUT_MAGNITUDE:
            audio = np.clip(audio, -MAX_INPUT_MAGNITUDE, MAX_INPUT_MAGNITUDE)
        return audio

    def compute(self, audio: np.ndarray) -> np.ndarray:
        """Whole signal (input_channels, N) -> (num_channels, N // hop, num_bins) float32 (causal framing)."""
        audio = self._validate(audio, f"{type(self).__name__}.compute input")
        num_frames = audio.shape[1] // self.hop_length
        lead = self.win_length - self.hop_length  # zeros before the stream start
        padded = np.concatenate([np.zeros((audio.shape[0], lead), np.float32), audio], axis=1)
        windows = sliding_window_view(padded, self.win_length, axis=1)[:, :: self.hop_length]
        out = np.empty((self.num_channels, num_frames, self.num_bins), dtype=np.float32)
        for start in range(0, num_frames, _BATCH_BLOCK_FRAMES):
            stop = min(num_frames, start + _BATCH_BLOCK_FRAMES)
            out[:, start:stop] = self.frames_to_features(windows[:, start:stop])
        return out

    def frame_end_sample(self, frame_index: int) -> int:
        """One past the last input sample of ``frame_index`` (the frame's timestamp at its end)."""
        return (frame_index + 1) * self.hop_length


class StreamingExtractor:
    """Feeds chunks of any size to a ``FrameFeatureExtractor``; ``push`` returns exactly the frames completed."""

    def __init__(self, extractor: FrameFeatureExtractor) -> None:
        self.extractor = extractor
        self._lead = extractor.win_length - extractor.hop_length
        self._buffer = np.zeros((extractor.input_channels, self._lead + 4 * extractor.win_length), np.float32)
        self.reset()

    def reset(self) -> None:
        """Start a new stream: the next sample is sample 0 again (zeros before it, as in batch mode)."""
        self._buffer[:, : self._lead] = 0.0
        self._fill = self._lead  # samples held: the tail of the previous frame + not-yet-framed samples
        self.frames_emitted = 0
        self.samples_consumed = 0

    @property
    def num_channels(self) -> int:
        return self.extractor.num_channels

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """(input_channels, n) -> (num_channels, t_new, num_bins); t_new may be 0."""
        ext = self.extractor
        chunk = ext._validate(chunk, f"{type(ext).__name__} stream chunk")
        n = chunk.shape[1]
        if self._fill + n > self._buffer.shape[1]:  # grow once for an unusually large chunk; then reused
            grown = np.zeros((ext.input_channels, self._fill + n), np.float32)
            grown[:, : self._fill] = self._buffer[:, : self._fill]
            self._buffer = grown
        self._buffer[:, self._fill : self._fill + n] = chunk
        self._fill += n
        self.samples_consumed += n
        new_frames = (self._fill - self._lead) // ext.hop_length
        if new_frames == 0:
            return np.zeros((ext.num_channels, 0, ext.num_bins), np.float32)
        span = self._lead + new_frames * ext.hop_length
        windows = sliding_window_view(self._buffer[:, :span], ext.win_length, axis=1)[:, :: ext.hop_length]
        features = ext.frames_to_features(windows)
        consumed = new_frames * ext.hop_length
        # Keep the last `lead` framed samples (start of the next frame) plus the unframed remainder.
        self._buffer[:, : self._fill - consumed] = self._buffer[:, consumed : self._fill]
        self._fill -= consumed
        self.frames_emitted += new_frames
        return features

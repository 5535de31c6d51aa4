"""YAMNet's log-mel front end on the omni channel (W of FOA, mid of stereo), batch and streaming, and the two YAMNet
channels a SELD front end appends with ``yamnet: true`` (:class:`WithYAMNetChannels`,
:class:`StreamingWithYAMNetChannels`).

The features are YAMNet's own (``research/audioset/yamnet/features.py``, ``waveform_to_log_mel_spectrogram_patches``):
16 kHz mono; ``tf.signal.stft`` with a 400-sample (25 ms) *periodic* Hann window, 160-sample (10 ms) hop and a
512-point FFT, magnitude (not power); ``tf.signal.linear_to_mel_weight_matrix`` with 64 bands from 125 to 7500 Hz,
i.e. HTK mel (1127 ln(1 + f/700)), band edges equally spaced in mel, triangles evaluated *in mel* at each FFT bin's
frequency, peak 1, no area normalisation, the DC bin zeroed; then ``log(mel + 0.001)``. A patch is 96 frames x 64
bands (0.96 s).

Time alignment (the one difference from YAMNet, which frames from the start of a clip): framing is causal as for every
front end here (``seld_ros.features.spectral``): 16 kHz frame f covers samples [160 (f+1) - 400, 160 (f+1)), zeros
before the stream start. At 16 kHz a 100 ms label frame t (24 kHz samples [2400 t, 2400 (t+1))) is 16 kHz samples
[1600 t, 1600 (t+1)), so **YAMNet frames 10 t .. 10 t + 9 belong to label frame t**: their windows *end* inside it,
the last one exactly at its end. The causal patch of label frame t is frames 10 (t+1) - 96 .. 10 (t+1) - 1
(0.96 s of audio plus the 15 ms of window before), padded with log(0.001) (the value of silence) before the stream
start: :func:`yamnet_patches`, :class:`StreamingYAMNetPatches`.

Latency: the 24 -> 16 kHz polyphase resampler (``seld_ros.audio.resample``, the project's only resampler) centres its
filter on each output sample, so a 16 kHz sample needs a few 24 kHz samples beyond its own time.
:data:`RESAMPLER_LOOKAHEAD_24K` = 16 (checked by the tests against the streaming resampler): the patch of label frame
t is complete once 2400 (t+1) + 16 samples of 24 kHz audio have arrived, i.e. **0.667 ms after the end of label frame
t**; nothing else waits for future audio (the window ends at the label frame's end).
"""
from __future__ import annotations

import numpy as np

from seld_ros.audio.resample import StreamingResampler, resample_to
from seld_ros.constants import LABEL_HOP_SAMPLES, SAMPLE_RATE
from seld_ros.features.spectral import FrameFeatureExtractor, StreamingExtractor, periodic_hann

YAMNET_SAMPLE_RATE = 16000
YAMNET_WIN_LENGTH = 400  # 25 ms
YAMNET_HOP_LENGTH = 160  # 10 ms
YAMNET_N_FFT = 512  # 2 ** ceil(log2(400)), as YAMNet computes it
YAMNET_MEL_BANDS = 64
YAMNET_FMIN = 125.0
YAMNET_FMAX = 7500.0
YAMNET_LOG_OFFSET = 0.001
YAMNET_PATCH_FRAMES = 96
SILENCE_LOG_MEL = float(np.log(np.float32(YAMNET_LOG_OFFSET)))  # log(0 + 0.001): the padding value
SOURCE_SAMPLE_RATE = SAMPLE_RATE  # the SELD pipeline's internal rate
LABEL_HOP_24K = LABEL_HOP_SAMPLES  # 100 ms label frames at 24 kHz
FRAMES_PER_LABEL = LABEL_HOP_24K * YAMNET_SAMPLE_RATE // SOURCE_SAMPLE_RATE // YAMNET_HOP_LENGTH  # 10
# 24 kHz samples past the end of label frame t that must have arrived before its last YAMNet frame (16 kHz sample
# 1600 (t+1) - 1) leaves the streaming resampler: its centred filter's look-ahead (0.667 ms); the tests measure it.
RESAMPLER_LOOKAHEAD_24K = 16


def hertz_to_mel_htk(hz):
    """HTK mel as TensorFlow defines it: 1127 ln(1 + f / 700)."""
    return 1127.0 * np.log1p(np.asarray(hz, np.float64) / 700.0)


def yamnet_mel_matrix(num_mel_bins: int = YAMNET_MEL_BANDS, num_spectrogram_bins: int = YAMNET_N_FFT // 2 + 1,
                      sample_rate: int = YAMNET_SAMPLE_RATE, lower_edge_hertz: float = YAMNET_FMIN,
                      upper_edge_hertz: float = YAMNET_FMAX) -> np.ndarray:
    """(num_spectrogram_bins, num_mel_bins) float32: ``tf.signal.linear_to_mel_weight_matrix`` (see module doc)."""
    bin_mel = hertz_to_mel_htk(np.linspace(0.0, sample_rate / 2.0, num_spectrogram_bins))
    edges = np.linspace(hertz_to_mel_htk(lower_edge_hertz), hertz_to_mel_htk(upper_edge_hertz), num_mel_bins + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_mel[:, None] - lower) / (centre - lower)
    falling = (upper - bin_mel[:, None]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0  # TF (like HTK) leaves the DC bin out of every band
    return weights.astype(np.float32)


class YAMNetLogMel(FrameFeatureExtractor):
    """16 kHz mono -> (1, N // 160, 64) YAMNet log-mel frames (``compute``); causal framing."""

    input_channels = 1
    num_channels = 1
    hop_length = YAMNET_HOP_LENGTH
    win_length = YAMNET_WIN_LENGTH
    num_bins = YAMNET_MEL_BANDS

    def __init__(self) -> None:
        self._window = periodic_hann(YAMNET_WIN_LENGTH)
        self._mel = yamnet_mel_matrix()

    def frames_to_features(self, frames: np.ndarray) -> np.ndarray:
        magnitude = np.abs(np.fft.rfft(frames * self._window, n=YAMNET_N_FFT, axis=-1)).astype(np.float32)
        return np.log(magnitude @ self._mel + np.float32(YAMNET_LOG_OFFSET)).astype(np.float32)


def _mono(audio: np.ndarray, what: str) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None, :]
    if audio.ndim != 2 or audio.shape[0] != 1:
        raise ValueError(f"{what}: expected one channel (the W or mid channel), shape (n,) or (1, n), "
                         f"got {audio.shape}")
    return audio


def yamnet_log_mel(omni_24k: np.ndarray) -> np.ndarray:
    """Whole 24 kHz omni signal (n,) or (1, n) -> (T, 64) float32 log-mel frames, T = ceil(2 n / 3) // 160
    (10 per 100 ms label frame). Equal to :class:`StreamingYAMNetLogMel` fed the same signal and flushed."""
    audio_16k = resample_to(_mono(omni_24k, "yamnet_log_mel"), SOURCE_SAMPLE_RATE, YAMNET_SAMPLE_RATE)
    return YAMNetLogMel().compute(audio_16k)[0]


def yamnet_patches(log_mel: np.ndarray, label_frames: int | None = None) -> np.ndarray:
    """(T, 64) YAMNet frames -> (L, 1, 96, 64) causal patches, patch t = frames 10 (t+1) - 96 .. 10 (t+1) - 1
    (log(0.001) before frame 0); L = ``label_frames`` or T // 10 (every complete label frame)."""
    log_mel = np.asarray(log_mel, np.float32)
    if log_mel.ndim != 2 or log_mel.shape[1] != YAMNET_MEL_BANDS:
        raise ValueError(f"yamnet_patches: expected (frames, {YAMNET_MEL_BANDS}) log-mel, got {log_mel.shape}")
    count = log_mel.shape[0] // FRAMES_PER_LABEL if label_frames is None else int(label_frames)
    if count * FRAMES_PER_LABEL > log_mel.shape[0]:
        raise ValueError(f"yamnet_patches: {count} label frames need {count * FRAMES_PER_LABEL} YAMNet frames, "
                         f"got {log_mel.shape[0]}")
    return _patch_windows(np.concatenate([_silence_lead(), log_mel[:count * FRAMES_PER_LABEL]]), count)


def _silence_lead() -> np.ndarray:
    """The 86 frames before a label frame's own 10 in its patch, at the stream start: silence."""
    return np.full((YAMNET_PATCH_FRAMES - FRAMES_PER_LABEL, YAMNET_MEL_BANDS), SILENCE_LOG_MEL, np.float32)


def _patch_windows(frames: np.ndarray, count: int) -> np.ndarray:
    """(86 + 10 count, 64) frames -> (count, 1, 96, 64): patch i ends with label frame i's 10 frames."""
    starts = np.arange(count) * FRAMES_PER_LABEL
    return frames[starts[:, None] + np.arange(YAMNET_PATCH_FRAMES)][:, None]


class StreamingYAMNetLogMel:
    """Streaming twin of :func:`yamnet_log_mel`: ``push(24 kHz omni chunk, any size) -> (t_new, 64)`` frames, each
    frame emitted as soon as its audio (plus the resampler's 0.625 ms look-ahead) has arrived; ``flush()`` treats the
    future as silence, after which the concatenated output equals the batch output of the whole stream."""

    def __init__(self) -> None:
        self._resampler = StreamingResampler(SOURCE_SAMPLE_RATE, YAMNET_SAMPLE_RATE, channels=1)
        self._framer = StreamingExtractor(YAMNetLogMel())
        self.reset()

    def reset(self) -> None:
        self._resampler.reset()
        self._framer.reset()
        self.samples_consumed = 0  # 24 kHz samples pushed

    @property
    def frames_emitted(self) -> int:
        return self._framer.frames_emitted

    def push(self, chunk: np.ndarray) -> np.ndarray:
        chunk = _mono(chunk, "StreamingYAMNetLogMel.push")
        self.samples_consumed += chunk.shape[1]
        return self._frames_from(self._resampler.push(chunk))

    def flush(self) -> np.ndarray:
        return self._frames_from(self._resampler.flush())

    def _frames_from(self, audio_16k: np.ndarray) -> np.ndarray:
        if audio_16k.shape[1] == 0:  # a chunk shorter than the resampler's step: nothing new at 16 kHz yet
            return np.zeros((0, YAMNET_MEL_BANDS), np.float32)
        return self._framer.push(audio_16k)[0]


class StreamingYAMNetPatches:
    """24 kHz omni chunks -> one causal 96 x 64 patch per completed label frame, equal to
    ``yamnet_patches(yamnet_log_mel(whole stream))``: ``push(chunk) -> (l_new, 1, 96, 64)``. Holds the last 96
    frames (log(0.001) at the stream start)."""

    def __init__(self) -> None:
        self.front_end = StreamingYAMNetLogMel()
        self.reset()

    def reset(self) -> None:
        self.front_end.reset()
        self._history = _silence_lead()
        self._pending = np.zeros((0, YAMNET_MEL_BANDS), np.float32)  # frames of the label frame not yet complete
        self.label_frames_emitted = 0

    def _patches_from(self, frames: np.ndarray) -> np.ndarray:
        frames = np.concatenate([self._pending, frames])
        count = frames.shape[0] // FRAMES_PER_LABEL
        self._pending = frames[count * FRAMES_PER_LABEL:]
        if count == 0:
            return np.zeros((0, 1, YAMNET_PATCH_FRAMES, YAMNET_MEL_BANDS), np.float32)
        seen = np.concatenate([self._history, frames[:count * FRAMES_PER_LABEL]])
        self._history = seen[-(YAMNET_PATCH_FRAMES - FRAMES_PER_LABEL):]
        self.label_frames_emitted += count
        return _patch_windows(seen, count)

    def push(self, chunk: np.ndarray) -> np.ndarray:
        return self._patches_from(self.front_end.push(chunk))

    def flush(self) -> np.ndarray:
        return self._patches_from(self.front_end.flush())


# ---------------------------------------------------------------------------------- the two SELD feature channels
# A SELD front end with ``yamnet: true`` (``FeatureConfig``, ``StereoFeatureConfig``) appends two channels: YAMNet's
# 10 ms frames of its omni signal, two per 20 ms feature frame. Feature frame t holds YAMNet frames 2t - 1 and 2t
# (frame -1 is silence, ln(0.001)). Why one frame earlier than the 2t, 2t + 1 that would tile the label frame
# exactly: the 24 -> 16 kHz resampler needs 16 samples (0.67 ms) past a YAMNet frame's end, so frame 2t + 1 would not
# be ready when feature frame t is, and every label frame would wait for the next audio chunk (a whole message period,
# 100 ms with 100 ms messages). Frame 2t ends 10 ms before feature frame t does, so its samples (+ the look-ahead) are
# always there: the YAMNet channels add no latency, and YAMNet sees each label frame's audio up to 10 ms before its
# end (the rest in the next hop).

def _silence_frame() -> np.ndarray:
    return np.full((1, YAMNET_MEL_BANDS), SILENCE_LOG_MEL, np.float32)


def _pair_frames(frames: np.ndarray, count: int) -> np.ndarray:
    """YAMNet frames -1, 0, 1, ... (at least 2 ``count``) -> (2, count, 64): feature frame t gets 2t - 1 and 2t."""
    if frames.shape[0] < 2 * count:
        raise RuntimeError(f"YAMNet front end is behind the SELD front end: {frames.shape[0]} frames for {count} "
                           "feature frames (its resampler look-ahead exceeds 10 ms?)")
    return np.ascontiguousarray(frames[:2 * count].reshape(count, 2, YAMNET_MEL_BANDS).transpose(1, 0, 2))


class WithYAMNetChannels:
    """Mixin for a SELD ``FrameFeatureExtractor`` (listed before it) whose ``config`` has ``yamnet``: ``compute``
    appends the two YAMNet channels of the signal ``omni(audio)`` picks (W, or the stereo mid). Its
    ``frames_to_features`` (and ``num_channels``) stay the spatial channels only."""

    def omni(self, audio: np.ndarray) -> np.ndarray:
        """The omni signal (1, n) of validated SELD input audio (C_in, n)."""
        raise NotImplementedError

    def compute(self, audio: np.ndarray) -> np.ndarray:
        spatial = super().compute(audio)
        if not self.config.yamnet:
            return spatial
        omni = self.omni(self._validate(audio, f"{type(self).__name__}.compute input"))
        frames = np.concatenate([_silence_frame(), yamnet_log_mel(omni)])  # YAMNet frame -1 first
        return np.concatenate([spatial, _pair_frames(frames, spatial.shape[1])])


class StreamingWithYAMNetChannels(StreamingExtractor):
    """Streaming twin of a :class:`WithYAMNetChannels` extractor: ``push(chunk) -> (config.num_channels, t_new, F)``,
    identical to its ``compute`` for any chunking."""

    def __init__(self, extractor: FrameFeatureExtractor) -> None:
        self.config = extractor.config
        self._yamnet = StreamingYAMNetLogMel() if self.config.yamnet else None
        super().__init__(extractor)

    def reset(self) -> None:
        super().reset()
        if self._yamnet is not None:
            self._yamnet.reset()
            self._yamnet_pending = _silence_frame()  # YAMNet frames not yet placed, starting with frame -1

    @property
    def num_channels(self) -> int:
        return self.config.num_channels

    def push(self, chunk: np.ndarray) -> np.ndarray:
        if self._yamnet is None:
            return super().push(chunk)
        chunk = self.extractor._validate(chunk, f"{type(self).__name__} stream chunk")
        spatial = super().push(chunk)
        pending = np.concatenate([self._yamnet_pending, self._yamnet.push(self.extractor.omni(chunk))])
        count = spatial.shape[1]
        self._yamnet_pending = pending[2 * count:]
        return np.concatenate([spatial, _pair_frames(pending, count)])

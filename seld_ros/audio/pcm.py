"""Raw PCM bytes (audio_common_msgs/AudioData, GStreamer sample formats) -> float32 sample frames.

audio_common carries audio as bytes with no sample index; a message may even end in the middle of a sample frame.
:class:`PcmAssembler` turns such a byte stream into whole (samples, channels) frames with a running sample index,
carrying a partial frame over to the next message. Used by the bag reader and the node's audio_common input.
"""
from __future__ import annotations

import numpy as np

# PCM sample formats (GStreamer names, as audio_common's AudioInfo.sample_format uses them):
# name -> (bytes per sample, numpy dtype of the raw words, scale to float [-1, 1), offset)
PCM_FORMATS = {
    "U8": (1, np.dtype("u1"), 1 / 128.0, -128.0),
    "S8": (1, np.dtype("i1"), 1 / 128.0, 0.0),
    "S16LE": (2, np.dtype("<i2"), 1 / 32768.0, 0.0),
    "S16BE": (2, np.dtype(">i2"), 1 / 32768.0, 0.0),
    "S24LE": (3, None, 1 / 8388608.0, 0.0),
    "S32LE": (4, np.dtype("<i4"), 1 / 2147483648.0, 0.0),
    "F32LE": (4, np.dtype("<f4"), 1.0, 0.0),
    "F64LE": (8, np.dtype("<f8"), 1.0, 0.0),
}

def pcm_to_float(raw: bytes, fmt: str) -> np.ndarray:
    """Raw PCM words -> float32 values (flat), the same scaling as seld_ros.data.dcase.read_wav."""
    width, dtype, scale, offset = PCM_FORMATS[fmt]
    if dtype is None:  # S24LE: three bytes, sign-extend into int32
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        words = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16))
        words = np.where(words >= 1 << 23, words - (1 << 24), words)
    else:
        words = np.frombuffer(raw, dtype=dtype)
    if dtype is not None and dtype.kind == "f":
        return words.astype(np.float32)
    return ((words.astype(np.float32) + np.float32(offset)) * np.float32(scale)).astype(np.float32)


class EncodingMismatch(ValueError):
    """PCM bytes that do not look like the encoding declared for them (e.g. float32 samples declared S16LE)."""


# |x| of a float sample a microphone driver plausibly sends (full scale 1.0, generous headroom; exact zeros aside)
_PLAUSIBLE_FLOAT = (1e-7, 64.0)
_MIN_WORDS = 64  # fewer 32-bit words than this tell nothing either way


def _plausible_float_fraction(raw: bytes) -> tuple[float, float]:
    """(fraction of 32-bit words that read as plausible float samples, fraction that are non-zero), at the best of
    the four byte alignments (a message may start inside a sample)."""
    best = (0.0, 0.0)
    for offset in range(4):
        usable = (len(raw) - offset) // 4 * 4
        if usable < 4 * _MIN_WORDS:
            break
        v = np.abs(np.frombuffer(raw, dtype="<f4", count=usable // 4, offset=offset))
        with np.errstate(invalid="ignore"):
            ok = (v == 0) | ((v >= _PLAUSIBLE_FLOAT[0]) & (v <= _PLAUSIBLE_FLOAT[1]))
        best = max(best, (float(ok.mean()), float((v != 0).mean())))
    return best


def check_encoding(raw: bytes, sample_format: str) -> None:
    """Raise EncodingMismatch when ``raw`` (PCM bytes declared as ``sample_format``) looks like another encoding.

    float32 samples declared as integer PCM read as loud noise (S16LE: every other word a float's exponent) and
    used to become events; integer PCM declared as F32LE reads as NaN, huge and denormal values. Silence and
    messages under 256 bytes pass (nothing to tell)."""
    if sample_format not in PCM_FORMATS:
        return
    plausible, nonzero = _plausible_float_fraction(bytes(raw))
    if nonzero < 0.5:
        return  # silence (or too short): any encoding reads it the same
    if sample_format.startswith(("S", "U")) and plausible >= 0.9:
        raise EncodingMismatch(f"declared {sample_format}, but {plausible:.0%} of the 32-bit words are plausible "
                               "float32 samples: the bytes look like F32LE (float32 bit patterns read as integers "
                               "would be loud noise); set the real format (AudioInfo.sample_format or "
                               "audio_common.sample_format)")
    if sample_format == "F32LE" and plausible < 0.5:
        raise EncodingMismatch(f"declared F32LE, but only {plausible:.0%} of the values are plausible float samples "
                               "(the rest NaN, huge or denormal): the bytes look like integer PCM (e.g. S16LE); set "
                               "the real format (AudioInfo.sample_format or audio_common.sample_format)")


class PcmAssembler:
    """Bytes in, whole sample frames out: ``push(raw) -> (samples (n, channels) float32, first_sample_index)``."""

    def __init__(self, sample_format: str, channels: int):
        if sample_format not in PCM_FORMATS:
            raise ValueError(f"unsupported PCM sample format {sample_format!r}; known: {', '.join(PCM_FORMATS)}")
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.sample_format, self.channels = sample_format, int(channels)
        self.frame_bytes = PCM_FORMATS[sample_format][0] * self.channels
        self.reset()

    def reset(self, next_index: int = 0) -> None:
        """Drop any partial frame; the next sample gets ``next_index`` (e.g. after lost messages)."""
        self._carry = b""
        self.next_index = int(next_index)

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete sample frame waiting for the next message."""
        return len(self._carry)

    def push(self, raw: bytes) -> tuple[np.ndarray, int]:
        raw = self._carry + bytes(raw)
        usable = len(raw) - len(raw) % self.frame_bytes
        raw, self._carry = raw[:usable], raw[usable:]
        index = self.next_index
        samples = pcm_to_float(raw, self.sample_format).reshape(-1, self.channels)
        self.next_index += samples.shape[0]
        return samples, index


# mgonzs13/audio_common (audio_common_msgs/AudioStamped): samples travel in typed arrays, the array chosen by
# AudioInfo.format, a PortAudio sample format constant -> (AudioData field, scale to float [-1, 1), offset)
PORTAUDIO_FORMATS = {
    1: ("float32_data", 1.0, 0.0),  # paFloat32
    2: ("int32_data", 1 / 2147483648.0, 0.0),  # paInt32
    8: ("int16_data", 1 / 32768.0, 0.0),  # paInt16
    16: ("int8_data", 1 / 128.0, 0.0),  # paInt8
    32: ("uint8_data", 1 / 128.0, -128.0),  # paUInt8
}


def typed_audio_to_float(audio_data, sample_format: int, channels: int, chunk: int = 0) -> np.ndarray:
    """audio_common_msgs/AudioData with typed arrays (mgonzs13 flavour) -> float32 (samples, channels).

    Raises ValueError for an unknown format, an empty array of the announced format while another one holds data,
    or a length that is not a whole number of sample frames; EncodingMismatch (a ValueError) for a length that is not
    more than the announced ``chunk`` (samples per channel, 0: not announced)."""
    if int(sample_format) not in PORTAUDIO_FORMATS:
        raise ValueError(f"AudioStamped info.format {sample_format} is not a supported PortAudio sample format "
                         f"(known: " + ", ".join(f"{k} {v[0]}" for k, v in PORTAUDIO_FORMATS.items()) + ")")
    if channels < 1:
        raise ValueError(f"AudioStamped info.channels must be >= 1, got {channels}")
    field, scale, offset = PORTAUDIO_FORMATS[int(sample_format)]
    words = np.asarray(getattr(audio_data, field))
    if words.size == 0:
        others = [f for f, _, _ in PORTAUDIO_FORMATS.values() if f != field and len(getattr(audio_data, f, ()))]
        if others:
            raise ValueError(f"AudioStamped info.format {sample_format} announces {field}, but the samples are in "
                             f"{', '.join(others)}")
    if words.size % channels:
        raise ValueError(f"AudioStamped with channels={channels} and {words.size} values in {field}: not a whole "
                         "number of sample frames")
    if chunk and words.size > chunk * channels:  # (a last, shorter message is fine)
        raise EncodingMismatch(f"AudioStamped info.chunk={chunk} samples x channels={channels} = {chunk * channels} "
                               f"values, but {field} holds {words.size}: the declared format does not fit the data")
    x = words.astype(np.float32)
    if offset or scale != 1.0:
        x = (x + np.float32(offset)) * np.float32(scale)
    return x.reshape(-1, channels)

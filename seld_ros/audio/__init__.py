"""Audio edge: channel layouts -> ACN/SN3D, resampling to 24 kHz, and a sample-indexed ring buffer (numpy/scipy only)."""

from seld_ros.audio.errors import (
    AudioDtypeError,
    AudioFormatError,
    ChannelCountError,
    EmptyAudioError,
    NonFiniteAudioError,
    SampleRateError,
    UnknownLayoutError,
    validate_audio,
)
from seld_ros.audio.formats import (
    A_FORMAT_TETRA,
    FOA_ACN_SN3D,
    FOA_FUMA,
    LAYOUT_INPUT_CHANNELS,
    LAYOUT_OUTPUT_CHANNELS,
    STEREO,
    a_to_b_matrix,
    deinterleave,
    intensity_doa,
    to_acn_sn3d,
)
from seld_ros.audio.resample import INTERNAL_SAMPLE_RATE, StreamingResampler, resample_to
from seld_ros.audio.ring_buffer import RingBuffer, WriteStatus

__all__ = [
    "A_FORMAT_TETRA",
    "AudioDtypeError",
    "AudioFormatError",
    "ChannelCountError",
    "EmptyAudioError",
    "FOA_ACN_SN3D",
    "FOA_FUMA",
    "INTERNAL_SAMPLE_RATE",
    "LAYOUT_INPUT_CHANNELS",
    "LAYOUT_OUTPUT_CHANNELS",
    "NonFiniteAudioError",
    "RingBuffer",
    "STEREO",
    "SampleRateError",
    "StreamingResampler",
    "UnknownLayoutError",
    "WriteStatus",
    "a_to_b_matrix",
    "deinterleave",
    "intensity_doa",
    "resample_to",
    "to_acn_sn3d",
    "validate_audio",
]

"""Facts the whole package shares, defined here once and imported everywhere else.

A test (test/test_constants.py) greps the package for strays: a literal 24000, a second ``LABEL_HOP_FRAMES`` or
``LABEL_HOP_S`` assignment, or a layout -> channel-count table outside this module fails it.

- The internal sample rate: every stage after the edge runs at 24 kHz (audio of other rates is resampled once).
- The frame grid: STFT hop 20 ms (480 samples), label/output frame 100 ms (2400 samples) = 5 feature frames.
- The channel layouts a ``MultichannelAudio`` message (or a wav/bag read into one) may name, with their channel
  counts; the front ends a model bundle may have, with the channels they take after layout conversion.
"""
from __future__ import annotations

NS = 1_000_000_000  # nanoseconds per second (ROS stamps)

# -- rate and frame grid ------------------------------------------------------------------------------------------
SAMPLE_RATE = 24000  # Hz, the internal rate of features, models and synthesised scenes
FEATURE_HOP_SAMPLES = 480  # 20 ms STFT hop
LABEL_HOP_SAMPLES = 2400  # 100 ms output/label frame
LABEL_HOP_FRAMES = LABEL_HOP_SAMPLES // FEATURE_HOP_SAMPLES  # 5 feature frames per output frame
LABEL_HOP_S = LABEL_HOP_SAMPLES / SAMPLE_RATE  # 0.1 s
FEATURE_HOP_S = FEATURE_HOP_SAMPLES / SAMPLE_RATE  # 0.02 s
LABEL_HOP_NS = LABEL_HOP_SAMPLES * NS // SAMPLE_RATE  # 100 ms in ns

# -- channel layouts ----------------------------------------------------------------------------------------------
FOA_ACN_SN3D = "foa_acn_sn3d"  # W, Y, Z, X; SN3D
FOA_FUMA = "foa_fuma"  # W, X, Y, Z; W scaled by 1/sqrt(2)
A_FORMAT_TETRA = "a_format_tetra"  # four capsules of a tetrahedral array (converted to ACN/SN3D at the edge)
STEREO = "stereo"  # left, right
MONO = "mono"  # one channel: readable from wavs and bags, not usable by a SELD front end

# Channels each layout carries, as received.
LAYOUT_CHANNELS = {FOA_ACN_SN3D: 4, FOA_FUMA: 4, A_FORMAT_TETRA: 4, STEREO: 2, MONO: 1}
# The layouts the pipeline takes (converted by seld_ros.audio.formats.to_acn_sn3d); mono has no front end.
PIPELINE_LAYOUTS = tuple(name for name in LAYOUT_CHANNELS if name != MONO)
FOA_LAYOUTS = tuple(name for name in PIPELINE_LAYOUTS if name != STEREO)

# Front ends of a model bundle and the channels they take after layout conversion (4 = ACN/SN3D, 2 = L, R).
FRONT_ENDS = ("foa", "stereo")
FRONT_END_CHANNELS = {"foa": LAYOUT_CHANNELS[FOA_ACN_SN3D], "stereo": LAYOUT_CHANNELS[STEREO]}


def default_layout(channels: int) -> str:
    """The layout assumed for audio that does not name one (audio_common, wavs): by channel count, '' if none fits.
    4 channels are taken as ACN/SN3D FOA, 2 as stereo, 1 as mono."""
    return {LAYOUT_CHANNELS[name]: name for name in (MONO, STEREO, FOA_ACN_SN3D)}.get(int(channels), "")

"""PCM byte streams (audio_common) -> float frames with a running sample index."""
from __future__ import annotations

import numpy as np
import pytest

from seld_ros.audio.pcm import PcmAssembler, pcm_to_float


def test_s16_stream_split_mid_frame_reassembles_exactly():
    rng = np.random.default_rng(0)
    words = rng.integers(-32768, 32767, size=(1000, 4), dtype=np.int16)
    raw = words.astype("<i2").tobytes()
    asm = PcmAssembler("S16LE", 4)
    cuts = [0, 7, 800, 801, 3333, len(raw)]  # splits inside sample frames and inside samples
    out, idx = [], []
    for a, b in zip(cuts[:-1], cuts[1:]):
        s, i = asm.push(raw[a:b])
        out.append(s)
        idx.append((i, s.shape[0]))
    got = np.concatenate(out)
    assert np.array_equal(got, words.astype(np.float32) / 32768.0)
    assert asm.pending_bytes == 0 and asm.next_index == 1000
    assert all(i == sum(n for _, n in idx[:k]) for k, (i, _) in enumerate(idx))


@pytest.mark.parametrize("fmt,raw,expected", [
    ("U8", bytes([0, 128, 255]), [-1.0, 0.0, 127 / 128]),
    ("S24LE", bytes([0xFF, 0xFF, 0x7F, 0x00, 0x00, 0x80]), [8388607 / 8388608, -1.0]),
    ("F32LE", np.array([0.25, -0.5], "<f4").tobytes(), [0.25, -0.5]),
])
def test_formats_scale_to_unit_range(fmt, raw, expected):
    assert np.allclose(pcm_to_float(raw, fmt), expected)


def test_unknown_format_and_bad_channels_are_rejected():
    with pytest.raises(ValueError, match="unsupported PCM sample format"):
        PcmAssembler("S12LE", 2)
    with pytest.raises(ValueError, match="channels"):
        PcmAssembler("S16LE", 0)

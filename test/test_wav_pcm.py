"""WAV input of every PCM width, 24-bit included, becomes the right float audio."""
from __future__ import annotations

import wave

import numpy as np
import pytest

from cli_helpers import FS


# -- 24-bit (and 8 / 32-bit integer) wav ----------------------------------------------------------------------
def _write_pcm_wav(path, ints: np.ndarray, width: int, rate=FS):
    """(samples, channels) integers -> wav with ``width`` bytes per sample (the stdlib writes any width)."""
    if width == 1:
        raw = (ints + 128).astype(np.uint8).tobytes()
    elif width == 3:
        b = ints.astype("<i4").reshape(-1).view(np.uint8).reshape(-1, 4)[:, :3]
        raw = b.tobytes()
    else:
        raw = ints.astype(f"<i{width}").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(ints.shape[1])
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)


@pytest.mark.parametrize("width,full_scale", [(3, 2**23), (1, 2**7), (4, 2**31), (2, 2**15)])
def test_24bit_wav(tmp_path, width, full_scale):
    from seld_ros.bag.audio import read_audio
    from seld_ros.cli import bag as bag_cli

    rng = np.random.default_rng(width)
    ints = rng.integers(-full_scale // 4, full_scale // 4, size=(4800, 4))
    _write_pcm_wav(tmp_path / "x.wav", ints, width)
    assert bag_cli.main(["from-dcase", str(tmp_path / "x.wav"), "-", str(tmp_path / "bag")]) == 0
    got = read_audio(tmp_path / "bag").samples
    np.testing.assert_allclose(got, (ints / full_scale).T.astype(np.float32), rtol=0, atol=1e-7)


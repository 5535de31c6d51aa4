"""Feeding ``SeldPipeline`` in tests: one chunk maker and one feeder for FOA and stereo alike."""
from __future__ import annotations

from seld_ros.pipeline import AudioChunk

RATE = 24000
T0 = 1_700_000_000_000_000_000


def chunk(x, index, rate=RATE, layout="foa_acn_sn3d", stamp=None):
    """``x`` (samples, channels) as an AudioChunk starting at sample ``index``, stamped with its audio time."""
    stamp = T0 + int(round(index * 1e9 / rate)) if stamp is None else stamp
    return AudioChunk(samples=x, sample_rate=rate, channels=x.shape[1], layout=layout, first_sample_index=index,
                      stamp_ns=stamp)


def feed(pipe, x, sizes, rate=RATE, start=0, layout="foa_acn_sn3d"):
    """Push ``x`` in chunks of ``sizes`` samples; returns (frames, issues)."""
    frames, issues, i = [], [], 0
    for n in sizes:
        if i >= len(x):
            break
        r = pipe.push(chunk(x[i:i + n], start + i, rate, layout))
        frames += r.frames
        issues += r.issues
        i += n
    return frames, issues

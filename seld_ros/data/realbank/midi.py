"""A tiny Standard MIDI File writer and a fluidsynth renderer for sampled GM instruments and bells."""
from __future__ import annotations

import os
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from seld_ros.audio.resample import resample_to
from seld_ros.constants import SAMPLE_RATE
from seld_ros.data.realbank.decode import require_tool

# GM programs (0-based) used for musicInstrument renders: pianos, chromatic percussion (not bells), organs, guitars,
# basses, strings, brass, reeds, pipes. Bells (9 glockenspiel, 14 tubular bells, 112 tinkle bell) are the bell class.
INSTRUMENT_PROGRAMS = (0, 1, 4, 6, 7, 11, 12, 13, 16, 19, 21, 22, 24, 25, 26, 27, 32, 33, 40, 41, 42, 43, 45, 46, 56,
                       57, 58, 60, 64, 65, 66, 68, 70, 71, 73, 74, 75, 79, 104, 105, 106, 107)
BELL_PROGRAMS = (9, 14, 112)


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def write_smf(path: str | os.PathLike, notes: list[tuple[float, float, int, int]], program: int, channel: int = 0,
              tempo_us: int = 500000, ppq: int = 480) -> Path:
    """Format-0 SMF: one program change, then ``notes`` = (start_s, duration_s, pitch, velocity)."""
    return write_smf_segments(path, [(0.0, program, notes)], channel, tempo_us, ppq)


def write_smf_segments(path: str | os.PathLike, segments: list[tuple[float, int, list]], channel: int = 0,
                       tempo_us: int = 500000, ppq: int = 480) -> Path:
    """Format-0 SMF of consecutive segments ``(offset_s, program, notes)``: a program change at each offset, then
    that segment's notes (start times relative to the offset)."""
    if not 0 <= channel <= 15:
        raise ValueError("channel must be 0..15")
    tick = ppq * 1e6 / tempo_us  # ticks per second
    events = []
    for offset, program, notes in segments:
        if not 0 <= program <= 127:
            raise ValueError("program must be 0..127")
        events.append((int(round(offset * tick)), 0, bytes([0xC0 | channel, program])))
        for start, dur, pitch, vel in notes:
            on = int(round((offset + start) * tick))
            off = int(round((offset + start + dur) * tick))
            events.append((on, 2, bytes([0x90 | channel, pitch & 0x7F, max(1, vel & 0x7F)])))
            events.append((off, 1, bytes([0x80 | channel, pitch & 0x7F, 0])))
    events.sort(key=lambda e: (e[0], e[1]))
    trk = bytearray(b"\x00\xff\x51\x03" + tempo_us.to_bytes(3, "big"))
    last = 0
    for t, _, msg in events:
        trk += _vlq(t - last) + msg
        last = t
    trk += b"\x00\xff\x2f\x00"
    data = b"MThd" + struct.pack(">IHHH", 6, 0, 1, ppq) + b"MTrk" + struct.pack(">I", len(trk)) + bytes(trk)
    Path(path).write_bytes(data)
    return Path(path)


def random_melody(rng: np.random.Generator, seconds: float, low: int = 48, high: int = 84,
                  chords: bool = False) -> list[tuple[float, float, int, int]]:
    """Notes of a random diatonic melody (random key, tempo 70-150 bpm, note lengths of 1/2-2 beats)."""
    scale = np.array([0, 2, 4, 5, 7, 9, 11])
    root = int(rng.integers(low, max(low + 1, high - 12)))
    beat = 60.0 / rng.uniform(70, 150)
    notes, t, deg = [], 0.0, int(rng.integers(0, 7))
    while t < seconds - 0.3:
        dur = beat * float(rng.choice([0.5, 1, 1, 1.5, 2]))
        deg = int(np.clip(deg + rng.integers(-3, 4), -7, 14))
        pitch = root + 12 * (deg // 7) + int(scale[deg % 7])
        pitch = int(np.clip(pitch, low, high))
        vel = int(rng.integers(60, 115))
        notes.append((t, dur * rng.uniform(0.6, 1.0), pitch, vel))
        if chords and rng.random() < 0.3:
            notes.append((t, dur * 0.9, pitch - 4 if rng.random() < 0.5 else pitch - 3, vel - 10))
        t += dur
    return notes


def render_fluidsynth(soundfont: str | os.PathLike, segments: list[tuple[int, list]], sr: int = SAMPLE_RATE,
                      tail_s: float = 1.5, gap_s: float = 3.0) -> list[np.ndarray]:
    """Render segments ``(program, notes)`` with ``fluidsynth -F`` in one run (the soundfont is loaded once): they
    are laid out one after another with ``gap_s`` of silence, then cut apart. Mono float32 at ``sr`` each."""
    exe = require_tool("fluidsynth")
    import soundfile as sf

    layout, t = [], 0.0
    for program, notes in segments:
        end = max(s + d for s, d, _, _ in notes)
        layout.append((t, program, notes, end))
        t += end + tail_s + gap_s
    with tempfile.TemporaryDirectory(prefix="seld_fs_") as d:
        mid = write_smf_segments(os.path.join(d, "m.mid"), [(o, p, n) for o, p, n, _ in layout])
        wav = os.path.join(d, "o.wav")
        cmd = [exe, "-n", "-i", "-q", "-r", str(sr), "-g", "0.6", "-o", "synth.reverb.active=0",
               "-o", "synth.chorus.active=0", "-F", wav, "-T", "wav", str(soundfont), str(mid)]
        r = subprocess.run(cmd, capture_output=True, timeout=3600)
        if r.returncode != 0 or not os.path.exists(wav):
            raise RuntimeError(f"fluidsynth failed: {r.stderr.decode(errors='replace')[:200]}")
        x, got = sf.read(wav, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if got != sr:
        x = resample_to(x[None, :], got, sr)[0]
    out = []
    for o, _p, _n, end in layout:
        out.append(x[int(o * sr):int((o + end + tail_s) * sr)].astype(np.float32))
    return out


__all__ = ["BELL_PROGRAMS", "INSTRUMENT_PROGRAMS", "random_melody", "render_fluidsynth", "write_smf",
           "write_smf_segments"]

"""Decode sound files to float mono: the ``soundfile`` wheel (libsndfile: wav, ogg/oga vorbis, flac, opus) first,
else ``sox`` (GSM and what libsndfile refuses) or ``ffmpeg``. A missing tool raises ``ToolMissingError`` naming the
``apt-get install`` line.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile

import numpy as np

SOUND_SUFFIXES = (".wav", ".ogg", ".oga", ".flac", ".gsm", ".opus")


class ToolMissingError(RuntimeError):
    """An external program the builder needs is not installed."""


class DecodeError(ValueError):
    """A sound file could not be decoded."""


def require_tool(name: str, package: str | None = None) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolMissingError(f"`{name}` is needed but not installed: run `apt-get install -y {package or name}`")
    return path


def _mono(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x.mean(axis=1) if x.ndim == 2 else x


def _via_soundfile(data: bytes) -> tuple[np.ndarray, int]:
    import soundfile as sf

    x, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return _mono(x), int(sr)


def _via_tool(data: bytes, suffix: str) -> tuple[np.ndarray, int]:
    with tempfile.TemporaryDirectory(prefix="seld_decode_") as d:
        src = os.path.join(d, "in" + suffix)
        dst = os.path.join(d, "out.wav")
        with open(src, "wb") as f:
            f.write(data)
        if shutil.which("sox"):
            cmd = ["sox", "-q", src, "-e", "floating-point", "-b", "32", dst]
        elif shutil.which("ffmpeg"):
            cmd = ["ffmpeg", "-v", "error", "-y", "-i", src, "-c:a", "pcm_f32le", dst]
        else:
            raise ToolMissingError(f"decoding {suffix} files needs sox or ffmpeg: run `apt-get install -y sox`")
        r = subprocess.run(cmd, capture_output=True, timeout=300)
        if r.returncode != 0 or not os.path.exists(dst):
            raise DecodeError(f"{cmd[0]} failed: {r.stderr.decode(errors='replace').strip()[:200]}")
        with open(dst, "rb") as f:
            return _via_soundfile(f.read())


def decode_bytes(data: bytes, suffix: str) -> tuple[np.ndarray, int]:
    """(mono float32 samples, sample rate) of a sound file's bytes; ``suffix`` like ``.ogg`` picks the route."""
    suffix = suffix.lower()
    if suffix not in SOUND_SUFFIXES:
        raise DecodeError(f"not a sound file suffix: {suffix!r}")
    if suffix != ".gsm":
        try:
            x, sr = _via_soundfile(data)
        except Exception as exc:  # libsndfile refuses: odd wav codecs (ADPCM variants), broken headers
            first = exc
        else:
            if x.size == 0:
                raise DecodeError("no samples")
            return x, sr
    try:
        x, sr = _via_tool(data, suffix)
    except DecodeError as exc:
        raise DecodeError(f"{exc}" + ("" if suffix == ".gsm" else f" (soundfile: {first})")) from None
    if x.size == 0:
        raise DecodeError("no samples")
    return x, sr


__all__ = ["DecodeError", "SOUND_SUFFIXES", "ToolMissingError", "decode_bytes", "require_tool"]

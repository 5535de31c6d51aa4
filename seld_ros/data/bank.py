"""Sound banks: where class-labelled mono events come from.

* :class:`ProceduralBank` -- the built-in generators of :mod:`seld_ros.data.procedural` (no downloads).
* :class:`FolderBank` -- a user folder ``bank/<class>/*.wav`` (FSD50K / NIGENS style), any rate and length, resampled
  once to 24 kHz with scipy ``resample_poly`` and cached in memory.

Both answer ``draw(class_name, rng) -> float32 mono at 24 kHz``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from seld_ros.classes import STARSS23_CLASSES
from seld_ros.data.labels import LabelError
from seld_ros.data.procedural import GENERATORS

FS = 24000


class ProceduralBank:
    """Procedural generators for the STARSS23 classes."""

    def __init__(self, class_names: Sequence[str] = STARSS23_CLASSES):
        unknown = [c for c in class_names if c not in GENERATORS]
        if unknown:
            raise LabelError(f"no procedural generator for {unknown}; available: {', '.join(GENERATORS)}")
        self.class_names = tuple(class_names)

    def draw(self, class_name: str, rng: np.random.Generator) -> np.ndarray:
        if class_name not in self.class_names:
            raise LabelError(f"unknown class {class_name!r}; bank has {', '.join(self.class_names)}")
        return GENERATORS[class_name](rng)


class FolderBank:
    """``root/<class>/*.wav`` (also .flac if soundfile is installed); classes = subfolders present in
    ``class_names`` order. Files are loaded lazily, resampled once to 24 kHz, mixed to mono, and cached."""

    def __init__(self, root: str | os.PathLike, class_names: Sequence[str] = STARSS23_CLASSES,
                 max_seconds: float = 10.0):
        self.root = Path(root)
        if not self.root.is_dir():
            raise LabelError(f"sound bank folder not found: {self.root}")
        subdirs = {p.name for p in self.root.iterdir() if p.is_dir()}
        unknown = sorted(subdirs - set(class_names))
        if unknown:
            raise LabelError(f"bank folder {self.root} has class folders not in the vocabulary: {unknown}; "
                             f"known: {', '.join(class_names)}")
        self.files = {c: sorted(p for p in (self.root / c).glob("*") if p.suffix.lower() in (".wav", ".flac"))
                      for c in class_names if c in subdirs}
        self.files = {c: f for c, f in self.files.items() if f}
        if not self.files:
            raise LabelError(f"no audio files under {self.root}/<class>/")
        self.class_names = tuple(c for c in class_names if c in self.files)
        self.max_seconds = max_seconds
        self._cache: dict[Path, np.ndarray] = {}

    def _load(self, path: Path) -> np.ndarray:
        if path not in self._cache:
            if path.suffix.lower() == ".flac":
                import soundfile as sf  # optional dependency

                x, fs = sf.read(str(path), dtype="float32", always_2d=True)
                x = x.T
                if fs != FS:
                    from math import gcd

                    from scipy.signal import resample_poly
                    g = gcd(int(fs), FS)
                    x = resample_poly(x, FS // g, fs // g, axis=1).astype(np.float32)
            else:
                from seld_ros.data.dcase import read_wav
                x, _ = read_wav(path, FS)
            x = x.mean(axis=0)
            peak = float(np.max(np.abs(x))) if x.size else 0.0
            if peak <= 0:
                raise LabelError(f"silent or empty audio file: {path}")
            self._cache[path] = (0.9 * x / peak).astype(np.float32)
        return self._cache[path]

    def draw(self, class_name: str, rng: np.random.Generator) -> np.ndarray:
        if class_name not in self.files:
            raise LabelError(f"bank {self.root} has no files for class {class_name!r}")
        files = self.files[class_name]
        x = self._load(files[int(rng.integers(len(files)))])
        n = int(self.max_seconds * FS)
        if len(x) > n:  # a random excerpt of long recordings
            s = int(rng.integers(0, len(x) - n))
            x = x[s:s + n]
        return x


def make_bank(spec: str | None, class_names: Sequence[str] = STARSS23_CLASSES):
    """``None`` / ``"procedural"`` -> ProceduralBank; a folder path -> FolderBank."""
    if spec in (None, "", "procedural"):
        return ProceduralBank(class_names)
    return FolderBank(spec, class_names)

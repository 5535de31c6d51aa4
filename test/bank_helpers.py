"""A tiny real-sound bank written on the spot (synthetic wavs + the manifest contract), for tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from seld_ros.data.dcase import write_wav
from seld_ros.data.manifest import ClipRecord, write_manifest

FS = 24000


def _tone(rng, seconds, f0):
    t = np.arange(int(seconds * FS)) / FS
    x = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.28)) / k for k in range(1, 6))
    return x * np.hanning(len(t)) ** 0.2


def _clicks(rng, seconds, rate):
    x = np.zeros(int(seconds * FS))
    for s in rng.integers(0, len(x) - 500, size=max(1, int(seconds * rate))):
        x[s:s + 500] += rng.standard_normal(500) * np.exp(-np.arange(500) / 60.0)
    return x


def _noise(rng, seconds, lowpass=False):
    x = rng.standard_normal(int(seconds * FS))
    if lowpass:
        x = np.convolve(x, np.ones(8) / 8, mode="same")
    return x


# class -> generator; every split gets each class, so split filtering is visible from the clip names
TARGETS = {
    "telephone": lambda rng: _tone(rng, 1.0, rng.uniform(900, 1100)),
    "maleSpeech": lambda rng: _tone(rng, 1.2, rng.uniform(100, 130)),
    "clapping": lambda rng: _clicks(rng, 1.0, 6),
}


def make_tiny_bank(root, splits=("train", "val", "test"), per_class=2, distractors=2, ambiences=1,
                   classes=None, seed=0, ambience_seconds=2.0) -> Path:
    """Clips under ``root/clips/<split>/``, sources named ``<split>_<kind>_<k>`` (one source per clip)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    recs = []

    def add(split, role, cls, k, x):
        name = f"clips/{split}/{role}_{cls or 'x'}_{k}.wav"
        x = 0.3 * x / (np.abs(x).max() + 1e-9)
        write_wav(root / name, x[None, :].astype(np.float32), FS, pcm16=True)
        recs.append(ClipRecord(clip=name, role=role, source=f"{split}_{role}_{cls}_{k}", split=split,
                               package=f"pkg-{split}", member=f"usr/share/{name}", licence="GPL-2+",
                               duration_s=len(x) / FS, class_name=cls))

    for split in splits:
        for cls in (classes or TARGETS):
            for k in range(per_class):
                add(split, "target", cls, k, TARGETS[cls](rng))
        for k in range(distractors):
            add(split, "distractor", "", k, _clicks(rng, 0.8, 20) + 0.3 * _noise(rng, 0.8))
        for k in range(ambiences):
            add(split, "ambience", "", k, _noise(rng, ambience_seconds, lowpass=True))
    write_manifest(root, recs)
    return root

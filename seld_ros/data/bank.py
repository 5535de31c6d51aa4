"""Sound banks: where class-labelled mono events come from.

* :class:`ProceduralBank` -- the built-in generators of :mod:`seld_ros.data.procedural` (no downloads).
* :class:`FolderBank` -- a user folder ``bank/<class>/*.wav`` (FSD50K / NIGENS style), any rate and length, resampled
  once to 24 kHz with scipy ``resample_poly`` and cached in memory.
* :class:`RealBank` -- a real-recording bank built by ``seld-bank build-real`` (:mod:`seld_ros.data.manifest`),
  restricted to one split (``train`` / ``val`` / ``test``, disjoint by source): targets per class, plus
  non-target **distractors** and **ambiences**.
* :class:`MixedBank` -- per event, a real clip with probability ``real_ratio`` (when the real split has the class),
  otherwise a procedural one; distractors and ambiences come from the real bank.

All answer ``draw(class_name, rng) -> float32 mono at 24 kHz`` and ``draw_info(class_name, rng) -> (audio, info)``
(``info`` says where the sound came from: bank kind, clip path, role, split, source). Banks that hold non-target
sounds also answer ``draw_distractor(rng)`` and ``draw_ambience(rng)`` (same pair) and have ``has_distractors`` /
``has_ambience`` set. Spec strings for :func:`make_bank`: ``procedural``, ``real:DIR``, ``mix:DIR:RATIO`` or a
folder (``DIR/manifest.csv`` -> real, else ``DIR/<class>/*.wav``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from seld_ros.classes import STARSS23_CLASSES
from seld_ros.constants import SAMPLE_RATE as FS
from seld_ros.data.dcase import read_wav
from seld_ros.data.labels import LabelError
from seld_ros.data.manifest import SPLITS, ManifestError, read_manifest
from seld_ros.data.procedural import GENERATORS


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

    def draw_info(self, class_name: str, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        return self.draw(class_name, rng), {"bank": "procedural", "role": "target", "class": class_name}

    has_distractors = False
    has_ambience = False


def _excerpt(x: np.ndarray, max_samples: int, rng: np.random.Generator) -> np.ndarray:
    if len(x) > max_samples:
        s = int(rng.integers(0, len(x) - max_samples))
        return x[s:s + max_samples]
    return x


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
                x, _ = read_wav(path, FS)
            x = x.mean(axis=0)
            peak = float(np.max(np.abs(x))) if x.size else 0.0
            if peak <= 0:
                raise LabelError(f"silent or empty audio file: {path}")
            self._cache[path] = (0.9 * x / peak).astype(np.float32)
        return self._cache[path]

    def draw(self, class_name: str, rng: np.random.Generator) -> np.ndarray:
        return self.draw_info(class_name, rng)[0]

    def draw_info(self, class_name: str, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        if class_name not in self.files:
            raise LabelError(f"bank {self.root} has no files for class {class_name!r}")
        files = self.files[class_name]
        k = int(rng.integers(len(files)))
        x = _excerpt(self._load(files[k]), int(self.max_seconds * FS), rng)  # long recordings: a random excerpt
        return x, {"bank": "folder", "role": "target", "class": class_name, "clip": str(files[k])}

    has_distractors = False
    has_ambience = False


class RealBank:
    """A real-recording bank (``<root>/manifest.csv`` + ``clips/``) restricted to one split.

    ``split`` None uses every split (only for inspection: scenes and training pass a split so that a test scene
    never hears a training source). ``class_names`` is the vocabulary; the bank's ``class_names`` are those the
    split has target clips for, in vocabulary order. Targets of classes outside the vocabulary are ignored.
    Clips are read on first use (24 kHz mono wav; other rates resampled) and cached; a clip longer than
    ``max_seconds`` gives a random excerpt.
    """

    kind = "real"

    def __init__(self, root: str | os.PathLike, split: str | None = None,
                 class_names: Sequence[str] = STARSS23_CLASSES, max_seconds: float = 10.0):
        self.root = Path(root)
        if split is not None and split not in SPLITS:
            raise LabelError(f"real bank split must be one of {SPLITS}, got {split!r}")
        try:
            records = read_manifest(self.root)
        except ManifestError as exc:
            raise LabelError(f"real sound bank {self.root}: {exc}") from None
        self.split = split
        self.records = [r for r in records if split is None or r.split == split]
        if not self.records:
            raise LabelError(f"real sound bank {self.root} has no clips in split {split!r}")
        vocab = tuple(class_names)
        self.targets = {c: [r for r in self.records if r.role == "target" and r.class_name == c] for c in vocab}
        self.targets = {c: v for c, v in self.targets.items() if v}
        self.class_names = tuple(c for c in vocab if c in self.targets)
        self.distractors = [r for r in self.records if r.role == "distractor"]
        self.ambiences = [r for r in self.records if r.role == "ambience"]
        self.max_seconds = max_seconds
        self._cache: dict[str, np.ndarray] = {}

    @property
    def has_distractors(self) -> bool:
        return bool(self.distractors)

    @property
    def has_ambience(self) -> bool:
        return bool(self.ambiences)

    def load(self, rec) -> np.ndarray:
        """The whole clip of a manifest record, float32 mono 24 kHz."""
        if rec.clip not in self._cache:
            path = self.root / rec.clip
            if not path.is_file():
                raise LabelError(f"real sound bank {self.root}: clip {rec.clip} listed in the manifest is missing")
            x, _ = read_wav(path, FS)
            x = x.mean(axis=0).astype(np.float32)
            if x.size == 0 or not np.any(x):
                raise LabelError(f"silent or empty clip in the real sound bank: {path}")
            self._cache[rec.clip] = x
        return self._cache[rec.clip]

    @staticmethod
    def info(rec, role: str | None = None) -> dict:
        return {"bank": "real", "role": role or rec.role, "class": rec.class_name, "clip": rec.clip,
                "split": rec.split, "source": rec.source, "package": rec.package}

    def _pick(self, recs, rng, max_seconds=None):
        rec = recs[int(rng.integers(len(recs)))]
        x = _excerpt(self.load(rec), int((max_seconds or self.max_seconds) * FS), rng)
        return x, self.info(rec)

    def draw_info(self, class_name: str, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        if class_name not in self.targets:
            raise LabelError(f"real bank {self.root} (split {self.split}) has no clips for class {class_name!r}; "
                             f"it has {', '.join(self.class_names) or 'none'}")
        return self._pick(self.targets[class_name], rng)

    def draw(self, class_name: str, rng: np.random.Generator) -> np.ndarray:
        return self.draw_info(class_name, rng)[0]

    def draw_distractor(self, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        if not self.distractors:
            raise LabelError(f"real bank {self.root} (split {self.split}) has no distractor clips")
        return self._pick(self.distractors, rng)

    def draw_ambience(self, rng: np.random.Generator, max_seconds: float = 60.0) -> tuple[np.ndarray, dict]:
        if not self.ambiences:
            raise LabelError(f"real bank {self.root} (split {self.split}) has no ambience clips")
        return self._pick(self.ambiences, rng, max_seconds)


class MixedBank:
    """Real clips with probability ``real_ratio`` per event, procedural otherwise. A class the real split lacks
    always comes from the procedural bank, so every vocabulary class stays drawable. Distractors and ambiences
    are the real bank's."""

    kind = "mix"

    def __init__(self, real: RealBank, procedural: ProceduralBank, real_ratio: float):
        if not 0.0 <= real_ratio <= 1.0:
            raise LabelError(f"real_ratio must be in [0, 1], got {real_ratio}")
        self.real, self.procedural, self.real_ratio = real, procedural, float(real_ratio)
        self.class_names = procedural.class_names

    has_distractors = property(lambda self: self.real.has_distractors)
    has_ambience = property(lambda self: self.real.has_ambience)

    def draw_info(self, class_name: str, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        if class_name in self.real.targets and rng.random() < self.real_ratio:
            return self.real.draw_info(class_name, rng)
        return self.procedural.draw_info(class_name, rng)

    def draw(self, class_name: str, rng: np.random.Generator) -> np.ndarray:
        return self.draw_info(class_name, rng)[0]

    def draw_distractor(self, rng):
        return self.real.draw_distractor(rng)

    def draw_ambience(self, rng, max_seconds: float = 60.0):
        return self.real.draw_ambience(rng, max_seconds)


def draw_info(bank, class_name: str, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """``bank.draw_info`` where the bank has it (a user's own bank object may only have ``draw``)."""
    if hasattr(bank, "draw_info"):
        return bank.draw_info(class_name, rng)
    return bank.draw(class_name, rng), {"bank": type(bank).__name__, "role": "target", "class": class_name}


def make_bank(spec: str | None, class_names: Sequence[str] = STARSS23_CLASSES, split: str | None = None,
              real_ratio: float | None = None):
    """A bank from a spec string.

    * ``None`` / ``"procedural"`` -> ProceduralBank;
    * ``"real:DIR"`` -> RealBank(DIR, split); with ``real_ratio`` < 1 a MixedBank of it and the procedural bank;
    * ``"mix:DIR:RATIO"`` -> MixedBank (``real_ratio`` overrides RATIO when given);
    * a folder with ``manifest.csv`` -> as ``real:DIR``; any other folder -> FolderBank (``DIR/<class>/*.wav``).

    ``split`` is the real bank split to use (required for real and mixed banks).
    """
    if spec in (None, "", "procedural"):
        return ProceduralBank(class_names)
    spec = str(spec)
    ratio = real_ratio
    if spec.startswith("mix:"):
        root, _, r = spec[4:].rpartition(":")
        if not root:
            raise LabelError(f"bank spec {spec!r}: expected mix:DIR:RATIO (e.g. mix:/data/real_bank:0.7)")
        try:
            spec_ratio = float(r)
        except ValueError:
            raise LabelError(f"bank spec {spec!r}: RATIO {r!r} is not a number") from None
        ratio = spec_ratio if ratio is None else ratio
    elif spec.startswith("real:"):
        root = spec[5:]
    elif (Path(spec) / "manifest.csv").is_file():
        root = spec
    else:
        if real_ratio is not None:
            raise LabelError(f"a real-sound ratio needs a real bank (real:DIR or mix:DIR:RATIO), not {spec!r}")
        return FolderBank(spec, class_names)
    if split is None:
        raise LabelError(f"bank {spec!r}: a real sound bank needs a split (train / val / test)")
    real = RealBank(root, split, class_names)
    if ratio is None or ratio >= 1.0:
        return real
    return MixedBank(real, ProceduralBank(class_names), ratio)

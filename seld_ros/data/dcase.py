"""Readers and writers for the DCASE SELD label formats, all into :class:`SceneLabels`.

Formats (label frame hop 100 ms unless noted):

=============  ===============================================  ========================================
``fmt``        columns                                          datasets
=============  ===============================================  ========================================
dcase2024      frame,class,source,azimuth,elevation,distance    STARSS23 + DCASE2024 (distance in cm)
dcase2022      frame,class,source,azimuth,elevation             STARSS22, TAU-NIGENS 2021 (DCASE 2021/22/23)
dcase2020      frame,class,track,azimuth,elevation              TAU-NIGENS 2020 (track index, not source id)
dcase2025      frame,class,source,azimuth,distance,onscreen     DCASE2025 stereo (header line, cm, az only)
tau2019        sound_event_recording,start_time,end_time,        TAU 2019 (event list in seconds, metres,
               ele,azi,dist                                      class name in the recording name)
pred4          frame,class,azimuth,elevation                    older system outputs (no source id)
pred7          frame,class,source,x,y,z,distance                DCASE2024 baseline output (Cartesian)
=============  ===============================================  ========================================

Distances are converted to metres at read time from an explicit ``distance_unit``; nothing downstream guesses.
A headerless 6-column file is read as dcase2024 (pass ``fmt="dcase2025"`` for a headerless stereo file).
"""
from __future__ import annotations

import math
import os
import warnings
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from seld_ros.classes import STARSS23_CLASSES
from seld_ros.constants import LABEL_HOP_S, SAMPLE_RATE
from seld_ros.data.geometry import azel_to_xyz, fold_azimuth, xyz_to_azel
from seld_ros.data.labels import LabelError, SceneLabels

FORMATS = ("auto", "dcase2024", "dcase2022", "dcase2020", "dcase2025", "tau2019", "pred4", "pred7")

# TAU Spatial Sound Events 2019 (DCASE2019 task 3), official index order.
TAU2019_CLASSES = ("knock", "drawer", "clearthroat", "phone", "keysDrop", "speech", "keyboard", "pageturn",
                   "cough", "doorslam", "laughter")

_UNIT_TO_M = {"m": 1.0, "cm": 0.01}

# Default distance unit of each format as the datasets define it (references). Predictions must say theirs.
FORMAT_DISTANCE_UNIT = {"dcase2024": "cm", "dcase2025": "cm", "tau2019": "m", "pred7": "m"}


def _unit_scale(unit: str) -> float:
    if unit not in _UNIT_TO_M:
        raise LabelError(f"distance_unit must be 'm' or 'cm', got {unit!r}")
    return _UNIT_TO_M[unit]


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _split_lines(text: str) -> list[tuple[int, list[str]]]:
    out = []
    for ln, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            out.append((ln, [f.strip() for f in line.split(",")]))
    return out


def detect_format(lines: list[tuple[int, list[str]]]) -> str:
    """Guess a format from the header or the column count of the first data row."""
    if not lines:
        return "dcase2024"
    first = lines[0][1]
    if not _is_number(first[0]):
        header = [h.lower() for h in first]
        if header and header[0] == "sound_event_recording":
            return "tau2019"
        if "onscreen" in header or (len(header) == 6 and header[4].startswith("dist")):
            return "dcase2025"
        if header[:1] == ["frame"]:
            body = lines[1:]
            if not body:
                return {4: "pred4", 5: "dcase2022", 6: "dcase2024", 7: "pred7"}.get(len(header), "dcase2024")
            first = body[0][1]
        else:
            # unknown header: a TAU2019-style event list whose first column is a name
            return "tau2019"
    n = len(first)
    if n == 4:
        return "pred4"
    if n == 5:
        return "dcase2022"
    if n == 6:
        return "dcase2024"
    if n == 7:
        return "pred7"
    raise LabelError(f"cannot detect the label format from a row with {n} columns: {','.join(first)}")


def _check_units(dist_m: np.ndarray, unit: str, where: str) -> None:
    """Catch the two classic mix-ups: centimetres read as metres, metres read as centimetres."""
    d = dist_m[np.isfinite(dist_m) & (dist_m > 0)]
    if d.size == 0:
        return
    med = float(np.median(d))
    if unit == "m" and med > 30.0:
        raise LabelError(f"{where}: median distance {med:.1f} m with distance_unit='m' -- these look like "
                         f"centimetres; pass distance_unit='cm'")
    if unit == "cm" and float(d.max()) < 0.1:
        raise LabelError(f"{where}: all distances < 10 cm with distance_unit='cm' (median {med * 100:.2f} cm) -- "
                         f"these look like metres; pass distance_unit='m'")


def parse_labels(text: str, fmt: str = "auto", class_names: Sequence[str] | None = None,
                 distance_unit: str | None = None, num_frames: int | None = None, frame_hop_s: float = LABEL_HOP_S,
                 where: str = "<labels>", check_units: bool = True) -> SceneLabels:
    """Parse the text of one label file. See :func:`read_labels`."""
    if fmt not in FORMATS:
        raise LabelError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    lines = _split_lines(text)
    if fmt == "auto":
        fmt = detect_format(lines)
    if class_names is None:
        class_names = TAU2019_CLASSES if fmt == "tau2019" else STARSS23_CLASSES
    class_names = tuple(class_names)
    if distance_unit is None:
        distance_unit = FORMAT_DISTANCE_UNIT.get(fmt, "cm")
    scale = _unit_scale(distance_unit)
    if lines and not _is_number(lines[0][1][0]):
        # a header line; a headerless TAU2019 file starts with a recording name, which is data
        if fmt != "tau2019" or lines[0][1][0].lower() == "sound_event_recording":
            lines = lines[1:]
    if fmt == "tau2019":
        return _parse_tau2019(lines, class_names, scale, distance_unit, num_frames, frame_hop_s, where, check_units)

    ncols = {"dcase2024": 6, "dcase2022": 5, "dcase2020": 5, "dcase2025": 6, "pred4": 4, "pred7": 7}[fmt]
    rows = []
    for ln, f in lines:
        if len(f) != ncols:
            raise LabelError(f"{where}:{ln}: format {fmt} expects {ncols} columns, got {len(f)}: {','.join(f)}")
        try:
            frame = int(f[0])
            cls_ = int(f[1]) if _is_int(f[1]) else f[1]
            if fmt in ("dcase2024", "dcase2022", "dcase2020"):
                src, az, el = int(float(f[2])), float(f[3]), float(f[4])
                dist = float(f[5]) * scale if fmt == "dcase2024" else math.nan
            elif fmt == "dcase2025":
                src, az, el = int(float(f[2])), float(f[3]), 0.0
                dist = float(f[4]) * scale
            elif fmt == "pred4":
                src, az, el, dist = 0, float(f[2]), float(f[3]), math.nan
            else:  # pred7
                src = int(float(f[2]))
                xyz = np.array([float(f[3]), float(f[4]), float(f[5])])
                if not np.all(np.isfinite(xyz)) or np.linalg.norm(xyz) == 0:
                    raise LabelError(f"{where}:{ln}: zero or non-finite direction vector {xyz.tolist()}")
                a, e = xyz_to_azel(xyz)
                az, el, dist = float(a), float(e), float(f[6]) * scale
        except ValueError as exc:
            if isinstance(exc, LabelError):
                raise
            raise LabelError(f"{where}:{ln}: non-numeric field in {','.join(f)} ({exc})") from None
        if isinstance(cls_, str) and cls_ not in class_names:
            raise LabelError(f"{where}:{ln}: unknown class {cls_!r}; known: {', '.join(class_names)}")
        rows.append((frame, cls_, src, az, el, dist))
    try:
        labels = SceneLabels.from_rows(rows, class_names, num_frames=num_frames, frame_hop_s=frame_hop_s)
    except LabelError as exc:
        raise LabelError(f"{where}: {exc}") from None
    if check_units:
        _check_units(labels.distance, distance_unit, where)
    return labels


def _is_int(s: str) -> bool:
    return bool(re.fullmatch(r"-?\d+", s))


def _tau2019_class(name: str, class_names: Sequence[str]) -> int:
    """'clearthroat113.wav' -> 'clearthroat' (the 2019 baseline strips the extension and the 3-digit take number)."""
    base = os.path.splitext(name)[0]
    for cand in (base, re.sub(r"\d+$", "", base)):
        if cand in class_names:
            return class_names.index(cand)
    raise KeyError(name)


def _parse_tau2019(lines, class_names, scale, unit, num_frames, frame_hop_s, where, check_units) -> SceneLabels:
    events = []
    for ln, f in lines:
        if len(f) != 6:
            raise LabelError(f"{where}:{ln}: tau2019 expects 6 columns (sound_event_recording,start_time,end_time,"
                             f"ele,azi,dist), got {len(f)}")
        try:
            ci = _tau2019_class(f[0], class_names)
        except KeyError:
            raise LabelError(f"{where}:{ln}: unknown class in recording name {f[0]!r}; "
                             f"known: {', '.join(class_names)}") from None
        try:
            t0, t1, el, az, dist = (float(x) for x in f[1:])
        except ValueError:
            raise LabelError(f"{where}:{ln}: non-numeric field in {','.join(f)}") from None
        if t1 < t0:
            raise LabelError(f"{where}:{ln}: end_time {t1} before start_time {t0}")
        events.append((ci, t0, t1, az, el, dist * scale))
    rows = []
    for src, (ci, t0, t1, az, el, dist) in enumerate(events):
        # A frame k covers [k*hop, (k+1)*hop); the event is active in every frame it overlaps.
        f0 = int(math.floor(t0 / frame_hop_s + 1e-9))
        f1 = max(f0 + 1, int(math.ceil(t1 / frame_hop_s - 1e-9)))
        rows.extend((k, ci, src, az, el, dist) for k in range(f0, f1))
    rows.sort(key=lambda r: r[0])
    try:
        labels = SceneLabels.from_rows(rows, class_names, num_frames=num_frames, frame_hop_s=frame_hop_s)
    except LabelError as exc:
        raise LabelError(f"{where}: {exc}") from None
    if check_units:
        _check_units(labels.distance, unit, where)
    return labels


def read_labels(path: str | os.PathLike, fmt: str = "auto", class_names: Sequence[str] | None = None,
                distance_unit: str | None = None, num_frames: int | None = None, frame_hop_s: float = LABEL_HOP_S,
                check_units: bool = True) -> SceneLabels:
    """Read one DCASE label CSV into :class:`SceneLabels` (distances converted to metres).

    ``distance_unit`` is the unit of the file's distance column ('m' or 'cm'); None means the format's own
    definition (cm for dcase2024/dcase2025 references, m for tau2019 and pred7). ``check_units`` rejects files
    whose distances are implausible in the stated unit (the cm/m mix-up).
    """
    text = Path(path).read_text()
    return parse_labels(text, fmt, class_names, distance_unit, num_frames, frame_hop_s, str(path), check_units)


# ---------------------------------------------------------------------------------------------------- writers
def format_dcase2024(labels: SceneLabels, distance_unit: str = "cm", integer: bool = True) -> str:
    """DCASE2024 CSV text ``frame,class,source,azimuth,elevation,distance`` (no header, as the dataset ships).

    ``integer=True`` rounds angles to integer degrees and distances to integers of ``distance_unit`` (the
    reference-file convention); unknown distances are written as 0 only if the whole file has none, otherwise
    a NaN distance raises (a reference must know its distances).
    """
    scale = _unit_scale(distance_unit)
    rows = labels.to_rows()
    out = []
    for fr, c, s, az, el, d in rows:
        if not math.isfinite(d):
            raise LabelError(f"frame {fr}: unknown (NaN) distance cannot be written in dcase2024 format; "
                             f"use format_dcase2022 for direction-only labels")
        dv = d / scale
        if integer:
            out.append(f"{fr},{c},{s},{int(round(az))},{int(round(el))},{int(round(dv))}")
        else:
            out.append(f"{fr},{c},{s},{az:.2f},{el:.2f},{dv:.4f}")
    return "\n".join(out) + ("\n" if out else "")


def format_dcase2022(labels: SceneLabels) -> str:
    """Direction-only CSV ``frame,class,source,azimuth,elevation`` (integer degrees)."""
    return "".join(f"{fr},{c},{s},{int(round(az))},{int(round(el))}\n" for fr, c, s, az, el, _ in labels.to_rows())


def format_dcase2025(labels: SceneLabels, onscreen: np.ndarray | None = None) -> str:
    """DCASE2025 stereo CSV (header; azimuth folded to [-90, 90], integer degrees; distance integer cm).

    ``onscreen`` is an optional int/bool (T, M) array aligned with the slots (0 where not given).
    """
    lines = ["frame,class,source,azimuth,distance,onscreen"]
    az, _ = xyz_to_azel(labels.doa)
    faz = fold_azimuth(az)
    for fr, s in zip(*np.nonzero(labels.active)):
        d = labels.distance[fr, s]
        if not np.isfinite(d):
            raise LabelError(f"frame {fr}: NaN distance cannot be written in dcase2025 format")
        on = int(onscreen[fr, s]) if onscreen is not None else 0
        lines.append(f"{fr},{labels.class_id[fr, s]},{labels.source_id[fr, s]},{int(round(faz[fr, s]))},"
                     f"{int(round(d * 100))},{on}")
    return "\n".join(lines) + "\n"


def write_labels(path: str | os.PathLike, labels: SceneLabels, fmt: str = "dcase2024", distance_unit: str = "cm",
                 integer: bool = True, onscreen: np.ndarray | None = None) -> None:
    """Write ``labels`` as a DCASE CSV (dcase2024 by default; also dcase2022 / dcase2025)."""
    if fmt == "dcase2024":
        text = format_dcase2024(labels, distance_unit, integer)
    elif fmt == "dcase2022":
        text = format_dcase2022(labels)
    elif fmt == "dcase2025":
        text = format_dcase2025(labels, onscreen)
    else:
        raise LabelError(f"cannot write format {fmt!r} (writers: dcase2024, dcase2022, dcase2025)")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)


# ---------------------------------------------------------------------------------------------------- datasets
def list_label_files(root: str | os.PathLike) -> dict[str, Path]:
    """All *.csv under ``root`` (recursively, e.g. metadata_dev/dev-test-sony/...), keyed by file stem.
    Raises on duplicate stems, which would make reference/prediction pairing ambiguous."""
    root = Path(root)
    if not root.is_dir():
        raise LabelError(f"not a directory: {root}")
    out: dict[str, Path] = {}
    for p in sorted(root.rglob("*.csv")):
        if p.stem in out:
            raise LabelError(f"duplicate label file name {p.stem!r}: {out[p.stem]} and {p}")
        out[p.stem] = p
    return out


def read_wav(path: str | os.PathLike, target_fs: int | None = SAMPLE_RATE) -> tuple[np.ndarray, int]:
    """Read a wav as float32 (channels, samples), resampled once to ``target_fs`` (scipy resample_poly; None: the
    file's own rate). 8-bit unsigned, 16-, 24- (scipy left-justifies it in int32) and 32-bit integer and float
    files; no mmap (it refuses 3-byte containers)."""
    from scipy.io import wavfile
    from scipy.signal import resample_poly

    with warnings.catch_warnings():
        # soundfile and sox write float wavs with PEAK/fact chunks, which scipy skips with a WavFileWarning: harmless
        warnings.filterwarnings("ignore", message="Chunk .non-data. not understood", category=wavfile.WavFileWarning)
        fs, x = wavfile.read(str(path))
    if x.dtype == np.int16:
        x = x.astype(np.float32) / 32768.0
    elif x.dtype == np.int32:
        x = x.astype(np.float32) / 2147483648.0
    elif x.dtype == np.uint8:
        x = (x.astype(np.float32) - 128.0) / 128.0
    else:
        x = x.astype(np.float32)
    x = x.T if x.ndim == 2 else x[None, :]
    target_fs = int(fs) if target_fs is None else target_fs
    if fs != target_fs:
        g = math.gcd(int(fs), int(target_fs))
        x = resample_poly(x, target_fs // g, fs // g, axis=1).astype(np.float32)
    return np.ascontiguousarray(x), target_fs


def write_wav(path: str | os.PathLike, audio: np.ndarray, fs: int = SAMPLE_RATE, pcm16: bool = False) -> None:
    """Write (channels, samples) float audio as float32 wav, or 16-bit PCM (clipped) when ``pcm16``."""
    from scipy.io import wavfile

    x = np.asarray(audio, dtype=np.float32).T
    if pcm16:
        x = (np.clip(x, -1.0, 32767 / 32768) * 32768.0).astype(np.int16)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(str(path), fs, x)


def iter_dataset(root: str | os.PathLike, split: str, fmt: str = "auto", audio_prefix: str = "foa",
                 metadata_prefix: str = "metadata", **read_kw) -> Iterable[tuple[str, Path, SceneLabels]]:
    """Yield (name, wav_path, labels) for ``<root>/<audio_prefix>_<split>/*.wav`` with labels from
    ``<root>/<metadata_prefix>_<split>/`` (the layout seld-synth writes; DCASE's ``foa_dev/<fold>`` layout also
    works with split='dev'; its stereo variant is ``audio_prefix="stereo", metadata_prefix="metadata_stereo",
    fmt="dcase2025"``)."""
    root = Path(root)
    labels = list_label_files(root / f"{metadata_prefix}_{split}")
    wavs = {p.stem: p for p in (root / f"{audio_prefix}_{split}").rglob("*.wav")}
    for name in sorted(labels):
        if name not in wavs:
            raise LabelError(f"no audio for {labels[name]} under {root / f'{audio_prefix}_{split}'}")
        yield name, wavs[name], read_labels(labels[name], fmt=fmt, **read_kw)

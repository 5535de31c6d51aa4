"""The real-sound bank's manifest: one row per clip, the contract between the bank builder
(``seld-bank build-real``) and its readers (scene synthesis, AT pretraining, benchmarks).

A bank folder holds::

    <bank>/manifest.csv        one row per clip (columns below)
    <bank>/counts.json         per role / class / split: clips and seconds
    <bank>/build_info.json     packages and versions, builder commit, date, time taken, size
    <bank>/clips/...           24 kHz mono 16-bit PCM wav files named by the ``clip`` column

Columns:

* ``clip``     path of the wav file relative to the bank folder
* ``role``     ``target`` (one of the vocabulary's classes), ``distractor`` (a non-target sound: must be labelled
  as no event) or ``ambience`` (diffuse background)
* ``class``    class name for targets, empty otherwise
* ``source``   source group used for splitting: every clip cut from one recording, one speaker or one package path
  family shares it, and a source lives in exactly one split
* ``split``    ``train`` | ``val`` | ``test``
* ``package``, ``package_version``  the Debian package the audio came from
* ``member``   path inside the package after ``dpkg-deb -x``; ``::`` names a member of a container (zip, rcc, ocg,
  cat entry); derived clips (sequenced steps, knocks, soundfont renders) list their inputs joined by `` + `` or say
  how they were made (``fluidsynth:<sf2>:program=<n>``)
* ``licence``  short licence from the package's copyright file
* ``duration_s``  clip length in seconds
* ``f0_hz``    median F0 for speech clips (empty for other clips)
* ``note``     free text (e.g. why a clip's class was decided)
"""
from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

ROLES = ("target", "distractor", "ambience")
SPLITS = ("train", "val", "test")
MANIFEST_NAME = "manifest.csv"


class ManifestError(ValueError):
    """A manifest file is missing, malformed or inconsistent."""


@dataclass
class ClipRecord:
    clip: str
    role: str
    source: str
    split: str
    package: str
    member: str
    licence: str
    duration_s: float
    class_name: str = ""  # "class" in the CSV
    package_version: str = ""
    f0_hz: float | None = None
    note: str = ""


COLUMNS = ("clip", "role", "class", "source", "split", "package", "package_version", "member", "licence",
           "duration_s", "f0_hz", "note")


def _to_row(rec: ClipRecord) -> dict:
    d = asdict(rec)
    d["class"] = d.pop("class_name")
    d["duration_s"] = f"{rec.duration_s:.3f}"
    d["f0_hz"] = "" if rec.f0_hz is None else f"{rec.f0_hz:.1f}"
    return {k: d[k] for k in COLUMNS}


def _from_row(row: dict, where: str) -> ClipRecord:
    missing = [c for c in COLUMNS if c not in row]
    if missing:
        raise ManifestError(f"{where}: missing columns {missing}")
    try:
        rec = ClipRecord(clip=row["clip"], role=row["role"], source=row["source"], split=row["split"],
                         package=row["package"], member=row["member"], licence=row["licence"],
                         duration_s=float(row["duration_s"]), class_name=row["class"],
                         package_version=row["package_version"],
                         f0_hz=float(row["f0_hz"]) if row["f0_hz"] not in ("", None) else None,
                         note=row["note"] or "")
    except (TypeError, ValueError) as exc:
        raise ManifestError(f"{where}: bad value ({exc})") from None
    validate_record(rec, where)
    return rec


def validate_record(rec: ClipRecord, where: str = "manifest") -> None:
    if rec.role not in ROLES:
        raise ManifestError(f"{where}: role {rec.role!r} is not one of {ROLES}")
    if rec.split not in SPLITS:
        raise ManifestError(f"{where}: split {rec.split!r} is not one of {SPLITS}")
    if (rec.role == "target") != bool(rec.class_name):
        raise ManifestError(f"{where}: a target needs a class and other roles none (role {rec.role!r}, "
                            f"class {rec.class_name!r})")
    if not rec.source:
        raise ManifestError(f"{where}: empty source")


def check_source_disjoint(records: list[ClipRecord]) -> None:
    """Raise if a source appears in more than one split."""
    seen: dict[str, str] = {}
    for r in records:
        if seen.setdefault(r.source, r.split) != r.split:
            raise ManifestError(f"source {r.source!r} is in both {seen[r.source]!r} and {r.split!r}")


def write_manifest(bank_dir: str | os.PathLike, records: list[ClipRecord]) -> Path:
    for i, r in enumerate(records):
        validate_record(r, f"record {i} ({r.clip})")
    check_source_disjoint(records)
    path = Path(bank_dir) / MANIFEST_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in records:
            w.writerow(_to_row(r))
    os.replace(tmp, path)
    return path


def read_manifest(bank_dir: str | os.PathLike) -> list[ClipRecord]:
    path = Path(bank_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"no {MANIFEST_NAME} in {bank_dir} (build a bank with `seld-bank build-real`)")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        records = [_from_row(row, f"{path}:{i + 2}") for i, row in enumerate(reader)]
    check_source_disjoint(records)
    return records


__all__ = ["COLUMNS", "ROLES", "SPLITS", "ClipRecord", "ManifestError", "check_source_disjoint", "read_manifest",
           "write_manifest", "validate_record"]
assert {f.name for f in fields(ClipRecord)} == set(COLUMNS) - {"class"} | {"class_name"}

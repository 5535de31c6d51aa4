"""``seld-bank build-real``: fetch packages, pull sound files out, make clips, split by source, write the bank.

Resumable: debs and unpacked trees live in the cache (``fetch.DebCache``); each rule's finished clips are cached as
``<cache>/rules/<rule id>-<hash>.npz`` + ``.json`` (the hash covers the rule, the package version and the builder
settings), so a re-run only redoes rules that changed. The bank is written to ``<out>.tmp-<pid>`` and swapped in
at the end, so a reader never sees a half-written bank.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from seld_ros.data.manifest import ClipRecord, write_manifest
from seld_ros.data.realbank import dsp
from seld_ros.data.realbank.containers import CONTAINER_SUFFIXES, ContainerError, open_container
from seld_ros.data.realbank.decode import SOUND_SUFFIXES, DecodeError, decode_bytes
from seld_ros.data.realbank.fetch import DebCache, FetchError, Package
from seld_ros.data.realbank.mapping import Mapping, Rule, _glob_match
from seld_ros.data.realbank.midi import random_melody, render_fluidsynth

BUILDER_VERSION = 3
SR = dsp.SR


@dataclass
class BuildConfig:
    out: Path
    cache: Path
    mapping: Mapping
    classes: list[str] | None = None
    packages: list[str] | None = None
    max_clips_per_source: int = 120
    seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    log: Callable[[str], None] = print


@dataclass
class Event:
    """One finished clip before splitting."""
    audio: np.ndarray
    source: str
    member: str
    role: str
    class_name: str
    package: str
    version: str
    licence: str
    f0_hz: float | None = None
    note: str = ""


@dataclass
class Stats:
    dropped: Counter = field(default_factory=Counter)  # reason -> count of files/pieces
    failed_packages: dict = field(default_factory=dict)
    files_used: int = 0


# ------------------------------------------------------------------ enumerating files
def _iter_members(pkg: Package, rules: list[Rule], stats: Stats, log) -> Iterable[tuple[str, Callable[[], bytes]]]:
    """(member name, bytes reader) of every sound file in the tree and inside containers that some rule names."""
    root = pkg.tree
    cont_globs = [g for r in rules for g in r.container_globs()]
    for dirpath, _dirs, files in os.walk(root):
        for fn in sorted(files):
            full = Path(dirpath) / fn
            rel = str(full.relative_to(root))
            suf = full.suffix.lower()
            if suf in SOUND_SUFFIXES:
                yield rel, (lambda p=full: p.read_bytes())
            elif suf in CONTAINER_SUFFIXES and any(_fn(rel, g) for g in cont_globs):
                try:
                    members = open_container(full)
                except (ContainerError, OSError) as exc:
                    log(f"  ! {pkg.name}: {rel}: {exc}")
                    stats.dropped["container_unreadable"] += 1
                    continue
                for name, reader in sorted(members.items()):
                    # OpenTTD cat entries carry no suffix: they are RIFF/WAVE
                    if Path(name).suffix.lower() in SOUND_SUFFIXES or suf == ".cat":
                        yield f"{rel}::{name}", reader


def _fn(path: str, glob: str) -> bool:
    return _glob_match(glob, path)


def _suffix(member: str) -> str:
    s = Path(member.split("::")[-1]).suffix.lower()
    return s if s in SOUND_SUFFIXES else ".wav"


# ------------------------------------------------------------------ decoding with clip mask
@dataclass
class Decoded:
    x: np.ndarray  # 24 kHz mono
    clip_mask: np.ndarray  # bool per 24 kHz sample: the source sample there was clipped


def decode_member(data: bytes, member: str) -> Decoded:
    raw, sr = decode_bytes(data, _suffix(member))
    if not np.all(np.isfinite(raw)):
        raise DecodeError("non-finite samples")
    a = np.abs(raw) >= 0.999
    run = np.zeros_like(a)
    if a.size >= 3:
        r3 = a[:-2] & a[1:-1] & a[2:]
        run[:-2] |= r3
        run[1:-1] |= r3
        run[2:] |= r3
    x = dsp.to_bank_rate(raw, sr)
    idx = np.minimum((np.arange(len(x)) * (sr / SR)).astype(np.int64), len(raw) - 1)
    return Decoded(x, run[idx] if len(raw) else np.zeros(0, bool))


def _unclipped_spans(mask: np.ndarray, min_len: int, margin: int = int(0.05 * SR)) -> list[tuple[int, int]]:
    """Spans of at least ``min_len`` samples that stay ``margin`` away from every clipped sample."""
    bad = np.flatnonzero(mask)
    if bad.size == 0:
        return [(0, len(mask))]
    edges = [0] + [int(b) for pair in zip(bad - margin, bad + margin + 1) for b in pair] + [len(mask)]
    spans = []
    for a, b in zip(edges[0::2], edges[1::2]):
        a, b = max(0, a), min(len(mask), b)
        if b - a >= min_len:
            spans.append((a, b))
    return spans


def _piece_ok(x: np.ndarray, mask: np.ndarray, stats: Stats, min_s: float, clip_limit: float = 0.001) -> bool:
    if len(x) < min_s * SR:
        stats.dropped["too_short"] += 1
        return False
    if mask.size and mask.mean() > clip_limit:
        stats.dropped["clipped"] += 1
        return False
    q = dsp.check_piece(x, raw_peak_clip=10.0)  # clipping judged on the source samples (mask), silence here
    if not q.ok:
        stats.dropped[q.reason] += 1
        return False
    return True


def _trim_with_mask(d: Decoded) -> tuple[np.ndarray, np.ndarray]:
    t = dsp.trim_silence(d.x)
    if t.size == 0:
        return t, d.clip_mask[:0]
    # locate the trimmed span (trim_silence returns a view slice)
    start = (t.__array_interface__["data"][0] - d.x.__array_interface__["data"][0]) // d.x.itemsize
    return t, d.clip_mask[start:start + len(t)]


def _split_hits(x: np.ndarray, min_gap_s: float = 0.12, rel_db: float = 25.0) -> list[np.ndarray]:
    """Single hits in a recording: runs of 20 ms frames within rel_db of the loudest, split at gaps >= min_gap_s."""
    db = dsp.frame_db(x)
    on = db > db.max() - rel_db
    hits, f, n = [], 0, len(on)
    gap = max(1, int(min_gap_s * SR / dsp.FRAME))
    while f < n:
        if not on[f]:
            f += 1
            continue
        a = f
        quiet = 0
        while f < n and quiet < gap:
            quiet = 0 if on[f] else quiet + 1
            f += 1
        b = f - quiet
        seg = x[max(0, a * dsp.FRAME - 120):min(len(x), (b + 4) * dsp.FRAME)]
        if len(seg) >= 0.04 * SR:
            hits.append(seg)
    return hits


# ------------------------------------------------------------------ per-kind processing
def _source_of(rule: Rule, pkg: Package, member: str) -> str:
    inner = member.split("::")[-1]
    p = Path(inner)
    stem = p.name.split(".")[0] if p.suffix else p.name
    fields = dict(package=pkg.name, rule=rule.id, stem=p.stem, parent=p.parent.name,
                  grandparent=p.parent.parent.name, member=member, tail=stem.rsplit("_", 1)[-1],
                  prefix=stem.split("_", 1)[0], alpha=re.sub(r"[\d.]+", "", stem).strip("_-") or stem)
    return rule.source.format(**fields)


def _ev(rule: Rule, pkg: Package, audio, source, member, f0=None, note="") -> Event:
    return Event(audio=audio, source=source, member=member, role=rule.role, class_name=rule.class_name,
                 package=pkg.name, version=pkg.version, licence=pkg.licence, f0_hz=f0,
                 note="; ".join(s for s in (f"rule {rule.id}", rule.note, note) if s))


def process_rule(rule: Rule, pkg: Package, items: list[tuple[str, Callable[[], bytes]]], cfg: BuildConfig,
                 stats: Stats, rng: np.random.Generator) -> list[Event]:
    if rule.kind == "fluidsynth":
        return _process_fluidsynth(rule, pkg, items, cfg, stats, rng)
    if rule.max_files and len(items) > rule.max_files:
        pick = sorted(rng.choice(len(items), rule.max_files, replace=False))
        items = [items[i] for i in pick]
    decoded: list[tuple[str, str, Decoded]] = []
    for member, reader in items:
        try:
            d = decode_member(reader(), member)
        except DecodeError as exc:
            stats.dropped["undecodable"] += 1
            cfg.log(f"  ! {pkg.name}: {member}: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - a corrupt member must not stop the build; counted and logged
            stats.dropped["undecodable"] += 1
            cfg.log(f"  ! {pkg.name}: {member}: {type(exc).__name__}: {exc}")
            continue
        stats.files_used += 1
        decoded.append((member, _source_of(rule, pkg, member), d))
    if rule.kind == "plain":
        return _process_plain(rule, pkg, decoded, stats, rng)
    if rule.kind == "speech":
        return _process_speech(rule, pkg, decoded, stats, rng)
    if rule.kind in ("steps", "knock"):
        return _process_hits(rule, pkg, decoded, stats, rng)
    raise ValueError(rule.kind)


def _process_plain(rule, pkg, decoded, stats, rng) -> list[Event]:
    out = []
    for member, source, d in decoded:
        x, mask = _trim_with_mask(d)
        if x.size == 0:
            stats.dropped["silent"] += 1
            continue
        if rule.playback == "phone_speaker":
            x = dsp.through_phone_speaker(x)
        if rule.repeat and len(x) < 4 * SR:
            k = int(rng.integers(rule.repeat[0], rule.repeat[1] + 1))
            parts, mparts = [], []
            for j in range(k):
                if j:
                    g = int(rng.uniform(0.2, 0.6) * SR)
                    parts.append(np.zeros(g, np.float32))
                    mparts.append(np.zeros(g, bool))
                parts.append(x)
                mparts.append(mask)
            x, mask = np.concatenate(parts), np.concatenate(mparts)
            x, mask = x[: int(8 * SR)], mask[: int(8 * SR)]
        pieces = dsp.cut_at_quiet_points(x, rng) if len(x) > 8 * SR else [x]
        offs, o = [], 0
        for p in pieces:
            offs.append(o)
            o += len(p)
        # cut_at_quiet_points returns consecutive slices from the start
        starts = [(p.__array_interface__["data"][0] - x.__array_interface__["data"][0]) // x.itemsize
                  for p in pieces]
        order = list(range(len(pieces)))
        if rule.max_pieces_per_file and len(order) > rule.max_pieces_per_file:
            order = sorted(rng.choice(len(order), rule.max_pieces_per_file, replace=False))
        for i in order:
            p = pieces[i]
            pm = mask[starts[i]:starts[i] + len(p)]
            min_s = rule.min_s if len(pieces) == 1 else 1.0
            subs = [(0, len(p))]
            if pm.size and pm.mean() > rule.max_clipped and len(p) >= 2 * SR:
                subs = _unclipped_spans(pm, int(1.0 * SR))  # cut around the clipped parts
                if not subs:
                    stats.dropped["clipped"] += 1
                    continue
            for a, b in subs:
                if _piece_ok(p[a:b], pm[a:b], stats, min_s, rule.max_clipped):
                    note = f"piece {i + 1}/{len(pieces)} at {(starts[i] + a) / SR:.1f} s" if len(pieces) > 1 else ""
                    if len(subs) > 1 or (a, b) != (0, len(p)):
                        note = (note + "; " if note else "") + "cut around clipped samples"
                    if rule.repeat and len(d.x) < 4 * SR:
                        note = "short clip looped"
                    out.append(_ev(rule, pkg, p[a:b], source, member, note=note))
    return out


def _process_speech(rule, pkg, decoded, stats, rng) -> list[Event]:
    by_source: dict[tuple[str, str], list] = defaultdict(list)
    for member, source, d in decoded:
        x, mask = _trim_with_mask(d)
        if not _piece_ok(x, mask, stats, 0.3, rule.max_clipped):
            continue
        g = dsp.speech_gender(x)
        if not g.gender:
            stats.dropped[f"speech_{g.reason}"] += 1
            continue
        if rule.gender in ("female", "male") and g.gender != rule.gender:
            stats.dropped[f"speech_f0_not_{rule.gender}"] += 1
            continue
        cls = "femaleSpeech" if g.gender == "female" else "maleSpeech"
        if rule.class_name and rule.gender != "auto" and cls != rule.class_name:
            stats.dropped["speech_class_mismatch"] += 1
            continue
        for piece in (dsp.cut_at_quiet_points(x, rng) if len(x) > 8 * SR else [x]):
            by_source[(source, cls)].append((member, piece, g.f0_hz))
    out = []
    for (source, cls), utts in sorted(by_source.items()):
        order = list(rng.permutation(len(utts)))
        while order:
            k = int(rng.integers(3, 6))
            group, total = [], 0.0
            while order:
                cand = utts[order[0]]
                length = len(cand[1]) / SR + (0.45 if group else 0.0)  # the longest gap
                if group and total + length > 8.0:
                    break
                group.append(cand)
                order.pop(0)
                total += length
                if len(group) >= k and total >= 2.0:
                    break
            if total < 2.0:
                stats.dropped["speech_leftover_under_2s"] += len(group)
                continue
            audio = dsp.concatenate([g[1] for g in group], rng) if len(group) > 1 else group[0][1]
            f0 = float(np.median([g[2] for g in group]))
            ev = _ev(rule, pkg, audio, f"{source}:{cls}", " + ".join(g[0] for g in group), f0,
                     f"{len(group)} utterance(s) of one speaker; gender by median F0 (YIN): {f0:.0f} Hz")
            ev.class_name, ev.role = cls, "target"
            out.append(ev)
    return out


def _process_hits(rule, pkg, decoded, stats, rng) -> list[Event]:
    by_source: dict[str, list] = defaultdict(list)
    for member, source, d in decoded:
        x, mask = _trim_with_mask(d)
        if not _piece_ok(x, mask, stats, 0.04, rule.max_clipped):
            continue
        hits = _split_hits(x) if rule.kind == "knock" else [x]
        for h in hits:
            by_source[source].append((member, h[: int(0.8 * SR)]))
    out = []
    for source, hits in sorted(by_source.items()):
        members = sorted({m for m, _ in hits})
        arr = [h for _, h in hits]
        for _ in range(max(1, rule.derive)):
            if rule.kind == "steps":
                count = int(rng.integers(4, 11))
                audio = dsp.sequence_hits(arr, rng, count, (0.45, 0.6), jitter_s=0.03, level_db=3.0)
                note = f"walk: {count} single steps 0.45-0.6 s apart (jitter, +-3 dB)"
            else:
                groups = 1 if rng.random() < 0.6 else 2
                parts = []
                for gi in range(groups):
                    count = int(rng.integers(2, 5))
                    parts.append(dsp.sequence_hits(arr, rng, count, (0.13, 0.28), jitter_s=0.02, level_db=2.0,
                                                   tail_s=0.2))
                    if gi + 1 < groups:
                        parts.append(np.zeros(int(rng.uniform(0.5, 1.1) * SR), np.float32))
                cutoff = float(rng.uniform(1000, 2500))
                audio = dsp.through_door(np.concatenate(parts), cutoff)
                note = (f"knock built from real wood hits: {groups} group(s) of 2-4 hits 0.13-0.28 s apart, "
                        f"low-passed at {cutoff:.0f} Hz as through a door (no real door-knock recording exists "
                        "in the listed packages)")
            audio = dsp.trim_silence(audio)
            if audio.size == 0:
                stats.dropped["silent"] += 1
                continue
            out.append(_ev(rule, pkg, audio, source, " + ".join(members), note=note))
    return out


def _process_fluidsynth(rule, pkg, items, cfg, stats, rng) -> list[Event]:
    out = []
    for member, _reader in items:
        sf_path = pkg.tree / member
        segs = []
        for prog in rule.programs:
            for _ in range(max(1, rule.derive)):
                seconds = float(rng.uniform(2.0, 6.0))
                if rule.class_name == "bell":
                    notes = random_melody(rng, seconds, 60, 88)[: int(rng.integers(1, 7))]  # a few strikes
                else:
                    notes = random_melody(rng, seconds, 40 if 32 <= prog < 40 else 48, 84, chords=prog < 8)
                segs.append((prog, notes))
        try:
            audios = render_fluidsynth(sf_path, segs)
        except RuntimeError as exc:
            stats.dropped["render_failed"] += len(segs)
            cfg.log(f"  ! {pkg.name}: {member}: {exc}")
            continue
        stats.files_used += 1
        for (prog, notes), audio in zip(segs, audios):
            audio = dsp.trim_silence(audio)[: int(8 * SR)]
            if not _piece_ok(audio, np.zeros(0, bool), stats, 0.5):
                continue
            out.append(_ev(rule, pkg, audio, f"{pkg.name}:program={prog}", f"fluidsynth:{member}:program={prog}",
                           note=f"GM program {prog} rendered with fluidsynth from a random melody "
                                f"({len(notes)} notes); real samples sequenced by a program"))
    return out


# ------------------------------------------------------------------ caching rule results
def _rule_key(rule: Rule, pkg: Package, cfg: BuildConfig, members: list[str]) -> str:
    fields = asdict(rule)
    if not fields["playback"]:
        del fields["playback"]  # added later: rules without it keep the cache keys they had
    blob = json.dumps([fields, pkg.name, pkg.version, cfg.max_clips_per_source, cfg.seed, BUILDER_VERSION,
                       sorted(members)], sort_keys=True, default=str)
    return f"{rule.id}-{hashlib.sha1(blob.encode()).hexdigest()[:12]}"


def _save_rule(path: Path, events: list[Event], stats_delta: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lens = np.array([len(e.audio) for e in events], np.int64)
    audio = np.concatenate([e.audio for e in events]) if events else np.zeros(0, np.int16)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, audio=audio.astype(np.int16), lens=lens)
    meta = [dict(asdict(e), audio=None) for e in events]
    path.with_suffix(".json").write_text(json.dumps({"events": meta, "stats": stats_delta}))
    os.replace(tmp, path)


def _load_rule(path: Path) -> tuple[list[Event], dict] | None:
    meta_p = path.with_suffix(".json")
    if not (path.is_file() and meta_p.is_file()):
        return None
    meta = json.loads(meta_p.read_text())
    with np.load(path) as z:
        audio, lens = z["audio"], z["lens"]
    events, o = [], 0
    for m, n in zip(meta["events"], lens):
        m["audio"] = audio[o:o + n]
        o += n
        events.append(Event(**m))
    return events, meta["stats"]


# ------------------------------------------------------------------ splitting
def assign_splits(groups: dict[str, dict[str, int]], seed: int, val_fraction: float = 0.15,
                  test_fraction: float = 0.15) -> tuple[dict[str, str], dict[str, str]]:
    """``groups``: group (class or role) -> {source: clip count}. Returns (source -> split, group -> how).

    A group with >= 3 sources gets at least one test and one val source (two each from 6 sources on), filled
    greedily (random order) towards ``test_fraction`` / ``val_fraction`` of its clips without overshooting by more
    than 30 % (the smallest sources when none fits); with 2 sources the smaller goes to test and the other to
    train (no val); a single source goes to train. A source shared by two groups keeps its first assignment."""
    rng = np.random.default_rng(seed)
    split: dict[str, str] = {}
    how: dict[str, str] = {}
    for g in sorted(groups):
        srcs = {s: n for s, n in groups[g].items() if s not in split}
        names = sorted(srcs)
        total = sum(groups[g].values())
        if len(names) >= 3:
            order = [names[i] for i in rng.permutation(len(names))]
            min_count = 2 if len(names) >= 6 else 1
            for sp, frac in (("test", test_fraction), ("val", val_fraction)):
                target = frac * total
                got = 0
                taken = []
                for s in list(order):
                    if len(order) - len(taken) <= 1 + (sp == "test"):
                        break  # leave at least one source for val (after test) and for train
                    if got + srcs[s] <= target * 1.3:
                        taken.append(s)
                        got += srcs[s]
                    if got >= target and len(taken) >= min_count:
                        break
                rest = sorted((s for s in order if s not in taken), key=lambda s: (srcs[s], s))
                while len(taken) < min_count and len(rest) > 1 + (sp == "test"):
                    taken.append(rest.pop(0))  # too few fitted: the smallest remaining sources
                for s in taken:
                    split[s] = sp
                    order.remove(s)
            for s in order:
                split[s] = "train"
            how[g] = "by source"
        elif len(names) == 2:
            small = min(names, key=lambda s: (srcs[s], s))
            split[small] = "test"
            split[max(names, key=lambda s: (srcs[s], s))] = "train"
            how[g] = "2 sources: one train, one test, no val"
        elif names:
            split[names[0]] = "train"
            how[g] = "1 source: train only"
    return split, how


# ------------------------------------------------------------------ main build
def _git_commit() -> str:
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                           cwd=Path(__file__).resolve().parent)
        return r.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_")[:80]


def build_real_bank(cfg: BuildConfig, cache: DebCache | None = None) -> dict:
    t0 = time.time()
    log = cfg.log
    cache = cache or DebCache(cfg.cache)
    stats = Stats()
    rules = [r for r in cfg.mapping.rules
             if (not cfg.classes or (r.class_name in cfg.classes or r.role in cfg.classes))
             and (not cfg.packages or r.package in cfg.packages)]
    packages = [p for p in cfg.mapping.packages if any(r.package == p for r in rules)]
    all_rules_by_pkg = defaultdict(list)
    for r in cfg.mapping.rules:  # claiming uses every rule of the package, also the filtered-out ones
        all_rules_by_pkg[r.package].append(r)
    events: list[Event] = []
    pkg_info = {}
    rule_counts = {}
    used_keys: set[str] = set()
    log(f"building the real-sound bank from {len(packages)} Debian packages into {cfg.out}: a first run downloads "
        "~5.8 GB and takes tens of minutes ([n/N] below counts the packages); a re-run from the cache about a minute")
    for pi, name in enumerate(packages):
        log(f"[{pi + 1}/{len(packages)}] {name}")
        try:
            pkg = cache.unpack(name)
        except (FetchError, OSError) as exc:
            log(f"  ! {name}: {exc}")
            stats.failed_packages[name] = str(exc)
            continue
        pkg_info[name] = {"version": pkg.version, "deb": pkg.deb.name, "deb_bytes": pkg.deb.stat().st_size,
                          "licence": pkg.licence}
        prules = [r for r in rules if r.package == name]
        claimed: dict[str, list] = defaultdict(list)
        unmatched = 0
        for member, reader in _iter_members(pkg, all_rules_by_pkg[name], stats, log):
            rule = next((r for r in all_rules_by_pkg[name] if r.matches(member)), None)
            if rule is None:
                unmatched += 1
            else:
                claimed[rule.id].append((member, reader))
        for r in prules:
            if r.kind == "fluidsynth":
                claimed[r.id] = [(str(p.relative_to(pkg.tree)), None) for pat in r.paths
                                 for p in sorted(pkg.tree.glob(pat))]
        if unmatched:
            stats.dropped["files_not_in_mapping"] += unmatched
        # the cache key covers the rule, the package version, the settings and the files the rule claimed
        keys = {r.id: _rule_key(r, pkg, cfg, [m for m, _ in claimed.get(r.id, [])]) for r in prules}
        used_keys.update(keys.values())
        todo = []
        for r in prules:
            cached = _load_rule(cache.root / "rules" / f"{keys[r.id]}.npz")
            if cached is not None:
                evs, sd = cached
                events.extend(evs)
                stats.dropped.update(sd.get("dropped", {}))
                stats.files_used += sd.get("files_used", 0)
                rule_counts[r.id] = len(evs)
                log(f"  {r.id}: {len(evs)} clips (cached)")
            else:
                todo.append(r)
        for r in todo:
            items = claimed.get(r.id, [])
            if not items and r.role != "skip":
                log(f"  ! {r.id}: no file matches {r.paths}")
                stats.dropped["rule_without_files"] += 1
            before = Stats()
            rng = np.random.default_rng([cfg.seed, int(hashlib.sha1(r.id.encode()).hexdigest()[:8], 16)])
            evs = process_rule(r, pkg, items, cfg, before, rng) if items and r.role != "skip" else []
            # cap per source
            by_src = defaultdict(list)
            for e in evs:
                by_src[e.source].append(e)
            capped = []
            for s, lst in sorted(by_src.items()):
                if len(lst) > cfg.max_clips_per_source:
                    before.dropped["over_max_clips_per_source"] += len(lst) - cfg.max_clips_per_source
                    pick = sorted(rng.choice(len(lst), cfg.max_clips_per_source, replace=False))
                    lst = [lst[i] for i in pick]
                capped.extend(lst)
            for e in capped:
                e.audio = (np.clip(dsp.loudness_normalise(e.audio), -1, 1) * 32767).astype(np.int16)
            _save_rule(cache.root / "rules" / f"{keys[r.id]}.npz", capped,
                       {"dropped": dict(before.dropped), "files_used": before.files_used})
            stats.dropped.update(before.dropped)
            stats.files_used += before.files_used
            events.extend(capped)
            rule_counts[r.id] = len(capped)
            log(f"  {r.id}: {len(items)} files -> {len(capped)} clips"
                + (f" (dropped {dict(before.dropped)})" if before.dropped else ""))

    if not cfg.classes and not cfg.packages and not stats.failed_packages:
        # a full build: drop cached rule results this mapping no longer produces
        for p in (cache.root / "rules").glob("*.npz"):
            if p.stem not in used_keys:
                p.unlink(missing_ok=True)
                p.with_suffix(".json").unlink(missing_ok=True)

    # splits: per class for targets, per role for distractors/ambience
    groups: dict[str, Counter] = defaultdict(Counter)
    package_of: dict[str, str] = {}
    for e in events:
        groups[e.class_name or e.role][e.source] += 1
        package_of[e.source] = e.package
    split_of, how = assign_package_splits({g: dict(c) for g, c in groups.items()}, package_of, cfg.seed,
                                          cfg.val_fraction, cfg.test_fraction)

    out = Path(cfg.out)
    tmp = out.parent / f"{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "clips").mkdir(parents=True)
    import soundfile as sf

    records = []
    seen = Counter()
    for e in sorted(events, key=lambda e: (e.role, e.class_name, e.source, e.member)):
        folder = e.class_name or e.role
        base = _slug(e.source)
        seen[(folder, base)] += 1
        rel = f"clips/{folder}/{base}_{seen[(folder, base)]:03d}.wav"
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(tmp / rel, e.audio, SR, subtype="PCM_16")  # int16 already
        records.append(ClipRecord(clip=rel, role=e.role, source=e.source, split=split_of[e.source],
                                  package=e.package, member=e.member, licence=e.licence,
                                  duration_s=len(e.audio) / SR, class_name=e.class_name, package_version=e.version,
                                  f0_hz=e.f0_hz, note=e.note))
    write_manifest(tmp, records)
    counts = _counts(records)
    counts["split_rule"] = how
    (tmp / "counts.json").write_text(json.dumps(counts, indent=1))
    size = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
    info = {
        "builder_version": BUILDER_VERSION, "builder_commit": _git_commit(),
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "mapping": cfg.mapping.path, "seed": cfg.seed, "max_clips_per_source": cfg.max_clips_per_source,
        "packages": pkg_info, "failed_packages": stats.failed_packages,
        "download_bytes": sum(v["deb_bytes"] for v in pkg_info.values()),
        "files_used": stats.files_used, "clips": len(records), "bank_bytes": size,
        "dropped": dict(sorted(stats.dropped.items())), "clips_per_rule": rule_counts,
        "python": sys.version.split()[0],
    }
    info["wall_time_s"] = round(time.time() - t0, 1)
    (tmp / "build_info.json").write_text(json.dumps(info, indent=1))
    old = out.parent / f"{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    log(f"bank: {len(records)} clips, {size / 1e6:.1f} MB in {out} ({info['wall_time_s']:.0f} s)")
    return info


def _counts(records: list[ClipRecord]) -> dict:
    c: dict = {"total": {"clips": 0, "seconds": 0.0}, "by_role": {}, "by_class": {}}
    for r in records:
        key = ("by_class", r.class_name) if r.role == "target" else ("by_role", r.role)
        for node in (c[key[0]].setdefault(key[1], {}),):
            for sp in (r.split, "all"):
                d = node.setdefault(sp, {"clips": 0, "seconds": 0.0, "sources": 0})
                d["clips"] += 1
                d["seconds"] = round(d["seconds"] + r.duration_s, 3)
        c["total"]["clips"] += 1
        c["total"]["seconds"] = round(c["total"]["seconds"] + r.duration_s, 3)
    srcs = defaultdict(set)
    for r in records:
        k = r.class_name or r.role
        srcs[(k, r.split)].add(r.source)
        srcs[(k, "all")].add(r.source)
    for group in ("by_class", "by_role"):
        for k, node in c[group].items():
            for sp, d in node.items():
                d["sources"] = len(srcs[(k, sp)])
    targets = [r for r in records if r.role == "target"]
    c["by_role"]["target"] = {"all": {"clips": len(targets), "seconds": round(sum(r.duration_s for r in targets), 3)}}
    return c


ROLE_GROUPS = ("distractor", "ambience")


def _pick_val(srcs: dict[str, int], rng: np.random.Generator, val_fraction: float) -> list[str]:
    """Sources for val, greedily towards ``val_fraction`` of the clips (30 % overshoot allowed), leaving one for
    train; with three or more sources at least one (the smallest) even when none fits."""
    names = sorted(srcs)
    if len(names) < 2:
        return []
    target, got, taken = val_fraction * sum(srcs.values()), 0, []
    for s in (names[i] for i in rng.permutation(len(names))):
        if len(names) - len(taken) <= 1 or got >= target:
            break
        if got + srcs[s] <= 1.3 * target:
            taken.append(s)
            got += srcs[s]
    if not taken and len(names) >= 3:
        taken.append(min(names, key=lambda s: (srcs[s], s)))
    return taken


def assign_package_splits(groups: dict[str, dict[str, int]], package_of: dict[str, str], seed: int,
                          val_fraction: float = 0.15, test_fraction: float = 0.15, max_loss: float = 0.4
                          ) -> tuple[dict[str, str], dict[str, str]]:
    """Package-disjoint test split: a package with recordings in test has none in train or val, for any class or
    role.

    Recordings of one package share a voice actor, a studio, a sound designer: a test split that shares packages
    with training measures memory of the package, not generalisation. So wherever a target class has material from
    two or more packages, its test material is chosen by *package* (thinnest classes first, greedily towards
    ``test_fraction`` of its clips), and every source of a test package is test. A package is not sent to test when
    that would leave some class without non-test material or take more than ``max_loss`` of another class's clips
    (packages such as a soundfont serve several classes). Val and train are then split by source among the
    remaining packages (val sources never in train; a package may hold both). A class that could not get a test
    package (one package only, or every candidate blocked) is split by source as before, and ``how`` says it is not
    package-disjoint; distractors and ambiences are test only where their package is. Returns (source -> split,
    group -> how)."""
    rng = np.random.default_rng(seed)
    targets = sorted(g for g in groups if g not in ROLE_GROUPS)
    pkg_counts: dict[str, dict[str, int]] = {g: {} for g in targets}
    for g in targets:
        for src, n in groups[g].items():
            pkg_counts[g][package_of[src]] = pkg_counts[g].get(package_of[src], 0) + n
    total = {g: max(1, sum(pkg_counts[g].values())) for g in targets}
    test_pkgs: set[str] = set()

    def share(h: str, pkgs: set[str]) -> float:
        return sum(n for p, n in pkg_counts[h].items() if p in pkgs) / total[h]

    def allowed(g: str, cand: set[str], p: str) -> bool:
        for h in targets:
            if p not in pkg_counts[h]:
                continue
            if share(h, cand) >= 1.0:
                return False  # h would keep nothing for train
            limit = max(test_fraction * 1.3 if h == g else max_loss, share(h, test_pkgs))
            if share(h, cand) > limit and not (h == g and share(g, test_pkgs) == 0 and share(g, cand) <= max_loss):
                return False
        return True

    how: dict[str, str] = {}
    for g in sorted((g for g in targets if len(pkg_counts[g]) >= 2), key=lambda g: (len(pkg_counts[g]), g)):
        pkgs = sorted(pkg_counts[g])
        for p in (pkgs[i] for i in rng.permutation(len(pkgs))):
            if share(g, test_pkgs) >= test_fraction:
                break
            if p not in test_pkgs and allowed(g, test_pkgs | {p}, p):
                test_pkgs.add(p)
    split: dict[str, str] = {}
    for g in sorted(groups):
        for src in groups[g]:
            if package_of[src] in test_pkgs:
                split[src] = "test"
    rest = {g: {s: n for s, n in groups[g].items() if s not in split} for g in sorted(groups)}
    by_source = {g: srcs for g, srcs in rest.items()
                 if g not in ROLE_GROUPS and srcs and share(g, test_pkgs) == 0}
    legacy, legacy_how = assign_splits(by_source, seed, val_fraction, test_fraction)
    split.update({s: sp for s, sp in legacy.items() if s not in split})
    for g in sorted(groups):
        if g in by_source:
            how[g] = f"no test package possible: by source, not package-disjoint ({legacy_how.get(g, '')})"
            continue
        srcs = {s: n for s, n in rest[g].items() if s not in split}
        for s in _pick_val(srcs, rng, val_fraction):
            split[s] = "val"
        for s in srcs:
            split.setdefault(s, "train")
        tp = sorted({package_of[s] for s in groups[g] if split[s] == "test"})
        how[g] = f"test by package ({len(tp)} of {len({package_of[s] for s in groups[g]})}: {', '.join(tp)}); " \
                 "val by source"
    return split, how

__all__ = ["BuildConfig", "Event", "assign_package_splits", "assign_splits", "build_real_bank", "decode_member", "process_rule"]

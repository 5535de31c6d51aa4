"""The real-sound bank builder (seld-bank build-real) on a tiny fake .deb built here with dpkg-deb, plus its parts:
container parsers on synthetic containers, the F0 gender rule, segmentation and piece rejection. No network."""
from __future__ import annotations

import gzip
import io
import shutil
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")

from seld_ros.data.manifest import read_manifest  # noqa: E402
from seld_ros.data.realbank import dsp  # noqa: E402
from seld_ros.data.realbank.build import (  # noqa: E402
    BuildConfig, assign_package_splits, assign_splits, build_real_bank)
from seld_ros.data.realbank.containers import (C4_HEADER_SIZE, C4_ID, ContainerError, c4_scramble,  # noqa: E402
                                               c4_unscramble, open_container, read_c4group, read_opensfx_cat,
                                               read_rcc)
from seld_ros.data.realbank.decode import ToolMissingError, decode_bytes, require_tool  # noqa: E402
from seld_ros.data.realbank.fetch import DebCache  # noqa: E402
from seld_ros.data.realbank.mapping import MappingError, load_mapping  # noqa: E402
from seld_ros.data.realbank.midi import write_smf  # noqa: E402

SR = 24000
needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb not installed")


def voiced(f0: float, seconds: float = 2.5, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Harmonic complex with a slight vibrato and syllable-like amplitude modulation."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 15))
    env = 0.55 + 0.45 * np.sin(2 * np.pi * 3 * t) ** 2
    return (0.25 * x * env / np.max(np.abs(x)) + 0.002 * rng.standard_normal(len(t))).astype(np.float32)


def wav_bytes(x: np.ndarray, sr: int = SR, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    b = io.BytesIO()
    sf.write(b, x, sr, format=fmt, subtype=subtype)
    return b.getvalue()


# ------------------------------------------------------------------ F0 gender rule
@pytest.mark.parametrize("f0, gender", [(110.0, "male"), (220.0, "female"), (165.0, "")])
def test_gender_by_median_f0(f0, gender):
    d = dsp.speech_gender(voiced(f0))
    assert d.gender == gender
    assert d.f0_hz == pytest.approx(f0, rel=0.03)
    if not gender:
        assert d.reason == "ambiguous_f0"


def test_unvoiced_signal_is_dropped_for_too_little_voicing():
    noise = np.random.default_rng(1).standard_normal(SR * 2).astype(np.float32) * 0.1
    d = dsp.speech_gender(noise)
    assert d.gender == "" and d.reason == "too_little_voicing"


# ------------------------------------------------------------------ segmentation and rejection
def test_long_signal_is_cut_into_1_to_8_s_pieces_at_quiet_points():
    rng = np.random.default_rng(0)
    x = voiced(180.0, 40.0)
    x[::SR // 2][:] = 0  # not silent anywhere, quiet points exist only in the modulation
    pieces = dsp.cut_at_quiet_points(x, rng)
    lens = [len(p) / SR for p in pieces]
    assert len(pieces) >= 5
    assert all(1.0 <= n <= 8.0 for n in lens), lens
    assert sum(len(p) for p in pieces) >= len(x) - SR  # only a leftover under 1 s may be dropped
    assert dsp.cut_at_quiet_points(x[: SR // 2], rng) == []  # shorter than 1 s: nothing


def test_clipped_and_silent_pieces_are_rejected():
    t = np.arange(SR * 2) / SR
    clipped = np.clip(3 * np.sin(2 * np.pi * 200 * t), -1, 1).astype(np.float32)
    q = dsp.check_piece(clipped)
    assert not q.ok and q.reason == "clipped" and q.clipped_fraction > 0.3
    q = dsp.check_piece(np.zeros(SR, np.float32) + 1e-5)
    assert not q.ok and q.reason == "silent"
    assert dsp.check_piece(voiced(200.0)).ok


def test_loudness_normalise_hits_the_target_on_active_frames():
    x = np.concatenate([np.zeros(SR, np.float32), 0.01 * voiced(200.0, 1.0)])
    y = dsp.loudness_normalise(x, -23.0)
    act = y[SR:]
    assert 10 * np.log10(np.mean(act.astype(np.float64) ** 2)) == pytest.approx(-23.0, abs=1.5)
    assert np.max(np.abs(y)) <= 0.95 + 1e-6


# ------------------------------------------------------------------ containers
def test_zip_container(tmp_path):
    p = tmp_path / "a.pk3"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("sound/x.wav", b"abc")
        z.writestr("sound/dir/", b"")
    m = open_container(p)
    assert list(m) == ["sound/x.wav"] and m["sound/x.wav"]() == b"abc"


def _rcc(files: dict[str, tuple[bytes, bool]], version: int = 2) -> bytes:
    """A Qt rcc bundle: root -> dir 'res' -> files (optionally zlib-compressed, qCompress style)."""
    names = bytearray()
    name_off = {}

    def add_name(n):
        name_off[n] = len(names)
        names.extend(struct.pack(">HI", len(n), 0) + n.encode("utf-16-be"))

    add_name("res")
    for n in files:
        add_name(n)
    data = bytearray()
    data_off = {}
    for n, (blob, comp) in files.items():
        payload = struct.pack(">I", len(blob)) + zlib.compress(blob) if comp else blob
        data_off[n] = len(data)
        data.extend(struct.pack(">I", len(payload)) + payload)
    node = 14 if version == 1 else 22
    pad = b"" if version == 1 else b"\0" * 8
    tree = bytearray()
    tree += struct.pack(">IHII", 0, 2, 1, 1) + pad  # root: 1 child at index 1
    tree += struct.pack(">IHII", name_off["res"], 2, len(files), 2) + pad
    for n, (_b, comp) in files.items():
        tree += struct.pack(">IHHHI", name_off[n], 1 if comp else 0, 0, 0, data_off[n]) + pad
    assert len(tree) == node * (2 + len(files))
    head = 20
    tree_off, data_start = head, head + len(tree)
    names_off = data_start + len(data)
    head = b"qres" + struct.pack(">IIII", version, tree_off, data_start, names_off)
    return head + bytes(tree) + bytes(data) + bytes(names)


@pytest.mark.parametrize("version", [1, 2])
def test_rcc_container(version):
    m = read_rcc(_rcc({"a.ogg": (b"hello" * 50, True), "b.wav": (b"plain", False)}, version))
    assert sorted(m) == ["res/a.ogg", "res/b.wav"]
    assert m["res/a.ogg"]() == b"hello" * 50 and m["res/b.wav"]() == b"plain"
    with pytest.raises(ContainerError, match="qres"):
        read_rcc(b"nope" + b"\0" * 30)


def _c4_raw(entries: list[tuple[str, bytes, bool]]) -> bytes:
    head = bytearray(C4_HEADER_SIZE)
    head[: len(C4_ID)] = C4_ID
    struct.pack_into("<iii", head, 28, 1, 2, len(entries))
    table, body = bytearray(), bytearray()
    for name, blob, child in entries:
        e = bytearray(316)
        e[: len(name)] = name.encode()
        struct.pack_into("<iiiii", e, 260, 0, 1 if child else 0, len(blob), len(blob), len(body))
        table += e
        body += blob
    return c4_scramble(bytes(head)) + bytes(table) + bytes(body)


def test_c4group_container_with_child_group(tmp_path):
    child = _c4_raw([("Laughter1.wav", b"LAUGH", False)])
    raw = _c4_raw([("Door.wav", b"DOOR", False), ("Skin.ocg", child, True)])
    packed = gzip.compress(raw)
    p = tmp_path / "Sound.ocg"
    p.write_bytes(b"\x1e\x8c" + packed[2:])
    m = open_container(p)
    assert sorted(m) == ["Door.wav", "Skin.ocg/Laughter1.wav"]
    assert m["Skin.ocg/Laughter1.wav"]() == b"LAUGH" and m["Door.wav"]() == b"DOOR"
    assert c4_unscramble(c4_scramble(b"abcdefgh")) == b"abcdefgh"
    with pytest.raises(ContainerError):
        read_c4group(b"\x1e\x8c" + b"garbage")


def test_opensfx_cat_container_masks_bit_31():
    entries = [(b'"Applause". by x. License: CC-BY-3.0\0', b"RIFF1"), (b'"Bee"\0', b"RIFF2")]
    blobs = [bytes([len(n)]) + n + w for n, w in entries]  # length byte, name (NUL-terminated), RIFF data
    table, off = bytearray(), 8 * len(blobs)
    for b in blobs:
        table += struct.pack("<II", off | 0x80000000, len(b))
        off += len(b)
    m = read_opensfx_cat(bytes(table) + b"".join(blobs))
    assert list(m) == ["0_applause.wav", "1_bee.wav"]
    assert m["0_applause.wav"]() == b"RIFF1" and m["1_bee.wav"]() == b"RIFF2"
    with pytest.raises(ContainerError):
        read_opensfx_cat(b"\x03\0\0\0abcd")


# ------------------------------------------------------------------ tools, mapping, midi
def test_missing_tool_names_the_apt_get_line():
    with pytest.raises(ToolMissingError, match="apt-get install -y some-pkg"):
        require_tool("seld-no-such-tool-xyz", "some-pkg")


def test_mapping_errors(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("rules:\n  - {id: a, package: p, paths: [x], class: noSuchClass}\n")
    with pytest.raises(MappingError, match="unknown class"):
        load_mapping(p)
    p.write_text("rules:\n  - {id: a, package: p, paths: [x], class: bell, role: distractor}\n")
    with pytest.raises(MappingError, match="exactly one"):
        load_mapping(p)
    p.write_text("rules:\n  - {id: a, package: p, paths: [x], class: femaleSpeech, kind: speech}\n")
    with pytest.raises(MappingError, match="gender"):
        load_mapping(p)


def test_repo_mapping_loads_and_uses_only_listed_packages():
    m = load_mapping(Path(__file__).resolve().parents[1] / "config/real_bank/mapping.yaml")
    sources = (Path("/work/shared/real_sound_sources.md"))
    assert len(m.rules) > 50
    assert {r.class_name for r in m.rules if r.role == "target"} == {
        "femaleSpeech", "maleSpeech", "clapping", "telephone", "laughter", "domesticSounds", "footsteps",
        "doorCupboard", "music", "musicInstrument", "waterTap", "bell", "knock"}
    if sources.is_file():  # the survey this mapping was reviewed against (not shipped with the repo)
        text = sources.read_text()
        assert all(p in text for p in m.packages)


def test_smf_writer_header_and_events(tmp_path):
    p = write_smf(tmp_path / "a.mid", [(0.0, 0.5, 60, 100), (0.5, 0.5, 64, 90)], program=14)
    b = p.read_bytes()
    assert b[:4] == b"MThd" and b[14:18] == b"MTrk"
    assert bytes([0xC0, 14]) in b and bytes([0x90, 60, 100]) in b and bytes([0x80, 64, 0]) in b
    with pytest.raises(ValueError):
        write_smf(tmp_path / "b.mid", [], program=200)


# ------------------------------------------------------------------ splits
def test_assign_splits_source_disjoint_and_each_big_class_has_val_and_test():
    groups = {"bell": {f"s{i}": 10 for i in range(8)}, "knock": {"k1": 5, "k2": 9}, "laughter": {"l": 3}}
    split, how = assign_splits(groups, seed=0)
    bell = [split[f"s{i}"] for i in range(8)]
    assert {"train", "val", "test"} <= set(bell)
    assert split["k1"] == "test" and split["k2"] == "train" and split["l"] == "train"
    assert "no val" in how["knock"] and "train only" in how["laughter"]
    assert assign_splits(groups, seed=0) == (split, how)  # deterministic



def test_package_splits_never_share_a_package_between_test_and_train():
    # telephone: 4 packages (two sources in pkgA); speech: 3 packages, one (pkgA) shared with telephone;
    # knock: one package only; distractors: one source in pkgA, others in packages no class uses
    groups = {
        "telephone": {"pkgA:ring1": 4, "pkgA:ring2": 4, "pkgB:r": 3, "pkgC:r": 3, "pkgD:r": 6},
        "femaleSpeech": {"pkgA:voice": 20, "pkgE:v1": 15, "pkgE:v2": 15, "pkgF:v": 10},
        "knock": {"pkgK:a": 5, "pkgK:b": 5, "pkgK:c": 5},
        "distractor": {"pkgA:noise": 2, "pkgZ:noise": 3, "pkgY:noise": 3, "pkgX:noise": 3},
    }
    package_of = {s: s.split(":")[0] for g in groups.values() for s in g}
    split, how = assign_package_splits(groups, package_of, seed=0)
    assert set(split) == set(package_of)
    test_packages = {package_of[s] for s, sp in split.items() if sp == "test"} - {"pkgK"}
    assert test_packages
    for src, sp in split.items():  # a package in test is never in train or val
        assert (package_of[src] in test_packages) == (sp == "test") or package_of[src] == "pkgK", src
    for g in ("telephone", "femaleSpeech"):
        assert {"test", "train"} <= {split[s] for s in groups[g]}, g
        assert how[g].startswith("test by package")
    assert "not package-disjoint" in how["knock"]  # one package: split by source inside it, and said so
    assert {split[s] for s in groups["knock"]} == {"train", "val", "test"}
    assert split["pkgA:noise"] == split["pkgA:voice"] or "pkgA" not in test_packages
    assert assign_package_splits(groups, package_of, seed=0) == (split, how)  # deterministic


def test_phone_speaker_playback_removes_the_bass_and_keeps_the_ring_band():
    from seld_ros.data.realbank.dsp import SR, through_phone_speaker
    t = np.arange(SR) / SR
    low, ring = np.sin(2 * np.pi * 80 * t), np.sin(2 * np.pi * 1000 * t)
    y_low, y_ring = through_phone_speaker(0.5 * low), through_phone_speaker(0.5 * ring)
    rms = lambda x: float(np.sqrt(np.mean(x[SR // 4:] ** 2)))  # noqa: E731  (after the filter's onset)
    assert rms(y_ring) > 0.25 and rms(y_low) < 0.1 * rms(y_ring)
    assert np.max(np.abs(y_ring)) <= 0.6  # peak-matched soft clipping: no louder than the band-passed file


def test_mapping_refuses_an_unknown_playback(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("packages: [x]\nrules:\n- {id: a, package: x, paths: [a.wav], class: telephone, playback: radio}\n")
    with pytest.raises(MappingError, match="playback"):
        load_mapping(p)

# ------------------------------------------------------------------ the builder on a fake .deb
MAPPING = """
packages: [fake-sounds]
rules:
  - id: speech
    package: fake-sounds
    paths: ["usr/share/fake/voice/*.wav"]
    class: femaleSpeech
    kind: speech
    gender: auto
    source: "{package}:{stem}"
  - id: ring
    package: fake-sounds
    paths: ["usr/share/fake/pak.pk3::sound/ring*.wav"]
    class: telephone
    source: "{package}:{stem}"
  - id: music
    package: fake-sounds
    paths: ["usr/share/fake/music/*.wav"]
    class: music
  - id: steps
    package: fake-sounds
    paths: ["usr/share/fake/step*.wav"]
    class: footsteps
    kind: steps
    derive: 3
  - id: bad
    package: fake-sounds
    paths: ["usr/share/fake/bad/*.wav"]
    class: bell
  - id: noise
    package: fake-sounds
    paths: ["usr/share/fake/noise.*"]
    role: distractor
"""


def _make_deb(root: Path) -> Path:
    pkg = root / "pkg"
    fake = pkg / "usr/share/fake"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN/control").write_text("Package: fake-sounds\nVersion: 1.2-3\nArchitecture: all\n"
                                        "Maintainer: t <t@example.org>\nDescription: test sounds\n")
    doc = pkg / "usr/share/doc/fake-sounds"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
                                   "Files: *\nCopyright: someone\nLicense: GPL-2+\n\nFiles: music/*\n"
                                   "Copyright: other\nLicense: CC-BY-3.0\n")
    (fake / "voice").mkdir(parents=True)
    for i, f0 in enumerate((105, 112, 120, 210, 225, 240, 165)):
        sf.write(fake / f"voice/v{i}_{f0}.wav", voiced(f0, 2.5, 16000, seed=i), 16000)
    (fake / "music").mkdir()
    t = np.arange(30 * 22050) / 22050
    tune = 0.3 * np.sin(2 * np.pi * 330 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.7 * t) ** 2)
    sf.write(fake / "music/tune.wav", tune.astype(np.float32), 22050)
    step = np.zeros(int(0.3 * 44100), np.float32)
    step[:800] = np.random.default_rng(3).standard_normal(800) * np.exp(-np.arange(800) / 150)
    sf.write(fake / "step1.wav", step * 0.5, 44100)
    (fake / "bad").mkdir()
    sf.write(fake / "bad/clipped.wav", np.clip(3 * np.sin(2 * np.pi * 440 * t[:44100]), -1, 1), 22050)
    sf.write(fake / "bad/silent.wav", np.zeros(22050, np.float32), 22050)
    noise = (0.1 * np.random.default_rng(4).standard_normal(SR * 2)).astype(np.float32)
    try:
        sf.write(fake / "noise.ogg", noise, SR, format="OGG", subtype="VORBIS")
    except Exception:  # a libsndfile without vorbis: fall back to wav
        sf.write(fake / "noise.wav", noise, SR)
    with zipfile.ZipFile(fake / "pak.pk3", "w") as z:
        for k in range(3):
            tt = np.arange(SR * 2) / SR
            ring = 0.3 * np.sin(2 * np.pi * (440 + 40 * k) * tt) * (np.sin(2 * np.pi * 20 * tt) > 0)
            z.writestr(f"sound/ring{k}.wav", wav_bytes(ring.astype(np.float32)))
    deb = root / "fake-sounds_1.2-3_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(pkg), str(deb)], check=True,
                   capture_output=True)
    return deb


@pytest.fixture(scope="module")
def built_bank(tmp_path_factory):
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb not installed")
    root = tmp_path_factory.mktemp("realbank")
    deb = _make_deb(root)
    cache = root / "cache"
    (cache / "debs").mkdir(parents=True)
    shutil.copy(deb, cache / "debs" / deb.name)
    mp = root / "mapping.yaml"
    mp.write_text(MAPPING)

    def no_download(package, dest):
        raise AssertionError(f"the test must not download ({package})")

    logs = []
    cfg = BuildConfig(out=root / "bank", cache=cache, mapping=load_mapping(mp), seed=0, log=logs.append)
    info = build_real_bank(cfg, DebCache(cache, downloader=no_download))
    return root / "bank", info, logs, cfg


@needs_dpkg
def test_fake_deb_manifest_contents(built_bank):
    bank, info, _logs, _cfg = built_bank
    recs = read_manifest(bank)
    by_class = {}
    for r in recs:
        by_class.setdefault(r.class_name or r.role, []).append(r)
    # speech: 3 male + 3 female speakers kept by F0, the 165 Hz one dropped
    males, females = by_class["maleSpeech"], by_class["femaleSpeech"]
    assert len(males) == 3 and len(females) == 3
    assert all(r.f0_hz < 155 for r in males) and all(r.f0_hz > 175 for r in females)
    assert info["dropped"]["speech_ambiguous_f0"] == 1
    # zip member named with '::'
    rings = by_class["telephone"]
    assert len(rings) == 3 and all(r.member.startswith("usr/share/fake/pak.pk3::sound/ring") for r in rings)
    # licence from the copyright file's 'Files: *' stanza, version from the control file
    assert all(r.licence.startswith("GPL-2+") and r.package_version == "1.2-3" for r in recs)
    # long file cut into 1-8 s pieces
    music = by_class["music"]
    assert len(music) >= 4 and all(1.0 <= r.duration_s <= 8.0 for r in music)
    # walks from a single step
    steps = by_class["footsteps"]
    assert len(steps) == 3 and all("walk" in r.note for r in steps) and all(r.duration_s > 1.5 for r in steps)
    # clipped and silent files rejected, counted
    assert "bell" not in by_class
    assert info["dropped"]["clipped"] == 1 and info["dropped"]["silent"] >= 1
    # distractor rows carry no class
    d = by_class["distractor"]
    assert len(d) == 1 and d[0].class_name == "" and d[0].member.startswith("usr/share/fake/noise.")
    # files on disk: 24 kHz mono 16-bit, durations as in the manifest
    for r in recs:
        inf = sf.info(bank / r.clip)
        assert inf.samplerate == 24000 and inf.channels == 1 and inf.subtype == "PCM_16"
        assert inf.frames / 24000 == pytest.approx(r.duration_s, abs=1e-3)
    assert (bank / "counts.json").is_file() and (bank / "build_info.json").is_file()
    assert info["packages"]["fake-sounds"]["version"] == "1.2-3"


@needs_dpkg
def test_fake_deb_splits_are_source_disjoint(built_bank):
    bank, *_ = built_bank
    recs = read_manifest(bank)  # read_manifest itself refuses a source in two splits
    by_src = {}
    for r in recs:
        by_src.setdefault(r.source, set()).add(r.split)
    assert all(len(s) == 1 for s in by_src.values())
    for cls in ("maleSpeech", "femaleSpeech", "telephone"):  # 3 sources each -> train, val and test
        assert {r.split for r in recs if r.class_name == cls} == {"train", "val", "test"}


@needs_dpkg
def test_fake_deb_rebuild_uses_the_cache(built_bank):
    bank, info, _logs, cfg = built_bank
    logs = []
    cfg.log = logs.append
    info2 = build_real_bank(cfg, DebCache(cfg.cache, downloader=lambda p, d: (_ for _ in ()).throw(AssertionError)))
    assert any("(cached)" in m for m in logs)
    assert len(list((cfg.cache / "rules").glob("*.npz"))) == len(cfg.mapping.rules)  # one cached result per rule
    assert info2["clips"] == info["clips"]
    assert not any(p.name.startswith("bank.tmp-") or p.name.startswith("bank.old-") for p in bank.parent.iterdir())


def test_decode_gsm_needs_sox_or_says_so(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ToolMissingError, match="apt-get install -y sox"):
        decode_bytes(b"\0" * 330, ".gsm")


def test_unclipped_spans_cut_around_clipping():
    from seld_ros.data.realbank.build import _unclipped_spans

    mask = np.zeros(6 * SR, bool)
    mask[3 * SR:3 * SR + 100] = True
    spans = _unclipped_spans(mask, SR)
    assert len(spans) == 2
    for a, b in spans:
        assert not mask[a:b].any() and b - a >= SR
    assert _unclipped_spans(np.ones(SR * 3, bool), SR) == []


@pytest.mark.parametrize("extra, match", [(["--classes", "noSuchClass"], "unknown"),
                                          (["--packages", "no-such-pkg"], "not in the mapping"),
                                          (["--max-clips-per-source", "0"], ">= 1")])
def test_cli_refuses_bad_options(tmp_path, capsys, extra, match):
    from seld_ros.cli.bank import main

    assert main(["build-real", str(tmp_path / "bank"), "--cache", str(tmp_path / "c"), *extra]) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "bank").exists()

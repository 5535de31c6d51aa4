"""Real-sound scenes: the RealBank reader, mixed banks, distractors, diffuse ambience, absolute levels, split
hygiene of seld-synth (issue 14, consumer side). Banks are tiny, written on the spot (test/bank_helpers.py)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seld_ros.data.bank import FolderBank, MixedBank, ProceduralBank, RealBank, make_bank
from seld_ros.data.labels import LabelError
from seld_ros.data.manifest import read_manifest
from seld_ros.data.synth import (
    REF_LEVEL_DBFS,
    SynthConfig,
    diffuse_ambience,
    generate_split,
    render_scene,
    room_from_id,
)

from bank_helpers import TARGETS, make_tiny_bank  # noqa: E402


@pytest.fixture(scope="module")
def bank_dir(tmp_path_factory):
    return make_tiny_bank(tmp_path_factory.mktemp("bank"))


# ------------------------------------------------------------------------------------------- the reader
def test_real_bank_filters_by_split_and_draws_each_class(bank_dir):
    recs = {r.clip: r for r in read_manifest(bank_dir)}
    for split in ("train", "val", "test"):
        bank = RealBank(bank_dir, split)
        assert bank.class_names == tuple(c for c in bank.class_names if c in TARGETS) and set(bank.class_names) == set(TARGETS)
        assert len(bank.distractors) == 2 and len(bank.ambiences) == 1
        rng = np.random.default_rng(0)
        for c in bank.class_names:
            for _ in range(4):
                x, info = bank.draw_info(c, rng)
                assert x.dtype == np.float32 and x.ndim == 1 and np.abs(x).max() > 0.1
                assert info["role"] == "target" and info["class"] == c and info["split"] == split
                assert recs[info["clip"]].split == split and recs[info["clip"]].class_name == c
        x, info = bank.draw_distractor(rng)
        assert info["role"] == "distractor" and recs[info["clip"]].split == split and x.size > 0
        x, info = bank.draw_ambience(rng)
        assert info["role"] == "ambience" and recs[info["clip"]].split == split


def test_real_bank_bad_inputs(tmp_path, bank_dir):
    with pytest.raises(LabelError, match="split must be one of"):
        RealBank(bank_dir, "dev")
    with pytest.raises(LabelError, match="no manifest.csv"):
        RealBank(tmp_path, "test")
    with pytest.raises(LabelError, match="no clips for class 'bell'"):
        RealBank(bank_dir, "test").draw("bell", np.random.default_rng(0))
    only_train = make_tiny_bank(tmp_path / "b2", splits=("train",))
    with pytest.raises(LabelError, match="no clips in split 'test'"):
        RealBank(only_train, "test")
    # a clip listed but missing on disk
    (only_train / "clips" / "train" / "target_telephone_0.wav").unlink()
    bank = RealBank(only_train, "train", class_names=("telephone",))
    with pytest.raises(LabelError, match="missing"):
        for k in range(20):
            bank.draw("telephone", np.random.default_rng(k))
    # no distractors / ambience in a bank without them
    b3 = make_tiny_bank(tmp_path / "b3", distractors=0, ambiences=0)
    with pytest.raises(LabelError, match="no distractor clips"):
        RealBank(b3, "train").draw_distractor(np.random.default_rng(0))
    with pytest.raises(LabelError, match="no ambience clips"):
        RealBank(b3, "train").draw_ambience(np.random.default_rng(0))


def test_make_bank_specs(tmp_path, bank_dir):
    assert isinstance(make_bank("procedural"), ProceduralBank)
    assert isinstance(make_bank(None), ProceduralBank)
    assert isinstance(make_bank(f"real:{bank_dir}", split="val"), RealBank)
    assert isinstance(make_bank(str(bank_dir), split="val"), RealBank)  # a folder with a manifest
    m = make_bank(f"mix:{bank_dir}:0.25", split="train")
    assert isinstance(m, MixedBank) and m.real_ratio == 0.25 and m.real.split == "train"
    assert make_bank(f"mix:{bank_dir}:0.25", split="train", real_ratio=0.5).real_ratio == 0.5
    assert isinstance(make_bank(f"real:{bank_dir}", split="train", real_ratio=0.5), MixedBank)
    with pytest.raises(LabelError, match="needs a split"):
        make_bank(f"real:{bank_dir}")
    with pytest.raises(LabelError, match="RATIO 'abc' is not a number"):
        make_bank(f"mix:{bank_dir}:abc", split="train")
    with pytest.raises(LabelError, match=r"expected mix:DIR:RATIO"):
        make_bank("mix:0.5", split="train")
    with pytest.raises(LabelError, match=r"real_ratio must be in \[0, 1\]"):
        make_bank(f"mix:{bank_dir}:1.5", split="train", real_ratio=-0.1)
    folder = tmp_path / "fold" / "telephone"
    folder.mkdir(parents=True)
    from seld_ros.data.dcase import write_wav
    write_wav(folder / "a.wav", np.ones((1, 2400), np.float32) * 0.1)
    fb = make_bank(str(tmp_path / "fold"))
    assert isinstance(fb, FolderBank) and fb.class_names == ("telephone",)
    x, info = fb.draw_info("telephone", np.random.default_rng(0))
    assert info["clip"].endswith("a.wav") and info["bank"] == "folder"
    assert np.array_equal(x, fb.draw("telephone", np.random.default_rng(0)))
    with pytest.raises(LabelError, match="needs a real bank"):
        make_bank(str(tmp_path / "fold"), real_ratio=0.5)


def test_mixed_bank_ratio_and_fill(tmp_path):
    root = make_tiny_bank(tmp_path, splits=("train",), classes=("telephone",))
    bank = make_bank(f"mix:{root}:0.7", split="train")
    rng = np.random.default_rng(1)
    n = 600
    real = sum(bank.draw_info("telephone", rng)[1]["bank"] == "real" for _ in range(n))
    assert abs(real / n - 0.7) < 0.06  # binomial sd 0.019
    # a class the real split lacks comes from the procedural bank, always
    assert all(bank.draw_info("bell", rng)[1]["bank"] == "procedural" for _ in range(30))
    assert set(bank.class_names) == set(ProceduralBank().class_names)
    zero = make_bank(f"mix:{root}:0", split="train")
    assert all(zero.draw_info("telephone", rng)[1]["bank"] == "procedural" for _ in range(30))


# ------------------------------------------------------------------------------------------- scenes
def test_distractor_only_scene_has_no_labels_but_sound(bank_dir):
    cfg = SynthConfig(duration_s=6.0, targets=False, distractors_per_min=40.0, level_db=(-10.0, 10.0))
    scene = render_scene(room_from_id(20001, cfg), cfg, np.random.default_rng(3), RealBank(bank_dir, "test"))
    roles = [s["role"] for s in scene.sources]
    assert roles and set(roles) == {"distractor"}
    assert not scene.labels.active.any() and scene.labels.num_frames == 60
    assert float(np.sqrt(np.mean(scene.foa[0] ** 2))) > 1e-3  # distractors and ambience are heard
    assert scene.ambience and all(a["role"] == "ambience" for a in scene.ambience)
    # the distractors are point sources: rendering the same plan without them changes the audio
    cfg0 = SynthConfig(duration_s=6.0, targets=False, distractors_per_min=0.0, level_db=(-10.0, 10.0))
    quiet = render_scene(room_from_id(20001, cfg0), cfg0, np.random.default_rng(3), RealBank(bank_dir, "test"))
    assert not quiet.sources and np.mean(quiet.foa[0] ** 2) < 0.5 * np.mean(scene.foa[0] ** 2)


def test_distractors_are_not_labelled_next_to_targets(bank_dir):
    cfg = SynthConfig(duration_s=8.0, distractors_per_min=30.0, level_db=(-5.0, 5.0))
    scene = render_scene(room_from_id(5, cfg), cfg, np.random.default_rng(0), RealBank(bank_dir, "train"))
    targets = [s for s in scene.sources if s["role"] == "target"]
    assert targets and any(s["role"] == "distractor" for s in scene.sources)
    labelled = {scene.labels.class_names[c] for c in scene.labels.class_id[scene.labels.active]}
    assert labelled == {s["class"] for s in targets}


def test_level_randomisation_within_range(bank_dir):
    cfg = SynthConfig(duration_s=10.0, level_db=(-20.0, 20.0), distractors_per_min=12.0, snr_db=None)
    levels = []
    bank = RealBank(bank_dir, "train")
    for seed in range(4):
        scene = render_scene(room_from_id(seed, cfg), cfg, np.random.default_rng(seed), bank)
        for ev in scene.events:
            act = np.concatenate([ev.signal[max(0, k * 2400 - ev.start):max(0, (k + 1) * 2400 - ev.start)]
                                  for k in ev.frames])
            measured = 20 * np.log10(np.sqrt(np.mean(act ** 2)))
            assert measured == pytest.approx(ev.level_db, abs=0.01)
            levels.append(ev.level_db - REF_LEVEL_DBFS)
        assert scene.gain <= 1.0 and np.abs(scene.foa).max() <= 0.99 + 1e-6
    levels = np.array(levels)
    assert levels.min() >= -20 and levels.max() <= 20 and len(levels) >= 10
    assert levels.max() - levels.min() > 25  # spread over the range, not bunched
    with pytest.raises(ValueError, match="LO <= HI"):
        SynthConfig(level_db=(10.0, -10.0))
    with pytest.raises(ValueError, match="ambience_dirs"):
        SynthConfig(ambience_dirs=4)


@pytest.mark.parametrize("dirs", [0, 8])
def test_ambience_is_diffuse(bank_dir, dirs):
    bank = RealBank(bank_dir, "test")
    n = 24000 * 8
    amb, infos = diffuse_ambience(bank, np.random.default_rng(0), n, dirs)
    assert amb.shape == (4, n) and infos and all(i["split"] == "test" for i in infos)
    w = amb[0]
    pw = np.mean(w ** 2)
    assert pw == pytest.approx(1.0, rel=1e-3)
    for ch in (1, 2, 3):
        assert np.mean(amb[ch] ** 2) / pw == pytest.approx(1 / 3, rel=0.1)  # SN3D diffuse-field ratio
        # intensity: mean W * dipole near zero (a plane wave would give |IV| = 1 along its direction)
        assert abs(np.mean(w * amb[ch])) / pw < 0.05
    # and low W-dipole coherence: the dipoles are not copies of W
    for ch in (1, 2, 3):
        c = np.corrcoef(w, amb[ch])[0, 1]
        assert abs(c) < 0.1
    # short-time intensity vectors point everywhere: their mean over 100 ms blocks is small
    iv = np.stack([(w * amb[ch]).reshape(-1, 2400).mean(axis=1) for ch in (3, 1, 2)], axis=1)
    e = (w ** 2).reshape(-1, 2400).mean(axis=1)
    assert np.linalg.norm((iv / e[:, None]).mean(axis=0)) < 0.1


def test_test_split_scenes_only_use_test_clips_and_stereo_works(tmp_path, bank_dir):
    cfg = SynthConfig(duration_s=6.0, level_db=(-20.0, 20.0), distractors_per_min=20.0)
    summary = generate_split(tmp_path, "test", 2, cfg, seed=1, bank=f"real:{bank_dir}", stereo=True, progress=False)
    assert summary["bank_split"] == "test" and summary["events"] > 0 and summary["distractors"] > 0
    assert summary["ambience_clips"] >= 2 and summary["real_events"] == summary["events"]
    split_of = {r.clip: r.split for r in read_manifest(bank_dir)}
    infos = sorted((tmp_path / "sources_test").glob("*.json"))
    assert len(infos) == 2
    used = []
    for p in infos:
        d = json.loads(p.read_text())
        assert d["bank_split"] == "test"
        used += [(s["clip"], s["role"]) for s in d["sources"]] + [(a["clip"], a["role"]) for a in d["ambience"]]
    roles = {r for _, r in used}
    assert roles == {"target", "distractor", "ambience"}
    assert all(split_of[c] == "test" for c, _ in used)
    assert len(list((tmp_path / "stereo_test").glob("*.wav"))) == 2
    assert len(list((tmp_path / "metadata_stereo_test").glob("*.csv"))) == 2
    # the bank split can be chosen; an odd output split name needs it
    generate_split(tmp_path / "o", "extra", 1, cfg, bank=f"real:{bank_dir}", bank_split="val",
                   rooms_from="10000:10010", progress=False)
    d = json.loads(next((tmp_path / "o" / "sources_extra").glob("*.json")).read_text())
    assert all(split_of[s["clip"]] == "val" for s in d["sources"])
    with pytest.raises(ValueError, match="needs a split"):
        generate_split(tmp_path / "o2", "extra", 1, cfg, bank=f"real:{bank_dir}", rooms_from="0:5", progress=False)


def test_procedural_scenes_are_unchanged_by_the_real_sound_options():
    """The procedural path draws the same random numbers as before (no distractors, no ambience)."""
    cfg = SynthConfig(duration_s=5.0)
    a = render_scene(room_from_id(3, cfg), cfg, np.random.default_rng(7))
    b = render_scene(room_from_id(3, cfg), cfg, np.random.default_rng(7), ProceduralBank())
    assert np.array_equal(a.foa, b.foa) and not a.ambience
    assert all(s["role"] == "target" and s["bank"] == "procedural" for s in a.sources)
    assert 0.3 <= np.abs(a.foa).max() <= 0.8 + 1e-6


def test_seld_synth_cli_real_bank(tmp_path, bank_dir, capsys):
    from seld_ros.cli.synth import main

    rc = main(["--out", str(tmp_path / "d"), "--split", "val", "--num-scenes", "1", "--duration", "4",
               "--bank", f"mix:{bank_dir}:0.5", "--level-db", "-20", "20", "--no-progress"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["scenes"] == 1
    d = json.loads(next((tmp_path / "d" / "sources_val").glob("*.json")).read_text())
    assert d["real_ratio"] is None and d["bank"].startswith("mix:")
    assert main(["--out", str(tmp_path / "e"), "--num-scenes", "1", "--bank", f"real:{tmp_path / 'nope'}",
                 "--no-progress"]) == 2
    assert "no manifest.csv" in capsys.readouterr().err
    assert main(["--out", str(tmp_path / "f"), "--num-scenes", "1", "--no-targets", "--no-progress"]) == 2
    assert "neither distractors nor ambience" in capsys.readouterr().err
    assert main(["--out", str(tmp_path / "g"), "--num-scenes", "1", "--level-db", "5", "-5", "--no-progress"]) == 2

"""DCASE SELD metrics against hand-computed expectations, plus the seld-score CLI."""
# (Identical directions score ~0.0008 deg, not 0: the official code adds 1e-10 under the norm square root.)
from __future__ import annotations

import math

import numpy as np
import pytest

from seld_ros.classes import STARSS23_CLASSES as C
from seld_ros.cli.score import main as score_main
from seld_ros.data.labels import SceneLabels
from seld_ros.metrics.seld import MetricsError, SeldEvaluator, score_scenes

FS, CL, MU = 0, 2, 8  # femaleSpeech, clapping, music


def ref_rows():
    # femaleSpeech at az 0 el 0, 2 m in frames 0-9; clapping at az 90 el 10, 1 m in frames 0-4
    rows = [(f, FS, 0, 0.0, 0.0, 2.0) for f in range(10)]
    rows += [(f, CL, 0, 90.0, 10.0, 1.0) for f in range(5)]
    return rows


def lab(rows, n=10):
    return SceneLabels.from_rows(sorted(rows, key=lambda r: r[0]), C, num_frames=n)


def score(pred_rows, ref=None, **kw):
    return score_scenes([lab(ref or ref_rows())], [lab(pred_rows)], **kw)


def test_perfect_prediction():
    s = score(ref_rows())
    assert s.micro["f"] == pytest.approx(1.0) and s.micro["doa_error"] == pytest.approx(0.0, abs=2e-3)
    assert s.micro["loc_recall"] == pytest.approx(1.0) and s.micro["rel_dist_error"] == pytest.approx(0.0, abs=1e-6)
    assert s.micro["error_rate"] == pytest.approx(0.0)
    # classes absent from the reference: macro F and LR over all 13 classes are capped at 2/13
    assert s.classes_present == 2
    assert s.macro["f"] == pytest.approx(2 / 13) and s.macro["loc_recall"] == pytest.approx(2 / 13)
    assert s.macro["doa_error"] == pytest.approx(0.0, abs=2e-3)  # nanmean over classes with matches
    # SELD per class: present = mean(0, 0, 0) = 0; absent = mean(1 - 0) = 1 -> macro 11/13
    assert s.macro["seld"] == pytest.approx(11 / 13)
    assert s.counts["tp"][FS] == 10 and s.counts["tp"][CL] == 5 and s.counts["n_ref"].sum() == 15


def test_rotated_25_degrees_all_spatial_fp():
    pred = [(f, c, s, az + 25.0, el, d) for f, c, s, az, el, d in ref_rows()]
    s = score(pred)
    assert s.counts["tp"].sum() == 0 and s.counts["fp_spatial"].sum() == 15
    assert s.micro["f"] == pytest.approx(0.0, abs=1e-9)
    assert s.doa_error[FS] == pytest.approx(25.0, abs=1e-4)
    # at el 10 deg a 25 deg azimuth rotation is a great-circle angle of arccos(sin^2 10 + cos^2 10 cos 25)
    e = math.radians(10)
    expect = math.degrees(math.acos(math.sin(e) ** 2 + math.cos(e) ** 2 * math.cos(math.radians(25))))
    assert s.doa_error[CL] == pytest.approx(expect, abs=1e-4) and expect == pytest.approx(24.62, abs=0.01)
    assert s.micro["doa_error"] == pytest.approx((10 * 25 + 5 * expect) / 15, abs=1e-4)
    assert s.micro["loc_recall"] == pytest.approx(1.0)  # matched, just not close enough
    # 15 deg is inside the 20 deg threshold
    pred15 = [(f, c, s, az + 15.0, el, d) for f, c, s, az, el, d in ref_rows()]
    assert score(pred15).micro["f"] == pytest.approx(1.0)


def test_one_extra_false_positive():
    s = score(ref_rows() + [(3, 5, 0, 45.0, 0.0, 1.0)])
    assert s.counts["fp"][5] == 1 and s.counts["fp"].sum() == 1
    assert s.micro["f"] == pytest.approx(15 / (15 + 0.5 * 1))
    assert s.f[5] == 0.0 and s.macro["f"] == pytest.approx(2 / 13)
    assert s.micro["error_rate"] == pytest.approx(1 / 15)  # one insertion


def test_one_missed_track():
    s = score([r for r in ref_rows() if r[1] != CL])
    assert s.counts["fn"][CL] == 5 and s.f[CL] == 0.0 and s.loc_recall[CL] == pytest.approx(0.0)
    assert s.micro["f"] == pytest.approx(10 / (10 + 0.5 * 5))
    assert s.micro["loc_recall"] == pytest.approx(10 / 15)
    assert math.isnan(s.doa_error[CL]) and s.macro["doa_error"] == pytest.approx(0.0, abs=2e-3)
    assert s.micro["error_rate"] == pytest.approx(5 / 15)  # five deletions


def test_same_class_overlapping_tracks_swapped():
    ref = [(f, MU, 0, 30.0, 0.0, 1.0) for f in range(5)] + [(f, MU, 1, -60.0, 0.0, 3.0) for f in range(5)]
    # predictions list the tracks in the other order and with swapped source ids
    pred = [(f, MU, 0, -60.0, 0.0, 3.0) for f in range(5)] + [(f, MU, 1, 30.0, 0.0, 1.0) for f in range(5)]
    s = score(pred, ref=ref)
    assert s.counts["tp"][MU] == 10 and s.counts["fp_spatial"][MU] == 0
    assert s.doa_error[MU] == pytest.approx(0.0, abs=2e-3) and s.rel_dist_error[MU] == pytest.approx(0.0, abs=1e-6)
    # only one of the two tracks predicted: 5 TP, 5 FN
    s1 = score([r for r in pred if r[2] == 1], ref=ref)
    assert s1.counts["tp"][MU] == 5 and s1.counts["fn"][MU] == 5


def test_empty_prediction():
    s = score([])
    assert s.micro["f"] == 0.0 and s.macro["f"] == 0.0 and s.counts["fn"].sum() == 15
    assert math.isnan(s.micro["doa_error"]) and math.isnan(s.macro["doa_error"])
    assert s.micro["loc_recall"] == pytest.approx(0.0)
    assert s.macro["seld"] == pytest.approx(1.0)  # every class: mean(1 - F) = 1
    assert s.micro["error_rate"] == pytest.approx(1.0)


def test_prediction_of_class_absent_from_reference():
    s = score(ref_rows() + [(f, 11, 0, 0.0, 0.0, 2.0) for f in range(4)])
    assert s.counts["n_ref"][11] == 0 and s.counts["fp"][11] == 4 and s.f[11] == 0.0
    assert s.macro["f"] == pytest.approx(2 / 13)


def test_distance_threshold_and_no_distance():
    pred = [(f, c, s, az, el, d * 2.5) for f, c, s, az, el, d in ref_rows()]  # relative error 1.5 > 1
    s = score(pred)
    assert s.counts["fp_spatial"].sum() == 15 and s.micro["rel_dist_error"] == pytest.approx(1.5, rel=1e-6)
    assert s.dist_error[FS] == pytest.approx(3.0, rel=1e-6)  # |5 - 2| m
    s2 = score(pred, eval_dist=False)
    assert s2.micro["f"] == pytest.approx(1.0) and math.isnan(s2.micro["rel_dist_error"])
    nodist = [(f, c, s, az, el, float("nan")) for f, c, s, az, el, _ in ref_rows()]
    with pytest.raises(MetricsError, match="prediction has no distance"):
        score(nodist)


def test_official_frame_count_drops_last_frame():
    s = score(ref_rows(), official_frame_count=True)
    assert s.counts["n_ref"][FS] == 9 and s.num_frames == 9


def test_segment_level_2023():
    ev = SeldEvaluator(13, mode="dcase2023", class_names=C)
    ev.update(lab(ref_rows(), 20), lab(ref_rows(), 20))
    s = ev.compute()
    # one 1 s block holds the events; each class counts one reference track for the block
    assert s.counts["n_ref"][FS] == 1 and s.counts["tp"][FS] == 1 and s.counts["tp"][CL] == 1
    assert s.micro["f"] == pytest.approx(1.0) and s.doa_error[FS] == pytest.approx(0.0, abs=2e-3)
    assert s.doa_error[5] == 180.0  # classes without matches count 180 deg in the segment metric
    rot = [(f, c, so, az + 25.0, el, d) for f, c, so, az, el, d in ref_rows()]
    ev = SeldEvaluator(13, mode="dcase2023", class_names=C)
    ev.update(lab(ref_rows(), 20), lab(rot, 20))
    s = ev.compute()
    assert s.counts["fp_spatial"][FS] == 1 and s.doa_error[FS] == pytest.approx(25.0, abs=1e-4)
    # prediction in the same block but in frames the reference does not cover: counted as FN (official quirk)
    late = [(f, CL, 0, 90.0, 10.0, 1.0) for f in range(6, 9)]
    ev = SeldEvaluator(13, mode="dcase2023", class_names=C)
    ev.update(lab([r for r in ref_rows() if r[1] == CL], 20), lab(late, 20))
    s = ev.compute()
    assert s.counts["fn"][CL] == 1 and s.counts["tp"][CL] == 0
    with pytest.raises(MetricsError, match="do not score distance"):
        SeldEvaluator(13, mode="dcase2023", eval_dist=True)


def test_stereo_2025_folded_azimuth():
    ref = [(f, 4, 0, 120.0, 30.0, 2.0) for f in range(5)]  # behind-left -> folds to 60, elevation ignored
    for az, tp in ((60.0, 5), (80.0, 5), (85.0, 0), (120.0, 5), (-60.0, 0)):
        s = score([(f, 4, 0, az, 0.0, 2.0) for f in range(5)], ref=ref, mode="dcase2025")
        assert s.counts["tp"][4] == tp, az
    s = score([(f, 4, 0, 85.0, 0.0, 2.0) for f in range(5)], ref=ref, mode="dcase2025")
    assert s.doa_error[4] == pytest.approx(25.0)


def test_stereo_2025_front_back_mirror_and_elevation_do_not_count():
    # behind at 110 deg folds to 70: a prediction at 70 is exact in 2025 and 40 deg off in 2024; an elevation of
    # 60 deg is ignored in 2025 (azimuth only) and a 60 deg error in 2024
    ref = [(f, 4, 0, 110.0, 0.0, 2.0) for f in range(5)] + [(f, 8, 0, 0.0, 60.0, 2.0) for f in range(5)]
    pred = [(f, 4, 0, 70.0, 0.0, 2.0) for f in range(5)] + [(f, 8, 0, 0.0, 0.0, 2.0) for f in range(5)]
    s25 = score(pred, ref=ref, mode="dcase2025")
    assert s25.counts["tp"][4] == 5 and s25.counts["tp"][8] == 5 and s25.micro["f"] == pytest.approx(1.0)
    assert s25.micro["doa_error"] == pytest.approx(0.0, abs=1e-9)
    s24 = score(pred, ref=ref, mode="dcase2024")
    assert s24.counts["tp"].sum() == 0 and s24.counts["fp_spatial"].sum() == 10
    assert s24.doa_error[4] == pytest.approx(40.0, abs=1e-3) and s24.doa_error[8] == pytest.approx(60.0, abs=1e-3)


def test_stereo_2025_distance_threshold_rde_and_f():
    ref = [(f, 4, 0, 30.0, 0.0, 2.0) for f in range(10)]
    # 5 deg off; 3.9 m vs 2 m: relative error 0.95 (inside 1.0) -> TP; 4.5 m: 1.25 -> spatial FP
    near = score([(f, 4, 0, 35.0, 0.0, 3.9) for f in range(10)], ref=ref, mode="dcase2025")
    assert near.counts["tp"][4] == 10 and near.rel_dist_error[4] == pytest.approx(0.95, rel=1e-6)
    assert near.dist_error[4] == pytest.approx(1.9, rel=1e-6) and near.doa_error[4] == pytest.approx(5.0)
    far = score([(f, 4, 0, 35.0, 0.0, 4.5) for f in range(10)], ref=ref, mode="dcase2025")
    assert far.counts["tp"][4] == 0 and far.counts["fp_spatial"][4] == 10 and far.f[4] == pytest.approx(0.0)
    assert far.rel_dist_error[4] == pytest.approx(1.25, rel=1e-6)
    # 6 of 10 frames found (TP 6, FN 4) plus 2 frames of a class not in the reference (FP 2):
    # F(class 4) = 6 / (6 + 0.5 * 4) = 0.75; micro F = 6 / (6 + 0.5 * (2 + 4)) = 2/3
    pred = [(f, 4, 0, 30.0, 0.0, 2.0) for f in range(6)] + [(f, 9, 0, 0.0, 0.0, 1.0) for f in (8, 9)]
    part = score(pred, ref=ref, mode="dcase2025")
    assert part.f[4] == pytest.approx(0.75) and part.f[9] == pytest.approx(0.0)
    assert part.micro["f"] == pytest.approx(2 / 3) and part.macro["f"] == pytest.approx(0.75 / 13)


def test_stereo_2025_two_sources_of_one_class_matched_on_folded_azimuth():
    # two speakers at 40 and -40 deg; predictions at 140 (folds to 40) and -45: Hungarian on folded azimuths pairs
    # 40<->140 (0 deg) and -40<->-45 (5 deg): 2 TPs per frame, DOAE 2.5 deg
    ref = sorted([(f, 0, 0, 40.0, 0.0, 1.0) for f in range(4)] + [(f, 0, 1, -40.0, 0.0, 3.0) for f in range(4)])
    pred = sorted([(f, 0, 0, -45.0, 0.0, 3.0) for f in range(4)] + [(f, 0, 1, 140.0, 0.0, 1.0) for f in range(4)])
    s = score(pred, ref=ref, mode="dcase2025")
    assert s.counts["tp"][0] == 8 and s.counts["fp_spatial"][0] == 0
    assert s.doa_error[0] == pytest.approx(2.5) and s.rel_dist_error[0] == pytest.approx(0.0, abs=1e-9)


def _write(d, name, text):
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(text)


def test_cli_units_and_table(tmp_path, capsys):
    ref = tmp_path / "ref" / "dev-test"
    _write(ref, "a.csv", "0,0,0,0,0,200\n1,0,0,0,0,200\n")
    _write(ref, "b.csv", "0,2,0,90,0,100\n")
    pred = tmp_path / "pred"
    _write(pred, "a.csv", "0,0,0,5,0,2.0\n1,0,0,0,0,2.1\n")  # metres
    assert score_main([str(tmp_path / "ref"), str(pred)]) == 2
    assert "--pred-distance-unit" in capsys.readouterr().err
    # metres declared as cm: rejected with a readable message instead of scoring nonsense
    assert score_main([str(tmp_path / "ref"), str(pred), "--pred-distance-unit", "cm"]) == 2
    assert "look like metres" in capsys.readouterr().err
    js = tmp_path / "s.json"
    assert score_main([str(tmp_path / "ref"), str(pred), "--pred-distance-unit", "m", "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "femaleSpeech" in out and "macro" in out and "micro" in out and "1 scored as empty" in out
    import json
    d = json.loads(js.read_text())
    assert d["per_class"]["femaleSpeech"]["tp"] == 2 and d["per_class"]["clapping"]["fn"] == 1
    assert d["micro"]["f"] == pytest.approx(2 / (2 + 0.5))
    _write(pred, "zzz.csv", "0,0,0,0,0,2\n")
    assert score_main([str(tmp_path / "ref"), str(pred), "--pred-distance-unit", "m"]) == 2
    assert "without a reference" in capsys.readouterr().err

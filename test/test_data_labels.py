"""SceneLabels, geometry helpers and the DCASE format readers/writers, on small hand-written CSVs."""
from __future__ import annotations

import math

import numpy as np
import pytest

from seld_ros.classes import STARSS23_CLASSES
from seld_ros.data.dcase import (TAU2019_CLASSES, format_dcase2024, parse_labels, read_labels, write_labels)
from seld_ros.data.geometry import (angular_distance_deg, azel_to_xyz, fold_azimuth, xyz_to_azel)
from seld_ros.data.labels import LabelError, SceneLabels


def test_azel_xyz_roundtrip_and_axes():
    np.testing.assert_allclose(azel_to_xyz(0, 0), [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(azel_to_xyz(90, 0), [0, 1, 0], atol=1e-12)  # +y is left
    np.testing.assert_allclose(azel_to_xyz(0, 90), [0, 0, 1], atol=1e-12)
    az = np.array([-170.0, -45, 0, 30, 179])
    el = np.array([-40.0, 0, 10, 60, -89])
    a, e = xyz_to_azel(azel_to_xyz(az, el))
    np.testing.assert_allclose(a, az, atol=1e-9)
    np.testing.assert_allclose(e, el, atol=1e-9)
    assert angular_distance_deg(azel_to_xyz(10, 0), azel_to_xyz(35, 0)) == pytest.approx(25.0)


def test_fold_azimuth():
    np.testing.assert_allclose(fold_azimuth([0, 60, 90, 120, 180, -120, -179]), [0, 60, 90, 60, 0, -60, -1])


def test_from_rows_to_rows_and_slicing():
    rows = [(0, 0, 0, 10.0, 5.0, 1.5), (0, 0, 1, -90.0, 0.0, 2.0), (2, "knock", 0, 170.0, -20.0, float("nan"))]
    lab = SceneLabels.from_rows(rows, STARSS23_CLASSES)
    assert lab.num_frames == 3 and lab.max_events == 2
    assert lab.class_id.dtype == np.int16 and lab.source_id.dtype == np.int32
    assert lab.doa.dtype == np.float32 and lab.doa.shape == (3, 2, 3)
    assert lab.active.sum() == 3 and not lab.active[1].any()
    assert lab.class_id[2, 0] == STARSS23_CLASSES.index("knock")
    assert math.isnan(lab.distance[2, 0]) and math.isnan(lab.distance[1, 0])
    back = lab.to_rows()
    assert [r[:3] for r in back] == [(0, 0, 0), (0, 0, 1), (2, 12, 0)]
    assert back[1][3] == pytest.approx(-90.0, abs=1e-4) and back[0][5] == pytest.approx(1.5)
    s = lab[1:5]
    assert s.num_frames == 4 and s.active.sum() == 1 and s.class_id[1, 0] == 12  # padded past the end
    assert lab.event_counts()["femaleSpeech"] == 2 and lab.event_counts()["knock"] == 1


@pytest.mark.parametrize("rows,msg", [
    ([(0, "whistle", 0, 0, 0, 1)], "unknown class name 'whistle'"),
    ([(0, 13, 0, 0, 0, 1)], "class index 13 out of range"),
    ([(0, 0, 0, 0, 120, 1)], "elevation 120.0 deg outside"),
    ([(-1, 0, 0, 0, 0, 1)], "negative frame"),
    ([(0, 0, 0, 0, 0)], "expected 6 fields"),
])
def test_from_rows_errors(rows, msg):
    with pytest.raises(LabelError, match=msg):
        SceneLabels.from_rows(rows, STARSS23_CLASSES)


def test_read_dcase2024_cm_to_m(tmp_path):
    p = tmp_path / "fold3_room4_mix001.csv"
    p.write_text("0,1,0,-50,10,250\n0,1,1,30,-5,120\n3,9,0,175,0,80\n")
    lab = read_labels(p)
    assert lab.num_frames == 4 and lab.max_events == 2
    assert lab.distance[0, 0] == pytest.approx(2.5) and lab.distance[3, 0] == pytest.approx(0.8)
    a, e = xyz_to_azel(lab.doa[0, 0])
    assert (a, e) == (pytest.approx(-50), pytest.approx(10))
    # writer round trip, integer degrees and cm as DCASE does
    assert format_dcase2024(lab) == p.read_text()
    lab_m = read_labels(p, distance_unit="cm", num_frames=10)
    assert lab_m.num_frames == 10


def test_read_dcase2022_2020_direction_only(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("5,3,0,20,10\n5,3,1,-20,10\n6,3,0,21,10\n")
    for fmt in ("auto", "dcase2022", "dcase2020"):
        lab = read_labels(p, fmt=fmt)
        assert lab.num_frames == 7 and np.isnan(lab.distance).all()
        assert lab.active.sum() == 3 and lab.source_id[5, 1] == 1


def test_read_dcase2025_stereo_header(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("frame,class,source,azimuth,distance,onscreen\n0,4,0,-30,150,1\n2,4,0,85,152,0\n")
    lab = read_labels(p)
    assert lab.num_frames == 3
    a, e = xyz_to_azel(lab.doa[2, 0])
    assert a == pytest.approx(85) and e == pytest.approx(0)
    assert lab.distance[0, 0] == pytest.approx(1.5)
    out = tmp_path / "o.csv"
    write_labels(out, lab, fmt="dcase2025")
    assert out.read_text().splitlines()[1:] == ["0,4,0,-30,150,0", "2,4,0,85,152,0"]


def test_read_tau2019_events_to_frames(tmp_path):
    p = tmp_path / "split1_ir0_ov1_1.csv"
    p.write_text("sound_event_recording,start_time,end_time,ele,azi,dist\n"
                 "clearthroat113.wav,0.05,0.31,-10,50,2\n"
                 "knock,0.2,0.4,20,-170,1\n")
    lab = read_labels(p)
    assert lab.class_names == TAU2019_CLASSES
    # clearthroat overlaps frames 0..3 ([0.05, 0.31) touches frame 3 = [0.3, 0.4)), knock frames 2..3
    ct = TAU2019_CLASSES.index("clearthroat")
    assert [int((lab.class_id[f] == ct).sum()) for f in range(4)] == [1, 1, 1, 1]
    kn = TAU2019_CLASSES.index("knock")
    assert [int((lab.class_id[f] == kn).sum()) for f in range(4)] == [0, 0, 1, 1]
    f, s = np.argwhere(lab.class_id == ct)[0]
    a, e = xyz_to_azel(lab.doa[f, s])
    assert a == pytest.approx(50) and e == pytest.approx(-10)  # ele/azi column order respected
    assert lab.distance[f, s] == pytest.approx(2.0)  # metres
    assert lab.source_id[2, :2].tolist() == [0, 1]


def test_read_pred_formats():
    lab = parse_labels("0,2,30,10\n0,2,-30,10\n")
    assert lab.max_events == 2 and np.isnan(lab.distance).all()
    lab = parse_labels("1,0,0,0.0,2.0,0.0,1.25\n", distance_unit="m")
    a, e = xyz_to_azel(lab.doa[1, 0])
    assert a == pytest.approx(90) and e == pytest.approx(0) and lab.distance[1, 0] == pytest.approx(1.25)


@pytest.mark.parametrize("text,kw,msg", [
    ("0,1,0,10,0\n0,1,0,10,0,100\n", {}, "expects 5 columns, got 6"),
    ("0,1,0,ten,0,100\n", {}, "non-numeric"),
    ("0,99,0,10,0,100\n", {}, "class index 99 out of range"),
    ("0,1,0,10,0,250\n", {"distance_unit": "m"}, "look like centimetres"),
    ("0,1,0,10,0,2\n0,1,0,10,0,3\n", {"distance_unit": "cm"}, "look like metres"),
    ("0,1,0,10,0,100\n", {"distance_unit": "mm"}, "distance_unit must be"),
    ("sound_event_recording,start_time,end_time,ele,azi,dist\nwhistle001.wav,0,1,0,0,1\n", {}, "unknown class"),
    ("0,1,0,10,0,100\n", {"fmt": "dcase1999"}, "unknown format"),
])
def test_reader_errors(text, kw, msg):
    with pytest.raises(LabelError, match=msg):
        parse_labels(text, **kw)


def test_writer_rejects_nan_distance(tmp_path):
    lab = SceneLabels.from_rows([(0, 0, 0, 0, 0, float("nan"))], STARSS23_CLASSES)
    with pytest.raises(LabelError, match="NaN"):
        write_labels(tmp_path / "x.csv", lab)

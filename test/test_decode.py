"""TrackDecoder: thresholds, DOA, same-class merging, both output layouts."""
import math

import numpy as np
import pytest

from seld_ros.decode import Event, TrackDecoder

NAMES = ["a", "b", "c"]


def _logit(p):
    return math.log(p / (1 - p))


def test_trackwise_decode_and_merge():
    L, N, K = 2, 3, 3
    act = np.full((L, N, K), -10.0)
    doa = np.tile(np.array([1.0, 0, 0]), (L, N, 1))
    # frame 0: track 0 class 1 (p=.9, +x), track 1 class 1 (p=.7, 5 deg away) -> merged
    act[0, 0, 1] = _logit(0.9)
    act[0, 1, 1] = _logit(0.7)
    doa[0, 1] = [math.cos(math.radians(5)), math.sin(math.radians(5)), 0]
    # frame 0: track 2 class 1 far away (+y) -> separate event
    act[0, 2, 1] = _logit(0.8)
    doa[0, 2] = [0, 2.0, 0]  # not unit: decoder normalises
    # frame 1: class 2 below its threshold, class 0 above
    act[1, 0, 2] = _logit(0.6)
    act[1, 1, 0] = _logit(0.6)
    dist = np.full((L, N), 2.0)
    dec = TrackDecoder(NAMES, [0.5, 0.5, 0.65], "trackwise", merge_angle_deg=20)
    fr = dec.decode({"activity_logits": act, "doa": doa, "distance": dist})
    assert len(fr) == 2
    ev0 = sorted(fr[0], key=lambda e: -e.confidence)
    assert [e.class_name for e in ev0] == ["b", "b"]
    assert ev0[0].confidence == pytest.approx(0.9)
    assert ev0[0].doa[1] > 0 and np.degrees(np.arccos(ev0[0].doa[0])) < 5
    assert np.allclose(ev0[1].doa, [0, 1, 0], atol=1e-6)
    assert ev0[0].distance == pytest.approx(2.0)
    assert [e.class_id for e in fr[1]] == [0]
    assert isinstance(fr[1][0], Event)
    assert fr[1][0].azimuth == pytest.approx(0.0)


def test_multi_accdoa_decode():
    L, N, K = 1, 3, 3
    acc = np.zeros((L, N, K, 3))
    acc[0, 0, 2] = [0, 0, 0.8]   # active, straight up
    acc[0, 1, 2] = [0, 0.05, 0.7]  # same class, ~4 deg away -> merged
    acc[0, 2, 0] = [0.3, 0, 0]   # below threshold
    dec = TrackDecoder(NAMES, 0.5, "multi_accdoa", merge_angle_deg=15)
    fr = dec.decode({"accdoa": acc})
    assert len(fr[0]) == 1
    e = fr[0][0]
    assert e.class_id == 2 and e.confidence == pytest.approx(0.8)
    assert e.elevation == pytest.approx(math.pi / 2, abs=0.05)
    assert math.isnan(e.distance)


def test_threshold_count_mismatch():
    with pytest.raises(ValueError):
        TrackDecoder(NAMES, [0.5, 0.5], "trackwise")

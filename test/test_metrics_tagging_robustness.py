"""Clip-level mAP (seld-pretrain-at) and the real-sound benchmark's frame checks (class-correct rate, gain
consistency, false event-frames), on hand-made cases with known answers."""
from __future__ import annotations

import math

import numpy as np
import pytest

from seld_ros.data.labels import SceneLabels
from seld_ros.metrics.robustness import (
    class_correct_counts,
    class_correct_rate,
    event_frames_per_10s,
    gain_consistency,
)
from seld_ros.metrics.tagging import average_precision, mean_average_precision

NAMES = ("a", "b", "c")


def test_average_precision_hand_made():
    assert average_precision([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]) == 1.0
    # ranks: pos, neg, pos -> (1/1 + 2/3) / 2
    assert average_precision([1, 0, 1], [0.9, 0.5, 0.1]) == pytest.approx((1 + 2 / 3) / 2)
    # worst order: positive last of four
    assert average_precision([0, 0, 0, 1], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(0.25)
    # ties count as one threshold: all four tied -> precision 2/4 at full recall
    assert average_precision([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.5)
    assert math.isnan(average_precision([0, 0], [0.1, 0.2]))
    with pytest.raises(ValueError, match="shape"):
        average_precision([1, 0], [0.1])
    with pytest.raises(ValueError, match="finite"):
        average_precision([1, 0], [np.nan, 0.1])


def test_mean_average_precision_skips_classes_without_positives():
    Y = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0]])
    S = np.array([[0.9, 0.1, 0.3], [0.2, 0.8, 0.9], [0.7, 0.9, 0.1], [0.1, 0.2, 0.5]])
    m, per = mean_average_precision(Y, S, NAMES)
    assert per["a"] == 1.0 and per["b"] == pytest.approx(0.5) and per["c"] is None
    assert m == pytest.approx(0.75)
    with pytest.raises(ValueError, match="clips, classes"):
        mean_average_precision(Y, S[:, :2])
    with pytest.raises(ValueError, match="class names"):
        mean_average_precision(Y, S, NAMES[:2])


def labels(rows, t=4):
    """rows: (frame, class, azimuth deg)."""
    return SceneLabels.from_rows([(f, c, k, az, 0.0, 1.0) for k, (f, c, az) in enumerate(rows)], NAMES,
                                 num_frames=t)


def test_class_correct_rate_hand_made():
    ref = labels([(0, 0, 0), (1, 0, 0), (2, 1, 90), (3, 2, -90)])
    pred = labels([
        (0, 0, 10),     # right class, 10 deg off: matched, correct
        (1, 1, 5),      # wrong class in the right direction: matched, wrong
        (2, 1, 150),    # right class, wrong direction: not matched
        (3, 0, -80), (3, 2, -85),  # one wrong, one right near the reference: correct
    ])
    rate, n = class_correct_rate([ref], [pred])
    assert n == 3 and rate == pytest.approx(2 / 3)
    matched, correct = class_correct_counts([ref], [pred])
    assert matched.tolist() == [2, 0, 1] and correct.tolist() == [1, 0, 1]
    # the threshold is an angle: frame 2's prediction is 60 deg off, inside a 70 deg threshold
    assert class_correct_rate([ref], [pred], doa_threshold=70.0) == (pytest.approx(3 / 4), 4)
    empty = SceneLabels.empty(4, NAMES)
    rate, n = class_correct_rate([ref], [empty])
    assert n == 0 and math.isnan(rate)
    with pytest.raises(ValueError, match="references but"):
        class_correct_rate([ref], [])
    other = SceneLabels.empty(4, ("x", "y", "z"))
    with pytest.raises(ValueError, match="class lists differ"):
        class_correct_rate([ref], [other])


def test_gain_consistency_hand_made():
    a = labels([(0, 0, 0), (1, 1, 0), (2, 0, 0), (2, 1, 40)])
    same_sets_other_dirs = labels([(0, 0, 90), (1, 1, 0), (2, 1, 0), (2, 0, 80)])
    one_more = labels([(0, 0, 0), (1, 1, 0), (1, 2, 0), (2, 0, 0), (2, 1, 0)])
    assert gain_consistency([[a], [same_sets_other_dirs]]) == 1.0
    # frame 1 differs (extra class); frames 0, 2, 3 agree (3 is empty in both)
    assert gain_consistency([[a], [a], [one_more]]) == pytest.approx(3 / 4)
    # two scenes pool their frames; a shorter prediction is cut
    assert gain_consistency([[a, a], [one_more, a.with_num_frames(2)]]) == pytest.approx(5 / 6)
    with pytest.raises(ValueError, match="two gains"):
        gain_consistency([[a]])
    with pytest.raises(ValueError, match="every scene"):
        gain_consistency([[a, a], [a]])


def test_event_frames_per_10s():
    p = labels([(0, 0, 0), (0, 1, 90), (3, 2, 0)], t=50)  # 3 event-frames in 5 s
    assert event_frames_per_10s([p]) == pytest.approx(6.0)
    assert event_frames_per_10s([p, SceneLabels.empty(50, NAMES)]) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        event_frames_per_10s([])

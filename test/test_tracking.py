"""Tracker behaviour on synthetic trajectories (ROS-free)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from seld_ros.tracking import Detection, Tracker, TrackerConfig


def azel(az_deg, el_deg=0.0):
    a, e = math.radians(az_deg), math.radians(el_deg)
    return np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])


def az_of(v):
    return math.degrees(math.atan2(v[1], v[0]))


def run(tracker, frames):
    return [tracker.update(dets, i) for i, dets in enumerate(frames)]


@pytest.mark.parametrize("seed", range(8))
def test_crossing_sources_of_the_same_class_keep_their_ids(seed):
    # two footsteps sources walking towards each other at 4 deg/frame, crossing at frame 15,
    # with a little direction noise (without the velocity model about half of these swap ids)
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(30):
        a = -60 + 4 * t + rng.normal(0, 1.0)
        b = 60 - 4 * t + rng.normal(0, 1.0)
        dets = [Detection(6, 0.9, azel(a, 1)), Detection(6, 0.8, azel(b, -1))]
        rng.shuffle(dets)
        frames.append(dets)
    out = run(Tracker(TrackerConfig(birth_frames=2, beta=0.3)), frames)
    assert all(len(o) == 2 for o in out[1:])
    ids_start = {round(az_of(e.doa)) < 0: e.track_id for e in out[3]}  # True: the one starting at -60
    ids_end = {round(az_of(e.doa)) > 0: e.track_id for e in out[-1]}  # True: now on the left side
    # the track that started on the right (negative azimuth) is the one that ends on the left
    assert ids_start[True] == ids_end[True] and ids_start[False] == ids_end[False]
    assert len({e.track_id for o in out for e in o}) == 2


def test_brief_pause_keeps_the_id_and_a_long_one_does_not():
    cfg = TrackerConfig(birth_frames=2, death_frames=5)
    tr = Tracker(cfg)
    talk = [[Detection(0, 0.9, azel(30))]]
    frames = talk * 10 + [[]] * 3 + talk * 5  # 300 ms pause
    out = run(tr, frames)
    ids = {e.track_id for o in out for e in o}
    assert len(ids) == 1
    assert out[10] == [] and out[12] == []  # nothing published while silent
    tr2 = Tracker(cfg)
    out2 = run(tr2, talk * 10 + [[]] * 8 + talk * 5)  # 800 ms pause: a new utterance, a new id
    ids2 = [e.track_id for o in out2 for e in o]
    assert len(set(ids2)) == 2 and ids2[-1] > ids2[0]


def test_new_source_gets_new_id_and_classes_never_share_a_track():
    tr = Tracker(TrackerConfig(birth_frames=1))
    a = tr.update([Detection(3, 0.9, azel(0))], 0)
    b = tr.update([Detection(3, 0.9, azel(0)), Detection(12, 0.7, azel(1))], 1)
    c = tr.update([Detection(3, 0.9, azel(0)), Detection(12, 0.7, azel(1)), Detection(3, 0.6, azel(120))], 2)
    assert len(a) == 1 and len(b) == 2 and len(c) == 3
    ids = {(e.class_id, round(az_of(e.doa))): e.track_id for e in c}
    assert ids[(3, 0)] == a[0].track_id
    assert len(set(ids.values())) == 3
    assert ids[(3, 120)] > ids[(12, 1)] > ids[(3, 0)]


def test_birth_needs_consecutive_hits_and_blips_are_suppressed():
    # weak detections (below confirm_confidence) need birth_frames consecutive hits
    tr = Tracker(TrackerConfig(birth_frames=3))
    frames = [[Detection(1, 0.4, azel(10))], [], [Detection(1, 0.4, azel(10))], [Detection(1, 0.4, azel(10))],
              [Detection(1, 0.4, azel(10))]]
    out = run(tr, frames)
    assert [len(o) for o in out] == [0, 0, 0, 0, 1]
    # confirm_confidence above 1 restores the plain birth rule for confident detections too
    tr = Tracker(TrackerConfig(birth_frames=3, confirm_confidence=2.0))
    out = run(tr, [[Detection(1, 0.9, azel(10))]] * 3)
    assert [len(o) for o in out] == [0, 0, 1]


def test_a_track_is_published_from_the_frame_its_sound_starts_and_weak_blips_stay_suppressed():
    """Default tracker: no publication lag for a sound the network is sure of (confirmed at its first
    frame, first_frame = onset), while a one-frame false alarm below confirm_confidence is never published
    and a weak onset is published from its second frame (the birth rule)."""
    cfg = TrackerConfig()
    assert cfg.birth_frames == 2 and 0.0 < cfg.confirm_confidence <= 1.0
    tr = Tracker(cfg)
    onset = 4
    frames = [[] for _ in range(onset)]
    frames += [[Detection(0, 0.45 + 0.1 * (t == 0), azel(30 + t))] for t in range(6)]  # speech: 0.55 at onset
    frames += [[]] * 6
    frames[1] = [Detection(7, 0.35, azel(-90))]  # one-frame false alarm, weak: never published
    frames[12] = [Detection(10, 0.35, azel(150))]  # weak onset (a faint tap): two frames ...
    frames[13] = [Detection(10, 0.35, azel(150))]  # ... published from the second one
    out = run(tr, frames)
    published = [t for t, o in enumerate(out) if any(e.class_id == 0 for e in o)]
    assert published == list(range(onset, onset + 6))  # from the frame the sound starts, no lag
    first = next(e for e in out[onset] if e.class_id == 0)
    assert first.first_frame == onset and first.age_frames == 1
    assert not any(e.class_id == 7 for o in out for e in o)
    assert [t for t, o in enumerate(out) if any(e.class_id == 10 for e in o)] == [13]
    # the old rule (confirm_confidence off) publishes the same speech one frame late
    late = run(Tracker(TrackerConfig(confirm_confidence=2.0)), frames)
    assert [t for t, o in enumerate(late) if any(e.class_id == 0 for e in o)] == list(range(onset + 1, onset + 6))


def test_gate_rejects_far_detection_and_smoothing_reduces_jitter():
    tr = Tracker(TrackerConfig(birth_frames=1, gate_deg=20, alpha=0.3, beta=0.0))
    rng = np.random.default_rng(1)
    errs_raw, errs_trk = [], []
    for t in range(60):
        noisy = 40 + rng.normal(0, 4.0)
        out = tr.update([Detection(2, 0.9, azel(noisy))], t)
        if t > 10:
            errs_raw.append(abs(noisy - 40))
            errs_trk.append(abs(az_of(out[0].doa) - 40))
    assert np.mean(errs_trk) < 0.6 * np.mean(errs_raw)
    first_id = out[0].track_id
    out = tr.update([Detection(2, 0.9, azel(100))], 61)  # beyond the gate: a new track
    assert out[0].track_id != first_id


def test_distance_and_confidence_are_smoothed_and_nan_distance_is_kept_unknown():
    tr = Tracker(TrackerConfig(birth_frames=1, confidence_alpha=0.5, distance_alpha=0.5))
    tr.update([Detection(0, 1.0, azel(0), 2.0)], 0)
    out = tr.update([Detection(0, 0.5, azel(0), 4.0)], 1)
    assert out[0].confidence == pytest.approx(0.75) and out[0].distance == pytest.approx(3.0)
    tr2 = Tracker(TrackerConfig(birth_frames=1))
    assert math.isnan(tr2.update([Detection(0, 1.0, azel(0))], 0)[0].distance)


@pytest.mark.parametrize("kwargs", [dict(gate_deg=0), dict(birth_frames=0), dict(alpha=1.5), dict(beta=1.0),
                                    dict(confirm_confidence=-0.1)])
def test_nonsense_configuration_is_rejected(kwargs):
    with pytest.raises(ValueError, match="tracker"):
        Tracker(TrackerConfig(**kwargs))

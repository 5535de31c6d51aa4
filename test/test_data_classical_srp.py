"""Classical array localizer: SRP-PHAT and MUSIC (pyroomacoustics) on the tetrahedral A-format path.

Anechoic, noise-free tetra scenes rendered by the scene generator (image-source direct path through the real capsule
geometry, converted to FOA and back to A-format), oracle source counts from the labels.

Tolerances: the search grid is a 2000-point Fibonacci sphere whose covering radius is 3.2 deg (the largest distance
from any direction to its nearest grid point), and the labels are rounded to integer degrees (< 0.7 deg), so an exact
localizer is within ~4 deg; we allow 5 deg for a single source and for MUSIC's two sources. SRP-PHAT on a 2.4 cm
array has beams ~100 deg wide below the aliasing limit, so two sources only come out unbiased when their lobes overlap
symmetrically (antipodal pair); otherwise the peaks are pulled together by tens of degrees (asserted as a
limitation, with MUSIC resolving the same pair).
"""
from __future__ import annotations

import numpy as np
import pytest

from seld_ros.data.classical import (a_format_from_foa, localize_oracle_array, oracle_doa_errors,
                                     tetra_capsule_positions)
from seld_ros.data.geometry import angular_distance_deg, azel_to_xyz
from seld_ros.data.synth import TETRA_DIRS, TETRA_RADIUS_M, Room, SynthConfig, make_event, render_scene

FS = 24000
ROOM = Room(0, (8.0, 7.0, 4.0), 0.5, (4.0, 3.5, 1.6))
CFG = SynthConfig(duration_s=2.0, anechoic=True, snr_db=None, mic="tetra")


def scene(dirs):
    events = [make_event(ROOM, CFG, 3 + i, np.random.default_rng(i).standard_normal(int(1.2 * FS)) * 0.1, 0.4,
                         az_deg=az, el_deg=el, distance_m=1.5 + 0.3 * i, source_id=i)
              for i, (az, el) in enumerate(dirs)]
    return render_scene(ROOM, CFG, np.random.default_rng(0), events=events)


def test_capsule_geometry_matches_the_generator():
    np.testing.assert_allclose(tetra_capsule_positions(), TETRA_RADIUS_M * TETRA_DIRS.T, atol=1e-12)


def test_a_format_roundtrip_of_a_plane_wave():
    # FOA of a plane wave (SN3D: W = s, [X, Y, Z] = u s) -> cardioid capsules 0.5 (1 + d . u) s
    u = azel_to_xyz(30.0, -20.0)
    s = np.random.default_rng(0).standard_normal(100)
    foa = np.stack([s, u[1] * s, u[2] * s, u[0] * s])
    np.testing.assert_allclose(a_format_from_foa(foa), (0.5 * (1 + TETRA_DIRS @ u))[:, None] * s, atol=1e-12)


@pytest.mark.parametrize("method", ["srp", "music"])
@pytest.mark.parametrize("az,el", [(40.0, 20.0), (-135.0, -30.0), (170.0, 55.0), (-80.0, -45.0)])
def test_single_static_source(method, az, el):
    sc = scene([(az, el)])
    err, poly = oracle_doa_errors(sc.foa, sc.labels, method=method)
    assert len(err) >= 10 and np.all(poly == 1)
    assert np.max(err) <= 5.0, (method, az, el, np.round(err, 1))


def test_music_opposite_a_capsule_needs_the_cardioid_model():
    # direction opposite FLU: that capsule is in its null, the other three see equal delays -> +-u ambiguity
    az, el = -135.0, -np.rad2deg(np.arcsin(1 / np.sqrt(3)))
    sc = scene([(az, el)])
    counts = sc.labels.active.sum(axis=1)
    a = a_format_from_foa(sc.foa)
    truth = azel_to_xyz(az, el)
    for cardioid, ok in ((True, True), (False, False)):
        est = localize_oracle_array(a, counts, "music", cardioid=cardioid)
        err = np.array([angular_distance_deg(e[0], truth) for e, k in zip(est, counts) if k])
        assert (np.max(err) <= 5.0) == ok, (cardioid, np.round(err, 1))


@pytest.mark.parametrize("dirs", [[(60.0, 10.0), (-90.0, -20.0)], [(30.0, 0.0), (150.0, 30.0)]])
def test_music_finds_two_separated_sources(dirs):
    sc = scene(dirs)
    err, poly = oracle_doa_errors(sc.foa, sc.labels, method="music")
    assert np.all(poly == 2) and len(err) >= 20
    assert np.max(err) <= 5.0, np.round(err, 1)


@pytest.mark.parametrize("dirs", [[(90.0, 0.0), (-90.0, 0.0)], [(45.0, 30.0), (-135.0, -30.0)]])
def test_srp_finds_two_opposite_sources(dirs):
    sc = scene(dirs)
    err, poly = oracle_doa_errors(sc.foa, sc.labels, method="srp")
    assert np.all(poly == 2) and len(err) >= 20
    assert np.max(err) <= 10.0, np.round(err, 1)


def test_srp_merges_non_opposite_sources_music_does_not():
    sc = scene([(60.0, 10.0), (-90.0, -20.0)])  # 150 deg apart
    e_srp, _ = oracle_doa_errors(sc.foa, sc.labels, method="srp")
    e_music, _ = oracle_doa_errors(sc.foa, sc.labels, method="music")
    assert np.median(e_srp) > 15.0 and np.median(e_music) < 5.0


def test_unknown_method_and_channel_mismatch():
    with pytest.raises(ValueError):
        oracle_doa_errors(np.zeros((4, 2400)), scene([(0.0, 0.0)]).labels, method="esprit")
    with pytest.raises(ValueError):
        localize_oracle_array(np.zeros((3, 2400)), np.ones(1, int))

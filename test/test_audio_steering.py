"""The virtual first-order microphone (seld_ros.audio.steering) on plane waves and in the project's simulator."""
from __future__ import annotations

import numpy as np
import pytest

from seld_ros.audio.errors import AudioFormatError
from seld_ros.audio.formats import intensity_doa
from seld_ros.audio.steering import (CARDIOID, HYPERCARDIOID, SUPERCARDIOID, pattern_gain, steer, steering_gains)
from seld_ros.data.geometry import azel_to_xyz

# 24 directions: 8 azimuths at three elevations, the rings staggered by 22.5 degrees
AZ = np.concatenate([np.arange(8) * 45.0 + off for off in (0.0, 22.5, 0.0)])
EL = np.repeat([-40.0, 0.0, 50.0], 8)
DIRECTIONS = azel_to_xyz(AZ, EL)  # (24, 3)
RATE = 24000


def _plane_wave(signal: np.ndarray, u: np.ndarray) -> np.ndarray:
    """ACN/SN3D as seld_ros.audio.formats states it: W = s, Y = s u_y, Z = s u_z, X = s u_x."""
    return np.stack([signal, signal * u[1], signal * u[2], signal * u[0]]).astype(np.float32)


def _gain(steered: np.ndarray, omni: np.ndarray) -> float:
    """Signed gain of the steered signal relative to the source (the W of a lone plane wave)."""
    return float(np.dot(steered.astype(np.float64), omni) / np.dot(omni.astype(np.float64), omni))


@pytest.fixture(scope="module")
def noise():
    return np.random.default_rng(0).standard_normal(4800).astype(np.float32)


def test_plane_wave_encoding_is_the_projects_convention(noise):
    for u in DIRECTIONS:  # the project's intensity DOA reads each test plane wave back from its own direction
        assert np.allclose(intensity_doa(_plane_wave(noise, u)), u, atol=1e-5)


@pytest.mark.parametrize("a", [CARDIOID, SUPERCARDIOID, HYPERCARDIOID, 0.0, 1.0])
def test_gain_equals_the_pattern_at_24_directions_and_is_1_on_axis(noise, a):
    for d in DIRECTIONS:
        steered = steer(_plane_wave(noise, d), d, a)
        assert _gain(steered, noise) == pytest.approx(1.0, abs=1e-5)  # on axis
        for u in DIRECTIONS:
            want = a + (1 - a) * float(np.dot(d, u))
            assert _gain(steer(_plane_wave(noise, u), d, a), noise) == pytest.approx(want, abs=1e-5)
            assert float(pattern_gain(a, np.dot(d, u))) == pytest.approx(want)


def test_cardioid_rear_null_and_hypercardioid_side_gain(noise):
    for d in DIRECTIONS:
        rear = steer(_plane_wave(noise, -d), d, CARDIOID)
        assert 10 * np.log10(np.mean(rear.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2)) < -40
    side = np.cross(DIRECTIONS[3], [0.0, 0.0, 1.0])
    side /= np.linalg.norm(side)
    assert _gain(steer(_plane_wave(noise, side), DIRECTIONS[3], HYPERCARDIOID), noise) == pytest.approx(0.25, abs=1e-5)
    assert _gain(steer(_plane_wave(noise, -DIRECTIONS[3]), DIRECTIONS[3], HYPERCARDIOID), noise) == \
        pytest.approx(-0.5, abs=1e-5)


def test_many_directions_at_once_equal_one_at_a_time(noise):
    foa = _plane_wave(noise, DIRECTIONS[5]) + 0.5 * _plane_wave(noise[::-1].copy(), DIRECTIONS[17])
    gains = steering_gains(DIRECTIONS * 3.0, HYPERCARDIOID)  # lengths other than 1 are normalised
    assert gains.shape == (24, 4)
    assert np.allclose(gains[7], [0.25, 0.75 * DIRECTIONS[7, 1], 0.75 * DIRECTIONS[7, 2], 0.75 * DIRECTIONS[7, 0]])
    many = steer(foa, DIRECTIONS, HYPERCARDIOID)
    assert many.shape == (24, noise.size) and many.dtype == np.float32
    for k, d in enumerate(DIRECTIONS):
        assert np.allclose(many[k], steer(foa, d, HYPERCARDIOID), atol=1e-6)


def test_bad_input_is_a_clear_error(noise):
    foa = _plane_wave(noise, DIRECTIONS[0])
    with pytest.raises(AudioFormatError, match=r"\(4, samples\)"):
        steer(foa[:3], DIRECTIONS[0])
    with pytest.raises(ValueError, match="non-zero"):
        steering_gains([0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="finite"):
        steering_gains([np.nan, 0.0, 1.0])
    with pytest.raises(ValueError, match=r"\(K, 3\)"):
        steering_gains([1.0, 0.0])
    with pytest.raises(ValueError, match="omni_share"):
        steering_gains([1.0, 0.0, 0.0], 1.5)


def test_the_projects_simulator_anechoic_rirs_follow_the_pattern():
    """The simulator's B-format capsules (pyroomacoustics omni + figure-8s): the steered direct path has the
    pattern's gain relative to W at each of the 24 directions."""
    pytest.importorskip("pyroomacoustics")
    from seld_ros.data.synth import Room, SynthConfig, compute_rirs
    room = Room(0, (8.0, 8.0, 6.0), 0.3, (4.0, 4.0, 3.0))
    rirs = compute_rirs(room, np.asarray(room.mic) + 2.0 * DIRECTIONS, SynthConfig(anechoic=True))
    d = DIRECTIONS[9]
    for u, h in zip(DIRECTIONS, rirs):
        assert intensity_doa(h) == pytest.approx(u, abs=1e-3)
        for a in (CARDIOID, HYPERCARDIOID):
            assert _gain(steer(h, d, a), h[0]) == pytest.approx(a + (1 - a) * float(np.dot(d, u)), abs=1e-3)


def test_in_a_low_reverb_room_steering_favours_the_source_pointed_at():
    """Two sources 90 degrees apart at equal level in a small room (RT60 0.25 s, image sources to order 3):
    the cardioid pointed at one hears it at least 3 dB louder than the other, both ways."""
    pytest.importorskip("pyroomacoustics")
    from scipy.signal import fftconvolve

    from seld_ros.data.synth import Room, SynthConfig, compute_rirs
    room = Room(1, (5.0, 4.0, 3.0), 0.25, (2.5, 2.0, 1.4))
    dirs = azel_to_xyz([30.0, 120.0], [0.0, 0.0])
    rirs = compute_rirs(room, np.asarray(room.mic) + 1.5 * dirs, SynthConfig(anechoic=False, max_order=3))
    rng = np.random.default_rng(1)
    sources = [fftconvolve(rng.standard_normal(RATE)[None], h)[:, :RATE] for h in rirs]  # (4, N) each
    for k in range(2):
        heard = [np.mean(steer(s.astype(np.float32), dirs[k]).astype(np.float64) ** 2) for s in sources]
        assert 10 * np.log10(heard[k] / heard[1 - k]) >= 3.0


def test_null_steering_keeps_the_look_gain_and_silences_the_known_others(noise):
    from seld_ros.audio.steering import apply_gains, null_steering_gains
    look, others = DIRECTIONS[0], DIRECTIONS[[4, 10, 20]]
    gains = null_steering_gains(look, others)
    assert _gain(apply_gains(_plane_wave(noise, look), gains), noise) == pytest.approx(1.0, abs=1e-6)
    for u in others:
        assert abs(_gain(apply_gains(_plane_wave(noise, u), gains), noise)) < 1e-6
    one = null_steering_gains(look, others[:1])
    assert abs(_gain(apply_gains(_plane_wave(noise, others[0]), one), noise)) < 1e-6
    # no nulls, or only nulls too close to the look direction: the plain pattern
    assert np.allclose(null_steering_gains(look, np.zeros((0, 3))), steering_gains(look))
    near = azel_to_xyz(AZ[0] + 10.0, EL[0])
    assert np.allclose(null_steering_gains(look, near[None]), steering_gains(look))



def test_nulled_cardioid_power_peaks_at_the_source_left(noise):
    """One null, cardioid: the beam power over |gains|^2 is largest at the remaining plane wave (what
    seld_ros.tagging.locate relies on), away from the null's 30-degree neighbourhood where the null is dropped."""
    from seld_ros.audio.steering import apply_gains, null_steering_gains
    source, known = azel_to_xyz(30.0, 10.0), azel_to_xyz(120.0, 10.0)
    other = np.random.default_rng(2).standard_normal(noise.size).astype(np.float32)
    foa = _plane_wave(noise, source) + _plane_wave(other, known)
    fine = azel_to_xyz(*np.meshgrid(np.arange(0.0, 360.0, 2.0), np.arange(-80.0, 81.0, 2.0))).reshape(-1, 3)
    fine = fine[fine @ known < np.cos(np.radians(31.0))]  # 30 degrees and closer: the null is dropped
    gains = np.stack([null_steering_gains(d, known[None]) for d in fine])
    power = np.mean(apply_gains(foa, gains).astype(np.float64) ** 2, axis=1) / np.sum(gains ** 2, axis=1)
    assert float(np.degrees(np.arccos(np.clip(fine[np.argmax(power)] @ source, -1, 1)))) <= 2.0

"""Channel layouts -> ACN/SN3D: plane waves from known directions must come back at the same direction."""

from __future__ import annotations

import numpy as np
import pytest

from seld_ros.audio import (
    AudioDtypeError,
    AudioFormatError,
    ChannelCountError,
    EmptyAudioError,
    NonFiniteAudioError,
    UnknownLayoutError,
    a_to_b_matrix,
    deinterleave,
    intensity_doa,
    to_acn_sn3d,
)

FS = 24000
RNG = np.random.default_rng(1234)
# Test-side definitions, written independently of the code under test.
CAPSULES = {  # tetrahedral capsule axes, x forward / y left / z up
    "FLU": np.array([1, 1, 1]) / np.sqrt(3),
    "FRD": np.array([1, -1, -1]) / np.sqrt(3),
    "BLD": np.array([-1, 1, -1]) / np.sqrt(3),
    "BRU": np.array([-1, -1, 1]) / np.sqrt(3),
}


def random_directions(n: int) -> list[tuple[float, float]]:
    """(azimuth, elevation) in radians, uniform on the sphere."""
    az = RNG.uniform(-np.pi, np.pi, n)
    el = np.arcsin(RNG.uniform(-1, 1, n))
    return list(zip(az, el))


def unit(az: float, el: float) -> np.ndarray:
    return np.array([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)])


def noise(n: int = FS // 2) -> np.ndarray:
    return RNG.standard_normal(n) * 0.1


def encode_acn_sn3d(s: np.ndarray, az: float, el: float) -> np.ndarray:
    return np.stack([s, s * np.sin(az) * np.cos(el), s * np.sin(el), s * np.cos(az) * np.cos(el)]).astype(np.float32)


def encode_fuma(s: np.ndarray, az: float, el: float) -> np.ndarray:
    return np.stack([s / np.sqrt(2), s * np.cos(az) * np.cos(el), s * np.sin(az) * np.cos(el), s * np.sin(el)]).astype(
        np.float32
    )


def encode_tetra(s: np.ndarray, az: float, el: float, order=("FLU", "FRD", "BLD", "BRU")) -> np.ndarray:
    u = unit(az, el)
    return np.stack([0.5 * s * (1 + CAPSULES[name] @ u) for name in order]).astype(np.float32)


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


@pytest.mark.parametrize("layout,encoder", [
    ("foa_acn_sn3d", encode_acn_sn3d),
    ("foa_fuma", encode_fuma),
    ("a_format_tetra", encode_tetra),
])
def test_plane_wave_doa_within_2_degrees(layout, encoder):
    for az, el in random_directions(24):
        s = noise()
        foa = to_acn_sn3d(encoder(s, az, el), layout)
        assert foa.shape == (4, len(s)) and foa.dtype == np.float32
        assert angle_deg(intensity_doa(foa), unit(az, el)) < 2.0
        # Not just the direction: the converted signal is the SN3D encoding itself.
        np.testing.assert_allclose(foa, encode_acn_sn3d(s, az, el), atol=1e-5)


def test_tetra_capsule_order_is_configurable():
    order = ("BRU", "FLU", "BLD", "FRD")
    for az, el in random_directions(20):
        s = noise()
        foa = to_acn_sn3d(encode_tetra(s, az, el, order), "a_format_tetra", capsule_order=order)
        assert angle_deg(intensity_doa(foa), unit(az, el)) < 2.0
    # Wrong order declared -> wrong direction: the order really is used.
    az, el = 0.3, 0.2
    wrong = to_acn_sn3d(encode_tetra(noise(), az, el, order), "a_format_tetra")
    assert angle_deg(intensity_doa(wrong), unit(az, el)) > 20.0


def test_a_to_b_matrix_is_the_textbook_one():
    k = np.sqrt(3) / 2
    expected = np.array([[0.5, 0.5, 0.5, 0.5], [k, -k, k, -k], [k, -k, -k, k], [k, k, -k, -k]])
    np.testing.assert_allclose(a_to_b_matrix(), expected, atol=1e-12)


def spaced_tetra(s: np.ndarray, az: float, el: float, radius: float) -> np.ndarray:
    """Cardioid capsules at radius r: each hears the wave r*(d.u)/c earlier (exact fractional delay via FFT)."""
    spectrum, freqs = np.fft.rfft(s), np.fft.rfftfreq(len(s), 1 / FS)
    u = unit(az, el)
    out = []
    for d in CAPSULES.values():
        c = d @ u
        out.append(np.fft.irfft(spectrum * 0.5 * (1 + c) * np.exp(2j * np.pi * freqs * radius * c / 343.0), len(s)))
    return np.array(out, dtype=np.float32)


def test_tetra_radius_equalisation_reduces_spacing_error():
    radius = 0.0147  # a typical tetrahedral mic (capsules ~1.5 cm from the centre)
    # Band-limit to 6 kHz: above ~kr = 1.6 spatial aliasing dominates and no equaliser can fix it.
    errors = {None: [], radius: []}
    for az, el in random_directions(6):
        spectrum = np.fft.rfft(noise(FS))
        spectrum[np.fft.rfftfreq(FS, 1 / FS) > 6000] = 0
        s = np.fft.irfft(spectrum, FS)
        ideal = encode_acn_sn3d(s, az, el)[:, 500:-500]
        a_format = spaced_tetra(s, az, el, radius)
        for r in errors:
            foa = to_acn_sn3d(a_format, "a_format_tetra", tetra_radius_m=r)[:, 500:-500]
            errors[r].append(10 * np.log10(np.sum((foa - ideal) ** 2) / np.sum(ideal**2)))
    # Measured: about -5 dB without and -11 dB with equalisation.
    assert np.mean(errors[radius]) < np.mean(errors[None]) - 3.0
    assert max(errors[radius]) < -8.0


def test_stereo_is_kept_as_two_channels():
    stereo = RNG.standard_normal((2, 100)).astype(np.float64)
    out = to_acn_sn3d(stereo, "stereo")
    assert out.shape == (2, 100) and out.dtype == np.float32
    np.testing.assert_allclose(out, stereo, rtol=1e-6)


def test_deinterleave_matches_message_layout():
    frames = np.arange(12, dtype=np.float32)  # 3 frames x 4 channels, interleaved
    out = deinterleave(frames, 4)
    np.testing.assert_array_equal(out[:, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(out[1], [1, 5, 9])
    with pytest.raises(AudioFormatError, match="not a whole number of 4-channel frames"):
        deinterleave(np.zeros(10, np.float32), 4)


# --- bad input: each case raises its own exception with a readable message ---

def test_wrong_channel_count_for_layout():
    with pytest.raises(ChannelCountError, match="expected 4 channels, got 2"):
        to_acn_sn3d(np.zeros((2, 10), np.float32), "foa_fuma")
    with pytest.raises(ChannelCountError, match="expected 2 channels, got 4"):
        to_acn_sn3d(np.zeros((4, 10), np.float32), "stereo")
    with pytest.raises(ChannelCountError, match="expected a 2-D array"):
        to_acn_sn3d(np.zeros(10, np.float32), "foa_acn_sn3d")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(bad):
    audio = np.zeros((4, 10), np.float32)
    audio[2, 7] = bad
    with pytest.raises(NonFiniteAudioError, match="NaN or Inf .*channel 2, sample 7"):
        to_acn_sn3d(audio, "a_format_tetra")


def test_empty_audio():
    with pytest.raises(EmptyAudioError, match="empty"):
        to_acn_sn3d(np.zeros((4, 0), np.float32), "foa_acn_sn3d")


def test_integer_audio_is_rejected():
    with pytest.raises(AudioDtypeError, match="expected floating-point samples.*int16"):
        to_acn_sn3d(np.zeros((4, 10), np.int16), "foa_acn_sn3d")
    # Also a TypeError, for callers that catch the generic kind.
    with pytest.raises(TypeError):
        to_acn_sn3d(np.zeros((4, 10), np.int32), "foa_acn_sn3d")


def test_unknown_layout_and_bad_capsule_order():
    with pytest.raises(UnknownLayoutError, match="unknown layout 'foa_n3d'"):
        to_acn_sn3d(np.zeros((4, 10), np.float32), "foa_n3d")
    with pytest.raises(AudioFormatError, match="capsule_order must be a permutation"):
        to_acn_sn3d(np.zeros((4, 10), np.float32), "a_format_tetra", capsule_order=("FLU", "FLU", "BLD", "BRU"))
    with pytest.raises(AudioFormatError, match="tetra_radius_m must be positive"):
        to_acn_sn3d(np.zeros((4, 10), np.float32), "a_format_tetra", tetra_radius_m=-0.01)


def test_all_formats_are_value_errors():
    # Callers that only know "bad input" can catch ValueError.
    for exc in (ChannelCountError, NonFiniteAudioError, EmptyAudioError, AudioDtypeError, UnknownLayoutError):
        assert issubclass(exc, ValueError)

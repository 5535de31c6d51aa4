"""Channel layouts at the edge, all converted to the internal format: ACN/SN3D first-order B-format (W, Y, Z, X).

Arrays are (channels, samples), float32. Coordinates follow REP-103/DCASE: x forward, y left, z up; azimuth
counter-clockwise from +x, elevation up from the x-y plane. A plane wave s(t) from unit direction u encodes to

    W = s,  Y = s*u_y,  Z = s*u_z,  X = s*u_x        (ACN order, SN3D: first-order gains are 1)

Supported layouts (the ``layout`` field of MultichannelAudio):

- ``foa_acn_sn3d``   identity (4 ch).
- ``foa_fuma``       Furse-Malham (W, X, Y, Z) with W carrying a 1/sqrt(2) gain: reorder and scale W by sqrt(2).
- ``a_format_tetra`` four cardioid capsules of a tetrahedral array, FLU/FRD/BLD/BRU (front-left-up, front-right-down,
                     back-left-down, back-right-up), in a configurable channel order. Converted by the A->B matrix,
                     optionally followed by a radius-dependent equaliser that undoes the capsule-spacing error.
- ``stereo``         kept as 2 channels (the stereo feature path has no B-format).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.signal import oaconvolve

from seld_ros.audio.errors import AudioFormatError, UnknownLayoutError, validate_audio
from seld_ros.constants import (  # noqa: F401 (the layout names are part of this module's interface)
    A_FORMAT_TETRA,
    FOA_ACN_SN3D,
    FOA_FUMA,
    FRONT_END_CHANNELS,
    LAYOUT_CHANNELS,
    PIPELINE_LAYOUTS,
    SAMPLE_RATE,
    STEREO,
)

# Channels each input layout carries (seld_ros.constants), and how many come out of to_acn_sn3d: FOA layouts give
# 4-channel ACN/SN3D, stereo stays 2-channel.
LAYOUT_INPUT_CHANNELS = {name: LAYOUT_CHANNELS[name] for name in PIPELINE_LAYOUTS}
LAYOUT_OUTPUT_CHANNELS = {name: FRONT_END_CHANNELS["stereo" if name == STEREO else "foa"] for name in PIPELINE_LAYOUTS}

ACN_CHANNEL_NAMES = ("W", "Y", "Z", "X")

# Capsule axes of the standard tetrahedral (Soundfield-type) array, unit vectors in x-forward/y-left/z-up.
_INV_SQRT3 = 1.0 / np.sqrt(3.0)
TETRA_CAPSULE_DIRECTIONS = {
    "FLU": np.array([1.0, 1.0, 1.0]) * _INV_SQRT3,
    "FRD": np.array([1.0, -1.0, -1.0]) * _INV_SQRT3,
    "BLD": np.array([-1.0, 1.0, -1.0]) * _INV_SQRT3,
    "BRU": np.array([-1.0, -1.0, 1.0]) * _INV_SQRT3,
}
DEFAULT_CAPSULE_ORDER = ("FLU", "FRD", "BLD", "BRU")

SPEED_OF_SOUND_M_S = 343.0


def deinterleave(data: np.ndarray, channels: int) -> np.ndarray:
    """Interleaved frames*channels samples (as in MultichannelAudio.data) -> (channels, samples) float32 view/copy."""
    data = np.asarray(data)
    if channels <= 0:
        raise AudioFormatError(f"channels must be positive, got {channels}")
    if data.ndim != 1 or data.size % channels != 0:
        raise AudioFormatError(
            f"interleaved data of {data.size} values is not a whole number of {channels}-channel frames"
        )
    return data.reshape(-1, channels).T


def _capsule_matrix(capsule_order: tuple[str, ...]) -> np.ndarray:
    """(4 capsules x 4 ACN) matrix C with capsules = C @ [W, Y, Z, X] for ideal coincident cardioids."""
    if sorted(capsule_order) != sorted(DEFAULT_CAPSULE_ORDER):
        raise AudioFormatError(
            f"capsule_order must be a permutation of {DEFAULT_CAPSULE_ORDER}, got {tuple(capsule_order)}"
        )
    rows = []
    for name in capsule_order:
        d = TETRA_CAPSULE_DIRECTIONS[name]
        # Cardioid: 0.5 * (1 + d.u)  ->  0.5*W + 0.5*(d_y*Y + d_z*Z + d_x*X)
        rows.append([0.5, 0.5 * d[1], 0.5 * d[2], 0.5 * d[0]])
    return np.array(rows)


def a_to_b_matrix(capsule_order: tuple[str, ...] = DEFAULT_CAPSULE_ORDER) -> np.ndarray:
    """(4 ACN x 4 capsules) matrix M with [W, Y, Z, X] = M @ capsules.

    For the default order this is the textbook matrix W = (FLU+FRD+BLD+BRU)/2, X = sqrt(3)/2 (FLU+FRD-BLD-BRU),
    Y = sqrt(3)/2 (FLU-FRD+BLD-BRU), Z = sqrt(3)/2 (FLU-FRD-BLD+BRU), scaled so a plane wave gives SN3D gains.
    """
    return np.linalg.inv(_capsule_matrix(tuple(capsule_order)))


# ---------------------------------------------------------------------------------------------------------------
# Radius equalisation. The capsules of a real tetrahedral array sit at radius r, not at one point, so the A->B sum
# of a plane wave is a frequency-dependent mix: W droops and the dipoles X/Y/Z gain at high frequency (Gerzon 1975).
# We model cardioid capsules on the tetrahedron, average the A->B response over directions (diffuse field) and
# invert it (regularised, gain-limited) as linear-phase FIR filters, one for W and one shared by X/Y/Z.


def _fibonacci_sphere(n: int) -> np.ndarray:
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = np.pi * (1.0 + 5**0.5) * i
    rho = np.sqrt(1.0 - z * z)
    return np.stack([rho * np.cos(phi), rho * np.sin(phi), z], axis=1)


def tetra_spacing_response(freqs_hz: np.ndarray, radius_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Diffuse-field response of the ideal A->B matrix applied to a tetrahedral cardioid array of radius r.

    Returns (H_W, H_dipole): complex gains per frequency relative to ideal B-format (1 at DC, drifting at high f).
    """
    dirs = _fibonacci_sphere(400)  # (D, 3) source directions
    caps = np.stack([TETRA_CAPSULE_DIRECTIONS[n] for n in DEFAULT_CAPSULE_ORDER])  # (4, 3)
    cos_angle = dirs @ caps.T  # (D, 4) = d_i . u
    k_r = 2.0 * np.pi * np.asarray(freqs_hz, dtype=np.float64)[:, None, None] * radius_m / SPEED_OF_SOUND_M_S
    # Capsule i at r*d_i hears the wave r*(d_i.u)/c earlier: phase advance exp(+j k r d_i.u).
    capsules = 0.5 * (1.0 + cos_angle)[None] * np.exp(1j * k_r * cos_angle[None])  # (F, D, 4)
    b_naive = capsules @ a_to_b_matrix().T  # (F, D, 4) in W, Y, Z, X
    h_w = b_naive[..., 0].mean(axis=1)
    # Project the dipoles onto the ideal pattern (u_y, u_z, u_x); the mean of |u|^2 is 1.
    ideal = dirs[:, [1, 2, 0]]
    h_dipole = (b_naive[..., 1:] * ideal[None]).sum(axis=-1).mean(axis=1)
    return h_w, h_dipole


@lru_cache(maxsize=16)
def tetra_equalisation_filters(
    radius_m: float, sample_rate: int, num_taps: int = 255, max_gain_db: float = 12.0
) -> tuple[np.ndarray, np.ndarray]:
    """Linear-phase FIR equalisers (h_W, h_dipole), each ``num_taps`` long (odd) with delay (num_taps-1)//2."""
    if num_taps % 2 == 0:
        raise AudioFormatError(f"num_taps must be odd for a linear-phase equaliser, got {num_taps}")
    n_fft = 4 * num_taps
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    max_gain = 10.0 ** (max_gain_db / 20.0)
    filters = []
    for response in tetra_spacing_response(freqs, radius_m):
        inverse = 1.0 / response
        gain = np.abs(inverse)
        inverse = np.where(gain > max_gain, inverse * (max_gain / np.maximum(gain, 1e-12)), inverse)
        impulse = np.fft.irfft(inverse, n_fft)
        delay = (num_taps - 1) // 2
        h = np.roll(impulse, delay)[:num_taps] * np.hanning(num_taps + 2)[1:-1]
        filters.append(h.astype(np.float32))
    return filters[0], filters[1]


def equalise_tetra_b_format(foa: np.ndarray, radius_m: float, sample_rate: int) -> np.ndarray:
    """Apply the radius equaliser to B-format converted from a tetrahedral array (batch, delay compensated)."""
    h_w, h_dipole = tetra_equalisation_filters(float(radius_m), int(sample_rate))
    delay = (len(h_w) - 1) // 2
    n = foa.shape[1]
    out = np.empty_like(foa)
    out[0] = oaconvolve(foa[0], h_w)[delay : delay + n]
    out[1:] = oaconvolve(foa[1:], h_dipole[None, :], axes=1)[:, delay : delay + n]
    return out


def to_acn_sn3d(
    audio: np.ndarray,
    layout: str,
    *,
    capsule_order: tuple[str, ...] = DEFAULT_CAPSULE_ORDER,
    tetra_radius_m: float | None = None,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """Convert (channels, samples) audio in ``layout`` to the internal format.

    FOA layouts return (4, N) float32 in ACN/SN3D order W, Y, Z, X; ``stereo`` returns the (2, N) input as float32.
    ``capsule_order`` and ``tetra_radius_m`` (None = no equalisation) apply to ``a_format_tetra`` only;
    ``sample_rate`` is needed only by the equaliser. Raises an ``AudioFormatError`` subclass on bad input.
    """
    if layout not in LAYOUT_INPUT_CHANNELS:
        raise UnknownLayoutError(f"unknown layout {layout!r}; supported: {sorted(LAYOUT_INPUT_CHANNELS)}")
    audio = validate_audio(audio, LAYOUT_INPUT_CHANNELS[layout], what=f"{layout} audio")
    if layout in (FOA_ACN_SN3D, STEREO):
        return audio
    if layout == FOA_FUMA:
        w, x, y, z = audio
        return np.stack([w * np.float32(np.sqrt(2.0)), y, z, x])
    # a_format_tetra
    foa = (a_to_b_matrix(tuple(capsule_order)).astype(np.float32) @ audio).astype(np.float32)
    if tetra_radius_m is not None:
        if not tetra_radius_m > 0:
            raise AudioFormatError(f"tetra_radius_m must be positive metres, got {tetra_radius_m}")
        foa = equalise_tetra_b_format(foa, tetra_radius_m, sample_rate)
    return foa


def intensity_doa(foa: np.ndarray) -> np.ndarray:
    """Broadband active-intensity direction of ACN/SN3D audio: unit vector (x, y, z).

    The time average of W*X (etc.) equals the broadband sum of Re(conj(W) X) over frequency (Parseval), so this is
    the intensity-vector DOA of the whole excerpt. Meaningful for a single dominant source.
    """
    w = foa[0].astype(np.float64)
    vec = np.array([np.dot(w, foa[3]), np.dot(w, foa[1]), np.dot(w, foa[2])])
    norm = np.linalg.norm(vec)
    if norm == 0:
        raise AudioFormatError("intensity_doa: zero intensity (silent or non-directional input)")
    return vec / norm

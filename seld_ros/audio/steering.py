"""A virtual first-order microphone steered at any direction, from ACN/SN3D first-order B-format (W, Y, Z, X).

A first-order pattern pointed at unit direction d hears a plane wave from unit direction u with gain

    p(u) = a + (1 - a) (d . u) = a + (1 - a) cos(theta)          (theta = angle between d and u)

with ``a`` the omni share: 1 omni, 0.5 cardioid (rear null), 0.366 supercardioid (best front/back energy ratio),
0.25 hypercardioid (highest directivity; gain 0.25 at 90 degrees, rear lobe -0.5), 0 figure-8.

Derivation for ACN/SN3D (``seld_ros.audio.formats``): a plane wave s(t) from u encodes to W = s and
(X, Y, Z) = s u, every first-order SN3D gain being 1. So

    y = a W + (1 - a) (d_x X + d_y Y + d_z Z) = s (a + (1 - a) d . u) = s p(u),

a fixed linear combination: gains ``[a, (1 - a) d_y, (1 - a) d_z, (1 - a) d_x]`` on the channels in ACN order
W, Y, Z, X. On axis (u = d) the gain is exactly 1 for every ``a``, so the steered signal keeps the level of the
source it points at (what the tagger was trained on: the omni level of a lone source).

Other conventions (not needed here: every layout is converted to ACN/SN3D at the edge, ``formats.to_acn_sn3d``):
FuMa (W, X, Y, Z) carries W at 1/sqrt(2), so its W gain would be ``a sqrt(2)`` and the channel order W, X, Y, Z;
N3D scales the dipoles by sqrt(3), so their gains would be ``(1 - a) d / sqrt(3)``.

A first-order pattern suppresses a source 90 degrees away by only 6 dB (cardioid) or 12 dB (hypercardioid), too
little for a tagger when that source is loud and broadband (measured: the converted YAMNet calls a phone ring
"Music" with a synthetic bass at equal level 90 degrees away through either pattern). When the other sources'
directions are known (the tracker's other tracks), :func:`null_steering_gains` keeps gain 1 towards the look
direction and puts exact plane-wave nulls on up to three of them.
"""
from __future__ import annotations

import numpy as np

from seld_ros.audio.errors import AudioFormatError

CARDIOID = 0.5
SUPERCARDIOID = 0.366  # (sqrt(3) - 1) / 2: the largest front-to-back energy ratio
HYPERCARDIOID = 0.25  # the largest directivity factor of a first-order pattern
FIGURE_OF_EIGHT = 0.0
OMNI = 1.0


def _check_pattern(omni_share: float) -> float:
    a = float(omni_share)
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"omni_share must be in [0, 1] (1 omni, 0.5 cardioid, 0.25 hypercardioid, 0 figure-8), "
                         f"got {omni_share}")
    return a


def unit_directions(directions) -> np.ndarray:
    """(3,) or (K, 3) directions -> unit vectors; ValueError for a wrong shape, a zero or a non-finite vector."""
    d = np.asarray(directions, dtype=np.float64)
    if d.ndim not in (1, 2) or d.shape[-1] != 3:
        raise ValueError(f"directions must be (3,) or (K, 3) vectors (x forward, y left, z up), got shape {d.shape}")
    norm = np.linalg.norm(d, axis=-1, keepdims=True)
    if not np.all(np.isfinite(d)) or np.any(norm < 1e-9):
        raise ValueError(f"directions must be finite and non-zero, got {d.tolist()}")
    return d / norm


def pattern_gain(omni_share: float, cos_theta) -> np.ndarray:
    """p(theta) = a + (1 - a) cos(theta): the gain of the pattern at angle theta from its axis."""
    a = _check_pattern(omni_share)
    return a + (1.0 - a) * np.asarray(cos_theta, dtype=np.float64)


def steering_gains(directions, omni_share: float = CARDIOID) -> np.ndarray:
    """Channel gains on ACN/SN3D (W, Y, Z, X) of virtual microphones pointed at ``directions``: (4,) for one
    direction (3,), (K, 4) for K directions (K, 3). Directions need not be unit length (they are normalised)."""
    a = _check_pattern(omni_share)
    d = unit_directions(directions)
    gains = np.empty(d.shape[:-1] + (4,))
    gains[..., 0] = a
    gains[..., 1] = (1.0 - a) * d[..., 1]
    gains[..., 2] = (1.0 - a) * d[..., 2]
    gains[..., 3] = (1.0 - a) * d[..., 0]
    return gains


def steer(foa: np.ndarray, directions, omni_share: float = CARDIOID) -> np.ndarray:
    """ACN/SN3D audio (4, N) -> the virtual microphone's signal: (N,) for one direction (3,), (K, N) for K (K, 3).
    float32, like the pipeline's audio."""
    return apply_gains(foa, steering_gains(directions, omni_share))


def apply_gains(foa: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """ACN/SN3D audio (4, N) and gains (4,) or (K, 4) -> (N,) or (K, N) float32."""
    foa = np.asarray(foa)
    if foa.ndim != 2 or foa.shape[0] != 4:
        raise AudioFormatError(f"steer: expected ACN/SN3D first-order audio of shape (4, samples), got {foa.shape}")
    return np.asarray(gains, np.float32) @ foa.astype(np.float32, copy=False)


def plane_wave_response(directions) -> np.ndarray:
    """(K, 4) ACN/SN3D encoding [1, u_y, u_z, u_x] of unit plane waves from ``directions`` (K, 3)."""
    d = np.atleast_2d(unit_directions(directions))
    return np.stack([np.ones(len(d)), d[:, 1], d[:, 2], d[:, 0]], axis=1)


MIN_NULL_SEPARATION_DEG = 30.0


def null_steering_gains(direction, nulls, omni_share: float = CARDIOID,
                        min_separation_deg: float = MIN_NULL_SEPARATION_DEG) -> np.ndarray:
    """(4,) gains of the microphone closest to the pattern of :func:`steering_gains` (least squares in the gains)
    that still has gain 1 towards ``direction`` and gain 0 towards each of ``nulls`` (M, 3): the other sources the
    caller knows of (the tracker's other tracks). With four channels at most three nulls fit; nulls closer than
    ``min_separation_deg`` to the look direction (or to a null already kept) cannot be placed without a huge gain
    elsewhere and are left out, as are those beyond the third. For plane waves the nulled sources vanish exactly;
    in a room their reflections from other directions remain.

    With one null and the cardioid (a = 0.5) this is the matched beam P e(d) / (e(d)' P e(d)), P projecting out
    the null's plane-wave response e(.) (both are the one beam in span{e(d), e(null)} with these two gains), so
    its output power divided by |gains|^2 is largest exactly at a remaining plane-wave source (Cauchy-Schwarz):
    a direction search can use it."""
    look = unit_directions(direction)
    base = steering_gains(look, omni_share)
    kept = [look]
    cos_min = np.cos(np.deg2rad(min_separation_deg))
    for u in (unit_directions(nulls).reshape(-1, 3) if len(np.atleast_1d(nulls)) else ()):
        if len(kept) < 4 and all(float(np.dot(u, k)) < cos_min for k in kept):
            kept.append(u)
    if len(kept) == 1:
        return base
    constraints = plane_wave_response(np.array(kept))  # (C, 4): gain 1 at look, 0 at each null
    wanted = np.zeros(len(kept))
    wanted[0] = 1.0
    correction = constraints.T @ np.linalg.solve(constraints @ constraints.T, wanted - constraints @ base)
    return base + correction


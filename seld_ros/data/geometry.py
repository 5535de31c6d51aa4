"""Direction helpers shared by readers, the scene generator, metrics and the classical localizer (numpy only).

Convention (REP-103 and DCASE): x forward, y left, z up; azimuth counter-clockwise from +x, elevation up from the
x-y plane; angles in degrees at the API.
"""
from __future__ import annotations

import numpy as np


def azel_to_xyz(az_deg, el_deg) -> np.ndarray:
    """Unit vectors (..., 3) from azimuth/elevation in degrees (broadcasting)."""
    az = np.deg2rad(np.asarray(az_deg, dtype=np.float64))
    el = np.deg2rad(np.asarray(el_deg, dtype=np.float64))
    az, el = np.broadcast_arrays(az, el)
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)


def xyz_to_azel(xyz) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth in (-180, 180] and elevation in [-90, 90] (degrees) of vectors (..., 3); need not be unit length."""
    v = np.asarray(xyz, dtype=np.float64)
    az = np.rad2deg(np.arctan2(v[..., 1], v[..., 0]))
    el = np.rad2deg(np.arctan2(v[..., 2], np.hypot(v[..., 0], v[..., 1])))
    return az, el


def normalize(xyz, eps: float = 1e-12) -> np.ndarray:
    v = np.asarray(xyz, dtype=np.float64)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, eps)


def angular_distance_deg(a, b) -> np.ndarray:
    """Great-circle angle in degrees between direction vectors a (..., 3) and b (..., 3) (normalised here)."""
    c = np.sum(normalize(a) * normalize(b), axis=-1)
    return np.rad2deg(np.arccos(np.clip(c, -1.0, 1.0)))


def angular_distance_matrix_deg(a, b) -> np.ndarray:
    """(N, M) great-circle angles between rows of a (N, 3) and b (M, 3)."""
    c = normalize(a) @ normalize(b).T
    return np.rad2deg(np.arccos(np.clip(c, -1.0, 1.0)))


def wrap_azimuth(az_deg) -> np.ndarray:
    """Wrap to [-180, 180)."""
    return (np.asarray(az_deg, dtype=np.float64) + 180.0) % 360.0 - 180.0


def fold_azimuth(az_deg) -> np.ndarray:
    """Fold azimuth into [-90, 90] (front/back ambiguity of a left/right stereo pair), as DCASE 2025 does:
    an azimuth a behind the array maps to 180 - a (left) or -180 - a (right)."""
    az = wrap_azimuth(az_deg)
    return np.where(az < -90.0, -180.0 - az, np.where(az > 90.0, 180.0 - az, az))

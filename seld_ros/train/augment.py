"""Data augmentation for FOA SELD training.

* **ACS** (audio channel swapping, Mazzon et al. 2019; Wang et al. 2021): the
  16 signed permutations of the first-order channels that map the array onto
  itself — 4 rotations about z by 90°, each with or without the y -> -y
  reflection (azimuth phi -> -phi), times z -> ±z. With ACN order W, Y, Z, X
  the dipoles transform exactly like the direction vector, so the label
  transform is ``doa' = R @ doa``. Applied to audio (:func:`rotate_foa`) or
  directly to cached features (:func:`rotate_features`) when the feature
  channel layout is known.
* SpecAugment-style time / frequency masking, random gain on the log-mel
  channels. Polarity inversion of all channels is an identity on log-mel / IV /
  phase-difference features, so it only exists in the audio path.
"""
from __future__ import annotations

import numpy as np

from seld_ros.features.stereo import swap_stereo_features


def acs_matrices() -> np.ndarray:
    """The 16 ACS transforms as (16, 3, 3) matrices acting on (x, y, z)."""
    mats = []
    for k in range(4):
        c, s = [1, 0, -1, 0][k], [0, 1, 0, -1][k]
        rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], np.float32)
        for flip_y in (1, -1):
            for flip_z in (1, -1):
                mats.append(rot @ np.diag([1, flip_y, flip_z]).astype(np.float32))
    return np.stack(mats)


def rotate_foa(audio: np.ndarray, R: np.ndarray) -> np.ndarray:
    """audio (4, N) ACN W, Y, Z, X -> the same scene transformed by R."""
    xyz = audio[[3, 1, 2]]
    new = R.astype(audio.dtype) @ xyz
    return np.stack([audio[0], new[1], new[2], new[0]]).astype(audio.dtype)


def _signed_perm(R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R (3, 3) signed permutation -> (src index, sign) with new[i] = sign[i] * old[src[i]]."""
    src = np.abs(R).argmax(axis=1)
    sign = R[np.arange(3), src]
    return src, sign


def rotate_features(feats: np.ndarray, R: np.ndarray, layout: dict) -> np.ndarray:
    """Apply an ACS transform to cached features (C, T, F).

    ``layout`` (from :func:`feature_layout`): ``logmel_xyz`` — channel indices
    of the X, Y, Z log-mels (W untouched); ``iv_xyz`` — indices of the x, y, z
    intensity channels; ``phase_xyz`` — list of index triples (x, y, z) of
    phase-difference channels whose sign follows the dipole sign (e.g. sin of
    the W-dipole phase difference). Channels not named are left as they are.
    """
    src, sign = _signed_perm(R)
    out = feats.copy()
    if layout.get("logmel_xyz"):
        idx = np.asarray(layout["logmel_xyz"])
        out[idx] = feats[idx[src]]
    if layout.get("iv_xyz"):
        idx = np.asarray(layout["iv_xyz"])
        out[idx] = feats[idx[src]] * sign[:, None, None].astype(feats.dtype)
    for trip, signed in layout.get("phase_xyz", []):
        idx = np.asarray(trip)
        out[idx] = feats[idx[src]] * (sign[:, None, None].astype(feats.dtype) if signed else 1)
    return out


def feature_layout(feature_set: str, num_channels: int) -> dict:
    """Channel layout of ``seld_ros.features.FoaFeatures`` (see ``FeatureConfig``):
    0-3 log-mel W, Y, Z, X; 4-6 IV of Y, Z, X; 7-9 cos and 10-12 sin of the
    phase of Y, Z, X relative to W. A dipole sign flip shifts its phase by pi,
    so cos and sin both change sign with it."""
    layout = {"logmel_xyz": [3, 1, 2]}
    if num_channels >= 7:
        layout["iv_xyz"] = [6, 4, 5]
    if num_channels >= 13:
        layout["phase_xyz"] = [([9, 7, 8], True), ([12, 10, 11], True)]
    return layout


class FeatureAugment:
    """Random augmentation of (features (C, T, F), targets) pairs in numpy."""

    def __init__(self, cfg: dict, layout: dict, rng: np.random.Generator, num_logmel: int = 4):
        self.cfg = dict(cfg or {})
        self.layout = layout
        self.rng = rng
        self.mats = acs_matrices()
        self.num_logmel = num_logmel

    def __call__(self, feats: np.ndarray, labels_doa: list[np.ndarray]):
        """Returns (features, R); the caller rotates its DOA targets with R."""
        c = self.cfg
        R = np.eye(3, dtype=np.float32)
        if c.get("acs", True) and self.rng.random() < c.get("acs_prob", 1.0):
            R = self.mats[self.rng.integers(len(self.mats))]
            feats = rotate_features(feats, R, self.layout)
        if c.get("gain_db", 0) > 0:
            # log-mel channels are in dB: a gain shifts them all by one constant;
            # IV and phase features are energy-normalised, hence gain-invariant
            g = self.rng.uniform(-c["gain_db"], c["gain_db"])
            feats = feats.copy()
            feats[: self.num_logmel] += g
        if c.get("specaug", True):
            feats = feats.copy()
            C, T, F = feats.shape
            # masked cells get the channel mean (the network normalises its input)
            fill = feats.mean(axis=(1, 2), keepdims=True)
            for _ in range(c.get("freq_masks", 1)):
                w = self.rng.integers(0, c.get("freq_mask_width", 8) + 1)
                f0 = self.rng.integers(0, max(1, F - w))
                feats[:, :, f0:f0 + w] = fill
            for _ in range(c.get("time_masks", 1)):
                w = self.rng.integers(0, c.get("time_mask_width", 10) + 1)
                t0 = self.rng.integers(0, max(1, T - w))
                feats[:, t0:t0 + w] = fill
        return feats, R


# ---------------------------------------------------------------------------------------------------- stereo
# The mirror y -> -y: what swapping L and R does to a scene (azimuth negated; the DCASE 2025 fold keeps x >= 0).
MIRROR_Y = np.diag([1.0, -1.0, 1.0]).astype(np.float32)


class StereoFeatureAugment:
    """Random augmentation of cached stereo features (``StereoFeatureConfig`` layout); FOA ACS never runs here.

    * ``swap`` (probability ``swap_prob``, default 0.5): L <-> R (``seld_ros.features.stereo.swap_stereo_features``,
      exact on the features); the caller mirrors its DOA targets with the returned matrix (y -> -y);
    * ``gain_db``: one random gain on both channels = the same dB shift of the mid, L and R log-mels (ILD, IPD and
      stpACC are level-invariant);
    * ``eq_db``: a random smooth per-mel-band gain curve (``eq_bands`` control points, +-``eq_db``) added to the mid,
      L and R log-mels alike (an EQ applied to both channels keeps ILD and IPD). Not modelled: its effect on stpACC
      (the autocorrelation of an equalised signal changes shape; the cached stpACC stays as it was);
    * ``specaug``: time and frequency masks as in :class:`FeatureAugment`.

    Not possible on cached features: mixing in noise at a random SNR (needs the audio; seld-synth already draws
    the scene SNR when it renders).
    """

    def __init__(self, cfg: dict, config, rng: np.random.Generator):
        self.cfg = dict(cfg or {})
        self.config = config
        self.rng = rng

    def __call__(self, feats: np.ndarray):
        """Returns (features, R): R is the identity or :data:`MIRROR_Y`; the caller applies it to DOA targets."""
        c, rng = self.cfg, self.rng
        db = list(self.config.logmel_channels)
        R = np.eye(3, dtype=np.float32)
        if c.get("swap", True) and rng.random() < c.get("swap_prob", 0.5):
            feats = swap_stereo_features(feats, self.config)
            R = MIRROR_Y
        feats = feats.copy()
        if c.get("gain_db", 0) > 0:
            feats[db] += rng.uniform(-c["gain_db"], c["gain_db"])
        if c.get("eq_db", 0) > 0:
            F = feats.shape[2]
            points = rng.uniform(-c["eq_db"], c["eq_db"], int(c.get("eq_bands", 6)))
            curve = np.interp(np.arange(F), np.linspace(0, F - 1, len(points)), points).astype(feats.dtype)
            feats[db] += curve
        if c.get("specaug", True):
            C, T, F = feats.shape
            fill = feats.mean(axis=(1, 2), keepdims=True)
            for _ in range(c.get("freq_masks", 1)):
                w = rng.integers(0, c.get("freq_mask_width", 8) + 1)
                f0 = rng.integers(0, max(1, F - w))
                feats[:, :, f0:f0 + w] = fill
            for _ in range(c.get("time_masks", 1)):
                w = rng.integers(0, c.get("time_mask_width", 10) + 1)
                t0 = rng.integers(0, max(1, T - w))
                feats[:, t0:t0 + w] = fill
        return feats, R

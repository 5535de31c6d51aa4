"""Synthetic FOA scene generator (pyroomacoustics image-source method + a stochastic diffuse tail).

One scene = a random shoebox room, a coincident B-format microphone somewhere in it, and up to ``max_polyphony``
layers of class-labelled events (same-class overlap allowed), each static or moving, plus diffuse ambient noise.

Room impulse responses ("hybrid", fast at fs = 24 kHz):
  * early part: pyroomacoustics image sources up to ``max_order`` (default 3) rendered straight into B-format by a
    coincident omni + three figure-8 capsules along +x, +y, +z (reordered to ACN W, Y, Z, X; SN3D since a figure-8
    of unit gain is cos(angle)), or a tetrahedral cardioid A-format array + the A->B matrix (``mic="tetra"``).
    pyroomacoustics directivities only work with the image-source method, so ray tracing is not an option.
  * late part: from the time the image-source set stops being complete (~ max_order * shortest room dimension / c)
    an exponentially decaying (RT60) Gaussian tail, isotropic in B-format (W, and X/Y/Z at 1/sqrt(3) each, the SN3D
    diffuse-field ratio). Its level follows the diffuse-field theory: with pyroomacoustics' 1/d direct-path law,
    the total reverberant energy is 16*pi/A (A = Sabine absorption area), independent of the source distance.
Moving sources: one RIR per 100 ms label frame at the path position at the frame centre, triangular cross-fades of
100 ms between neighbours (partition of unity), so the label of a frame is the rendered direction at its centre.

Labels: per 100 ms frame, DCASE 2024 rows with integer degrees and centimetres. Activity follows the dry event's
energy (frames within 35 dB of its loudest frame; gaps up to 300 ms bridged, as an annotator would).

Real sounds (a :class:`~seld_ros.data.bank.RealBank` or :class:`~seld_ros.data.bank.MixedBank`):
  * **distractors** -- non-target clips placed and rendered exactly like events (point sources, static or
    moving, same RIRs and tail) at ``distractors_per_min`` on average, but never labelled;
  * **diffuse ambience** -- real ambience clips replace the synthetic background noise at the scene's SNR. By
    default (``ambience_dirs = 0``) as the synthetic noise is made: W is a chain of ambience clips and X, Y, Z are
    three other, long-delayed (decorrelated) chains at 1/sqrt(3) -- the SN3D diffuse-field ratio, no coherent
    direction at all. ``ambience_dirs = 8``: eight decorrelated chains arrive as plane waves from the vertices of a
    randomly rotated cube (a spherical 3-design: same second-order statistics, but a transient in the ambience is
    heard from one of eight directions -- measured much harder for the shipped model, docs/BENCHMARKS.md);
  * ``level_db`` -- absolute source levels: each source's active RMS is ``REF_LEVEL_DBFS + U(level_db)`` dBFS and
    the mix is not peak-normalised (only scaled down if it would clip), so the network hears +-20 dB of input gain.
Every scene's sources (role, class, clip path, split, source, level, direction) are returned in ``Scene.sources``
and written by :func:`generate_split` to ``<out>/sources_<split>/<name>.json``.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.signal import fftconvolve

from seld_ros.classes import STARSS23_CLASSES
from seld_ros.constants import LABEL_HOP_S, SAMPLE_RATE as FS
from seld_ros.data.bank import ProceduralBank, draw_info, make_bank
from seld_ros.data.dcase import iter_dataset, read_wav, write_labels, write_wav
from seld_ros.data.geometry import azel_to_xyz, xyz_to_azel
from seld_ros.data.labels import LabelError, SceneLabels
from seld_ros.data.manifest import SPLITS

HOP_S = LABEL_HOP_S
C_SOUND = 343.0
REF_LEVEL_DBFS = -30.0  # active RMS of a source at level 0 dB (SynthConfig.level_db)

# Tetrahedral A-format capsule directions (FLU, FRD, BLD, BRU) and the matching A->B matrix for cardioids:
# a cardioid capsule gives 0.5 (W + u.d); summing with signs isolates W and the dipoles (SN3D, no EQ).
TETRA_DIRS = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float) / np.sqrt(3.0)
A_TO_B_ACN = np.array([
    [0.5, 0.5, 0.5, 0.5],                                     # W
    [np.sqrt(3) / 2 * s for s in (1, -1, 1, -1)],              # Y
    [np.sqrt(3) / 2 * s for s in (1, -1, -1, 1)],              # Z
    [np.sqrt(3) / 2 * s for s in (1, 1, -1, -1)],              # X
])
TETRA_RADIUS_M = 0.0147  # an Ambeo-sized array


@dataclass
class SynthConfig:
    duration_s: float = 60.0
    max_polyphony: int = 3
    layer_prob: tuple[float, ...] = (1.0, 0.6, 0.3)  # probability that layer k carries events
    gap_s: tuple[float, float] = (0.3, 4.0)
    room_xy_m: tuple[float, float] = (3.0, 15.0)
    room_h_m: tuple[float, float] = (2.5, 4.5)
    rt60_s: tuple[float, float] = (0.2, 1.2)
    distance_m: tuple[float, float] = (0.5, 5.0)
    elevation_deg: tuple[float, float] = (-45.0, 60.0)
    moving_prob: float = 0.35
    speed_deg_s: tuple[float, float] = (10.0, 60.0)
    snr_db: tuple[float, float] | None = (0.0, 30.0)
    event_gain_db: tuple[float, float] = (-10.0, 0.0)
    max_order: int = 3
    anechoic: bool = False
    mic: str = "bformat"  # or "tetra"
    wall_margin_m: float = 0.3
    activity_db: float = 35.0
    bridge_gap_s: float = 0.3
    class_names: tuple[str, ...] = STARSS23_CLASSES
    # absolute source level range in dB re REF_LEVEL_DBFS (targets and distractors); None: relative levels
    # (event_gain_db) and a peak-normalised mix, as before real sounds
    level_db: tuple[float, float] | None = None
    distractors_per_min: float = 6.0  # mean rate of non-target sources (banks that have distractors)
    ambience: bool = True  # real diffuse ambience as the background (banks that have ambiences)
    ambience_dirs: int = 0  # 0: W + decorrelated X/Y/Z (incoherent); 8: plane waves from a rotated cube
    targets: bool = True  # False: distractors and background only (false-alarm scenes)

    def __post_init__(self) -> None:
        if self.level_db is not None:
            lo, hi = (float(v) for v in self.level_db)
            if not lo <= hi:
                raise ValueError(f"level_db must be (LO, HI) with LO <= HI, got {self.level_db}")
            self.level_db = (lo, hi)
        if self.ambience_dirs not in (0, 8):
            raise ValueError(f"ambience_dirs must be 0 (incoherent) or 8 (cube of plane waves), got {self.ambience_dirs}")
        if not self.distractors_per_min >= 0:
            raise ValueError(f"distractors_per_min must be >= 0, got {self.distractors_per_min}")
        if self.mic not in ("bformat", "tetra"):
            raise ValueError(f"mic must be 'bformat' or 'tetra', got {self.mic!r}")
        if not 1 <= self.max_polyphony <= len(self.layer_prob):
            raise ValueError(f"max_polyphony must be in 1..{len(self.layer_prob)}")
        if self.duration_s < 1.0:
            raise ValueError("duration_s must be >= 1 s")
        if self.max_order < 0:
            raise ValueError("max_order must be >= 0")


@dataclass
class Room:
    room_id: int
    dims: tuple[float, float, float]
    rt60: float
    mic: tuple[float, float, float]

    @property
    def absorption(self) -> float:
        """Sabine energy absorption coefficient for rt60 (clipped to [0.02, 0.98])."""
        lx, ly, lz = self.dims
        v, s = lx * ly * lz, 2 * (lx * ly + lx * lz + ly * lz)
        return float(np.clip(0.161 * v / (s * self.rt60), 0.02, 0.98))

    @property
    def absorption_area(self) -> float:
        lx, ly, lz = self.dims
        return self.absorption * 2 * (lx * ly + lx * lz + ly * lz)

    @property
    def effective_rt60(self) -> float:
        lx, ly, lz = self.dims
        return 0.161 * lx * ly * lz / self.absorption_area


def room_from_id(room_id: int, cfg: SynthConfig, room_seed: int = 0) -> Room:
    """Deterministic room geometry for an id: splits that use disjoint id ranges use disjoint rooms."""
    rng = np.random.default_rng([int(room_seed), int(room_id), 0x5EED])
    lx, ly = rng.uniform(*cfg.room_xy_m, size=2)
    lz = rng.uniform(*cfg.room_h_m)
    rt60 = rng.uniform(*cfg.rt60_s)
    m = 0.5
    mic = (rng.uniform(m, lx - m), rng.uniform(m, ly - m), rng.uniform(1.0, min(2.0, lz - m)))
    room = Room(int(room_id), (float(lx), float(ly), float(lz)), float(rt60), tuple(float(v) for v in mic))
    return replace(room, rt60=float(room.effective_rt60))  # what the clipped absorption really gives


# ---------------------------------------------------------------------------------------------------- events
@dataclass
class Event:
    class_id: int
    source_id: int
    start: int                      # sample offset in the scene
    signal: np.ndarray              # dry mono, already gain-scaled
    frames: np.ndarray              # label frames where the event is active
    positions: np.ndarray           # (K, 3) room positions at anchor frames (K = 1 for static)
    anchor_frames: np.ndarray       # (K,) frame index of each anchor
    moving: bool = False
    role: str = "target"            # "distractor": rendered but never labelled
    info: dict = field(default_factory=dict)  # where the sound came from (bank, clip, split, source)
    level_db: float | None = None   # active RMS in dBFS (absolute levels only)


def make_event(room: Room, cfg: SynthConfig, class_id: int, signal: np.ndarray, start_s: float, az_deg: float,
               el_deg: float, distance_m: float, speed_deg_s: float = 0.0, source_id: int = 0) -> Event:
    """An event placed by hand (tests, demos): static, or moving in azimuth at ``speed_deg_s`` around the mic."""
    num_frames = int(round(cfg.duration_s / HOP_S))
    start = int(round(start_s * FS))
    x = np.asarray(signal, dtype=np.float64)
    frames = _frame_activity(x, start, num_frames, cfg)
    mic = np.asarray(room.mic)
    moving = speed_deg_s != 0.0
    anchors = np.arange(frames[0], frames[-1] + 1) if moving else frames[:1]
    dt = (anchors - anchors[0]) * HOP_S
    positions = mic + distance_m * azel_to_xyz(az_deg + speed_deg_s * dt, np.full(len(anchors), el_deg))
    for p in positions:
        if not _inside(p, room.dims, 0.0):
            raise ValueError(f"source position {p} outside room {room.dims}")
    return Event(class_id, source_id, start, x, frames, positions, anchors, moving)


def _inside(p: np.ndarray, dims, margin: float) -> bool:
    return bool(np.all(p >= margin) and np.all(p <= np.asarray(dims) - margin))


def _frame_activity(x: np.ndarray, start: int, num_frames: int, cfg: SynthConfig) -> np.ndarray:
    hop = int(HOP_S * FS)
    f0 = start // hop
    f1 = min(num_frames, (start + len(x) - 1) // hop + 1)
    e = np.array([np.mean(x[max(0, k * hop - start):max(0, (k + 1) * hop - start)] ** 2)
                  if (k + 1) * hop > start else 0.0 for k in range(f0, f1)])
    if e.size == 0 or e.max() <= 0:
        return np.zeros(0, dtype=int)
    act = e > e.max() * 10 ** (-cfg.activity_db / 10)
    idx = np.nonzero(act)[0]
    gap = int(round(cfg.bridge_gap_s / HOP_S))
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a <= gap + 1:
            act[a:b] = True
    return np.nonzero(act)[0] + f0


def _sample_direction(rng, room: Room, cfg: SynthConfig):
    mic = np.asarray(room.mic)
    for attempt in range(200):
        az = rng.uniform(-180, 180)
        el = rng.uniform(*cfg.elevation_deg)
        r = rng.uniform(cfg.distance_m[0], cfg.distance_m[1] if attempt < 100 else max(cfg.distance_m[0], 1.0))
        p = mic + r * azel_to_xyz(az, el)
        if _inside(p, room.dims, cfg.wall_margin_m):
            return az, el, r
    return rng.uniform(-180, 180), 0.0, cfg.distance_m[0]


def _fit_to_scene(x: np.ndarray, start: int, n_total: int) -> np.ndarray:
    if start + len(x) > n_total:  # cut at the scene end with a short fade
        x = x[: n_total - start].copy()
        fl = min(len(x), int(0.05 * FS))
        x[len(x) - fl:] *= np.linspace(1, 0, fl)
    return x


def _set_level(rng, x: np.ndarray, start: int, frames: np.ndarray, cfg: SynthConfig):
    """Scale by the active RMS: relative (event_gain_db) or absolute (level_db). -> (x, level dBFS or None)."""
    act_rms = np.sqrt(np.mean(np.concatenate(
        [x[max(0, k * 2400 - start):max(0, (k + 1) * 2400 - start)] for k in frames]) ** 2)) + 1e-12
    if cfg.level_db is None:
        return x / act_rms * 10 ** (rng.uniform(*cfg.event_gain_db) / 20), None
    level = REF_LEVEL_DBFS + rng.uniform(*cfg.level_db)
    return x / act_rms * 10 ** (level / 20), float(level)


def _place(rng, room: Room, cfg: SynthConfig, frames: np.ndarray):
    """Position or path of a source active in ``frames`` -> (positions, anchor frames, moving)."""
    mic = np.asarray(room.mic)
    az, el, r = _sample_direction(rng, room, cfg)
    moving = rng.random() < cfg.moving_prob and frames.size > 1
    anchors = np.arange(frames[0], frames[-1] + 1) if moving else frames[:1]
    positions = None
    if moving:
        for _ in range(20):
            w = rng.uniform(*cfg.speed_deg_s) * rng.choice([-1, 1])
            we = rng.uniform(-10, 10)
            dt = (anchors - anchors[0]) * HOP_S
            els = np.clip(el + we * dt, *cfg.elevation_deg)
            pos = mic + r * azel_to_xyz(az + w * dt, els)
            if all(_inside(p, room.dims, cfg.wall_margin_m) for p in pos):
                positions = pos
                break
        if positions is None:
            moving, anchors = False, frames[:1]
    if positions is None:
        positions = (mic + r * azel_to_xyz(az, el))[None, :]
    return positions, anchors, moving


def plan_events(rng: np.random.Generator, room: Room, cfg: SynthConfig, bank) -> list[Event]:
    """Draw the event layers of one scene (timing, class, sound, position or path, activity frames). Classes are
    drawn among those the bank has (a real bank split may lack some)."""
    n_total = int(round(cfg.duration_s * FS))
    num_frames = int(round(cfg.duration_s / HOP_S))
    have = set(getattr(bank, "class_names", cfg.class_names))
    avail = [i for i, c in enumerate(cfg.class_names) if c in have]
    if not avail:
        raise ValueError(f"the sound bank has none of the classes {', '.join(cfg.class_names)}")
    per_class_count: dict[int, int] = {}
    events: list[Event] = []
    for layer in range(cfg.max_polyphony):
        if rng.random() >= cfg.layer_prob[layer]:
            continue
        t = rng.uniform(0.0, 2.0 + 2.0 * layer)
        while t < cfg.duration_s - 0.5:
            ci = avail[int(rng.integers(len(avail)))]
            x, info = draw_info(bank, cfg.class_names[ci], rng)
            start = int(t * FS)
            x = _fit_to_scene(np.asarray(x, dtype=np.float64), start, n_total)
            frames = _frame_activity(x, start, num_frames, cfg)
            if frames.size == 0:
                t += 0.5
                continue
            x, level = _set_level(rng, x, start, frames, cfg)
            positions, anchors, moving = _place(rng, room, cfg, frames)
            sid = per_class_count.get(ci, 0)
            per_class_count[ci] = sid + 1
            events.append(Event(ci, sid, start, x, frames, positions, anchors, moving, "target", info, level))
            t += len(x) / FS + rng.uniform(*cfg.gap_s)
    return events


def plan_distractors(rng: np.random.Generator, room: Room, cfg: SynthConfig, bank) -> list[Event]:
    """Non-target sources: Poisson(``distractors_per_min``) clips at random times and places, never labelled."""
    n_total = int(round(cfg.duration_s * FS))
    num_frames = int(round(cfg.duration_s / HOP_S))
    events: list[Event] = []
    for k in range(int(rng.poisson(cfg.distractors_per_min * cfg.duration_s / 60.0))):
        x, info = bank.draw_distractor(rng)
        start = int(rng.uniform(0.0, max(0.0, cfg.duration_s - 0.5)) * FS)
        x = _fit_to_scene(np.asarray(x, dtype=np.float64), start, n_total)
        frames = _frame_activity(x, start, num_frames, cfg)
        if frames.size == 0:
            continue
        x, level = _set_level(rng, x, start, frames, cfg)
        positions, anchors, moving = _place(rng, room, cfg, frames)
        events.append(Event(-1, k, start, x, frames, positions, anchors, moving, "distractor", info, level))
    return events


# ---------------------------------------------------------------------------------------------------- rendering
def _mic_array(room: Room, cfg: SynthConfig):
    import pyroomacoustics as pra
    from pyroomacoustics.directivities import CardioidFamily, DirectionVector

    center = np.asarray(room.mic)
    if cfg.mic == "bformat":
        dirs = [CardioidFamily(DirectionVector(0, 90, degrees=True), p=1.0),     # omni W
                CardioidFamily(DirectionVector(90, 90, degrees=True), p=0.0),    # figure-8 along +y -> Y
                CardioidFamily(DirectionVector(0, 0, degrees=True), p=0.0),      # figure-8 along +z -> Z
                CardioidFamily(DirectionVector(0, 90, degrees=True), p=0.0)]     # figure-8 along +x -> X
        R = np.tile(center[:, None], (1, 4))
    else:
        dirs, cols = [], []
        for u in TETRA_DIRS:
            az, el = xyz_to_azel(u)
            dirs.append(CardioidFamily(DirectionVector(float(az), 90.0 - float(el), degrees=True), p=0.5))
            cols.append(center + TETRA_RADIUS_M * u)
        R = np.array(cols).T
    return pra.MicrophoneArray(R, FS, directivity=dirs)


def _t_mix(room: Room, cfg: SynthConfig) -> float:
    return max(1, cfg.max_order) * min(room.dims) / C_SOUND


def compute_rirs(room: Room, positions: np.ndarray, cfg: SynthConfig) -> list[np.ndarray]:
    """B-format (4, L) early RIRs (ACN W, Y, Z, X; pyroomacoustics' global delay removed) per source position."""
    import pyroomacoustics as pra

    order = 0 if cfg.anechoic else cfg.max_order
    shoebox = pra.ShoeBox(list(room.dims), fs=FS, materials=pra.Material(room.absorption), max_order=order)
    shoebox.add_microphone_array(_mic_array(room, cfg))
    for p in positions:
        shoebox.add_source(np.asarray(p, dtype=float))
    shoebox.compute_rir()
    delay = pra.constants.get("frac_delay_length") // 2
    mic = np.asarray(room.mic)
    out = []
    for s, p in enumerate(positions):
        hs = [np.asarray(shoebox.rir[m][s], dtype=np.float64)[delay:] for m in range(4)]
        n = max(len(h) for h in hs)
        h = np.zeros((4, n))
        for m in range(4):
            h[m, :len(hs[m])] = hs[m]
        if cfg.mic == "tetra":
            h = A_TO_B_ACN @ h
        if not cfg.anechoic:
            # keep the image sources up to the mixing time; the stochastic tail takes over from there
            t_d = np.linalg.norm(np.asarray(p) - mic) / C_SOUND
            cut = int((t_d + _t_mix(room, cfg)) * FS)
            ramp = int(0.005 * FS)
            if cut + ramp < n:
                h[:, cut:cut + ramp] *= np.linspace(1, 0, ramp)
                h = h[:, :cut + ramp]
        out.append(h)
    return out


def diffuse_tail(room: Room, cfg: SynthConfig, distance: float, rng: np.random.Generator) -> np.ndarray:
    """(4, L) isotropic late reverberation for a source at ``distance`` (sets the start time only)."""
    rt60 = room.rt60
    t_d = distance / C_SOUND
    t0 = t_d + _t_mix(room, cfg)
    n = int((t0 + rt60 * 1.1) * FS)
    t = np.arange(n) / FS
    amp = math.sqrt(16 * math.pi / room.absorption_area * 13.8 / (FS * rt60))
    env = amp * np.exp(-6.9 * (t - t_d) / rt60)
    ramp = np.clip((t - t0) / 0.005 + 1.0, 0.0, 1.0)  # fade in over the 5 ms where the early part fades out
    env *= ramp
    noise = rng.standard_normal((4, n))
    noise[1:] /= math.sqrt(3.0)
    return noise * env


def render_event(ev: Event, room: Room, cfg: SynthConfig, rirs: list[np.ndarray], n_total: int,
                 rng: np.random.Generator) -> np.ndarray:
    """(4, n_total) B-format contribution of one event."""
    out = np.zeros((4, n_total))
    hop = int(HOP_S * FS)
    x = ev.signal
    if not ev.moving:
        y = fftconvolve(x[None, :], rirs[0], axes=1)
        _add(out, y, ev.start)
    else:
        # triangular cross-fade windows centred on each anchor frame's centre, summing to one
        centres = (ev.anchor_frames + 0.5) * hop - ev.start
        idx = np.arange(len(x))
        for k, c in enumerate(centres):
            w = np.clip(1.0 - np.abs(idx - c) / hop, 0.0, 1.0)
            if k == 0:
                w[idx < c] = 1.0
            if k == len(centres) - 1:
                w[idx > c] = 1.0
            nz = np.nonzero(w)[0]
            if nz.size == 0:
                continue
            a, b = nz[0], nz[-1] + 1
            y = fftconvolve((x[a:b] * w[a:b])[None, :], rirs[k], axes=1)
            _add(out, y, ev.start + a)
    if not cfg.anechoic:
        d = float(np.linalg.norm(ev.positions[0] - np.asarray(room.mic)))
        tail = diffuse_tail(room, cfg, d, rng)
        _add(out, fftconvolve(x[None, :], tail, axes=1), ev.start)
    return out


def _add(out: np.ndarray, y: np.ndarray, start: int) -> None:
    n = min(y.shape[1], out.shape[1] - start)
    if n > 0:
        out[:, start:start + n] += y[:, :n]


def diffuse_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Isotropic ambient noise in B-format: pinkish W with a low rumble, X/Y/Z independent at 1/sqrt(3)."""
    out = np.empty((4, n))
    f = np.fft.rfftfreq(n, 1 / FS)
    f[0] = f[1]
    shape = 1 / np.sqrt(f) * (1 + 3 * np.exp(-f / 120.0))
    for ch in range(4):
        spec = (rng.standard_normal(f.size) + 1j * rng.standard_normal(f.size)) * shape
        x = np.fft.irfft(spec, n)
        out[ch] = x / (np.std(x) + 1e-12) / (1.0 if ch == 0 else math.sqrt(3.0))
    return out


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


CUBE_DIRS = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float) / math.sqrt(3.0)


def _ambience_chain(bank, rng: np.random.Generator, n: int, frac: float, infos: list) -> np.ndarray:
    """``n`` samples of chained ambience clips (unit RMS each, 20 ms fades), starting ``frac`` into the first."""
    parts, total, first = [], 0, 0
    fade = int(0.02 * FS)
    ramp = np.linspace(0.0, 1.0, fade)
    for _ in range(256):
        x, info = bank.draw_ambience(rng, max_seconds=n / FS)
        x = np.asarray(x, np.float64)
        rms = float(np.sqrt(np.mean(x ** 2))) if x.size else 0.0
        if x.size < 2 * fade or rms <= 0:
            continue
        x = x / rms
        x[:fade] *= ramp
        x[-fade:] *= ramp[::-1]
        if not parts:
            first = int(frac * x.size)
        parts.append(x)
        if info.get("clip") not in {i.get("clip") for i in infos}:
            infos.append(info)
        total += x.size
        if total >= n + first:
            break
    if not parts:
        raise ValueError("the sound bank's ambience clips are all silent or shorter than 40 ms")
    s = np.concatenate(parts)
    if s.size < n + first:  # clips too short to fill the scene within 256 draws: loop them
        s = np.tile(s, -(-(n + first) // s.size))
    return s[first:first + n]


def diffuse_ambience(bank, rng: np.random.Generator, n: int, dirs: int = 0) -> tuple[np.ndarray, list[dict]]:
    """(4, n) diffuse real ambience in B-format (W at unit RMS) and the clips used.

    ``dirs = 0``: four independent chains of the bank's ambience clips (starting 1/8, 3/8, 5/8, 7/8 into their
    first clip, so even a single clip gives mutually delayed, decorrelated copies) as W and, at 1/sqrt(3), X, Y,
    Z: the SN3D diffuse field of :func:`diffuse_noise`, with real content.

    ``dirs = 8``: eight independent chains of the bank's ambience clips (each starting 1/16, 3/16, ... 15/16 into its first
    clip, so that even a bank with a single ambience clip gives eight mutually delayed, decorrelated copies)
    arrive as plane waves from the vertices of a randomly rotated cube. The cube is a spherical 3-design, so X, Y
    and Z each get 1/3 of W's power and the mean intensity vector vanishes: the SN3D diffuse field of
    :func:`diffuse_noise`, with real content."""
    infos: list[dict] = []
    if dirs == 0:
        out = np.stack([_ambience_chain(bank, rng, n, (k + 0.5 + rng.uniform(-0.25, 0.25)) / 4, infos)
                        for k in range(4)])
        out[1:] /= math.sqrt(3.0)
        out /= float(np.std(out[0])) + 1e-12
        return out, infos
    if dirs != 8:
        raise ValueError(f"dirs must be 0 or 8, got {dirs}")
    out = np.zeros((4, n))
    for k, u in enumerate(CUBE_DIRS @ _random_rotation(rng).T):
        sk = _ambience_chain(bank, rng, n, (k + 0.5 + rng.uniform(-0.25, 0.25)) / 8, infos)
        out[0] += sk
        out[1] += u[1] * sk  # ACN: W, Y, Z, X
        out[2] += u[2] * sk
        out[3] += u[0] * sk
    out /= float(np.std(out[0])) + 1e-12
    return out, infos


def labels_from_events(events: Sequence[Event], room: Room, cfg: SynthConfig) -> SceneLabels:
    num_frames = int(round(cfg.duration_s / HOP_S))
    mic = np.asarray(room.mic)
    rows = []
    for ev in events:
        if ev.role != "target":  # distractors are sound, not events
            continue
        for fr in ev.frames:
            k = int(np.clip(fr - ev.anchor_frames[0], 0, len(ev.anchor_frames) - 1)) if ev.moving else 0
            v = ev.positions[k] - mic
            az, el = xyz_to_azel(v)
            # DCASE reference files: integer degrees and centimetres
            rows.append((int(fr), ev.class_id, ev.source_id, float(np.round(az)), float(np.round(el)),
                         float(np.round(np.linalg.norm(v) * 100)) / 100))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    rows = [(f, c, s, a if a != -180.0 else 180.0, e, d) for f, c, s, a, e, d in rows]
    return SceneLabels.from_rows(rows, cfg.class_names, num_frames=num_frames)


@dataclass
class Scene:
    foa: np.ndarray                 # float32 (4, N) ACN/SN3D
    labels: SceneLabels
    room: Room
    events: list[Event] = field(default_factory=list)
    snr_db: float | None = None
    ambience: list[dict] = field(default_factory=list)  # ambience clips of the background (real banks)
    gain: float = 1.0  # the final scale applied to the mix (peak normalisation or clip guard)

    @property
    def sources(self) -> list[dict]:
        """Every rendered source: role, class, clip, level, place (JSON-ready)."""
        mic = np.asarray(self.room.mic)
        out = []
        for ev in self.events:
            az, el = xyz_to_azel(ev.positions[0] - mic)
            d = {"role": ev.role, "class": (self.labels.class_names[ev.class_id] if ev.class_id >= 0 else ""),
                 **{k: v for k, v in ev.info.items() if k not in ("role", "class")},
                 "start_s": ev.start / FS, "end_s": (ev.start + len(ev.signal)) / FS,
                 "level_dbfs": None if ev.level_db is None else round(ev.level_db + 20 * math.log10(self.gain), 2),
                 "azimuth": round(float(az), 1), "elevation": round(float(el), 1),
                 "distance_m": round(float(np.linalg.norm(ev.positions[0] - mic)), 2), "moving": bool(ev.moving)}
            out.append(d)
        return out


def render_scene(room: Room, cfg: SynthConfig, rng: np.random.Generator, bank=None,
                 events: list[Event] | None = None) -> Scene:
    """Render one scene. ``events`` may be given (tests place sources by hand); otherwise drawn from ``bank``
    (plus distractors when the bank has them and ``cfg.distractors_per_min`` > 0)."""
    if bank is None:
        bank = ProceduralBank(cfg.class_names)
    if events is None:
        events = plan_events(rng, room, cfg, bank) if cfg.targets else []
        if getattr(bank, "has_distractors", False) and cfg.distractors_per_min > 0:
            events = events + plan_distractors(rng, room, cfg, bank)
    n_total = int(round(cfg.duration_s * FS))
    mix = np.zeros((4, n_total))
    all_pos = [p for ev in events for p in ev.positions]
    rirs_flat = compute_rirs(room, np.array(all_pos), cfg) if all_pos else []
    k = 0
    for ev in events:
        rirs = rirs_flat[k:k + len(ev.positions)]
        k += len(ev.positions)
        mix += render_event(ev, room, cfg, rirs, n_total, rng)
    snr = None
    ambience: list[dict] = []
    if cfg.snr_db is not None and (events or cfg.level_db is not None):
        targets = [ev for ev in events if ev.role == "target"] or events
        active = np.zeros(n_total, bool)
        for ev in targets:
            for fr in ev.frames:
                active[fr * 2400:(fr + 1) * 2400] = True
        if active.any():
            p_sig = float(np.mean(mix[0, active] ** 2))
        elif cfg.level_db is not None:  # nothing to measure against: the middle of the level range
            p_sig = 10 ** ((REF_LEVEL_DBFS + 0.5 * sum(cfg.level_db)) / 10)
        else:
            p_sig = float(np.mean(mix[0] ** 2))
        snr = float(rng.uniform(*cfg.snr_db))
        if cfg.ambience and getattr(bank, "has_ambience", False):
            background, ambience = diffuse_ambience(bank, rng, n_total, cfg.ambience_dirs)
        else:
            background = diffuse_noise(rng, n_total)
        mix += background * math.sqrt(p_sig / 10 ** (snr / 10))
    peak = float(np.max(np.abs(mix))) if mix.size else 0.0
    gain = 1.0
    if cfg.level_db is None:
        if peak > 0:
            gain = rng.uniform(0.3, 0.8) / peak
    elif peak > 0.99:  # absolute levels: only keep the loudest scenes from clipping
        gain = 0.99 / peak
    mix *= gain
    return Scene(mix.astype(np.float32), labels_from_events(events, room, cfg), room, events, snr, ambience,
                 float(gain))


def foa_to_stereo(foa: np.ndarray) -> np.ndarray:
    """DCASE2025-style stereo: two coincident cardioids facing left/right, L = (W + Y)/2, R = (W - Y)/2."""
    w, y = foa[0], foa[1]
    return np.stack([0.5 * (w + y), 0.5 * (w - y)]).astype(np.float32)


def onscreen_mask(labels: SceneLabels, hfov_deg: float = 100.0, vfov_deg: float = 67.8) -> np.ndarray:
    """(T, M) int: event inside a front-facing camera's field of view (DCASE2025 audio-visual flag)."""
    az, el = xyz_to_azel(labels.doa)
    return (labels.active & (np.abs(az) <= hfov_deg / 2) & (np.abs(el) <= vfov_deg / 2)).astype(int)


def write_stereo_variant(src: str | os.PathLike, split: str, dst: str | os.PathLike | None = None,
                         pcm16: bool = False) -> int:
    """Write the DCASE 2025 stereo variant of an already rendered FOA split: ``<dst>/stereo_<split>/*.wav``
    (:func:`foa_to_stereo`) and ``<dst>/metadata_stereo_<split>/*.csv`` (azimuth folded, distance, onscreen flag)
    from ``<src>/foa_<split>`` and ``<src>/metadata_<split>`` (dcase2024 labels with distances). With a float
    FOA render this is what ``seld-synth --stereo`` writes for the same scenes (up to the integer-degree rounding
    of the FOA labels it reads back). ``dst`` defaults to ``src``. Returns the number of scenes written."""
    dst = Path(dst if dst is not None else src)
    n = 0
    for name, wav, labels in iter_dataset(src, split, fmt="dcase2024"):
        foa, _ = read_wav(wav, FS)
        write_wav(dst / f"stereo_{split}" / f"{name}.wav", foa_to_stereo(foa), FS, pcm16=pcm16)
        write_labels(dst / f"metadata_stereo_{split}" / f"{name}.csv", labels, fmt="dcase2025",
                     onscreen=onscreen_mask(labels))
        n += 1
    return n


# ---------------------------------------------------------------------------------------------------- datasets
SPLIT_FOLD = {"train": 1, "val": 2, "test": 3}
DEFAULT_ROOM_RANGES = {"train": (0, 10000), "val": (10000, 20000), "test": (20000, 30000)}


def parse_room_spec(spec: str | None, split: str) -> list[int] | tuple[int, int]:
    """``None`` -> the split's default id range; ``"A:B"`` -> range; a path to rooms_<split>.json -> its id list."""
    if spec is None:
        if split not in DEFAULT_ROOM_RANGES:
            raise ValueError(f"no default room range for split {split!r}; pass --rooms-from A:B")
        return DEFAULT_ROOM_RANGES[split]
    if ":" in spec and not os.path.exists(spec):
        a, b = spec.split(":", 1)
        try:
            a, b = int(a), int(b)
        except ValueError:
            raise ValueError(f"--rooms-from {spec!r}: expected START:END room ids or a rooms json file") from None
        if b <= a:
            raise ValueError(f"--rooms-from {spec!r}: empty room id range")
        return (a, b)
    p = Path(spec)
    if not p.is_file():
        raise ValueError(f"--rooms-from {spec!r}: not a START:END range and no such file")
    ids = [int(r["room_id"]) for r in json.loads(p.read_text())["rooms"]]
    if not ids:
        raise ValueError(f"{p}: no rooms listed")
    return ids


def scene_rooms(spec, num_scenes: int, num_rooms: int | None) -> list[int]:
    if isinstance(spec, list):
        return [spec[i % len(spec)] for i in range(num_scenes)]
    a, b = spec
    n = min(b - a, num_rooms or num_scenes)
    return [a + (i % n) for i in range(num_scenes)]


def _split_key(split: str) -> int:
    return int(hashlib.sha1(split.encode()).hexdigest()[:8], 16)


def _render_task(task: dict) -> dict:
    cfg: SynthConfig = task["cfg"]

    bank = make_bank(task["bank"], cfg.class_names, split=task.get("bank_split"),
                     real_ratio=task.get("real_ratio"))
    room = room_from_id(task["room_id"], cfg, task["room_seed"])
    rng = np.random.default_rng([task["seed"], _split_key(task["split"]), task["index"]])
    t0 = time.perf_counter()
    scene = render_scene(room, cfg, rng, bank)
    out, split, name = Path(task["out"]), task["split"], task["name"]
    write_wav(out / f"foa_{split}" / f"{name}.wav", scene.foa, FS, pcm16=task["pcm16"])
    write_labels(out / f"metadata_{split}" / f"{name}.csv", scene.labels)
    if task["stereo"]:
        write_wav(out / f"stereo_{split}" / f"{name}.wav", foa_to_stereo(scene.foa), FS, pcm16=task["pcm16"])
        write_labels(out / f"metadata_stereo_{split}" / f"{name}.csv", scene.labels, fmt="dcase2025",
                     onscreen=onscreen_mask(scene.labels))
    targets = [ev for ev in scene.events if ev.role == "target"]
    counts = {cfg.class_names[ev.class_id]: 0 for ev in targets}
    for ev in targets:
        counts[cfg.class_names[ev.class_id]] += 1
    info = {"name": name, "split": split, "room_id": room.room_id, "bank": task["bank"] or "procedural",
            "bank_split": task.get("bank_split"), "real_ratio": task.get("real_ratio"), "snr_db": scene.snr_db,
            "gain": scene.gain, "sources": scene.sources,
            "ambience": [{k: v for k, v in a.items()} for a in scene.ambience]}
    (out / f"sources_{split}").mkdir(parents=True, exist_ok=True)
    (out / f"sources_{split}" / f"{name}.json").write_text(json.dumps(info, indent=1))
    act = scene.labels.active.sum(axis=1)
    real = sum(1 for ev in targets if ev.info.get("bank") == "real")
    return {"name": name, "room_id": room.room_id, "seconds": time.perf_counter() - t0, "counts": counts,
            "moving": sum(ev.moving for ev in targets), "events": len(targets), "real_events": real,
            "distractors": len(scene.events) - len(targets), "ambience_clips": len(scene.ambience),
            "snr_db": scene.snr_db, "frames_by_polyphony": [int(np.sum(act == k)) for k in range(4)]}


def generate_split(out: str | os.PathLike, split: str, num_scenes: int, cfg: SynthConfig, seed: int = 0,
                   workers: int = 1, rooms_from: str | None = None, num_rooms: int | None = None,
                   room_seed: int = 0, bank: str | None = None, stereo: bool = False, pcm16: bool = False,
                   progress: bool = True, bank_split: str | None = None, real_ratio: float | None = None) -> dict:
    """Generate ``num_scenes`` scenes of one split into the DCASE 2024 layout. Deterministic for (seed, split,
    scene index, room ids) whatever ``workers`` is. Writes ``<out>/rooms_<split>.json``,
    ``<out>/summary_<split>.json`` and ``<out>/sources_<split>/<name>.json`` (the clips each scene used); returns
    the summary. ``bank`` is a :func:`~seld_ros.data.bank.make_bank` spec; a real or mixed bank draws from its
    ``bank_split`` (default: ``split`` when that is train / val / test)."""
    if bank_split is None and split in SPLITS:
        bank_split = split
    try:  # fail here, with the reason, rather than in every worker
        probe = make_bank(bank, cfg.class_names, split=bank_split, real_ratio=real_ratio)
    except LabelError as exc:
        raise ValueError(str(exc)) from None
    if cfg.targets and not set(getattr(probe, "class_names", cfg.class_names)) & set(cfg.class_names):
        raise ValueError(f"bank {bank!r} (split {bank_split}) has none of the classes {cfg.class_names}")
    if not cfg.targets and not getattr(probe, "has_distractors", False) and not getattr(probe, "has_ambience", False):
        raise ValueError(f"no targets asked for and bank {bank!r} has neither distractors nor ambience")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    spec = parse_room_spec(rooms_from, split)
    room_ids = scene_rooms(spec, num_scenes, num_rooms)
    fold = SPLIT_FOLD.get(split, 9)
    tasks = [{"cfg": cfg, "bank": bank, "room_id": rid, "room_seed": room_seed, "seed": seed, "split": split,
              "index": i, "out": str(out), "name": f"fold{fold}_room{rid}_mix{i + 1:03d}", "stereo": stereo,
              "pcm16": pcm16, "bank_split": bank_split, "real_ratio": real_ratio} for i, rid in enumerate(room_ids)]
    rooms = [asdict(room_from_id(r, cfg, room_seed)) for r in sorted(set(room_ids))]
    (out / f"rooms_{split}.json").write_text(json.dumps({"split": split, "room_seed": room_seed, "rooms": rooms},
                                                        indent=1))
    t0 = time.perf_counter()
    results = []
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None
    bar = tqdm(total=len(tasks), desc=f"seld-synth {split}", unit="scene", disable=not progress) if tqdm else None
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            for r in pool.imap_unordered(_render_task, tasks):
                results.append(r)
                if bar:
                    bar.update(1)
    else:
        for t in tasks:
            results.append(_render_task(t))
            if bar:
                bar.update(1)
    if bar:
        bar.close()
    wall = time.perf_counter() - t0
    counts = {c: 0 for c in cfg.class_names}
    for r in results:
        for c, n in r["counts"].items():
            counts[c] += n
    poly = np.sum([r["frames_by_polyphony"] for r in results], axis=0).tolist() if results else [0, 0, 0, 0]
    summary = {"split": split, "scenes": len(results), "audio_seconds": len(results) * cfg.duration_s,
               "wall_seconds": round(wall, 1), "workers": workers, "seed": seed, "room_seed": room_seed,
               "rooms": sorted(set(room_ids)), "events_per_class": counts,
               "events": int(sum(r["events"] for r in results)), "moving_events": int(sum(r["moving"] for r in results)),
               "real_events": int(sum(r["real_events"] for r in results)),
               "distractors": int(sum(r["distractors"] for r in results)),
               "ambience_clips": int(sum(r["ambience_clips"] for r in results)),
               "bank": bank or "procedural", "bank_split": bank_split, "real_ratio": real_ratio,
               "frames_by_polyphony": poly, "config": {k: v for k, v in asdict(cfg).items() if k != "class_names"}}
    (out / f"summary_{split}.json").write_text(json.dumps(summary, indent=1))
    return summary

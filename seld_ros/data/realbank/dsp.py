"""Signal processing for the real-sound bank: resampling, trimming, cutting at quiet points, quality checks,
loudness normalisation, a YIN pitch tracker for speech gender, and assembling derived events (concatenated
utterances, walks from single steps, knocks from wood hits). numpy/scipy only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfilt

from seld_ros.audio.resample import INTERNAL_SAMPLE_RATE, resample_to

SR = INTERNAL_SAMPLE_RATE
FRAME = 480  # 20 ms at 24 kHz


def to_bank_rate(x: np.ndarray, sr: int) -> np.ndarray:
    """Mono float -> 24 kHz mono float32 (DC removed)."""
    x = np.asarray(x, dtype=np.float32)
    if sr != SR:
        x = resample_to(x[None, :], int(sr), SR)[0]
    return (x - np.float32(x.mean())).astype(np.float32) if x.size else x


def frame_db(x: np.ndarray, frame: int = FRAME) -> np.ndarray:
    n = len(x) // frame
    if n == 0:
        return np.full(1, 20 * np.log10(np.sqrt(np.mean(x ** 2)) + 1e-9) if len(x) else -200.0)
    e = np.mean(x[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1)
    return 10 * np.log10(e + 1e-18)


def trim_silence(x: np.ndarray, rel_db: float = 40.0, abs_db: float = -65.0, pad_s: float = 0.05) -> np.ndarray:
    """Drop leading/trailing frames quieter than max(loudest frame - rel_db, abs_db)."""
    db = frame_db(x)
    thr = max(db.max() - rel_db, abs_db)
    on = np.flatnonzero(db > thr)
    if on.size == 0:
        return x[:0]
    pad = int(pad_s * SR)
    a = max(0, on[0] * FRAME - pad)
    b = min(len(x), (on[-1] + 1) * FRAME + pad)
    return x[a:b]


def cut_at_quiet_points(x: np.ndarray, rng: np.random.Generator, min_s: float = 1.0, max_s: float = 8.0,
                        target_s: tuple[float, float] = (4.0, 8.0)) -> list[np.ndarray]:
    """Cut a long signal into pieces of min_s..max_s seconds, each cut at the quietest 20 ms frame near a drawn
    target length. Signals at most max_s long come back whole; a leftover shorter than min_s is dropped."""
    n = len(x)
    if n <= max_s * SR:
        return [x] if n >= min_s * SR else []
    db = frame_db(x)
    pieces, start = [], 0
    while n - start > max_s * SR:
        want = rng.uniform(*target_s)
        lo = start + int(max(min_s, want - 1.5) * SR)
        hi = start + int(min(max_s, want + 1.5) * SR)
        f_lo, f_hi = lo // FRAME, max(lo // FRAME + 1, hi // FRAME)
        seg = db[f_lo:f_hi]
        cut = (f_lo + int(np.argmin(seg))) * FRAME + FRAME // 2 if seg.size else hi
        pieces.append(x[start:cut])
        start = cut
    if n - start >= min_s * SR:
        pieces.append(x[start:])
    return pieces


@dataclass
class Quality:
    ok: bool
    reason: str = ""
    clipped_fraction: float = 0.0
    active_fraction: float = 0.0


def check_piece(x: np.ndarray, raw_peak_clip: float = 0.999, clip_limit: float = 0.001,
                silent_db: float = -60.0) -> Quality:
    """Reject silent pieces and pieces with more than ``clip_limit`` of samples at full scale (measured on the
    decoded signal before normalisation; runs of >= 3 samples at >= raw_peak_clip count as clipped)."""
    if x.size == 0:
        return Quality(False, "empty")
    db = frame_db(x)
    rms_db = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-18)
    if rms_db < silent_db or db.max() < silent_db + 10:
        return Quality(False, "silent")
    active = float(np.mean(db > db.max() - 30))
    a = np.abs(x) >= raw_peak_clip
    # clipped samples: members of a run of >= 3 consecutive full-scale samples
    run = a[:-2] & a[1:-1] & a[2:] if a.size >= 3 else np.zeros(0, bool)
    clipped = np.zeros_like(a)
    if run.size:
        clipped[:-2] |= run
        clipped[1:-1] |= run
        clipped[2:] |= run
    frac = float(clipped.mean())
    if frac > clip_limit:
        return Quality(False, "clipped", frac, active)
    return Quality(True, "", frac, active)


def loudness_normalise(x: np.ndarray, target_dbfs: float = -23.0, peak_limit: float = 0.95) -> np.ndarray:
    """Scale so the RMS over active frames (within 30 dB of the loudest 20 ms frame) is ``target_dbfs``, without
    letting the peak pass ``peak_limit``."""
    db = frame_db(x)
    act = db > db.max() - 30
    n = len(db)
    if len(x) >= FRAME:
        fr = x[: n * FRAME].reshape(n, FRAME)[act]
        level = 10 * np.log10(np.mean(fr.astype(np.float64) ** 2) + 1e-18)
    else:
        level = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-18)
    g = 10 ** ((target_dbfs - level) / 20)
    peak = float(np.max(np.abs(x))) * g
    if peak > peak_limit:
        g *= peak_limit / peak
    return (x * g).astype(np.float32)


# ---------------------------------------------------------------- pitch (YIN)
def yin_f0(x: np.ndarray, sr: int = SR, fmin: float = 60.0, fmax: float = 400.0, frame_s: float = 0.04,
           hop_s: float = 0.01, threshold: float = 0.15, work_sr: int = 8000) -> np.ndarray:
    """Per-frame F0 in Hz (NaN where unvoiced) by YIN (cumulative mean normalised difference, absolute threshold,
    parabolic interpolation). The signal is low-passed and taken to 8 kHz first (enough for 60-400 Hz)."""
    x = np.asarray(x, dtype=np.float64)
    if sr != work_sr:
        x = resample_to(x[None, :].astype(np.float32), sr, work_sr)[0].astype(np.float64)
    sr = work_sr
    w = int(frame_s * sr)
    hop = int(hop_s * sr)
    tau_min, tau_max = int(sr / fmax), int(sr / fmin) + 1
    if len(x) < w + tau_max + 1:
        return np.full(0, np.nan)
    n = 1 + (len(x) - w - tau_max) // hop
    idx = np.arange(n)[:, None] * hop
    frames = x[idx + np.arange(w + tau_max)[None, :]]
    energy = np.mean(frames[:, :w] ** 2, axis=1)
    # difference function d(tau) = sum_j (x_j - x_{j+tau})^2 over the window, via FFT-free direct lags (tau_max ~ 134)
    base = frames[:, :w]
    d = np.empty((n, tau_max))
    d[:, 0] = 0.0
    for tau in range(1, tau_max):
        diff = base - frames[:, tau:tau + w]
        d[:, tau] = np.sum(diff * diff, axis=1)
    cum = np.cumsum(d[:, 1:], axis=1) / np.arange(1, tau_max)[None, :]
    dn = np.ones_like(d)
    dn[:, 1:] = d[:, 1:] / np.maximum(cum, 1e-12)
    f0 = np.full(n, np.nan)
    loud = energy > max(energy.max() * 10 ** (-35 / 10), 1e-10) if n else energy
    for i in np.flatnonzero(loud):
        row = dn[i]
        cand = np.flatnonzero(row[tau_min:tau_max - 1] < threshold)
        if cand.size == 0:
            continue
        t = tau_min + cand[0]
        while t + 1 < tau_max - 1 and row[t + 1] < row[t]:
            t += 1
        a, b, c = row[t - 1], row[t], row[t + 1] if t + 1 < tau_max else row[t]
        den = a - 2 * b + c
        shift = 0.5 * (a - c) / den if abs(den) > 1e-12 else 0.0
        f0[i] = sr / (t + float(np.clip(shift, -1, 1)))
    return f0


@dataclass
class GenderDecision:
    gender: str  # "male" | "female" | "" (dropped)
    f0_hz: float  # median over voiced frames (NaN if too little voicing)
    voiced_fraction: float
    reason: str = ""


def speech_gender(x: np.ndarray, sr: int = SR, male_below: float = 155.0, female_above: float = 175.0,
                  min_voiced_s: float = 0.25) -> GenderDecision:
    """Median F0 over voiced frames -> male (< male_below), female (> female_above); ambiguous or too little voicing
    -> dropped (gender '')."""
    f0 = yin_f0(x, sr)
    voiced = f0[np.isfinite(f0)]
    frac = float(voiced.size / max(f0.size, 1))
    if voiced.size * 0.01 < min_voiced_s:
        return GenderDecision("", float(np.median(voiced)) if voiced.size else float("nan"), frac, "too_little_voicing")
    med = float(np.median(voiced))
    if med < male_below:
        return GenderDecision("male", med, frac)
    if med > female_above:
        return GenderDecision("female", med, frac)
    return GenderDecision("", med, frac, "ambiguous_f0")


# ---------------------------------------------------------------- derived events
def concatenate(parts: list[np.ndarray], rng: np.random.Generator,
                gap_s: tuple[float, float] = (0.15, 0.45)) -> np.ndarray:
    """Join pieces with short silent gaps (levels of the parts equalised first)."""
    out = []
    for k, p in enumerate(parts):
        if k:
            out.append(np.zeros(int(rng.uniform(*gap_s) * SR), np.float32))
        out.append(loudness_normalise(p, -23.0, 0.95))
    return np.concatenate(out).astype(np.float32)


def sequence_hits(hits: list[np.ndarray], rng: np.random.Generator, count: int, interval_s: tuple[float, float],
                  jitter_s: float = 0.03, level_db: float = 3.0, tail_s: float = 0.3) -> np.ndarray:
    """Place ``count`` hits drawn from ``hits`` at intervals drawn from ``interval_s`` (plus jitter), each with a
    random level change of up to +-level_db."""
    times, t = [], 0.0
    for _ in range(count):
        times.append(t)
        t += rng.uniform(*interval_s) + rng.uniform(-jitter_s, jitter_s)
    chosen = [hits[int(rng.integers(len(hits)))] for _ in range(count)]
    n = int((times[-1] + tail_s) * SR) + max(len(h) for h in chosen)
    out = np.zeros(n, np.float32)
    for tt, h in zip(times, chosen):
        g = 10 ** (rng.uniform(-level_db, level_db) / 20)
        a = int(tt * SR)
        out[a:a + len(h)] += g * loudness_normalise(h, -20.0, 0.9)
    return out


def through_door(x: np.ndarray, cutoff_hz: float = 1800.0) -> np.ndarray:
    """Low-pass (4th-order Butterworth) as heard through a closed wooden door."""
    sos = butter(4, cutoff_hz, btype="low", fs=SR, output="sos")
    return sosfilt(sos, x).astype(np.float32)


def through_phone_speaker(x: np.ndarray, low_hz: float = 300.0, high_hz: float = 8000.0,
                          drive: float = 2.0) -> np.ndarray:
    """A ringtone file as a real phone plays it: a small loudspeaker's band (4th-order Butterworth band-pass
    300 Hz - 8 kHz) and mild soft clipping (tanh at ``drive``, peak-matched), so a designed tone carries the
    colouring of a phone in a room rather than the studio file's full band."""
    sos = butter(4, [low_hz, min(high_hz, 0.45 * SR)], btype="band", fs=SR, output="sos")
    y = sosfilt(sos, x)
    peak = float(np.max(np.abs(y))) or 1.0
    y = np.tanh(drive * y / peak) / np.tanh(drive) * peak
    return y.astype(np.float32)


__all__ = ["GenderDecision", "Quality", "SR", "check_piece", "concatenate", "cut_at_quiet_points", "frame_db",
           "loudness_normalise", "sequence_hits", "speech_gender", "through_door", "through_phone_speaker", "to_bank_rate", "trim_silence",
           "yin_f0"]

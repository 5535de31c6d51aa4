"""A built-in procedural sound bank for the 13 STARSS23 classes, so the project runs with no downloads.

Each class has its own generator with randomised pitch, timbre, rhythm and duration (one ``numpy.random.Generator``
per draw, so a seed reproduces a sound). These are sketches of the classes, not recordings: good enough to learn
spatial cues and coarse class identity, and to test the pipeline end to end. Put real recordings in a user bank
(:class:`seld_ros.data.bank.FolderBank`) for a model meant for real rooms.

All generators return mono float32 at 24 kHz, peak-normalised to 0.9.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.signal import butter, lfilter, sosfilt

from seld_ros.constants import SAMPLE_RATE as FS


# ---------------------------------------------------------------------------------------------------- helpers
def _t(n: int) -> np.ndarray:
    return np.arange(n) / FS


def _n(sec: float) -> int:
    return max(1, int(round(sec * FS)))


def _band(x: np.ndarray, lo: float | None, hi: float | None, order: int = 2) -> np.ndarray:
    nyq = FS / 2
    if lo and hi:
        sos = butter(order, [lo / nyq, min(hi, nyq * 0.95) / nyq], "bandpass", output="sos")
    elif lo:
        sos = butter(order, lo / nyq, "highpass", output="sos")
    else:
        sos = butter(order, min(hi, nyq * 0.95) / nyq, "lowpass", output="sos")
    return sosfilt(sos, x)


def _colored(rng: np.random.Generator, n: int, exponent: float = 1.0) -> np.ndarray:
    """Noise with a 1/f^exponent power spectrum (0 white, 1 pink, 2 brown), unit RMS."""
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.fft.rfftfreq(n, 1 / FS)
    f[0] = f[1] if n > 1 else 1.0
    x = np.fft.irfft(spec / f ** (exponent / 2), n)
    return x / (np.std(x) + 1e-12)


def _resonator(x: np.ndarray, freq: float, bw: float) -> np.ndarray:
    r = np.exp(-np.pi * bw / FS)
    a = [1.0, -2 * r * np.cos(2 * np.pi * freq / FS), r * r]
    return lfilter([1 - r], a, x)


def _formants(x: np.ndarray, formants, bws) -> np.ndarray:
    y = x
    for f, b in zip(formants, bws):
        if f < FS / 2 * 0.9:
            y = _resonator(y, f, b)
    return y


def _env(n: int, attack: float, release: float, curve: float = 1.0) -> np.ndarray:
    e = np.ones(n)
    a, r = min(n, _n(attack)), min(n, _n(release))
    if a > 1:
        e[:a] = np.linspace(0, 1, a) ** curve
    if r > 1:
        e[n - r:] *= np.linspace(1, 0, r) ** curve
    return e


def _decay(n: int, t60: float) -> np.ndarray:
    return np.exp(-6.9 * _t(n) / max(t60, 1e-3))


def _place(buf: np.ndarray, x: np.ndarray, start: int, gain: float = 1.0) -> None:
    if start >= len(buf):
        return
    m = min(len(x), len(buf) - start)
    buf[start:start + m] += gain * x[:m]


def _finish(x: np.ndarray) -> np.ndarray:
    x = _band(np.asarray(x, dtype=np.float64), 20.0, None)  # no DC, so silence stays silence for the trim
    nz = np.nonzero(np.abs(x) > 1e-4 * (np.max(np.abs(x)) + 1e-12))[0]
    if nz.size:
        x = x[max(0, nz[0] - 48):nz[-1] + 48]
    x = x * _env(len(x), 0.002, 0.005)
    return (0.9 * x / (np.max(np.abs(x)) + 1e-12)).astype(np.float32)


def _glottal(rng: np.random.Generator, f0: np.ndarray, open_q: float = 0.6, breath: float = 0.05) -> np.ndarray:
    """Rosenberg glottal-flow derivative driven by an f0 contour (Hz per sample), with jitter and breath noise."""
    f0 = f0 * (1 + 0.01 * _band(rng.standard_normal(len(f0)), None, 30.0) * 3)
    phase = np.cumsum(f0 / FS) % 1.0
    cq = 0.15
    g = np.where(phase < open_q, 0.5 * (1 - np.cos(np.pi * phase / open_q)),
                 np.where(phase < open_q + cq, np.cos(np.pi * (phase - open_q) / (2 * cq)), 0.0))
    dg = np.diff(g, prepend=0.0)
    return dg / (np.std(dg) + 1e-12) + breath * rng.standard_normal(len(f0))


# Vowel formants (Hz) of an adult male voice; female voices scale them up by ~1.17.
_VOWELS = [(730, 1090, 2440, 3400), (530, 1840, 2480, 3500), (270, 2290, 3010, 3700), (570, 840, 2410, 3300),
           (300, 870, 2240, 3300), (660, 1720, 2410, 3400), (490, 1350, 1690, 3300), (440, 1020, 2240, 3300)]


# ---------------------------------------------------------------------------------------------------- classes
def _speech(rng: np.random.Generator, f0_lo: float, f0_hi: float, fscale: float) -> np.ndarray:
    dur = rng.uniform(1.0, 5.0)
    out = np.zeros(_n(dur + 0.5))
    base = rng.uniform(f0_lo, f0_hi)
    fs_ = fscale * rng.uniform(0.95, 1.05)  # speaker's vocal tract length
    t = 0.0
    while t < dur:
        nsyl = int(rng.integers(1, 5))  # a word
        for _ in range(nsyl):
            sd = rng.uniform(0.09, 0.28)
            n = _n(sd)
            # consonant onset: a short fricative or plosive burst, sometimes
            if rng.random() < 0.5:
                cn = _n(rng.uniform(0.02, 0.08))
                fric = _band(rng.standard_normal(cn), rng.uniform(2000, 4500), 9000) * _env(cn, 0.005, 0.01)
                _place(out, rng.uniform(0.05, 0.2) * fric / (np.std(fric) + 1e-12), _n(t))
                t += cn / FS
            contour = base * (1 + rng.uniform(-0.15, 0.2) * np.linspace(0, 1, n) + rng.uniform(-0.1, 0.1))
            src = _glottal(rng, contour, open_q=rng.uniform(0.5, 0.7), breath=rng.uniform(0.02, 0.15))
            v = np.array(_VOWELS[int(rng.integers(len(_VOWELS)))]) * fs_
            syl = _formants(src, v, (80, 100, 150, 200))
            syl = syl / (np.std(syl) + 1e-12) * _env(n, 0.03, 0.06)
            _place(out, syl * rng.uniform(0.6, 1.0), _n(t))
            t += sd
        t += rng.uniform(0.05, 0.35)  # pause between words
        base *= rng.uniform(0.96, 1.02)  # declination
    return _finish(out)


def female_speech(rng: np.random.Generator) -> np.ndarray:
    return _speech(rng, 165.0, 255.0, 1.17)


def male_speech(rng: np.random.Generator) -> np.ndarray:
    return _speech(rng, 85.0, 155.0, 1.0)


def clapping(rng: np.random.Generator) -> np.ndarray:
    nclap = int(rng.integers(1, 4))  # one to three people
    dur = rng.uniform(1.0, 5.0)
    out = np.zeros(_n(dur + 0.3))
    for _ in range(nclap):
        period = rng.uniform(0.15, 0.5)
        fc = rng.uniform(700, 2500)
        t = rng.uniform(0, period)
        while t < dur:
            n = _n(0.06)
            clap = _band(rng.standard_normal(n), fc * 0.5, fc * 2.5) * _decay(n, rng.uniform(0.02, 0.06))
            clap[: _n(0.001)] *= np.linspace(0, 1, _n(0.001))
            _place(out, clap, _n(t), rng.uniform(0.7, 1.0))
            t += period * rng.uniform(0.92, 1.08)
    return _finish(out)


def telephone(rng: np.random.Generator) -> np.ndarray:
    kind = rng.integers(3)
    nring = int(rng.integers(1, 4))
    on, off = rng.uniform(0.4, 1.6), rng.uniform(0.2, 1.5)
    segs = []
    for _ in range(nring):
        n = _n(on)
        t = _t(n)
        if kind == 0:  # dual-tone ring (e.g. 440+480 Hz, 400+450 Hz)
            f1 = rng.choice([400.0, 425.0, 440.0]) * rng.uniform(0.98, 1.02)
            x = np.sin(2 * np.pi * f1 * t) + np.sin(2 * np.pi * (f1 + rng.uniform(25, 60)) * t)
            if rng.random() < 0.5:  # double ring
                x *= (np.mod(t, 0.6) < 0.4)
        elif kind == 1:  # electromechanical bell: metallic partials struck at 20-25 Hz
            rate = rng.uniform(18, 26)
            f = rng.uniform(900, 1800)
            x = sum(a * np.sin(2 * np.pi * f * r * t) for r, a in ((1, 1), (2.76, 0.5), (5.4, 0.25)))
            x *= 0.5 + 0.5 * np.cos(2 * np.pi * rate * t) ** 8
        else:  # electronic trill: fast alternation between two tones
            fa, fb = rng.uniform(800, 1300), rng.uniform(1300, 2200)
            sq = (np.mod(t * rng.uniform(12, 24), 1.0) < 0.5)
            ph = np.cumsum(np.where(sq, fa, fb)) / FS
            x = np.sign(np.sin(2 * np.pi * ph)) * 0.5 + 0.5 * np.sin(2 * np.pi * ph)
            x = _band(x, None, 5000)
        segs.append(x * _env(n, 0.005, 0.01))
        segs.append(np.zeros(_n(off)))
    return _finish(np.concatenate(segs[:-1]))


def laughter(rng: np.random.Generator) -> np.ndarray:
    nbouts = int(rng.integers(1, 3))
    out = np.zeros(_n(6.0))
    t = 0.0
    female = rng.random() < 0.5
    for _ in range(nbouts):
        nsyl = int(rng.integers(3, 10))
        f0 = rng.uniform(250, 450) if female else rng.uniform(140, 280)
        rate = rng.uniform(4.0, 6.5)
        for k in range(nsyl):
            sd = rng.uniform(0.08, 0.15)
            n = _n(sd)
            contour = f0 * (1 - 0.04 * k) * (1 + 0.1 * np.sin(np.linspace(0, np.pi, n)))
            src = _glottal(rng, contour, 0.65, breath=rng.uniform(0.3, 0.8))  # breathy
            # 'h' aspiration before the vowel
            h = _band(rng.standard_normal(_n(0.04)), 800, 6000)
            h = 0.15 * h / (np.std(h) + 1e-12)
            v = np.array(_VOWELS[0 if rng.random() < 0.7 else 5]) * (1.17 if female else 1.0)
            voiced = _formants(src, v, (120, 140, 200, 250))
            syl = np.concatenate([h, voiced / (np.std(voiced) + 1e-12) * _env(n, 0.01, 0.05)])
            _place(out, syl * (1 - 0.05 * k), _n(t))
            t += 1 / rate * rng.uniform(0.85, 1.15)
        t += rng.uniform(0.3, 0.8)
    return _finish(out[: _n(t + 0.2)])


def domestic_sounds(rng: np.random.Generator) -> np.ndarray:
    kind = rng.integers(4)
    dur = rng.uniform(1.5, 6.0)
    n = _n(dur)
    t = _t(n)
    if kind == 0:  # appliance hum: mains harmonics + fan noise
        mains = rng.choice([50.0, 60.0])
        x = sum(rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 6)) for k in range(1, 9))
        x = x + rng.uniform(0.2, 0.6) * _band(_colored(rng, n, 1.0), 100, 2000)
    elif kind == 1:  # vacuum cleaner / hair dryer: broadband roar with a motor whine
        whine = rng.uniform(400, 1600) * (1 + 0.01 * np.sin(2 * np.pi * rng.uniform(0.2, 2) * t))
        x = _band(_colored(rng, n, 0.5), 300, 8000) + 0.3 * np.sin(2 * np.pi * np.cumsum(whine) / FS)
    elif kind == 2:  # blender / mixer: motor with load-dependent pitch wobble
        rot = rng.uniform(80, 250) * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.5, 3) * t))
        ph = np.cumsum(rot) / FS
        x = sum(np.sin(2 * np.pi * k * ph) / k for k in range(1, 15)) + 0.5 * _band(rng.standard_normal(n), 1000, 6000)
    else:  # dishes / cutlery: clinks
        x = np.zeros(n)
        tt = 0.0
        while tt < dur - 0.2:
            m = _n(0.3)
            f = rng.uniform(2000, 6000)
            clink = sum(np.sin(2 * np.pi * f * r * _t(m)) * _decay(m, rng.uniform(0.05, 0.2))
                        for r in (1.0, 1.52, 2.31))
            _place(x, clink, _n(tt), rng.uniform(0.3, 1.0))
            tt += rng.exponential(0.3) + 0.05
    return _finish(x * _env(n, rng.uniform(0.05, 0.4), rng.uniform(0.05, 0.4)))


def footsteps(rng: np.random.Generator) -> np.ndarray:
    nsteps = int(rng.integers(3, 12))
    period = rng.uniform(0.4, 0.7)
    hard = rng.uniform(0, 1)  # soft carpet .. hard floor/heels
    out = np.zeros(_n(nsteps * period + 0.5))
    for k in range(nsteps):
        m = _n(0.15)
        f = rng.uniform(60, 140)
        thump = np.sin(2 * np.pi * f * _t(m)) * _decay(m, rng.uniform(0.05, 0.12))
        click = _band(rng.standard_normal(m), 1500 + 2000 * hard, 9000) * _decay(m, 0.015) * hard
        step = thump + 0.8 * click
        if rng.random() < 0.5:  # heel then toe
            _place(step, 0.5 * thump, _n(rng.uniform(0.03, 0.07)))
        _place(out, step, _n(k * period * rng.uniform(0.95, 1.05)), 1.0 if k % 2 else rng.uniform(0.7, 0.95))
    return _finish(out)


def door_cupboard(rng: np.random.Generator) -> np.ndarray:
    parts = []
    if rng.random() < 0.7:  # creak: stick-slip pulse train with a wandering rate through wood resonances
        n = _n(rng.uniform(0.4, 1.5))
        rate = rng.uniform(20, 120) * (1 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * _t(n)))
        rate *= 1 + 0.2 * _band(rng.standard_normal(n), None, 10) * 5
        ph = np.cumsum(np.abs(rate)) / FS
        pulses = (np.diff(np.floor(ph), prepend=0) > 0).astype(float)
        creak = sum(_resonator(pulses, f, 60) for f in rng.uniform(300, 2500, 3))
        parts.append(creak * _env(n, 0.05, 0.1) * (0.5 + 0.5 * np.sin(np.pi * np.linspace(0, 1, n))))
        parts.append(np.zeros(_n(rng.uniform(0.0, 0.3))))
    m = _n(0.5)
    big = rng.random() < 0.6  # door slam vs cupboard click
    f = rng.uniform(60, 140) if big else rng.uniform(250, 700)
    body = sum(np.sin(2 * np.pi * f * r * _t(m)) * _decay(m, rng.uniform(0.08, 0.25) / r) for r in (1.0, 2.3, 3.7))
    hit = _band(rng.standard_normal(m), 500, 8000) * _decay(m, 0.03)
    slam = body + (0.6 if big else 0.3) * hit
    if not big and rng.random() < 0.5:  # latch click after the bump
        _place(slam, 0.5 * _band(rng.standard_normal(_n(0.01)), 3000, 9000), _n(rng.uniform(0.04, 0.1)))
    parts.append(slam)
    return _finish(np.concatenate(parts))


def _note(rng, f0: float, n: int, kind: str) -> np.ndarray:
    t = _t(n)
    if kind == "pluck":  # Karplus-Strong
        period = max(2, int(round(FS / f0)))
        buf = rng.uniform(-1, 1, period)
        out = np.empty(n)
        damp = rng.uniform(0.985, 0.998)
        for i in range(0, n, period):
            m = min(period, n - i)
            out[i:i + m] = buf[:m]
            buf = damp * 0.5 * (buf + np.roll(buf, -1))
        return out
    if kind == "strike":  # piano-like: stretched partials, fast decay of the highs
        b = rng.uniform(1e-4, 5e-4)
        return sum(np.sin(2 * np.pi * f0 * k * np.sqrt(1 + b * k * k) * t) * _decay(n, rng.uniform(0.8, 2.5) / k) / k
                   for k in range(1, 12) if f0 * k < FS / 2.2)
    if kind == "bow":  # sawtooth-ish with vibrato, slow attack, body resonances
        vib = 1 + 0.006 * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t)
        ph = np.cumsum(f0 * vib) / FS
        x = sum(np.sin(2 * np.pi * k * ph) / k for k in range(1, 20) if f0 * k < FS / 2.2)
        x = x * _env(n, rng.uniform(0.08, 0.25), 0.1)
        return x + 0.5 * _resonator(x, rng.uniform(250, 500), 100)
    # wind: near-sine with breath noise
    ph = np.cumsum(f0 * (1 + 0.004 * np.sin(2 * np.pi * 5 * t))) / FS
    x = np.sin(2 * np.pi * ph) + 0.3 * np.sin(4 * np.pi * ph) + 0.1 * _band(rng.standard_normal(n), f0, 3 * f0)
    return x * _env(n, 0.05, 0.08)


def music(rng: np.random.Generator) -> np.ndarray:
    bpm = rng.uniform(80, 160)
    beat = 60 / bpm
    nbars = int(rng.integers(2, 5))
    root = 110 * 2 ** (rng.integers(0, 12) / 12)
    scale = np.array([0, 2, 4, 5, 7, 9, 11]) if rng.random() < 0.6 else np.array([0, 2, 3, 5, 7, 8, 10])
    out = np.zeros(_n(nbars * 4 * beat + 2.0))
    kinds = rng.choice(["pluck", "strike", "bow", "wind"], 2, replace=False)
    for bar in range(nbars):
        deg = int(rng.choice([0, 3, 4, 5]))
        chord = [scale[(deg + i) % 7] + 12 * ((deg + i) // 7) for i in (0, 2, 4)]
        for semi in chord:  # pad chord
            f = root * 2 ** (semi / 12)
            n = _n(4 * beat)
            _place(out, 0.3 * _note(rng, f, n, kinds[0]) * _env(n, 0.02, 0.2), _n(bar * 4 * beat))
        _place(out, 0.6 * _note(rng, root / 2 * 2 ** (chord[0] / 12), _n(2 * beat), "pluck"), _n(bar * 4 * beat))
        t = 0.0
        while t < 4 * beat - 1e-6:  # melody
            d = beat * rng.choice([0.5, 0.5, 1.0, 1.0, 2.0])
            semi = scale[int(rng.integers(7))] + 12
            n = _n(d)
            _place(out, 0.5 * _note(rng, root * 2 ** (semi / 12), n, kinds[1]) * _env(n, 0.01, 0.05),
                   _n(bar * 4 * beat + t))
            t += d
    if rng.random() < 0.6:  # drums: kick and hat
        for k in range(nbars * 8):
            m = _n(0.2)
            if k % 4 == 0:
                kick = np.sin(2 * np.pi * np.cumsum(50 + 100 * _decay(m, 0.05)) / FS) * _decay(m, 0.2)
                _place(out, 0.7 * kick, _n(k * beat / 2))
            hat = _band(rng.standard_normal(m), 6000, 11000) * _decay(m, 0.04)
            _place(out, 0.2 * hat, _n(k * beat / 2))
    return _finish(out)


def music_instrument(rng: np.random.Generator) -> np.ndarray:
    kind = str(rng.choice(["pluck", "strike", "bow", "wind"]))
    lo, hi = {"pluck": (80, 700), "strike": (60, 1200), "bow": (150, 900), "wind": (250, 1500)}[kind]
    nnotes = int(rng.integers(1, 6))
    base = np.exp(rng.uniform(np.log(lo), np.log(hi)))
    out = np.zeros(_n(nnotes * 1.5 + 2.5))
    t = 0.0
    for _ in range(nnotes):
        d = rng.uniform(0.3, 1.5) if nnotes > 1 else rng.uniform(1.0, 3.0)
        f = base * 2 ** (rng.integers(-5, 8) / 12)
        n = _n(d + (1.0 if kind in ("pluck", "strike") else 0.0))
        _place(out, _note(rng, f, n, kind), _n(t))
        t += d
    return _finish(out)


def water_tap(rng: np.random.Generator) -> np.ndarray:
    dur = rng.uniform(1.5, 6.0)
    n = _n(dur)
    lo, hi = rng.uniform(300, 1000), rng.uniform(4000, 10000)
    stream = _band(rng.standard_normal(n), lo, hi) * (1 + 0.3 * _band(rng.standard_normal(n), None, 8) * 10)
    bubbles = np.zeros(n)
    t = 0.0
    rate = rng.uniform(10, 60)
    while t < dur:
        m = _n(rng.uniform(0.005, 0.03))
        f0 = rng.uniform(500, 3500)
        tt = _t(m)
        chirp = np.sin(2 * np.pi * f0 * (tt + 0.5 * rng.uniform(5, 40) * tt * tt)) * _decay(m, m / FS)
        _place(bubbles, chirp, _n(t), rng.uniform(0.2, 1.0))
        t += rng.exponential(1 / rate)
    x = rng.uniform(0.3, 1.0) * stream / (np.std(stream) + 1e-9) + bubbles / (np.std(bubbles) + 1e-9)
    return _finish(x * _env(n, rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.3)))


def bell(rng: np.random.Generator) -> np.ndarray:
    kind = rng.integers(3)
    nstrikes = int(rng.integers(1, 4))
    out = np.zeros(_n(nstrikes * 1.2 + 3.0))
    f0 = np.exp(rng.uniform(np.log(300), np.log(2500)))
    if kind == 0:  # church/hand bell partial ratios (hum, prime, minor third, fifth, nominal, ...)
        ratios = np.array([0.5, 1.0, 1.19, 1.5, 2.0, 2.5, 3.0, 4.2]) * rng.uniform(0.98, 1.02, 8)
    elif kind == 1:  # bar / tubular: strongly inharmonic
        ratios = np.array([1.0, 2.76, 5.40, 8.93])
    else:  # ding-dong door chime: two struck bars a third apart
        ratios = np.array([1.0, 3.9])
    t = 0.0
    for k in range(nstrikes):
        m = _n(2.5)
        f = f0 * (0.8 if (kind == 2 and k % 2) else 1.0)
        tone = sum(np.sin(2 * np.pi * f * r * _t(m) + rng.uniform(0, 6)) * _decay(m, rng.uniform(0.6, 2.5) / r ** 0.5)
                   / (1 + i) ** 0.5 for i, r in enumerate(ratios) if f * r < FS / 2.2)
        _place(out, tone, _n(t))
        t += rng.uniform(0.3, 1.2)
    return _finish(out)


def knock(rng: np.random.Generator) -> np.ndarray:
    nk = int(rng.integers(2, 7))
    gap = rng.uniform(0.1, 0.3)
    freqs = rng.uniform(150, 1000, int(rng.integers(2, 5)))
    out = np.zeros(_n(nk * gap * 1.5 + 0.5))
    t = 0.0
    for k in range(nk):
        m = _n(0.12)
        hit = sum(np.sin(2 * np.pi * f * _t(m)) * _decay(m, rng.uniform(0.02, 0.07)) for f in freqs)
        hit += 0.5 * _band(rng.standard_normal(m), 1000, 8000) * _decay(m, 0.008)
        _place(out, hit, _n(t), rng.uniform(0.7, 1.0))
        t += gap * rng.uniform(0.8, 1.2) * (1.8 if (k == 1 and rng.random() < 0.3) else 1.0)
    return _finish(out)


GENERATORS: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "femaleSpeech": female_speech,
    "maleSpeech": male_speech,
    "clapping": clapping,
    "telephone": telephone,
    "laughter": laughter,
    "domesticSounds": domestic_sounds,
    "footsteps": footsteps,
    "doorCupboard": door_cupboard,
    "music": music,
    "musicInstrument": music_instrument,
    "waterTap": water_tap,
    "bell": bell,
    "knock": knock,
}

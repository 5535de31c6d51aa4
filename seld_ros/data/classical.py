"""Classical reference localizer: active-intensity-vector DOA of FOA audio, per 100 ms label frame.

For a plane wave from unit direction u, SN3D B-format gives X, Y, Z = u * W, so the active intensity
I = Re{conj(W) [X, Y, Z]} points at u. Per label frame we take the STFT bins in [fmin, fmax], and
  * with one active source (oracle count from the labels): DOA = direction of the energy-summed intensity;
  * with K > 1 sources: weighted spherical k-means (K clusters) of the per-bin unit intensity vectors, keeping the
    bins with low diffuseness; the K cluster centres are the estimates (class-agnostic).
This is the physics anchor a learned SELD model has to beat; it knows nothing about classes.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.signal import stft

from seld_ros.data.geometry import angular_distance_matrix_deg, normalize

FS = 24000
HOP = 2400  # 100 ms label frame


def intensity_tf(foa: np.ndarray, fs: int = FS, nfft: int = 1024, hop: int = 480, fmin: float = 100.0,
                 fmax: float = 8000.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per time-frequency bin intensity (F, T, 3), W energy (F, T), and the STFT frame times (T,) in seconds."""
    f, t, z = stft(np.asarray(foa, dtype=np.float64), fs=fs, nperseg=nfft, noverlap=nfft - hop, boundary=None,
                   padded=True)
    band = (f >= fmin) & (f <= fmax)
    w, y, zz, x = z[0, band], z[1, band], z[2, band], z[3, band]
    inten = np.stack([np.real(np.conj(w) * x), np.real(np.conj(w) * y), np.real(np.conj(w) * zz)], axis=-1)
    energy = 0.5 * (np.abs(w) ** 2 + (np.abs(x) ** 2 + np.abs(y) ** 2 + np.abs(zz) ** 2))
    centre = t + (nfft / 2) / fs - nfft / (2 * fs)  # scipy's t is the window centre already
    return inten, energy, centre


def frame_doa(foa: np.ndarray, fs: int = FS, **kw) -> np.ndarray:
    """(T_label, 3) unit DOA per 100 ms label frame from the energy-summed intensity (one dominant source)."""
    inten, _, t = intensity_tf(foa, fs, **kw)
    n_frames = int(np.ceil(foa.shape[1] / HOP))
    frame_of = np.minimum((t * fs // HOP).astype(int), n_frames - 1)
    out = np.zeros((n_frames, 3))
    acc = inten.sum(axis=0)  # (T, 3)
    np.add.at(out, frame_of, acc)
    return normalize(out)


def _spherical_kmeans(v: np.ndarray, w: np.ndarray, k: int, iters: int = 15) -> np.ndarray:
    """Weighted spherical k-means of unit vectors v (N, 3); farthest-point initialisation."""
    c = [v[np.argmax(w)]]
    for _ in range(1, k):
        sim = np.max(v @ np.array(c).T, axis=1)
        c.append(v[np.argmax((1 - sim) * w)])
    c = np.array(c)
    for _ in range(iters):
        lab = np.argmax(v @ c.T, axis=1)
        new = np.array([(w[lab == j, None] * v[lab == j]).sum(0) if np.any(lab == j) else c[j] for j in range(k)])
        c = normalize(new)
    return c


def localize_oracle(foa: np.ndarray, num_sources: np.ndarray, fs: int = FS, diffuseness_max: float = 0.5,
                    **kw) -> list[np.ndarray]:
    """Per label frame, ``num_sources[t]`` DOA estimates (list of (K_t, 3) arrays) using oracle source counts."""
    inten, energy, t = intensity_tf(foa, fs, **kw)
    n_frames = len(num_sources)
    frame_of = (t * fs // HOP).astype(int)
    out: list[np.ndarray] = []
    for fr in range(n_frames):
        k = int(num_sources[fr])
        if k <= 0:
            out.append(np.zeros((0, 3)))
            continue
        cols = np.nonzero(frame_of == fr)[0]
        if cols.size == 0:
            out.append(np.zeros((k, 3)))
            continue
        I = inten[:, cols].reshape(-1, 3)
        E = energy[:, cols].reshape(-1)
        if k == 1:
            out.append(normalize(I.sum(0))[None, :])
            continue
        norm = np.linalg.norm(I, axis=1)
        psi = 1.0 - norm / (E + 1e-20)  # diffuseness per bin (0 = plane wave)
        keep = (psi < diffuseness_max) & (norm > 0)
        if keep.sum() < 3 * k:
            keep = norm > 0
        out.append(_spherical_kmeans(I[keep] / norm[keep, None], norm[keep], k))
    return out


def oracle_doa_errors(foa: np.ndarray, labels, fs: int = FS, **kw) -> tuple[np.ndarray, np.ndarray]:
    """Class-agnostic DOA errors (deg) of :func:`localize_oracle` against ``labels`` (SceneLabels): every reference
    event of a frame is matched (Hungarian) to an estimate. Returns (errors, polyphony of the frame) per event."""
    n = min(labels.num_frames, int(np.ceil(foa.shape[1] / HOP)))
    counts = labels.active[:n].sum(axis=1)
    est = localize_oracle(foa, counts, fs, **kw)
    errs, poly = [], []
    for fr in range(n):
        if counts[fr] == 0:
            continue
        ref = labels.doa[fr, labels.active[fr]]
        d = angular_distance_matrix_deg(ref, est[fr])
        r, c = linear_sum_assignment(d)
        errs.extend(d[r, c].tolist())
        poly.extend([int(counts[fr])] * len(r))
    return np.array(errs), np.array(poly)

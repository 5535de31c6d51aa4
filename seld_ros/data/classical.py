"""Classical reference localizer: active-intensity-vector DOA of FOA audio, per 100 ms label frame.

For a plane wave from unit direction u, SN3D B-format gives X, Y, Z = u * W, so the active intensity
I = Re{conj(W) [X, Y, Z]} points at u. Per label frame we take the STFT bins in [fmin, fmax], and
  * with one active source (oracle count from the labels): DOA = direction of the energy-summed intensity;
  * with K > 1 sources: weighted spherical k-means (K clusters) of the per-bin unit intensity vectors, keeping the
    bins with low diffuseness; the K cluster centres are the estimates (class-agnostic).
This is the physics anchor a learned SELD model has to beat; it knows nothing about classes.

Array variant (``method="srp"`` / ``"music"``): on the A-format path, i.e. the four capsule signals of the tetrahedral
array the scene generator renders for ``mic="tetra"`` (FLU, FRD, BLD, BRU at radius 1.47 cm; recovered from the
written FOA by inverting the A->B matrix, which is exact because the generator applies no equaliser), per label frame
the STFT snapshots of the frame go to pyroomacoustics' SRP-PHAT or MUSIC (``pra.doa.algorithms``) with the oracle
source count, searched on a 3-D Fibonacci grid (azimuth and colatitude); the K highest grid peaks are the estimates.
The capsules are 2.4 cm apart, so phase differences wrap (spatial aliasing) above c / (2 d) ~ 7 kHz, and at 500 Hz the
largest inter-capsule phase difference is only 0.2 rad: the default band is 0.5-5 kHz (chosen on a tetra val split).
MUSIC's steering vectors include the capsules' cardioid gains (pyroomacoustics' are delay-only); SRP-PHAT keeps
delay-only steering. Caveat for generated scenes: the generator's late tail and ambient noise are synthesised in
B-format, i.e. coincident (no inter-capsule delays) on the A-format path, which hurts SRP/MUSIC in reverberant rooms.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.signal import stft

from seld_ros.audio.formats import DEFAULT_CAPSULE_ORDER, SPEED_OF_SOUND_M_S, TETRA_CAPSULE_DIRECTIONS, a_to_b_matrix
from seld_ros.constants import SAMPLE_RATE as FS
from seld_ros.data.geometry import angular_distance_matrix_deg, normalize
HOP = 2400  # 100 ms label frame
TETRA_RADIUS_M = 0.0147  # capsule radius of the generator's tetrahedral array (seld_ros.data.synth.TETRA_RADIUS_M)
ARRAY_METHODS = ("srp", "music")
METHODS = ("iv",) + ARRAY_METHODS


def _stft(x: np.ndarray, fs: int, nfft: int, hop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(F,), window-centre times (T,), and the (C, F, T) STFT of a multichannel signal."""
    return stft(np.asarray(x, dtype=np.float64), fs=fs, nperseg=nfft, noverlap=nfft - hop, boundary=None,
                padded=True)


def intensity_tf(foa: np.ndarray, fs: int = FS, nfft: int = 1024, hop: int = 480, fmin: float = 100.0,
                 fmax: float = 8000.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per time-frequency bin intensity (F, T, 3), W energy (F, T), and the STFT frame times (T,) in seconds."""
    f, t, z = _stft(foa, fs, nfft, hop)
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


def tetra_capsule_positions(radius_m: float = TETRA_RADIUS_M,
                            capsule_order: tuple[str, ...] = DEFAULT_CAPSULE_ORDER) -> np.ndarray:
    """(3, 4) capsule positions in metres (x forward, y left, z up; array centre at the origin), one column per
    capsule in ``capsule_order``: the geometry ``seld_ros.data.synth`` renders for ``mic="tetra"``."""
    return np.stack([radius_m * TETRA_CAPSULE_DIRECTIONS[name] for name in capsule_order], axis=1)


def a_format_from_foa(foa: np.ndarray, capsule_order: tuple[str, ...] = DEFAULT_CAPSULE_ORDER) -> np.ndarray:
    """(4, N) capsule signals from ACN/SN3D FOA that was made by the plain A->B matrix (no radius equaliser), as the
    generator writes tetra scenes. Exact inverse there; for coincident B-format scenes it gives virtual coincident
    cardioids with no inter-capsule delays, on which SRP/MUSIC cannot localize."""
    return np.linalg.solve(a_to_b_matrix(tuple(capsule_order)), np.asarray(foa, dtype=np.float64))


def make_array_doa(method: str, positions: np.ndarray, fs: int = FS, nfft: int = 512, n_grid: int = 2000,
                   c: float = SPEED_OF_SOUND_M_S, cardioid_axes: np.ndarray | None = None):
    """A pyroomacoustics DOA object (``pra.doa.algorithms['SRP'|'MUSIC']``) for the capsule ``positions`` (3, M) on
    a 3-D grid of ``n_grid`` Fibonacci points (azimuth x colatitude), with a precomputed steering table. With
    ``cardioid_axes`` (3, M unit vectors) the steering vectors carry the cardioid gains 0.5 (1 + axis . u)."""
    import pyroomacoustics as pra
    from pyroomacoustics.doa.doa import ModeVector

    if method not in ARRAY_METHODS:
        raise ValueError(f"array method must be one of {ARRAY_METHODS}, got {method!r}")
    kw = {"frequency_normalization": True} if method == "music" else {}
    doa = pra.doa.algorithms[method.upper()](np.asarray(positions, dtype=np.float64), fs, nfft, c=c, num_src=1,
                                             dim=3, n_grid=n_grid, **kw)
    # the default table is recomputed (exp) for every grid point and frame; a few tens of MB make SRP ~5x faster
    doa.mode_vec = ModeVector(doa.L, fs, nfft, c, doa.grid, precompute=True)
    if cardioid_axes is not None:
        u = np.stack([doa.grid.x, doa.grid.y, doa.grid.z])  # (3, G)
        doa.mode_vec.mode_vec *= 0.5 * (1.0 + np.asarray(cardioid_axes, dtype=np.float64).T @ u)[None]  # (1, M, G)
    return doa


def localize_oracle_array(a_format: np.ndarray, num_sources: np.ndarray, method: str = "srp", fs: int = FS,
                          nfft: int = 512, hop: int = 240, fmin: float = 500.0, fmax: float = 5000.0,
                          n_grid: int = 2000, positions: np.ndarray | None = None,
                          cardioid: bool | None = None) -> list[np.ndarray]:
    """SRP-PHAT (``method="srp"``) or MUSIC (``"music"``) on A-format capsule signals (4, N): per label frame,
    ``num_sources[t]`` unit DOAs (list of (K_t, 3) arrays, x forward / y left / z up) from the STFT snapshots of
    the frame in [fmin, fmax]. ``positions`` (3, 4) defaults to :func:`tetra_capsule_positions`. ``cardioid``: model
    the capsules as outward-facing cardioids (axis = direction of the capsule position) in the steering vectors
    (default: True for MUSIC, False for SRP). Delay-only steering biases MUSIC by 10-20 deg with two sources and makes
    it blind opposite a capsule, where that capsule's null leaves the other three with symmetric delays (front/back
    ambiguity); SRP-PHAT discards magnitudes, and gain-weighted pairs made it worse in reverberant scenes."""
    positions = tetra_capsule_positions() if positions is None else np.asarray(positions, dtype=np.float64)
    a_format = np.asarray(a_format, dtype=np.float64)
    if a_format.shape[0] != positions.shape[1]:
        raise ValueError(f"{a_format.shape[0]} channels for {positions.shape[1]} capsule positions")
    if cardioid is None:
        cardioid = method == "music"
    axes = normalize(positions.T).T if cardioid else None
    doa = make_array_doa(method, positions, fs, nfft, n_grid, cardioid_axes=axes)
    grid = np.stack([doa.grid.x, doa.grid.y, doa.grid.z], axis=1)
    _, t, z = _stft(a_format, fs, nfft, hop)
    frame_of = (t * fs // HOP).astype(int)
    out: list[np.ndarray] = []
    for fr in range(len(num_sources)):
        k = int(num_sources[fr])
        if k <= 0:
            out.append(np.zeros((0, 3)))
            continue
        cols = np.nonzero(frame_of == fr)[0]
        if cols.size == 0:
            out.append(np.zeros((k, 3)))
            continue
        doa.locate_sources(z[:, :, cols], num_src=k, freq_range=[fmin, fmax])
        idx = list(doa.src_idx)[::-1]  # find_peaks returns ascending; best first
        if not idx:
            idx = [int(np.argmax(doa.grid.values))]
        idx = (idx * k)[:k]  # fewer local maxima than sources: repeat the best ones
        out.append(grid[idx])
    return out


def _matched_errors(est: list[np.ndarray], labels, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    errs, poly = [], []
    for fr in range(len(counts)):
        if counts[fr] == 0:
            continue
        ref = labels.doa[fr, labels.active[fr]]
        d = angular_distance_matrix_deg(ref, est[fr])
        r, c = linear_sum_assignment(d)
        errs.extend(d[r, c].tolist())
        poly.extend([int(counts[fr])] * len(r))
    return np.array(errs), np.array(poly)


def oracle_doa_errors(foa: np.ndarray, labels, fs: int = FS, method: str = "iv",
                      **kw) -> tuple[np.ndarray, np.ndarray]:
    """Class-agnostic DOA errors (deg) against ``labels`` (SceneLabels) of :func:`localize_oracle` (``method="iv"``)
    or of :func:`localize_oracle_array` on the A-format recovered from ``foa`` (``"srp"``, ``"music"``; tetra-rendered
    scenes only): every reference event of a frame is matched (Hungarian) to an estimate. Returns (errors, polyphony
    of the frame) per event."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    n = min(labels.num_frames, int(np.ceil(foa.shape[1] / HOP)))
    counts = labels.active[:n].sum(axis=1)
    if method == "iv":
        est = localize_oracle(foa, counts, fs, **kw)
    else:
        est = localize_oracle_array(a_format_from_foa(foa), counts, method, fs, **kw)
    return _matched_errors(est, labels, counts)

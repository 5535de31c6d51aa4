"""AudioSet tags for sounds the SELD model does not name: a YAMNet tagger on virtual microphones steered at tracks,
a watch list of safety sounds and a search for the direction a watched sound comes from (issue 26, ROS-free core).

* :class:`SteeredTagger` -- one streaming YAMNet front end per live track, fed the FOA stream through a virtual
  first-order microphone (``seld_ros.audio.steering``) pointed at the track's *current* direction, chunk by chunk
  (a moving track is followed); at most ``max_taggings_per_s`` network runs per second of audio in total, round
  robin over the tracks. A new track's front end starts from silence, so its first patches hold less than 0.96 s
  of its sound: every result says how much (``coverage_s``).
* :class:`WatchList` -- AudioSet labels (display names or ids) with thresholds; unknown names are a ValueError that
  names the closest AudioSet names. :data:`DEFAULT_SAFETY_WATCH_LIST` is a default for a robot among people.
* :func:`locate` -- score a label on a coarse grid of steered directions (8 azimuths x 3 elevations, one patch
  each), then refine twice around the best (8 neighbours at half the step); returns the best unit vector.

The network is any callable ``patch (B, 1, 96, 64) float32 -> (logits (B, 521), embedding (B, 1024))``: the torch
module (:func:`torch_yamnet`) or the same network exported to ONNX and run by onnxruntime (:func:`onnx_yamnet`,
about 10x cheaper per patch on one CPU thread, docs/tagging.md).
"""
from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from seld_ros.audio.errors import AudioFormatError
from seld_ros.audio.resample import resample_to
from seld_ros.audio.steering import CARDIOID, apply_gains, null_steering_gains, unit_directions
from seld_ros.constants import LABEL_HOP_SAMPLES, SAMPLE_RATE
from seld_ros.features.spectral import periodic_hann
from seld_ros.features.yamnet import (FRAMES_PER_LABEL, SILENCE_LOG_MEL, YAMNET_HOP_LENGTH, YAMNET_LOG_OFFSET,
                                      YAMNET_N_FFT, YAMNET_PATCH_FRAMES, YAMNET_SAMPLE_RATE, YAMNET_WIN_LENGTH,
                                      StreamingYAMNetPatches, yamnet_mel_matrix)

YAMNetNetwork = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
FRAME_S = YAMNET_HOP_LENGTH / YAMNET_SAMPLE_RATE  # 10 ms
PATCH_S = YAMNET_PATCH_FRAMES * FRAME_S  # 0.96 s
PATCH_AUDIO_LABEL_FRAMES = 11  # 1.1 s of audio hold a whole 0.96 s patch and its first window's 15 ms lead
ONNX_PARITY_TOLERANCE = 1e-3  # on logits of order 10
_HANN = periodic_hann(YAMNET_WIN_LENGTH)
_MEL = yamnet_mel_matrix()
# The mel weights as a sparse product (461 of 257 x 64 entries; every band has at least one bin): the steered patches'
# small matrix products go without numpy's BLAS, whose OpenBLAS pool spins between calls (measured in the node: +14 %
# of a core for 2 taggings a second)
_MEL_BANDS, _MEL_BINS = np.nonzero(_MEL.T)  # ordered by band
_MEL_WEIGHTS = _MEL.T[_MEL_BANDS, _MEL_BINS]
_MEL_STARTS = np.searchsorted(_MEL_BANDS, np.arange(_MEL.shape[1]))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


# ----------------------------------------------------------------------------------------------- the network
def torch_yamnet(model) -> YAMNetNetwork:
    """The torch YAMNet (``seld_ros.model.yamnet``) as a numpy callable."""
    import torch  # the optional heavy dependency

    def run(patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            logits, embedding = model(torch.from_numpy(np.ascontiguousarray(patches, np.float32)))
        return logits.numpy(), embedding.numpy()
    return run


def export_yamnet_onnx(model, path: str | os.PathLike) -> str:
    """Export the torch YAMNet to ONNX with the project's exporter (``seld_ros.engine.export``; batch 1) and check
    onnxruntime against torch on random patches (max |logit difference| <= 1e-3, else ParityError and no file).
    Returns the path."""
    import contextlib
    import io
    import warnings

    import torch  # the optional heavy dependency

    from seld_ros.engine.export import DEFAULT_OPSET, ParityError, _quiet_loggers, _torch_onnx_export
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    probe = torch.randn(3, 1, YAMNET_PATCH_FRAMES, 64) * 2.0 - 4.0  # log-mel values lie around -7..3
    tmp = path + ".tmp.onnx"
    model = model.eval()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), _quiet_loggers():
        warnings.simplefilter("ignore")  # the exporter's progress and deprecation chatter; parity proves the graph
        _torch_onnx_export(model, (probe[:1],), tmp, DEFAULT_OPSET)
    want = torch_yamnet(model)(probe.numpy())[0]
    got = OnnxYAMNet(tmp)(probe.numpy())[0]
    error = float(np.max(np.abs(want - got)))
    if not error <= ONNX_PARITY_TOLERANCE:
        os.unlink(tmp)
        raise ParityError(f"YAMNet ONNX export: onnxruntime differs from torch by {error:.3g} "
                          f"(> {ONNX_PARITY_TOLERANCE}); {path} not written")
    os.replace(tmp, path)
    return path


class OnnxYAMNet:
    """YAMNet exported by :func:`export_yamnet_onnx`, run by onnxruntime on ``threads`` CPU threads, one patch
    at a time (the export has batch 1; on one thread a batch costs the same per patch)."""

    def __init__(self, path: str | os.PathLike, threads: int = 1):
        import onnxruntime as ort  # the optional heavy dependency
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        patches = np.ascontiguousarray(patches, np.float32)
        outs = [self.session.run(None, {self.input_name: patches[i:i + 1]}) for i in range(len(patches))]
        return np.concatenate([o[0] for o in outs]), np.concatenate([o[1].reshape(1, -1) for o in outs])


def onnx_yamnet(model, path: str | os.PathLike, threads: int = 1) -> OnnxYAMNet:
    """Export ``model`` to ``path`` (parity-checked) and open it with onnxruntime."""
    return OnnxYAMNet(export_yamnet_onnx(model, path), threads)


# ------------------------------------------------------------------------------------------- per-track tags
@dataclass(frozen=True)
class TrackTags:
    """The top-k AudioSet labels of one track from the patch that ends at 24 kHz sample ``end_sample``."""
    track_id: object
    labels: tuple[tuple[str, float], ...]  # (display name, sigmoid score), best first
    coverage_s: float  # how much of the 0.96 s patch the track's front end had heard (< 0.96 s for a new track)
    end_sample: int  # stream sample (24 kHz, counted from the tagger's first chunk) where the patch ends
    direction: tuple[float, float, float]  # where the microphone pointed for the chunk that completed the patch


class _TrackFrontEnd:
    def __init__(self, start_sample: int):
        self.patches = StreamingYAMNetPatches()
        self.start_sample = start_sample
        self.pending: np.ndarray | None = None  # the newest patch not yet tagged
        self.pending_end = 0
        self.pending_coverage = 0.0


class SteeredTagger:
    """Streaming AudioSet tags for a set of tracks (see module doc). ``push(foa_chunk, directions)`` with a
    (4, n) ACN/SN3D chunk at 24 kHz and ``{track_id: (x, y, z)}`` of the tracks alive during it returns the
    :class:`TrackTags` computed on this chunk (those the budget allowed); ``latest`` holds each track's last ones.
    A track missing from ``directions`` is forgotten (its front end dropped). With ``null_other_tracks`` each
    track's microphone also puts nulls on (up to three of) the other tracks' directions
    (``seld_ros.audio.steering.null_steering_gains``): a first-order pattern alone lets a loud source 90 degrees
    away through at -6 dB (cardioid), which masks the track's own sound for the tagger (docs/tagging.md)."""

    def __init__(self, network: YAMNetNetwork, class_names: Sequence[str], *, top_k: int = 3,
                 max_taggings_per_s: float = 4.0, omni_share: float = CARDIOID, null_other_tracks: bool = True):
        if not max_taggings_per_s > 0:
            raise ValueError(f"max_taggings_per_s must be positive, got {max_taggings_per_s}")
        if not 1 <= int(top_k) <= len(class_names):
            raise ValueError(f"top_k must be in 1..{len(class_names)}, got {top_k}")
        self.network, self.class_names = network, list(class_names)
        self.top_k, self.rate, self.omni_share = int(top_k), float(max_taggings_per_s), float(omni_share)
        self.null_other_tracks = bool(null_other_tracks)
        self.reset()

    def reset(self) -> None:
        self._tracks: dict[object, _TrackFrontEnd] = {}
        self._credit = 1.0  # taggings allowed now (a token bucket refilled at max_taggings_per_s per audio second)
        self._next = 0  # round-robin position
        self.samples_seen = 0
        self.taggings = 0
        self.latest: dict[object, TrackTags] = {}

    @property
    def track_ids(self) -> list:
        """The tracks that have a front end (those given with the last accepted chunk)."""
        return list(self._tracks)

    def push(self, foa: np.ndarray, directions: Mapping[object, Sequence[float]]) -> list[TrackTags]:
        foa = np.asarray(foa, np.float32)
        if foa.ndim != 2 or foa.shape[0] != 4:  # checked before any state changes: a bad chunk changes nothing
            raise AudioFormatError(f"SteeredTagger.push: expected ACN/SN3D audio of shape (4, samples) at 24 kHz, "
                                   f"got {foa.shape}")
        try:
            pointed = {t: tuple(float(v) for v in unit_directions(d)) for t, d in directions.items()}
        except ValueError as err:
            raise ValueError(f"SteeredTagger.push: bad track direction: {err}") from None
        n = foa.shape[1]
        for gone in set(self._tracks) - set(directions):
            del self._tracks[gone]
            self.latest.pop(gone, None)
        for track_id, d in pointed.items():
            front = self._tracks.setdefault(track_id, _TrackFrontEnd(self.samples_seen))
            others = [o for t, o in pointed.items() if t != track_id] if self.null_other_tracks else []
            gains = null_steering_gains(d, np.array(others).reshape(-1, 3), self.omni_share)
            new = front.patches.push(apply_gains(foa, gains))
            if len(new):
                front.pending = new[-1]
                frames = front.patches.label_frames_emitted * FRAMES_PER_LABEL
                front.pending_coverage = min(YAMNET_PATCH_FRAMES, frames) * FRAME_S
                front.pending_end = front.start_sample + front.patches.label_frames_emitted * LABEL_HOP_SAMPLES
        self.samples_seen += n
        burst = max(1.0, self.rate * n / SAMPLE_RATE)  # no saving up beyond one chunk's worth
        self._credit = min(self._credit + self.rate * n / SAMPLE_RATE, burst)
        chosen = self._round_robin(int(self._credit))
        if not chosen:
            return []
        self._credit -= len(chosen)
        self.taggings += len(chosen)
        logits, _ = self.network(np.stack([self._tracks[t].pending for t in chosen]))
        out = []
        for track_id, row in zip(chosen, sigmoid(logits)):
            front = self._tracks[track_id]
            best = np.argsort(-row)[:self.top_k]
            tags = TrackTags(track_id, tuple((self.class_names[i], float(row[i])) for i in best),
                             float(front.pending_coverage), int(front.pending_end), pointed[track_id])
            front.pending = None
            self.latest[track_id] = tags
            out.append(tags)
        return out

    def _round_robin(self, budget: int) -> list:
        order = list(self._tracks)
        ready = [t for t in order[self._next % max(1, len(order)):] + order[:self._next % max(1, len(order))]
                 if self._tracks[t].pending is not None]
        chosen = ready[:budget]
        if chosen:
            self._next = order.index(chosen[-1]) + 1
        return chosen


# ------------------------------------------------------------------------------------------------ watch list
@dataclass(frozen=True)
class WatchEntry:
    name: str  # AudioSet display name
    mid: str  # AudioSet id, e.g. /m/03kmc9
    index: int  # the class index in YAMNet's output
    threshold: float  # sigmoid score at or above which the label counts as heard


# A robot among people must notice these (issue 26). Thresholds from benchmarks/calibrate_watchlist.py (greedy,
# 0.5 false events a minute) on data no acceptance figure uses (docs/BENCHMARKS.md): from each label's first guess
# (0.3 alarms, sirens, horns; 0.4 glass, dog, baby; 0.5 scream), raised until 39 minutes of 13-class real-sound val
# scenes open nothing with it, then lowered where that bought recall on the "tune" watch-list recordings within the
# budget. The generic labels fire on 13-class and game sounds and ended high ("Siren" 0.95: a sci-fi effect and an
# oboe reach 0.96; "Glass" 0.8: a tinkle bell, a cash till; "Dog" and "Vehicle horn" 0.85); the specific ones
# ("Bark" 0.25, the siren kinds 0.3) carry the recall. Lower a threshold where a miss costs more than a false alarm.
DEFAULT_SAFETY_WATCH_LIST = (
    ("Smoke detector, smoke alarm", 0.4), ("Fire alarm", 0.3), ("Alarm clock", 0.4), ("Siren", 0.95),
    ("Civil defense siren", 0.9), ("Ambulance (siren)", 0.3), ("Police car (siren)", 0.3),
    ("Fire engine, fire truck (siren)", 0.35), ("Vehicle horn, car horn, honking", 0.85), ("Air horn, truck horn", 0.3),
    ("Glass", 0.8), ("Shatter", 0.4), ("Dog", 0.85), ("Bark", 0.25), ("Baby cry, infant cry", 0.4), ("Screaming", 0.2),
)


def _closest_names(label: str, class_names: Sequence[str], n: int = 3) -> list[str]:
    """Names one of whose comma-separated parts is ``label`` (any case: "smoke alarm" -> "Smoke detector, smoke
    alarm"), then the closest by difflib."""
    key = label.strip().lower()
    parts = [c for c in class_names if key in (p.strip().lower() for p in c.split(","))]
    fuzzy = difflib.get_close_matches(label, list(class_names), n=n, cutoff=0.5)
    return list(dict.fromkeys(parts + fuzzy))[:n]


class WatchList:
    """Watched AudioSet labels. ``WatchList.parse(specs, class_names, class_mids)`` accepts display names or ids,
    each optionally with ``=threshold`` ("Siren=0.3", "/m/07pp8cl"), (name, threshold) pairs or a mapping."""

    def __init__(self, entries: Iterable[WatchEntry]):
        self.entries = tuple(entries)
        if not self.entries:
            raise ValueError("a watch list needs at least one label")

    @classmethod
    def parse(cls, specs, class_names: Sequence[str], class_mids: Sequence[str],
              default_threshold: float = 0.3) -> "WatchList":
        by_name = {n: i for i, n in enumerate(class_names)}
        by_mid = {m: i for i, m in enumerate(class_mids)}
        items = specs.items() if isinstance(specs, Mapping) else specs
        entries = []
        for spec in items:
            if isinstance(spec, str):
                label, sep, value = spec.rpartition("=") if "=" in spec else (spec, "", "")
                label, threshold = label.strip(), (value.strip() if sep else default_threshold)
            else:
                label, threshold = spec
            try:
                threshold = float(threshold)
            except (TypeError, ValueError):
                raise ValueError(f"watch list entry {spec!r}: threshold {threshold!r} is not a number") from None
            if not 0.0 < threshold < 1.0:
                raise ValueError(f"watch list entry {spec!r}: threshold must be in (0, 1), got {threshold}")
            index = by_mid.get(label, by_name.get(label))
            if index is None:
                close = _closest_names(label, class_names)
                hint = f"; closest AudioSet names: {', '.join(repr(c) for c in close)}" if close else ""
                raise ValueError(f"watch list label {label!r} is not an AudioSet display name or id (e.g. 'Siren', "
                                 f"'/m/03kmc9'){hint}")
            entries.append(WatchEntry(class_names[index], class_mids[index], index, threshold))
        return cls(entries)

    @classmethod
    def default(cls, class_names: Sequence[str], class_mids: Sequence[str]) -> "WatchList":
        return cls.parse(DEFAULT_SAFETY_WATCH_LIST, class_names, class_mids)

    def detect(self, scores: np.ndarray) -> list[tuple[WatchEntry, float]]:
        """Sigmoid scores (521,) of one hop (the omni channel W or a steered one) -> the watched labels at or above
        their thresholds, highest score first."""
        scores = np.asarray(scores, np.float64)
        heard = [(e, float(scores[e.index])) for e in self.entries if scores[e.index] >= e.threshold]
        return sorted(heard, key=lambda h: -h[1])


# --------------------------------------------------------------------------------------------- direction search
def _unit(az_deg, el_deg) -> np.ndarray:
    az, el = np.deg2rad(np.asarray(az_deg, np.float64)), np.deg2rad(np.asarray(el_deg, np.float64))
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)


class FoaSpectra:
    """The four channels' complex YAMNet spectra (16 kHz, 25 ms Hann windows, 10 ms hop) of the patch that ends
    with the last complete 100 ms of ``foa`` (4, n) at 24 kHz, computed once: resampling and the STFT are linear, so
    any virtual microphone's log-mel patch is the gains' weighted sum of these spectra, then magnitude, mel and log
    (equal to steering first, up to float rounding; a tenth of the cost per direction). A signal shorter than
    1.1 s gives a patch that starts with silence, as at a stream's start."""

    def __init__(self, foa: np.ndarray):
        foa = np.asarray(foa, np.float32)
        end = foa.shape[1] // LABEL_HOP_SAMPLES * LABEL_HOP_SAMPLES
        # the last patch needs 0.96 s + 15 ms of audio before the end: 1.1 s, a whole number of label frames
        segment = foa[:, max(0, end - PATCH_AUDIO_LABEL_FRAMES * LABEL_HOP_SAMPLES):end]
        if segment.shape[0] != 4:
            raise AudioFormatError(f"FoaSpectra: expected ACN/SN3D audio of shape (4, samples), got {foa.shape}")
        audio = resample_to(segment, SAMPLE_RATE, YAMNET_SAMPLE_RATE) if segment.shape[1] else segment
        audio = audio[:, :audio.shape[1] // YAMNET_HOP_LENGTH * YAMNET_HOP_LENGTH]
        lead = np.zeros((4, YAMNET_WIN_LENGTH - YAMNET_HOP_LENGTH), np.float32)  # causal framing, as at a start
        if audio.shape[1]:  # N // 160 frames, the last 96 of them
            frames = sliding_window_view(np.concatenate([lead, audio], axis=1), YAMNET_WIN_LENGTH,
                                         axis=1)[:, ::YAMNET_HOP_LENGTH][:, -YAMNET_PATCH_FRAMES:]
        else:
            frames = np.zeros((4, 0, YAMNET_WIN_LENGTH), np.float32)
        spectra = np.fft.rfft(frames * _HANN, n=YAMNET_N_FFT, axis=-1)
        self.frames = spectra.shape[1]
        self._real = np.ascontiguousarray(spectra.real, np.float32).reshape(4, -1)
        self._imag = np.ascontiguousarray(spectra.imag, np.float32).reshape(4, -1)
        window = segment[:, -int(PATCH_S * SAMPLE_RATE):].astype(np.float64)
        # beam power of any gains: g C g' (einsum: no BLAS, see _MEL_BANDS)
        self._covariance = np.einsum("cn,dn->cd", window, window) / max(window.shape[1], 1)

    def patches(self, gains: np.ndarray) -> np.ndarray:
        """(K, 4) microphone gains -> (K, 1, 96, 64) log-mel patches."""
        gains = np.atleast_2d(np.asarray(gains, np.float32))
        real = sum(gains[:, c, None] * self._real[c] for c in range(4))  # weighted sums, no BLAS (see _MEL_BANDS)
        imag = sum(gains[:, c, None] * self._imag[c] for c in range(4))
        magnitude = np.sqrt(real * real + imag * imag).reshape(-1, YAMNET_N_FFT // 2 + 1)
        mel = np.add.reduceat(magnitude[:, _MEL_BINS] * _MEL_WEIGHTS, _MEL_STARTS, axis=1)
        log_mel = np.log(mel + np.float32(YAMNET_LOG_OFFSET)).astype(np.float32)
        log_mel = log_mel.reshape(len(gains), self.frames, _MEL.shape[1])
        out = np.full((len(gains), 1, YAMNET_PATCH_FRAMES, _MEL.shape[1]), SILENCE_LOG_MEL, np.float32)
        out[:, 0, YAMNET_PATCH_FRAMES - self.frames:] = log_mel
        return out

    def power(self, gains: np.ndarray) -> np.ndarray:
        """(K, 4) gains -> (K,) mean power of each steered signal over the patch's 0.96 s divided by its squared
        gain norm (see ``null_steering_gains``: with one null this peaks at the remaining source)."""
        gains = np.atleast_2d(np.asarray(gains, np.float64))
        return np.einsum("kc,cd,kd->k", gains, self._covariance, gains) / np.sum(gains ** 2, axis=1)


def steered_patches(foa: np.ndarray, directions: np.ndarray, omni_share: float = CARDIOID,
                    nulls: np.ndarray | Sequence = ()) -> np.ndarray:
    """The causal patch that ends with the last complete 100 ms of ``foa`` (4, n; n >= 1.1 s for a full patch),
    heard by a virtual microphone at each of ``directions`` (K, 3), with nulls on ``nulls`` (M, 3) (see
    ``null_steering_gains``) -> (K, 1, 96, 64)."""
    return _steered(foa, directions, omni_share, nulls)[0]


def steering_gains_with_nulls(directions, omni_share: float = CARDIOID, nulls=()) -> np.ndarray:
    """(K, 4) gains of ``null_steering_gains`` for each of ``directions`` (K, 3) with the same ``nulls``."""
    nulls = np.asarray(nulls, np.float64).reshape(-1, 3)
    return np.stack([null_steering_gains(d, nulls, omni_share) for d in np.atleast_2d(directions)])


def _steered(foa, directions, omni_share, nulls, spectra: FoaSpectra | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(patches (K, 1, 96, 64), beam power (K,)) of the microphones at ``directions`` (see :class:`FoaSpectra`)."""
    spectra = spectra or FoaSpectra(foa)
    gains = steering_gains_with_nulls(directions, omni_share, nulls)
    return spectra.patches(gains), spectra.power(gains)


def locate(foa: np.ndarray, label_index: int, network: YAMNetNetwork, *, omni_share: float = CARDIOID,
           nulls: np.ndarray | Sequence = (), azimuths: int = 8, elevations: Sequence[float] = (-30.0, 0.0, 30.0),
           refinements: int = 2, gate: float = 0.5, spectra: FoaSpectra | None = None) -> tuple[np.ndarray, float]:
    """Where the sound labelled ``label_index`` comes from in ``foa`` (4, n) at 24 kHz (its last 0.96 s):
    (unit vector, the label's sigmoid score there). ``nulls``: directions of sources already known (the current
    tracks), silenced in every steered microphone whose look direction is at least 30 degrees from them.

    Criterion: the beam power among the directions where the label is heard. YAMNet's score hardly depends on
    level, so once the other sources are nulled the label is heard almost everywhere and the score alone does not
    point at the source (measured: 149 degrees off in the two-source test); without nulls it peaks where the
    *other* source is nulled by the pattern (64-87 degrees off). The power of the nulled cardioid (normalised by
    its gains) peaks at the remaining source for plane waves; the label gates it: a direction counts only where
    the label scores at least ``gate`` times its best score on the coarse grid (another sound dominates
    elsewhere). Coarse grid (8 azimuths x 3 elevations), then ``refinements`` rounds of the 8 neighbours at half
    the step: 24 + 9 per round patches (42 by default, :func:`locate_cost`). ``spectra``: ``FoaSpectra(foa)``
    when the caller has it already."""
    spectra = spectra or FoaSpectra(foa)
    az_step = 360.0 / azimuths
    el_step = float(np.diff(elevations).min()) if len(elevations) > 1 else 30.0
    grid = np.array([(a, e) for e in elevations for a in np.arange(azimuths) * az_step])

    def scored(az_el: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        patches, power = _steered(foa, _unit(az_el[:, 0], az_el[:, 1]), omni_share, nulls, spectra)
        return sigmoid(network(patches)[0][:, label_index]), power

    def best_of(az_el: np.ndarray, floor: float) -> tuple[np.ndarray, float]:
        score, power = scored(az_el)
        k = int(np.argmax(np.where(score >= floor, power, -np.inf)))
        return az_el[k], float(score[k])

    score, power = scored(grid)
    floor = gate * float(score.max())
    k = int(np.argmax(np.where(score >= floor, power, -np.inf)))
    (az, el), score = grid[k], float(score[k])
    for _ in range(refinements):
        az_step, el_step = az_step / 2.0, el_step / 2.0
        around = np.array([(az + i * az_step, np.clip(el + j * el_step, -90.0, 90.0))
                           for i in (-1, 0, 1) for j in (-1, 0, 1)])
        (az, el), score = best_of(around, min(floor, score))  # the centre passes its own gate: never worse
    return _unit(az, el), score


def locate_cost(azimuths: int = 8, elevations: int = 3, refinements: int = 2) -> int:
    """YAMNet runs (patches) one :func:`locate` takes."""
    return azimuths * elevations + 9 * refinements

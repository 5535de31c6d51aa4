"""DCASE SELD metrics: 2024 frame-level (with distance), 2023 segment-level (1 s), 2025 stereo (azimuth folded).

Semantics follow the official DCASE2024 evaluation code (``SELD_evaluation_metrics.py``, class ``SELDMetrics`` and
``SELDMetricsSegmentLevel``) and the DCASE2025 baseline ``metrics.py``; docs/metrics.md lists what was matched and
where we differ (only in how many frames are evaluated, see ``official_frame_count``).

Frame-level (mode ``"dcase2024"``), per label frame and class c, with R reference and P predicted events of c:
  * match them with the Hungarian algorithm on the angular distance; K = min(R, P) pairs;
  * a matched pair is a spatial false positive (L) if its angle > ``doa_threshold`` (20 deg) or, when distances are
    scored, its relative distance error |d_p - d_r| / d_r > ``reldist_threshold`` (1.0) or absolute error >
    ``dist_threshold`` (inf);
  * TP += K - L, FP_spatial += L, FP += max(0, P - R), FN += max(0, R - P);
  * DOA / distance errors are summed over all K matched pairs (not only TPs); localization recall uses K.
F_c = TP / (TP + FP_spatial + 0.5 (FP + FN)). Macro averages F and LR over *all* classes (absent classes give 0, so a
small test set caps macro F at present/13) and DOA/distance errors over classes with matches (nanmean); micro pools
the counts. SELD score (2024) = mean(1 - F, DOAE/180, RDE) per class (NaN terms skipped), averaged.

Inputs are :class:`seld_ros.data.labels.SceneLabels` (or anything with the same fields); distances in metres.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

EPS = float(np.finfo(float).eps)
MODES = ("dcase2024", "dcase2023", "dcase2025")


class MetricsError(ValueError):
    """Bad metric input (missing distances, class-list mismatch, ...)."""


def _angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(R, P) angular distances (deg) between direction rows (normalised here, as the official code does)."""
    an = a / np.sqrt(np.sum(a * a, axis=1, keepdims=True) + 1e-10)
    bn = b / np.sqrt(np.sum(b * b, axis=1, keepdims=True) + 1e-10)
    return np.degrees(np.arccos(np.clip(an @ bn.T, -1.0, 1.0)))


def _fold(az: np.ndarray) -> np.ndarray:
    az = (az + 180.0) % 360.0 - 180.0
    return np.where(az < -90.0, -180.0 - az, np.where(az > 90.0, 180.0 - az, az))


def _folded_az(doa: np.ndarray) -> np.ndarray:
    return _fold(np.degrees(np.arctan2(doa[:, 1], doa[:, 0])))


@dataclass
class SeldScores:
    """Result of an evaluation. Per-class arrays have one entry per class; ``macro`` / ``micro`` are dicts with
    keys ``f``, ``doa_error``, ``dist_error``, ``rel_dist_error``, ``loc_recall``, ``error_rate``, ``seld``
    (distance keys are NaN when distances were not scored)."""

    mode: str
    class_names: tuple[str, ...]
    eval_dist: bool
    f: np.ndarray
    doa_error: np.ndarray
    dist_error: np.ndarray
    rel_dist_error: np.ndarray
    loc_recall: np.ndarray
    seld: np.ndarray
    counts: dict[str, np.ndarray]
    error_rate: float
    macro: dict[str, float] = field(default_factory=dict)
    micro: dict[str, float] = field(default_factory=dict)
    num_frames: int = 0

    @property
    def classes_present(self) -> int:
        return int(np.count_nonzero(self.counts["n_ref"]))

    def to_dict(self) -> dict:
        def fl(x):
            return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)

        per_class = {}
        for i, n in enumerate(self.class_names):
            per_class[n] = {k: fl(getattr(self, k)[i]) for k in
                            ("f", "doa_error", "dist_error", "rel_dist_error", "loc_recall", "seld")}
            per_class[n].update({k: int(v[i]) for k, v in self.counts.items()})
        return {"mode": self.mode, "eval_dist": self.eval_dist, "num_frames": self.num_frames,
                "classes_present": self.classes_present, "num_classes": len(self.class_names),
                "macro": {k: fl(v) for k, v in self.macro.items()},
                "micro": {k: fl(v) for k, v in self.micro.items()}, "per_class": per_class}

    def table(self) -> str:
        """Per-class table plus the macro / micro summary, as seld-score prints it."""
        unit = "frames" if self.mode != "dcase2023" else "1 s segments"
        hdr = f"{'class':<16}{'n_ref':>7}{'TP':>7}{'FP':>6}{'FPsp':>6}{'FN':>6}{'F':>7}{'DOAE':>8}{'LR':>7}"
        if self.eval_dist:
            hdr += f"{'DE(m)':>8}{'RDE':>7}"
        lines = [f"mode {self.mode}: {self.num_frames} label frames, counts in {unit}", hdr, "-" * len(hdr)]

        def num(x, fmt):
            return f"{'-':>{int(fmt.split('.')[0])}}" if not np.isfinite(x) else format(x, fmt)

        for i, n in enumerate(self.class_names):
            c = self.counts
            row = (f"{n[:15]:<16}{int(c['n_ref'][i]):>7}{int(c['tp'][i]):>7}{int(c['fp'][i]):>6}"
                   f"{int(c['fp_spatial'][i]):>6}{int(c['fn'][i]):>6}{num(self.f[i] * 100, '7.1f')}"
                   f"{num(self.doa_error[i], '8.1f')}{num(self.loc_recall[i] * 100, '7.1f')}")
            if self.eval_dist:
                row += f"{num(self.dist_error[i], '8.2f')}{num(self.rel_dist_error[i], '7.2f')}"
            lines.append(row)
        lines.append("-" * len(hdr))
        for name, d in (("macro", self.macro), ("micro", self.micro)):
            s = (f"{name:<6} F {d['f'] * 100:5.1f}%  DOAE {d['doa_error']:6.1f} deg  LR {d['loc_recall'] * 100:5.1f}%")
            if self.eval_dist:
                s += f"  DE {d['dist_error']:.2f} m  RDE {d['rel_dist_error']:.3f}"
            s += f"  ER {d['error_rate']:.3f}  SELD {d['seld']:.3f}"
            lines.append(s)
        n, k = len(self.class_names), self.classes_present
        lines.append(f"classes present in the reference: {k}/{n} (macro F and LR average all {n} classes; "
                     f"absent classes count 0, so they are capped at {k / max(1, n):.3f})")
        lines.append(self.legend())
        return "\n".join(lines)

    def legend(self) -> str:
        """What every column of :meth:`table` means (printed under it)."""
        unit = "frames" if self.mode != "dcase2023" else "1 s segments"
        text = (f"columns: n_ref = reference events ({unit} x events); TP = detected with the right class and "
                "localized (direction within the DOA threshold, 20 deg by default"
                + (", and relative distance error within its threshold, 1.0" if self.eval_dist else "")
                + "); FP = predicted where the reference has no event of that class; FPsp = spatial false "
                "positive: right class, but too far from the reference direction (counts as both a miss and a "
                "false alarm); FN = missed; F = location-dependent F-score = TP / (TP + FPsp + (FP + FN) / 2); "
                "DOAE = mean direction error of matched events (deg); LR = localization recall")
        if self.eval_dist:
            text += "; DE = mean distance error (m); RDE = mean relative distance error"
        import textwrap

        return "\n".join(textwrap.wrap(text, width=110, subsequent_indent="  "))


class SeldEvaluator:
    """Accumulates DCASE SELD statistics over scenes; :meth:`compute` returns :class:`SeldScores`.

    mode: ``"dcase2024"`` frame-level 3D DOA (+ distance when ``eval_dist``), ``"dcase2023"`` 1 s segment-level
    (no distance), ``"dcase2025"`` frame-level stereo: azimuth only, folded to [-90, 90], plus distance.
    """

    def __init__(self, num_classes: int, mode: str = "dcase2024", doa_threshold: float = 20.0,
                 reldist_threshold: float | None = None, dist_threshold: float = math.inf,
                 eval_dist: bool | None = None, segment_frames: int = 10, official_frame_count: bool = False,
                 class_names: Sequence[str] | None = None):
        if mode not in MODES:
            raise MetricsError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
        if eval_dist is None:
            eval_dist = mode != "dcase2023"
        if mode == "dcase2023" and eval_dist:
            raise MetricsError("the segment-level (dcase2023) metrics do not score distance; use eval_dist=False")
        self.mode = mode
        self.nc = int(num_classes)
        self.class_names = tuple(class_names) if class_names is not None else tuple(f"class{i}" for i in range(self.nc))
        if len(self.class_names) != self.nc:
            raise MetricsError(f"{len(self.class_names)} class names for {self.nc} classes")
        self.doa_T = float(doa_threshold)
        self.reldist_T = float(1.0 if reldist_threshold is None else reldist_threshold)
        self.dist_T = float(dist_threshold)
        self.eval_dist = bool(eval_dist)
        self.segment_frames = int(segment_frames)
        self.official_frame_count = bool(official_frame_count)
        z = lambda: np.zeros(self.nc)  # noqa: E731
        self.tp, self.fp, self.fp_sp, self.fn, self.n_ref = z(), z(), z(), z(), z()
        self.de_tp, self.de_fp, self.de_fn = z(), z(), z()
        self.tot_ang, self.tot_dist, self.tot_rel = z(), z(), z()
        self.S = self.D = self.I = 0.0
        self.num_frames = 0

    # ------------------------------------------------------------------ helpers
    def _frames(self, ref, pred, num_frames):
        if num_frames is not None:
            return int(num_frames)
        if self.official_frame_count:
            act = np.nonzero(np.any(ref.class_id >= 0, axis=1))[0]
            return int(act.max()) if act.size else 0
        return int(ref.class_id.shape[0])

    def _check(self, lab, what):
        nc = len(lab.class_names)
        if nc != self.nc:
            raise MetricsError(f"{what} has {nc} classes, evaluator has {self.nc}")

    @staticmethod
    def _per_class(lab, frame, num_frames):
        """{class: (doas (n,3), dists (n,))} for one frame (empty dict past the end)."""
        if frame >= lab.class_id.shape[0]:
            return {}
        out = {}
        cls = lab.class_id[frame]
        for c in np.unique(cls[cls >= 0]):
            idx = np.nonzero(cls == c)[0]
            out[int(c)] = (lab.doa[frame, idx].astype(np.float64), lab.distance[frame, idx].astype(np.float64))
        return out

    # ------------------------------------------------------------------ update
    def update(self, ref, pred, num_frames: int | None = None, name: str = "") -> None:
        """Add one scene. ``ref`` / ``pred``: SceneLabels with distances in metres. Frames past the reference
        length (``num_frames``, default ``ref.num_frames``) are ignored, as the official code does."""
        self._check(ref, f"reference {name}")
        self._check(pred, f"prediction {name}")
        t = self._frames(ref, pred, num_frames)
        self.num_frames += t
        if self.mode == "dcase2023":
            self._update_segments(ref, pred, t)
            return
        for fr in range(t):
            g = self._per_class(ref, fr, t)
            p = self._per_class(pred, fr, t)
            if not g and not p:
                continue
            loc_fp = loc_fn = 0
            for c in set(g) | set(p):
                if c in g:
                    self.n_ref[c] += len(g[c][0])
                if c in g and c in p:
                    (gd, gdist), (pd, pdist) = g[c], p[c]
                    if self.mode == "dcase2025":
                        cost = np.abs(_folded_az(gd)[:, None] - _folded_az(pd)[None, :])
                    else:
                        cost = _angles(gd, pd)
                    rows, cols = linear_sum_assignment(cost)
                    ang = cost[rows, cols]
                    bad = ang > self.doa_T
                    if self.eval_dist:
                        gdm, pdm = gdist[rows], pdist[cols]
                        if not np.all(np.isfinite(gdm)):
                            raise MetricsError(f"{name} frame {fr}: reference distance unknown (NaN) but distance "
                                               f"is being scored; use eval_dist=False (--no-distance)")
                        if not np.all(np.isfinite(pdm)):
                            raise MetricsError(f"{name} frame {fr}: prediction has no distance but distance is "
                                               f"being scored; use eval_dist=False (--no-distance)")
                        derr = np.abs(gdm - pdm)
                        rerr = derr / (gdm + EPS)
                        bad = bad | (derr > self.dist_T) | (rerr > self.reldist_T)
                        self.tot_dist[c] += derr.sum()
                        self.tot_rel[c] += rerr.sum()
                    R, P = len(gd), len(pd)
                    K = min(R, P)
                    L = int(np.count_nonzero(bad))
                    self.tot_ang[c] += ang.sum()
                    self.tp[c] += K - L
                    self.de_tp[c] += K
                    self.fp[c] += max(0, P - R)
                    self.de_fp[c] += max(0, P - R)
                    self.fp_sp[c] += L
                    self.fn[c] += max(0, R - P)
                    self.de_fn[c] += max(0, R - P)
                    loc_fp += max(0, P - R) + L
                    loc_fn += max(0, R - P)
                elif c in g:
                    n = len(g[c][0])
                    self.fn[c] += n
                    self.de_fn[c] += n
                    loc_fn += n
                else:
                    n = len(p[c][0])
                    self.fp[c] += n
                    self.de_fp[c] += n
                    loc_fp += n
            self.S += min(loc_fp, loc_fn)
            self.D += max(0, loc_fn - loc_fp)
            self.I += max(0, loc_fp - loc_fn)

    def _update_segments(self, ref, pred, t: int) -> None:
        """DCASE2023 segment-level metrics, as ``SELDMetricsSegmentLevel.update_seld_scores``: within each 1 s block
        the reference "tracks" of a class are the slot positions within a frame; per matched track the angular
        error is averaged over the frames where both have the class, and compared to the threshold."""
        nb = int(math.ceil(t / self.segment_frames))
        for b in range(nb):
            f0, f1 = b * self.segment_frames, min(t, (b + 1) * self.segment_frames)
            g_blk: dict[int, dict[int, np.ndarray]] = {}
            p_blk: dict[int, dict[int, np.ndarray]] = {}
            for fr in range(f0, f1):
                for lab, blk in ((ref, g_blk), (pred, p_blk)):
                    for c, (d, _) in self._per_class(lab, fr, t).items():
                        blk.setdefault(c, {})[fr] = d
            loc_fp = loc_fn = 0
            for c in set(g_blk) | set(p_blk):
                nb_g = max((len(v) for v in g_blk[c].values()), default=0) if c in g_blk else 0
                nb_p = max((len(v) for v in p_blk[c].values()), default=0) if c in p_blk else 0
                if c in g_blk:
                    self.n_ref[c] += nb_g
                if c in g_blk and c in p_blk:
                    dist_per_track: dict[int, list[float]] = {}
                    for fr, gd in g_blk[c].items():
                        if fr not in p_blk[c]:
                            continue
                        cost = _angles(gd, p_blk[c][fr])
                        rows, cols = linear_sum_assignment(cost)
                        for r, cc in zip(rows, cols):
                            dist_per_track.setdefault(int(r), []).append(float(cost[r, cc]))
                    if not dist_per_track:
                        # Official quirk kept: no frame-wise overlap counts nb_pred as FN (not nb_ref).
                        loc_fn += nb_p
                        self.fn[c] += nb_p
                        self.de_fn[c] += nb_p
                        continue
                    for dl in dist_per_track.values():
                        avg = sum(dl) / len(dl)
                        self.tot_ang[c] += avg
                        self.de_tp[c] += 1
                        if avg <= self.doa_T:
                            self.tp[c] += 1
                        else:
                            loc_fp += 1
                            self.fp_sp[c] += 1
                    if nb_p > nb_g:
                        loc_fp += nb_p - nb_g
                        self.fp[c] += nb_p - nb_g
                        self.de_fp[c] += nb_p - nb_g
                    elif nb_p < nb_g:
                        loc_fn += nb_g - nb_p
                        self.fn[c] += nb_g - nb_p
                        self.de_fn[c] += nb_g - nb_p
                elif c in g_blk:
                    loc_fn += nb_g
                    self.fn[c] += nb_g
                    self.de_fn[c] += nb_g
                else:
                    loc_fp += nb_p
                    self.fp[c] += nb_p
                    self.de_fp[c] += nb_p
            self.S += min(loc_fp, loc_fn)
            self.D += max(0, loc_fn - loc_fp)
            self.I += max(0, loc_fp - loc_fn)

    # ------------------------------------------------------------------ results
    def compute(self) -> SeldScores:
        er = (self.S + self.D + self.I) / (self.n_ref.sum() + EPS)
        f = self.tp / (EPS + self.tp + self.fp_sp + 0.5 * (self.fp + self.fn))
        lr = self.de_tp / (EPS + self.de_tp + self.de_fn)
        has = self.de_tp > 0
        seg = self.mode == "dcase2023"
        no_match = 180.0 if seg else np.nan  # the segment-level code uses 180 deg for classes without matches
        with np.errstate(invalid="ignore", divide="ignore"):
            ang = np.where(has, self.tot_ang / (self.de_tp + EPS), no_match)
            de = np.where(has, self.tot_dist / (self.de_tp + EPS), np.nan) if self.eval_dist else np.full(self.nc, np.nan)
            rde = np.where(has, self.tot_rel / (self.de_tp + EPS), np.nan) if self.eval_dist else np.full(self.nc, np.nan)
        seld = np.array([self._seld(er, f[i], ang[i], lr[i], rde[i]) for i in range(self.nc)])

        def nanmean(x):
            x = np.asarray(x, dtype=float)
            return float(np.nanmean(x)) if np.any(np.isfinite(x)) else math.nan

        macro = {"f": float(f.mean()), "doa_error": float(ang.mean()) if seg else nanmean(ang),
                 "dist_error": nanmean(de), "rel_dist_error": nanmean(rde), "loc_recall": float(lr.mean()),
                 "error_rate": float(er), "seld": float(seld.mean())}
        tp_all = self.de_tp.sum()
        mf = self.tp.sum() / (EPS + self.tp.sum() + self.fp_sp.sum() + 0.5 * (self.fp.sum() + self.fn.sum()))
        mang = self.tot_ang.sum() / (tp_all + EPS) if tp_all else no_match
        mde = self.tot_dist.sum() / (tp_all + EPS) if (tp_all and self.eval_dist) else math.nan
        mrde = self.tot_rel.sum() / (tp_all + EPS) if (tp_all and self.eval_dist) else math.nan
        mlr = tp_all / (EPS + tp_all + self.de_fn.sum())
        micro = {"f": float(mf), "doa_error": float(mang), "dist_error": float(mde), "rel_dist_error": float(mrde),
                 "loc_recall": float(mlr), "error_rate": float(er),
                 "seld": float(self._seld(er, mf, mang, mlr, mrde))}
        counts = {"n_ref": self.n_ref.copy(), "tp": self.tp.copy(), "fp": self.fp.copy(),
                  "fp_spatial": self.fp_sp.copy(), "fn": self.fn.copy(), "matched": self.de_tp.copy()}
        return SeldScores(self.mode, self.class_names, self.eval_dist, f, ang, de, rde, lr, seld, counts, float(er),
                          macro, micro, self.num_frames)

    def _seld(self, er, f, ang, lr, rde) -> float:
        if self.mode == "dcase2023" or not self.eval_dist:
            terms = [er, 1 - f, ang / 180.0, 1 - lr]  # 2023 early-stopping metric
        else:
            terms = [1 - f, ang / 180.0, rde]  # 2024 (2025: same combination, not an official score there)
        terms = np.asarray(terms, dtype=float)
        return float(np.nanmean(terms)) if np.any(np.isfinite(terms)) else math.nan


def score_scenes(refs: Sequence, preds: Sequence, mode: str = "dcase2024", eval_dist: bool | None = None,
                 doa_threshold: float = 20.0, reldist_threshold: float = 1.0, dist_threshold: float = math.inf,
                 official_frame_count: bool = False, names: Sequence[str] | None = None) -> SeldScores:
    """Score paired reference / prediction SceneLabels (same class list, distances in metres)."""
    if len(refs) != len(preds):
        raise MetricsError(f"{len(refs)} references but {len(preds)} predictions")
    if not refs:
        raise MetricsError("nothing to score")
    ev = SeldEvaluator(len(refs[0].class_names), mode, doa_threshold, reldist_threshold, dist_threshold, eval_dist,
                       official_frame_count=official_frame_count, class_names=refs[0].class_names)
    for i, (r, p) in enumerate(zip(refs, preds)):
        ev.update(r, p, name=names[i] if names else f"scene {i}")
    return ev.compute()

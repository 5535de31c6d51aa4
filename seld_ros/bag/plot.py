"""The classic DCASE figure: azimuth and elevation against time, reference and prediction, coloured per class.

Reference events are drawn as wide pale squares, predictions as small dots on top, one colour per class
(tab10 plus distinct extras: with 13 classes the RViz marker hues are too close to tell apart on paper),
so a missed event is a trail of squares without dots and a false alarm dots without squares. Each predicted track
is joined by a thin line; the line is broken where the azimuth wraps across +-180 deg (a 25 deg step from 170 to
-165 deg is not drawn as a 335 deg jump across the plot) and where the track pauses. The azimuth axis extends 20 deg
past +-180 (shaded) with the points near the seam drawn on both sides, so an error across the seam looks as small as
it is.

Watch-list events (AudioSet labels outside the model's classes, ``seld_ros.event_tags.WatchEvent``) come as a separate
list of :class:`WatchPoint` and are drawn as black-edged stars, one colour and one legend entry ("watch: Glass") per
label, on both panels and with the same copies across the azimuth seam; a reference's watch events (a recording of
the node used as ground truth) as pale stars under them. A track's top AudioSet tag is written once, in small text
at its first point, for tracks of at least ``TAGGED_TRACK_MIN_S`` (shorter ones would bury the plot in text).
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from seld_ros.data.geometry import xyz_to_azel


def break_wraps(t: np.ndarray, y: np.ndarray, max_jump: float = 180.0, max_dt: float = 0.15):
    """(t, y) of one track with NaN inserted between consecutive points further apart than ``max_jump`` degrees
    (an azimuth wrapping across +-180) or ``max_dt`` seconds (a pause), so a line plot breaks there."""
    t, y = np.asarray(t, float), np.asarray(y, float)
    if t.size < 2:
        return t, y
    cut = np.nonzero((np.abs(np.diff(y)) > max_jump) | (np.diff(t) > max_dt))[0] + 1
    return np.insert(t, cut, np.nan), np.insert(y, cut, np.nan)


def _tracks(labels):
    """{(class, source): (time_s, azimuth_deg, elevation_deg)} sorted by time."""
    fr, slot = np.nonzero(labels.class_id >= 0)
    out = {}
    if fr.size == 0:
        return out
    az, el = xyz_to_azel(labels.doa[fr, slot])
    keys = list(zip(labels.class_id[fr, slot].astype(int), labels.source_id[fr, slot].astype(int)))
    for key in sorted(set(keys)):
        m = np.array([k == key for k in keys])
        order = np.argsort(fr[m], kind="stable")
        out[key] = ((fr[m][order] + 0.5) * labels.frame_hop_s, az[m][order], el[m][order])
    return out


def _points(labels):
    """(time_s, class, azimuth_deg, elevation_deg) of every active slot."""
    fr, slot = np.nonzero(labels.class_id >= 0)
    cls = labels.class_id[fr, slot].astype(int)
    az, el = xyz_to_azel(labels.doa[fr, slot])
    return (fr + 0.5) * labels.frame_hop_s, cls, az, el


class WatchPoint(NamedTuple):
    """One watch-list event in one output frame: plot time (s, frame centre), AudioSet label, unit direction."""

    time_s: float
    label: str
    doa: Sequence[float]


def _watch_by_label(watch: Sequence) -> dict:
    """{label: (time_s, azimuth_deg, elevation_deg)} of the watch points, labels sorted."""
    out = {}
    for label in sorted({str(w[1]) for w in watch}):
        sel = [w for w in watch if str(w[1]) == label]
        az, el = xyz_to_azel(np.array([np.asarray(w[2], float) for w in sel]).reshape(-1, 3))
        out[label] = (np.array([float(w[0]) for w in sel]), np.atleast_1d(az), np.atleast_1d(el))
    return out


AZ_LIMIT = 200.0  # azimuth axis range, +-: 20 deg of wrapped copies on each side of +-180
AZ_COPIES = (0.0, 360.0, -360.0)  # each azimuth drawn also one turn up and down (clipped to the axis)

_EXTRA = ("#000000", "#b8860b", "#000080", "#808000", "#ff00ff", "#00ced1")


def _scatter(axes, t, az, el, **style) -> None:
    """Points on both panels, the azimuth also one turn up and down (AZ_COPIES, clipped to the axis)."""
    for ax, y, copies in ((axes[0], az, AZ_COPIES), (axes[1], el, (0.0,))):
        for shift in copies:
            ax.scatter(t, y + shift, **style)


def class_color(class_id: int):
    """tab10 for the first ten classes, then six more distinct colours, then tab20's light shades."""
    import matplotlib

    if class_id < 10:
        return matplotlib.colormaps["tab10"](class_id)
    if class_id < 10 + len(_EXTRA):
        return matplotlib.colors.to_rgba(_EXTRA[class_id - 10])
    return matplotlib.colormaps["tab20"](2 * ((class_id - 16) % 10) + 1)


def watch_color(index: int):
    """Colour of the index-th watch-list label of a figure (Dark2: the stars' black edge sets them apart)."""
    import matplotlib

    return matplotlib.colormaps["Dark2"](index % 8)


TAGGED_TRACK_MIN_S = 0.5  # a track's top tag is written only on tracks at least this long


def doa_figure(prediction, reference=None, title: str = "", duration_s: float | None = None, *,
               watch: Sequence = (), reference_watch: Sequence = (), track_tags: dict | None = None):
    """The figure (matplotlib Agg backend; no display needed); :func:`plot_doa` writes it.

    watch / reference_watch: watch-list events, :class:`WatchPoint` or (time_s, label, doa) tuples, drawn apart from
    the model's classes. track_tags: {track id: its top AudioSet tag}, written at each track's first point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = prediction.class_names
    fig, axes = plt.subplots(2, 1, figsize=(12, 6.5), sharex=True, constrained_layout=True)
    present: set[int] = set()
    for labels, kind in ((reference, "ref"), (prediction, "pred")):
        if labels is None:
            continue
        t, cls, az, el = _points(labels)
        for c in np.unique(cls):
            m = cls == c
            present.add(int(c))
            style = dict(s=60, marker="s", alpha=0.3) if kind == "ref" else dict(s=9, marker="o")
            _scatter(axes, t[m], az[m], el[m], color=class_color(int(c)), linewidths=0, **style)
    for (c, track_id), (t, az, el) in _tracks(prediction).items():
        for ax, y, copies in ((axes[0], az, AZ_COPIES), (axes[1], el, (0.0,))):
            for shift in copies:
                ax.plot(*break_wraps(t, y + shift), color=class_color(int(c)), linewidth=0.8, alpha=0.8)
        tag = (track_tags or {}).get(int(track_id))
        if tag and t[-1] - t[0] >= TAGGED_TRACK_MIN_S - 1e-9:
            axes[0].annotate(tag, (t[0], az[0]), xytext=(2, 4), textcoords="offset points", fontsize=6,
                             color=class_color(int(c)), clip_on=True)
    watch_labels = sorted({str(w[1]) for w in (*watch, *reference_watch)})
    for points, kind in ((reference_watch, "ref"), (watch, "pred")):
        for label, (t, az, el) in _watch_by_label(points).items():
            style = dict(s=160, alpha=0.3, linewidths=0) if kind == "ref" else \
                dict(s=70, edgecolors="black", linewidths=0.6, zorder=3)
            _scatter(axes, t, az, el, marker="*", color=watch_color(watch_labels.index(label)), **style)
    # azimuth is circular: the axis runs 20 deg past +-180 (shaded) and everything near the seam is drawn on both
    # sides, so 178 deg and -177 deg show 5 deg apart, not at opposite edges
    axes[0].axhspan(180, AZ_LIMIT, color="grey", alpha=0.12, linewidth=0)
    axes[0].axhspan(-AZ_LIMIT, -180, color="grey", alpha=0.12, linewidth=0)
    axes[0].set_ylabel("azimuth (deg)")
    axes[0].set_ylim(-AZ_LIMIT, AZ_LIMIT)
    axes[0].set_yticks(range(-180, 181, 60))
    axes[1].set_ylabel("elevation (deg)")
    axes[1].set_ylim(-90, 90)
    axes[1].set_yticks(range(-90, 91, 30))
    axes[1].set_xlabel("time (s)")
    end = duration_s or max(prediction.duration_s, reference.duration_s if reference is not None else 0.0)
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.set_xlim(0, max(end, 0.1))
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=class_color(c), label=names[c])
               for c in sorted(present)]
    handles += [plt.Line2D([], [], marker="*", linestyle="", color=watch_color(i), markeredgecolor="black",
                           markeredgewidth=0.6, markersize=10, label=f"watch: {label}")
                for i, label in enumerate(watch_labels)]
    if reference is not None:
        handles += [plt.Line2D([], [], marker="s", linestyle="", color="grey", alpha=0.3, markersize=9,
                               label="reference"),
                    plt.Line2D([], [], marker="o", linestyle="-", color="grey", markersize=3,
                               label="prediction (line: one track)")]
    if handles:
        fig.legend(handles=handles, loc="outside right center", fontsize=8, frameon=False)
    fig.suptitle(title or "sound event directions")
    return fig


def plot_doa(path, prediction, reference=None, title: str = "", duration_s: float | None = None, *,
             watch: Sequence = (), reference_watch: Sequence = (), track_tags: dict | None = None) -> Path:
    """Write the figure (:func:`doa_figure`) as PNG (matplotlib Agg backend; no display needed)."""
    return save_figure(doa_figure(prediction, reference, title, duration_s, watch=watch,
                                  reference_watch=reference_watch, track_tags=track_tags), path)


def save_figure(fig, path) -> Path:
    """Write ``fig`` as PNG (parent folders made) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

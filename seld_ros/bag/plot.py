"""The classic DCASE figure: azimuth and elevation against time, reference and prediction, coloured per class.

Reference events are drawn as wide pale squares, predictions as small dots on top, one colour per class
(tab10 plus distinct extras: with 13 classes the RViz marker hues are too close to tell apart on paper),
so a missed event is a trail of squares without dots and a false alarm dots without squares. Each predicted track
is joined by a thin line; the line is broken where the azimuth wraps across +-180 deg (a 25 deg step from 170 to
-165 deg is not drawn as a 335 deg jump across the plot) and where the track pauses. The azimuth axis extends 20 deg
past +-180 (shaded) with the points near the seam drawn on both sides, so an error across the seam looks as small as
it is.
"""
from __future__ import annotations

from pathlib import Path

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


AZ_LIMIT = 200.0  # azimuth axis range, +-: 20 deg of wrapped copies on each side of +-180
AZ_COPIES = (0.0, 360.0, -360.0)  # each azimuth drawn also one turn up and down (clipped to the axis)

_EXTRA = ("#000000", "#b8860b", "#000080", "#808000", "#ff00ff", "#00ced1")


def class_color(class_id: int):
    """tab10 for the first ten classes, then six more distinct colours, then tab20's light shades."""
    import matplotlib

    if class_id < 10:
        return matplotlib.colormaps["tab10"](class_id)
    if class_id < 10 + len(_EXTRA):
        return matplotlib.colors.to_rgba(_EXTRA[class_id - 10])
    return matplotlib.colormaps["tab20"](2 * ((class_id - 16) % 10) + 1)


def doa_figure(prediction, reference=None, title: str = "", duration_s: float | None = None):
    """The figure (matplotlib Agg backend; no display needed); :func:`plot_doa` writes it."""
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
            color = class_color(int(c))
            for ax, y, copies in ((axes[0], az[m], AZ_COPIES), (axes[1], el[m], (0.0,))):
                for shift in copies:
                    if kind == "ref":
                        ax.scatter(t[m], y + shift, s=60, marker="s", color=color, alpha=0.3, linewidths=0)
                    else:
                        ax.scatter(t[m], y + shift, s=9, marker="o", color=color, linewidths=0)
    for (c, _), (t, az, el) in _tracks(prediction).items():
        for ax, y, copies in ((axes[0], az, AZ_COPIES), (axes[1], el, (0.0,))):
            for shift in copies:
                ax.plot(*break_wraps(t, y + shift), color=class_color(int(c)), linewidth=0.8, alpha=0.8)
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
    if reference is not None:
        handles += [plt.Line2D([], [], marker="s", linestyle="", color="grey", alpha=0.3, markersize=9,
                               label="reference"),
                    plt.Line2D([], [], marker="o", linestyle="-", color="grey", markersize=3,
                               label="prediction (line: one track)")]
    if handles:
        fig.legend(handles=handles, loc="outside right center", fontsize=8, frameon=False)
    fig.suptitle(title or "sound event directions")
    return fig


def plot_doa(path, prediction, reference=None, title: str = "", duration_s: float | None = None) -> Path:
    """Write the figure as PNG (matplotlib Agg backend; no display needed)."""
    import matplotlib.pyplot as plt

    fig = doa_figure(prediction, reference, title, duration_s)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

"""The classic DCASE figure: azimuth and elevation against time, reference and prediction, coloured per class.

Reference events are drawn as wide pale squares, predictions as small dots on top, one colour per class
(tab10 plus distinct extras: with 13 classes the RViz marker hues are too close to tell apart on paper),
so a missed event is a trail of squares without dots and a false alarm dots without squares.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from seld_ros.data.geometry import xyz_to_azel


def _points(labels):
    """(time_s, class, azimuth_deg, elevation_deg) of every active slot."""
    fr, slot = np.nonzero(labels.class_id >= 0)
    cls = labels.class_id[fr, slot].astype(int)
    az, el = xyz_to_azel(labels.doa[fr, slot])
    return (fr + 0.5) * labels.frame_hop_s, cls, az, el


_EXTRA = ("#000000", "#b8860b", "#000080", "#808000", "#ff00ff", "#00ced1")


def class_color(class_id: int):
    """tab10 for the first ten classes, then six more distinct colours, then tab20's light shades."""
    import matplotlib

    if class_id < 10:
        return matplotlib.colormaps["tab10"](class_id)
    if class_id < 10 + len(_EXTRA):
        return matplotlib.colors.to_rgba(_EXTRA[class_id - 10])
    return matplotlib.colormaps["tab20"](2 * ((class_id - 16) % 10) + 1)


def plot_doa(path, prediction, reference=None, title: str = "", duration_s: float | None = None) -> Path:
    """Write the figure as PNG (matplotlib Agg backend; no display needed)."""
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
            for ax, y in ((axes[0], az[m]), (axes[1], el[m])):
                if kind == "ref":
                    ax.scatter(t[m], y, s=60, marker="s", color=color, alpha=0.3, linewidths=0)
                else:
                    ax.scatter(t[m], y, s=9, marker="o", color=color, linewidths=0)
    axes[0].set_ylabel("azimuth (deg)")
    axes[0].set_ylim(-180, 180)
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
                    plt.Line2D([], [], marker="o", linestyle="", color="grey", markersize=3, label="prediction")]
    if handles:
        fig.legend(handles=handles, loc="outside right center", fontsize=8, frameon=False)
    fig.suptitle(title or "sound event directions")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

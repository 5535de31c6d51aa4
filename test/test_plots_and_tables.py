"""Plots and tables read right: the DOA plot breaks lines at the azimuth wrap, the metrics table explains its
columns."""
from __future__ import annotations

import numpy as np

from seld_ros.classes import STARSS23_CLASSES
from cli_helpers import REPO


# -- the DOA plot and the metrics table -----------------------------------------------------------------------
def test_doa_plot_breaks_lines_at_the_azimuth_wrap():
    import matplotlib.pyplot as plt

    from seld_ros.bag.plot import break_wraps, doa_figure
    from seld_ros.data.labels import SceneLabels

    t, y = break_wraps([0.05, 0.15, 0.25, 0.35], [170.0, 178.0, -165.0, -160.0])
    assert np.isnan(y[2]) and list(y[~np.isnan(y)]) == [170.0, 178.0, -165.0, -160.0]
    lab = SceneLabels.empty(20, STARSS23_CLASSES, 1)
    az = np.deg2rad(np.r_[np.linspace(160, 179, 10), np.linspace(-179, -160, 10)])
    lab.class_id[:, 0], lab.source_id[:, 0] = 2, 7
    lab.doa[:, 0] = np.stack([np.cos(az), np.sin(az), np.zeros(20)], 1)
    fig = doa_figure(lab, None, "wrap")
    try:
        lines = [ln for ln in fig.axes[0].get_lines() if len(ln.get_ydata()) > 1]
        assert lines, "each predicted track is drawn as a line"
        for ln in lines:
            yv = np.asarray(ln.get_ydata(), float)
            steps = np.abs(np.diff(yv))
            assert np.nanmax(steps) < 180.0, "a line crosses the whole plot at the +-180 wrap"
    finally:
        plt.close(fig)


def test_metrics_table_explains_its_columns():
    from seld_ros.data.labels import SceneLabels
    from seld_ros.metrics.seld import score_scenes

    ref = SceneLabels.empty(5, STARSS23_CLASSES, 1)
    ref.class_id[:, 0], ref.doa[:, 0] = 0, (1.0, 0.0, 0.0)
    raw = score_scenes([ref], [ref], mode="dcase2024", eval_dist=False).table()
    legend = raw[raw.index("columns:"):]
    assert max(len(line) for line in legend.splitlines()) <= 112  # the legend is wrapped, not one long line
    table = " ".join(raw.split())
    assert "FPsp = spatial false positive" in table
    for col in ("n_ref =", "TP =", "FP =", "FN =", "F =", "DOAE =", "LR ="):
        assert col in table, col
    demo = (REPO / "scripts" / "demo.sh").read_text()
    assert "metrics.txt" in demo  # the demo prints this table (with its legend)


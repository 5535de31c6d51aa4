"""DCASE SELD metrics (numpy/scipy only). See :mod:`seld_ros.metrics.seld` and docs/metrics.md."""
from seld_ros.metrics.seld import SeldEvaluator, SeldScores, score_scenes  # noqa: F401

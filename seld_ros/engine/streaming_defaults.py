"""The streaming block length: how many feature frames the network sees per hop.

One constant shared by export (the ONNX/engine block), the node and the benchmarks, so that the
exported block always matches the streaming window.
"""
from __future__ import annotations

from seld_ros.constants import LABEL_HOP_FRAMES, LABEL_HOP_S

DEFAULT_WINDOW_LABELS = 20     # 2.0 s of context: see docs/engine.md for the trade-off
DEFAULT_WINDOW_FRAMES = DEFAULT_WINDOW_LABELS * LABEL_HOP_FRAMES

_KEYS = ("streaming_window_frames", "window_frames", "block_frames")


def window_frames_from_config(*configs) -> int:
    """First streaming-window setting found in the given config dicts, else the default.

    Accepts ``streaming_window_frames`` / ``window_frames`` / ``block_frames`` (feature frames) or
    ``streaming_window_s`` (seconds).
    """
    for cfg in configs:
        if not isinstance(cfg, dict):
            continue
        for k in _KEYS:
            if cfg.get(k):
                return int(cfg[k])
        if cfg.get("streaming_window_s"):
            return int(round(float(cfg["streaming_window_s"]) / LABEL_HOP_S)) * LABEL_HOP_FRAMES
    return DEFAULT_WINDOW_FRAMES

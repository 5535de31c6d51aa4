"""A small network that honours the model contract, for tests and benchmarks.

The real networks live in ``seld_ros.model``; the engine code only relies on
this contract, which :class:`TinySeldNet` implements with a conv + GRU + linear
stack shaped like a (much smaller) SELD model:

* ``input_names`` / ``output_names``: lists of tensor names;
* ``example_inputs(batch, frames)``: a tuple of tensors, features (B, C, T, 64) float32;
* ``forward(*inputs)`` returns a tuple in ``output_names`` order;
* ``config``: a dict describing the architecture.

Output: multi-ACCDOA-like (B, T/5, tracks * 3 * classes), one row per 100 ms label frame.
"""
from __future__ import annotations

import torch
from torch import nn

from seld_ros.constants import LABEL_HOP_FRAMES

FEATURE_CHANNELS = 13  # 4 log-mel + 3 intensity + ... (the default FOA feature stack)
MEL_BANDS = 64
LABEL_HOP = LABEL_HOP_FRAMES  # feature frames (20 ms) per label frame (100 ms)


class TinySeldNet(nn.Module):
    """Conv (pool time by 5) -> bidirectional GRU -> linear -> tanh."""

    def __init__(self, in_channels: int = FEATURE_CHANNELS, n_classes: int = 13, tracks: int = 3,
                 hidden: int = 32, bidirectional: bool = True, seed: int | None = 0):
        super().__init__()
        if seed is not None:
            torch.manual_seed(seed)
        self.config = {"name": "tiny_seld", "in_channels": in_channels, "n_classes": n_classes,
                       "tracks": tracks, "hidden": hidden, "bidirectional": bidirectional}
        self.input_names = ["features"]
        self.output_names = ["accdoa"]
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AvgPool2d((LABEL_HOP, 4)),
            nn.Conv2d(16, hidden, 3, padding=1), nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.AvgPool2d((1, MEL_BANDS // 4)),
        )
        self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=bidirectional)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), tracks * 3 * n_classes)
        self.eval()  # inference is what the engine code does with it

    def example_inputs(self, batch: int = 1, frames: int = 50):
        if frames % LABEL_HOP:
            raise ValueError(f"frames must be a multiple of {LABEL_HOP}, got {frames}")
        return (torch.randn(batch, self.config["in_channels"], frames, MEL_BANDS),)

    def forward(self, features):
        y = self.conv(features)                # (B, H, T/5, 1)
        y = y.squeeze(-1).transpose(1, 2)      # (B, T/5, H)
        y, _ = self.gru(y)
        return (torch.tanh(self.head(y)),)


class NondeterministicNet(TinySeldNet):
    """Adds fresh noise every call: torch and ONNX Runtime can never agree (parity-failure tests)."""

    def forward(self, features):
        (y,) = super().forward(features)
        return (y + torch.rand_like(y),)

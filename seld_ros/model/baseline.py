"""The DCASE 2023/2024 SELD baseline CRNN, re-implemented as the yardstick.

3 x (conv3x3 64 + BN + ReLU + max-pool (5,4), (1,4), (1,2)), a 2-layer BiGRU
(hidden 128, forward and backward halves multiplied through tanh gates as in
the baseline), 2 multi-head self-attention layers (8 heads) with layer norm,
a 128-unit FC, and multi-ACCDOA output (3 tracks x K classes x xyz, tanh) —
~0.74 M parameters with 7 input channels. It is trained with ADPIT by the same
trainer; ``head.mode = "trackwise"`` is also accepted for ablations.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import InputNorm, SeldHead


def default_baseline_config(**overrides) -> dict:
    cfg = {"name": "dcase_baseline", "in_channels": 7, "n_mels": 64, "num_classes": 13,
           "conv_channels": 64, "f_pool": [4, 4, 2], "t_pool": [5, 1, 1],
           "rnn_size": 128, "rnn_layers": 2, "attn_layers": 2, "attn_heads": 8, "fnn_size": 128,
           "dropout": 0.05,
           "head": {"mode": "multi_accdoa", "num_tracks": 3, "distance": False}}
    for k, v in overrides.items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) and isinstance(cfg.get(k), dict) else v
    return cfg


class BaselineCRNN(nn.Module):
    """Inputs ``features`` (B, C, T, n_mels); outputs as :class:`SeldHead`."""

    input_names = ["features"]

    def __init__(self, config: dict):
        super().__init__()
        config = copy.deepcopy(config)
        self.config = config
        C, F_, ch = config["in_channels"], config["n_mels"], config["conv_channels"]
        self.norm = InputNorm(C, F_)
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        cin = C
        f = F_
        for fp in config["f_pool"]:
            self.convs.append(nn.Conv2d(cin, ch, 3, padding=1))
            self.bns.append(nn.BatchNorm2d(ch))
            cin = ch
            f //= fp
        self.pools = list(zip(config["t_pool"], config["f_pool"]))
        r = config["rnn_size"]
        self.gru = nn.GRU(ch * f, r, num_layers=config["rnn_layers"], batch_first=True,
                          bidirectional=True, dropout=config["dropout"])
        self.attn = nn.ModuleList(nn.MultiheadAttention(r, config["attn_heads"], dropout=config["dropout"],
                                                        batch_first=True)
                                  for _ in range(config["attn_layers"]))
        self.lns = nn.ModuleList(nn.LayerNorm(r) for _ in range(config["attn_layers"]))
        h = config["head"]
        self.head = SeldHead(r, config["num_classes"], h["num_tracks"], h["mode"],
                             h.get("distance", False), hidden=config["fnn_size"])
        self.output_names = self.head.output_names

    def example_inputs(self, batch: int = 1, frames: int = 50) -> tuple[torch.Tensor, ...]:
        if frames % 5:
            raise ValueError("frames must be a multiple of 5")
        return (torch.randn(batch, self.config["in_channels"], frames, self.config["n_mels"]),)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.norm(features)
        for conv, bn, pool in zip(self.convs, self.bns, self.pools):
            x = F.max_pool2d(F.relu(bn(conv(x))), kernel_size=pool)
            x = F.dropout(x, self.config["dropout"], self.training)
        b, c, t, f = x.shape
        x = x.permute(0, 2, 1, 3).reshape(b, t, c * f)
        x = self.gru(x)[0]
        half = x.shape[-1] // 2
        x = torch.tanh(x[..., half:]) * torch.tanh(x[..., :half])
        for att, ln in zip(self.attn, self.lns):
            x = ln(x + att(x, x, x, need_weights=False)[0])
        return self.head(x)

"""Optimiser, learning-rate schedules and checkpoint writing, shared by the SELD trainer (seld_ros.train.trainer)
and the AT pretraining (seld_ros.train.pretrain_at)."""
from __future__ import annotations

import math
import os
from pathlib import Path

import torch


def adamw(params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=float(lr), weight_decay=float(weight_decay))


def warmup_cosine(opt: torch.optim.Optimizer, epochs: int, warmup_epochs: float = 1.0):
    """Per-epoch schedule (step once per epoch): linear warm-up over ``warmup_epochs``, then cosine to 0."""
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda e: min(1.0, (e + 1) / max(warmup_epochs, 1e-9))
        * 0.5 * (1 + math.cos(math.pi * min(e, epochs) / epochs)))


def one_cycle(opt: torch.optim.Optimizer, lr: float, steps: int, warmup_fraction: float = 0.1):
    """Per-step schedule (step once per batch): one cycle up to ``lr`` and down over ``steps`` steps."""
    return torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=max(1, steps), pct_start=warmup_fraction)


def save_checkpoint(path, state: dict) -> None:
    """``torch.save`` through a temporary file and a rename: a crash never leaves half a checkpoint behind."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)

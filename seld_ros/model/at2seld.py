"""AT2SELD: a general-purpose audio-tagging CNN (semantic stream) and a
compact spatial encoder, joined by cross-stitch units, then recurrent (or
Conformer) smoothing and SELD heads at 100 ms frames.

    features (B, C, T, 64)  raw FoaFeatures output, T a multiple of 5
      ├─ channel 0 (W log-mel) ─▶ PANNs-style backbone blocks ─┐
      └─ all C channels ───────▶ residual spatial blocks ──────┤ cross-stitch after
                                                               │ the configured blocks
      semantic frame embedding (fc1) ⊕ spatial (mean+max over freq, or flattened)
      ─▶ Linear ─▶ GRU / Conformer ─▶ heads (track-wise or multi-ACCDOA)

Both streams share one pooling schedule (time ÷5 in the first block, then
frequency only), so every block boundary is a legal fusion point.
``fusion.mode = "early"`` is the ablation: a single backbone that sees all
C channels at its input and no spatial stream.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn

from .layers import CrossStitch, InputNorm, SeldHead, SpatialEncoder, Temporal
from .panns import PannsBackbone, backbone_config


def default_at2seld_config(**overrides) -> dict:
    cfg = {
        "name": "at2seld",
        "in_channels": 13,
        "n_mels": 64,
        "num_classes": 13,
        "backbone": backbone_config("slim"),
        # training mode of the semantic stream: all | frozen | partial (+ trainable_blocks)
        "backbone_train": "all",
        "backbone_trainable_blocks": 2,
        "spatial_channels": [16, 32, 64, 64],
        # how the spatial stream's last map becomes a frame vector: "meanmax" (mean and max over frequency)
        # or "flatten" (channels x remaining frequency bins, as the DCASE baseline feeds its GRU)
        "spatial_pool": "meanmax",
        # after_blocks: block numbers (1-based) followed by a cross-stitch unit;
        # None = "late": every block but the first
        "fusion": {"mode": "cross_stitch", "after_blocks": None},
        "temporal": {"kind": "gru", "d_model": 128, "layers": 2, "bidirectional": True, "heads": 4},
        "head": {"mode": "trackwise", "num_tracks": 3, "distance": True, "hidden": 128},
        "dropout": 0.1,
    }
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    return cfg


class AT2SELD(nn.Module):
    """See module docstring. Inputs: ``features`` (B, C, T, n_mels).
    Outputs (``output_names`` order), L = T / 5: track-wise ``activity_logits``
    (B, L, N, K), ``doa`` (B, L, N, 3) unit vectors, ``distance`` (B, L, N) m;
    or multi-ACCDOA ``accdoa`` (B, L, N, K, 3), ``distance`` (B, L, N, K)."""

    input_names = ["features"]

    def __init__(self, config: dict):
        super().__init__()
        config = copy.deepcopy(config)
        self.config = config
        C, F_ = int(config["in_channels"]), int(config["n_mels"])
        self.norm = InputNorm(C, F_)
        self.early = config["fusion"]["mode"] == "early"
        if config["fusion"]["mode"] not in ("cross_stitch", "early", "none"):
            raise ValueError("fusion.mode: cross_stitch | early | none")
        bcfg = dict(config["backbone"])
        bcfg["in_channels"] = C if self.early else 1
        bcfg["n_mels"] = F_
        self.config["backbone"] = bcfg
        self.backbone = PannsBackbone(bcfg)
        self.backbone.set_trainable(config.get("backbone_train", "all"),
                                    config.get("backbone_trainable_blocks", 0))
        # the tagging head only serves AT pretraining; SELD never uses it
        self.backbone.fc_audioset.requires_grad_(False)
        nb = self.backbone.num_blocks
        pools = self.backbone.pools
        self.frames_per_label = 1
        for t, _ in pools:
            self.frames_per_label *= t
        if self.frames_per_label != 5:
            raise ValueError(f"time pooling must total 5 (100 ms frames), got {self.frames_per_label}")
        if self.early:
            self.spatial = None
            self.after = []
            d_cat = bcfg["emb_dim"]
        else:
            sch = list(config["spatial_channels"])
            if len(sch) != nb:
                raise ValueError(f"spatial_channels needs {nb} entries (one per backbone block)")
            self.spatial = SpatialEncoder(C, sch, pools, dropout=config.get("dropout", 0.1))
            after = config["fusion"].get("after_blocks")
            if after is None:
                after = list(range(2, nb + 1)) or [1]
            self.after = [int(b) for b in after] if config["fusion"]["mode"] == "cross_stitch" else []
            for b in self.after:
                if not 1 <= b <= nb:
                    raise ValueError(f"fusion.after_blocks entry {b} outside 1..{nb}")
            self.stitch = nn.ModuleDict({str(b): CrossStitch(self.backbone.channels[b - 1], sch[b - 1])
                                         for b in self.after})
            self.spatial_pool = config.get("spatial_pool", "meanmax")
            if self.spatial_pool == "meanmax":
                d_spa = 2 * sch[-1]
            elif self.spatial_pool == "flatten":
                f_left = F_
                for _, fp in pools:
                    f_left //= fp
                d_spa = sch[-1] * f_left
            else:
                raise ValueError(f"spatial_pool: meanmax | flatten, got {self.spatial_pool!r}")
            d_cat = bcfg["emb_dim"] + d_spa
        t = config["temporal"]
        self.temporal = Temporal(t["kind"], t["d_model"], t["d_model"], t.get("layers", 2),
                                 t.get("bidirectional", True), t.get("heads", 4),
                                 dropout=config.get("dropout", 0.1))
        self.pre = nn.Sequential(nn.Linear(d_cat, t["d_model"]), nn.ReLU(),
                                 nn.Dropout(config.get("dropout", 0.1)))
        h = config["head"]
        self.head = SeldHead(self.temporal.out_dim, config["num_classes"], h["num_tracks"],
                             h["mode"], h.get("distance", False), h.get("hidden", 128))
        self.output_names = self.head.output_names

    def example_inputs(self, batch: int = 1, frames: int = 50) -> tuple[torch.Tensor, ...]:
        if frames % 5:
            raise ValueError("frames must be a multiple of 5")
        return (torch.randn(batch, self.config["in_channels"], frames, self.config["n_mels"]),)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.norm(features)
        if self.early:
            s = self.backbone.stem(x)
            for i in range(self.backbone.num_blocks):
                s = self.backbone.run_block(i, s)
            h = self.backbone.embed(s)
        else:
            s = self.backbone.stem(x[:, :1])
            p = x
            for i in range(self.backbone.num_blocks):
                s = self.backbone.run_block(i, s)
                p = self.spatial.run_block(i, p)
                if (i + 1) in self.after:
                    s, p = self.stitch[str(i + 1)](s, p)
            sem = self.backbone.embed(s)                       # (B, L, emb)
            if self.spatial_pool == "flatten":
                spa = p.permute(0, 2, 1, 3).flatten(2)              # (B, L, C * F')
            else:
                spa = torch.cat([p.mean(dim=3), p.amax(dim=3)], dim=1).transpose(1, 2)
            h = torch.cat([sem, spa], dim=2)
        h = self.temporal(self.pre(h))
        return self.head(h)

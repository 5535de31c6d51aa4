"""Two-branch stereo SELD (the DCASE 2025 technical report's design): a detector for class activity on the
audio-tagging backbone, and a small ResNet-Conformer localiser for direction and distance, combined per class.

    features (B, C, T, n_mels)  raw StereoFeatures output (channel 0 = mid log-mel), T a multiple of 5
      ├─ channel 0 ─▶ PANNs-style backbone ─▶ frame embedding ─▶ GRU ─▶ activity logits (N tracks x K classes)
      └─ all C ────▶ residual blocks (time ÷5, then frequency) ─▶ Conformer ─▶ direction (N x K x 3)
                                                                             ─▶ distance  (N x K), softplus, m
      combined per class: accdoa[n, k] = sigmoid(activity[n, k]) * direction[n, k] / |direction[n, k]|

The outputs are the multi-ACCDOA layout (``accdoa`` (B, L, N, K, 3), ``distance`` (B, L, N, K)), so the trainer's
ADPIT loss, the decoder, the tracker, bundles and engines take it as they take any multi-ACCDOA model; the loss on
the combined vector trains both branches (activity through its length, direction through its angle). The two
branches share no weights; the detector's backbone loads AT-pretrained weights (``model.pretrained_backbone``).
Not causal (the Conformer attends over the whole window): the node runs it on a sliding window.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import InputNorm, SpatialEncoder, Temporal, unit_norm
from .panns import PannsBackbone, backbone_config


def default_two_branch_config(**overrides) -> dict:
    cfg = {
        "name": "two_branch",
        "in_channels": 8,
        "n_mels": 64,
        "num_classes": 13,
        "backbone": backbone_config("slim"),
        "backbone_train": "all",
        "backbone_trainable_blocks": 2,
        "detector": {"d_model": 128, "layers": 1},                 # GRU over the backbone's frame embeddings
        "localiser": {"channels": [16, 32, 64, 64], "d_model": 96, "layers": 2, "heads": 4},
        "head": {"mode": "multi_accdoa", "num_tracks": 3, "distance": True},
        "dropout": 0.1,
    }
    for k, v in overrides.items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) and isinstance(cfg.get(k), dict) else v
    return cfg


class TwoBranchSELD(nn.Module):
    """See module docstring. Inputs ``features`` (B, C, T, n_mels); outputs ``accdoa``, ``distance``."""

    input_names = ["features"]

    def __init__(self, config: dict):
        super().__init__()
        config = copy.deepcopy(config)
        self.config = config
        h = config["head"]
        if h.get("mode") != "multi_accdoa" or not h.get("distance", True):
            raise ValueError("two_branch: head.mode must be multi_accdoa with distance: true "
                             "(the per-class combination is an ACCDOA vector and a distance per class)")
        C, F_ = int(config["in_channels"]), int(config["n_mels"])
        K, N = int(config["num_classes"]), int(h["num_tracks"])
        self.K, self.N = K, N
        drop = float(config.get("dropout", 0.1))
        self.norm = InputNorm(C, F_)
        bcfg = dict(config["backbone"])
        bcfg.update(in_channels=1, n_mels=F_, causal=False)
        self.config["backbone"] = bcfg
        self.backbone = PannsBackbone(bcfg)
        self.backbone.set_trainable(config.get("backbone_train", "all"), config.get("backbone_trainable_blocks", 0))
        self.backbone.fc_audioset.requires_grad_(False)  # the tagging head only serves AT pretraining
        pools = self.backbone.pools
        frames = 1
        for t, _ in pools:
            frames *= t
        if frames != 5:
            raise ValueError(f"time pooling must total 5 (100 ms frames), got {frames}")
        d = config["detector"]
        self.det_rnn = Temporal("gru", bcfg["emb_dim"], d["d_model"], d.get("layers", 1), True, dropout=drop)
        self.det_out = nn.Linear(self.det_rnn.out_dim, N * K)
        nn.init.constant_(self.det_out.bias, -2.0)  # start quiet
        loc = config["localiser"]
        ch = list(loc["channels"])
        if len(ch) != len(pools):
            raise ValueError(f"localiser.channels needs {len(pools)} entries (one per pooling stage)")
        self.loc_cnn = SpatialEncoder(C, ch, pools, dropout=drop)
        f_left = F_
        for _, fp in pools:
            f_left //= fp
        self.loc_conformer = Temporal("conformer", ch[-1] * f_left, loc["d_model"], loc.get("layers", 2),
                                      heads=loc.get("heads", 4), dropout=drop)
        self.loc_dir = nn.Linear(loc["d_model"], N * K * 3)
        self.loc_dist = nn.Linear(loc["d_model"], N * K)
        self.output_names = ["accdoa", "distance"]

    def example_inputs(self, batch: int = 1, frames: int = 50) -> tuple[torch.Tensor, ...]:
        if frames % 5:
            raise ValueError("frames must be a multiple of 5")
        return (torch.randn(batch, self.config["in_channels"], frames, self.config["n_mels"]),)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.norm(features)
        s = self.backbone.stem(x[:, :1])
        p = x
        for i in range(self.backbone.num_blocks):
            s = self.backbone.run_block(i, s)
            p = self.loc_cnn.run_block(i, p)
        b, l = s.shape[0], s.shape[2]
        act = self.det_out(self.det_rnn(self.backbone.embed(s))).reshape(b, l, self.N, self.K)
        h = self.loc_conformer(p.permute(0, 2, 1, 3).flatten(2))          # (B, L, d_model)
        direction = unit_norm(self.loc_dir(h).reshape(b, l, self.N, self.K, 3))
        accdoa = torch.sigmoid(act).unsqueeze(-1) * direction
        distance = F.softplus(self.loc_dist(h)).reshape(b, l, self.N, self.K)
        return accdoa, distance

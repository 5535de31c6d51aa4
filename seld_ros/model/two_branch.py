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
Not causal by default (the Conformer attends over the whole window, the detector GRU runs both ways): the node runs
it on a sliding window.

``causal: true`` makes it stream exactly, as ``AT2SELD`` with ``causal: true`` does: time-causal convs in the
backbone and the localiser (their left context in the state), a unidirectional detector GRU, and a unidirectional
GRU in place of the localiser's Conformer (``localiser.kind: gru``); :meth:`TwoBranchSELD.step` runs n 100 ms hops
after an explicit state, :meth:`TwoBranchSELD.forward` is that step over the whole clip from the zero state, so the
node's incremental step equals offline. State (:meth:`TwoBranchSELD.state_specs`): ``state_b{i}c{j}`` (backbone,
absent with YAMNet), ``state_s{i}c{j}`` (localiser convs), ``state_yamnet`` (with YAMNet), ``state_det_gru``,
``state_loc_gru``.

``semantic: yamnet`` (needs ``causal: true`` and features with ``yamnet: true``) puts the AudioSet-pretrained YAMNet
in the detector in place of the PANNs-style backbone, on the mid channel: the two raw YAMNet log-mel channels of the
mid that follow the C stereo channels (``StereoFeatureConfig.yamnet``; input (B, C + 2, T, F), only the first C
normalised) feed :class:`seld_ros.model.yamnet_stream.YamnetStream` exactly as in ``AT2SELD`` (once per hop on the
causal 0.96 s window; its frame vector -> detector GRU -> activity), and the localiser is unchanged.
``forward(features, semantic=cached)`` / ``step(..., semantic=)`` take YAMNet's fixed part precomputed.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import (InputNorm, SpatialEncoder, Temporal, conv_state_specs, gru_state_spec, label_frame_pools,
                     unit_norm, zero_state)
from .panns import PannsBackbone, backbone_config
from .yamnet_stream import YamnetStream, default_yamnet_stream_config

SEMANTIC_STREAMS = ("panns", "yamnet")


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
        # kind: conformer (attends over the whole window) | gru (unidirectional with causal: true)
        "localiser": {"channels": [16, 32, 64, 64], "d_model": 96, "layers": 2, "heads": 4, "kind": "conformer"},
        "head": {"mode": "multi_accdoa", "num_tracks": 3, "distance": True},
        "dropout": 0.1,
        "causal": False,       # True: streams one 100 ms hop at a time with carried state (see module docstring)
        "semantic": "panns",   # the detector's tagger: "panns" (the backbone above) or "yamnet" (AudioSet-pretrained)
        "yamnet": default_yamnet_stream_config(),
    }
    for k, v in overrides.items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) and isinstance(cfg.get(k), dict) else v
    return cfg


class TwoBranchSELD(nn.Module):
    """See module docstring. Inputs ``features`` (B, C [+ 2], T, n_mels); outputs ``accdoa``, ``distance``."""

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
        self.causal = bool(config.setdefault("causal", False))
        self.semantic_kind = config.setdefault("semantic", "panns")
        if self.semantic_kind not in SEMANTIC_STREAMS:
            raise ValueError(f"two_branch: semantic must be one of {SEMANTIC_STREAMS}, got {self.semantic_kind!r}")
        self.norm = InputNorm(C, F_)
        loc = config["localiser"]
        ch = list(loc["channels"])
        if self.semantic_kind == "yamnet":
            if not self.causal:
                raise ValueError("two_branch: semantic: yamnet needs causal: true (YAMNet runs on the causal window "
                                 "of each hop)")
            self.backbone = None
            config["yamnet"] = default_yamnet_stream_config(**config.get("yamnet", {}))
            self.yamnet = YamnetStream(config["yamnet"], dropout=drop)
            pools, d_det = label_frame_pools(len(ch)), self.yamnet.out_dim
        else:
            self.yamnet = None
            bcfg = dict(config["backbone"])
            bcfg.update(in_channels=1, n_mels=F_, causal=self.causal)
            self.config["backbone"] = bcfg
            self.backbone = PannsBackbone(bcfg)
            self.backbone.set_trainable(config.get("backbone_train", "all"),
                                        config.get("backbone_trainable_blocks", 0))
            self.backbone.fc_audioset.requires_grad_(False)  # the tagging head only serves AT pretraining
            pools, d_det = self.backbone.pools, bcfg["emb_dim"]
        # the network's input channels: C stereo ones (normalised) [+ 2 raw YAMNet log-mel channels of the mid]
        self.input_channels = C + (2 if self.yamnet is not None else 0)
        frames = 1
        for t, _ in pools:
            frames *= t
        if frames != 5:
            raise ValueError(f"time pooling must total 5 (100 ms frames), got {frames}")
        d = config["detector"]
        self.det_rnn = Temporal("gru", d_det, d["d_model"], d.get("layers", 1), not self.causal, dropout=drop)
        self.det_out = nn.Linear(self.det_rnn.out_dim, N * K)
        nn.init.constant_(self.det_out.bias, -2.0)  # start quiet
        if len(ch) != len(pools):
            raise ValueError(f"localiser.channels needs {len(pools)} entries (one per pooling stage)")
        self.loc_cnn = SpatialEncoder(C, ch, pools, dropout=drop, causal=self.causal)
        f_left = F_
        for _, fp in pools:
            f_left //= fp
        kind = loc.setdefault("kind", "conformer")
        if self.causal and kind != "gru":
            raise ValueError("two_branch: causal: true needs localiser.kind: gru (a Conformer attends over the whole "
                             "window, so it cannot run one hop at a time)")
        # named by kind, so bundles of the Conformer localiser keep their weight names
        self._loc_temporal = {"conformer": "loc_conformer", "gru": "loc_gru"}.get(kind)
        if self._loc_temporal is None:
            raise ValueError(f"two_branch: localiser.kind must be conformer or gru, got {kind!r}")
        setattr(self, self._loc_temporal, Temporal(kind, ch[-1] * f_left, loc["d_model"], loc.get("layers", 2),
                                                   not self.causal, heads=loc.get("heads", 4), dropout=drop))
        d_loc = getattr(self, self._loc_temporal).out_dim
        self.loc_dir = nn.Linear(d_loc, N * K * 3)
        self.loc_dist = nn.Linear(d_loc, N * K)
        self.output_names = ["accdoa", "distance"]

    @property
    def loc_temporal(self) -> Temporal:
        return getattr(self, self._loc_temporal)

    def example_inputs(self, batch: int = 1, frames: int = 50) -> tuple[torch.Tensor, ...]:
        if frames % 5:
            raise ValueError("frames must be a multiple of 5")
        return (torch.randn(batch, self.input_channels, frames, self.config["n_mels"]),)

    def _combine(self, det: torch.Tensor, loc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Detector and localiser frame vectors (B, L, .) -> per-class ACCDOA and distance."""
        b, l = det.shape[0], det.shape[1]
        act = self.det_out(det).reshape(b, l, self.N, self.K)
        direction = unit_norm(self.loc_dir(loc).reshape(b, l, self.N, self.K, 3))
        accdoa = torch.sigmoid(act).unsqueeze(-1) * direction
        distance = F.softplus(self.loc_dist(loc)).reshape(b, l, self.N, self.K)
        return accdoa, distance

    def forward(self, features: torch.Tensor, semantic: torch.Tensor | None = None):
        if self.causal:  # the streaming step over the whole clip, from the zero state
            return self.step(features, self.initial_state(features.shape[0], features.device), semantic)[0]
        if semantic is not None:
            raise ValueError("semantic= is for two_branch networks with semantic: yamnet")
        x = self.norm(features)
        s = self.backbone.stem(x[:, :1])
        p = x
        for i in range(self.backbone.num_blocks):
            s = self.backbone.run_block(i, s)
            p = self.loc_cnn.run_block(i, p)
        det = self.det_rnn(self.backbone.embed(s))
        loc = self.loc_temporal(p.permute(0, 2, 1, 3).flatten(2))          # (B, L, d_model)
        return self._combine(det, loc)

    # -- causal streaming ------------------------------------------------------------------------
    def state_specs(self, batch: int = 1) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of every state tensor, in the order :meth:`step` takes and returns them."""
        if not self.causal:
            raise ValueError("state_specs: this network is not causal (model.causal: false)")
        specs = conv_state_specs("b", self.backbone.cache_shapes(batch)) if self.backbone is not None else []
        specs += conv_state_specs("s", self.loc_cnn.cache_shapes(self.config["n_mels"], batch))
        if self.yamnet is not None:
            specs.append(("state_yamnet", self.yamnet.state_shape(self.config["n_mels"], batch)))
        return specs + [gru_state_spec("state_det_gru", self.det_rnn, batch),
                        gru_state_spec("state_loc_gru", self.loc_temporal, batch)]

    def initial_state(self, batch: int = 1, device=None) -> list[torch.Tensor]:
        """The state at stream start: all zeros."""
        return zero_state(self.state_specs(batch), self.norm.mean, device)

    def step(self, features: torch.Tensor, state: list,
             semantic: torch.Tensor | None = None) -> tuple[tuple[torch.Tensor, torch.Tensor], list]:
        """Run ``features`` (B, C [+ 2], 5 n, F) — n >= 1 hops of 100 ms — after the stream whose ``state`` is
        given; returns (outputs for the n label frames, new state). ``semantic`` (``semantic: yamnet`` only):
        YAMNet's fixed part for the n hops, precomputed."""
        if not self.causal:
            raise ValueError("step: this network is not causal (model.causal: false)")
        if semantic is not None and self.yamnet is None:
            raise ValueError("semantic= is for two_branch networks with semantic: yamnet")
        C = self.config["in_channels"]
        x = self.norm(features[:, :C])
        blocks = len(self.loc_cnn.blocks)
        k, new_state = 0, []
        if self.backbone is not None:
            s = self.backbone.stem(x[:, :1])
            for i in range(blocks):
                s, c = self.backbone.run_block_causal(i, s, state[2 * i:2 * i + 2])
                new_state += c
            det_in, k = self.backbone.embed(s), 2 * blocks
        p = x
        for i in range(blocks):
            p, c = self.loc_cnn.run_block_causal(i, p, state[k + 2 * i:k + 2 * i + 2])
            new_state += c
        k += 2 * blocks
        if self.yamnet is not None:
            det_in, yam_state = self.yamnet.step(features[:, C:C + 2], state[k], semantic)
            new_state.append(yam_state)
            k += 1
        det, h_det = self.det_rnn.forward_stateful(det_in, state[k])
        loc, h_loc = self.loc_temporal.forward_stateful(p.permute(0, 2, 1, 3).flatten(2), state[k + 1])
        return self._combine(det, loc), new_state + [h_det, h_loc]

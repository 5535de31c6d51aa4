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

``causal: true`` makes the network stream exactly: every 3x3 conv takes its
two frames of left time context from a cache (zeros at stream start, which is
offline left zero padding) and pads only frequency; the first block's time
pooling by 5 covers exactly the 5 feature frames of one 100 ms label frame
(frame ``t`` of the stream is label frame ``t // 5``), the GRU is
unidirectional and carries its hidden state. :meth:`AT2SELD.step` runs one
hop with an explicit state; :meth:`AT2SELD.forward` is the same code run over
the whole clip from the zero state, so streaming equals offline by
construction. State layout (:meth:`AT2SELD.state_specs`, batch B):
``state_b{i}c{j}`` (B, C_in, 2, F) for conv j of backbone block i,
``state_s{i}c{j}`` for the spatial stream's block i (absent with early
fusion), then ``state_gru`` (layers, B, d_model), in that order.
``fusion.mode = "early"`` is the ablation: a single backbone that sees all
C channels at its input and no spatial stream.

``semantic: yamnet`` replaces the PANNs-style stream by the AudioSet-pretrained
YAMNet (:mod:`seld_ros.model.yamnet_stream`), fed by the two raw YAMNet log-mel
channels that follow the C spatial channels (``FeatureConfig.yamnet``; input
(B, C + 2, T, 64), only the first C normalised). It runs once per 100 ms hop on
the causal 0.96 s window ending in the label frame; its frame vector joins the
spatial stream's late, at the frame level (the grids differ, so no
cross-stitch). State: ``state_s*`` (spatial), ``state_yamnet`` (B, 1, 86, 64),
``state_gru``. ``forward(features, semantic=cached)`` / ``step(..., semantic=)``
take YAMNet's fixed part precomputed (``YamnetStream.encode``) instead of running it.

``refine: {kind: yamnet}`` keeps the PANNs-style network whole and adds the AudioSet-pretrained YAMNet beside it
as a *semantic refinement*: YAMNet's frame vector (same stream, same causal window, same two input channels as
``semantic: yamnet``) and the head's shared hidden layer go through one linear layer to a per-track, per-class
offset added to the activity logits. The layer starts at zero, so a refined network starts exactly as its base
bundle (``init_from``) and learns only where AudioSet's knowledge corrects the class; the track directions are
the base network's. ``freeze_base: true`` (default) trains only YAMNet's projection and the offset layer and keeps
the base in eval mode (its batch-norm statistics and dropout as shipped). State: the base's, then
``state_yamnet``, then ``state_gru``.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn

from .layers import (CrossStitch, InputNorm, SeldHead, SpatialEncoder, Temporal, conv_state_specs, gru_state_spec,
                     label_frame_pools, zero_state)
from .panns import PannsBackbone, backbone_config
from .yamnet_stream import YamnetStream, default_yamnet_stream_config

SEMANTIC_STREAMS = ("panns", "yamnet")

from seld_ros.constants import LABEL_HOP_FRAMES


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
        # causal: time-causal convs (left context only) + a unidirectional GRU, run incrementally one 100 ms
        # hop at a time with carried state (see AT2SELD.step); False keeps the symmetric convs of older bundles
        "causal": False,
        # semantic stream: "panns" (the backbone above, trained here) or "yamnet" (AudioSet-pretrained, see
        # seld_ros.model.yamnet_stream; needs causal: true and features with yamnet: true)
        "semantic": "panns",
        "yamnet": default_yamnet_stream_config(),
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
        self.refine, self.frozen_base = None, False  # refine: yamnet (see _init_refine)
        self.semantic_kind = config.setdefault("semantic", "panns")
        if self.semantic_kind not in SEMANTIC_STREAMS:
            raise ValueError(f"semantic: one of {SEMANTIC_STREAMS}, got {self.semantic_kind!r}")
        # the network's input channels: C spatial ones (normalised) [+ 2 raw YAMNet log-mel channels]
        self.input_channels = C + (2 if self.semantic_kind == "yamnet" else 0)
        if self.semantic_kind == "yamnet":
            self._init_yamnet(config, C, F_)
            return
        self.yamnet = None
        self.early = config["fusion"]["mode"] == "early"
        if config["fusion"]["mode"] not in ("cross_stitch", "early", "none"):
            raise ValueError("fusion.mode: cross_stitch | early | none")
        bcfg = dict(config["backbone"])
        bcfg["in_channels"] = C if self.early else 1
        bcfg["n_mels"] = F_
        self.causal = bool(config.get("causal", False))
        self.config["causal"] = self.causal
        bcfg["causal"] = self.causal
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
        if self.frames_per_label != LABEL_HOP_FRAMES:
            raise ValueError(f"time pooling must total 5 (100 ms frames), got {self.frames_per_label}")
        if self.early:
            self.spatial = None
            self.after = []
            d_cat = bcfg["emb_dim"]
        else:
            sch = list(config["spatial_channels"])
            if len(sch) != nb:
                raise ValueError(f"spatial_channels needs {nb} entries (one per backbone block)")
            self.spatial = SpatialEncoder(C, sch, pools, dropout=config.get("dropout", 0.1), causal=self.causal)
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
        self._init_temporal_and_head(config, d_cat)
        if config.get("refine"):
            self._init_refine(config, C)

    def _init_refine(self, config: dict, C: int) -> None:
        """``refine: {kind: yamnet}``: YAMNet beside the whole base network (see module docstring)."""
        r = {"kind": "yamnet", "freeze_base": True, **config["refine"]}
        if r["kind"] != "yamnet" or set(r) != {"kind", "freeze_base"}:
            raise ValueError(f"refine: {{kind: yamnet, freeze_base: true|false}}, got {config['refine']!r}")
        if not self.causal or self.config["head"]["mode"] != "trackwise":
            raise ValueError("refine: yamnet needs causal: true and head.mode: trackwise")
        config["refine"] = r
        config["yamnet"] = default_yamnet_stream_config(**config.get("yamnet", {}))
        self.yamnet = YamnetStream(config["yamnet"], dropout=config.get("dropout", 0.1))
        self.input_channels = C + 2
        head = self.head
        self.refine = nn.Linear(self.yamnet.out_dim + head.fc[0].out_features, head.N * head.K)
        nn.init.zeros_(self.refine.weight)  # a refined network starts exactly as its base
        nn.init.zeros_(self.refine.bias)
        self.frozen_base = bool(r["freeze_base"])
        if self.frozen_base:
            for name, p in self.named_parameters():
                if not name.startswith(("yamnet.", "refine.")):
                    p.requires_grad_(False)

    def train(self, mode: bool = True):
        """With a frozen base (``refine.freeze_base``) the base stays in eval mode while the refinement trains."""
        super().train(mode)
        if self.frozen_base:
            for name, module in self.named_children():
                if name not in ("yamnet", "refine"):
                    module.train(False)
        return self

    def _init_temporal_and_head(self, config: dict, d_cat: int) -> None:
        """Frame vector (d_cat) -> Linear -> GRU / Conformer -> heads."""
        t = config["temporal"]
        if self.causal and (t["kind"] != "gru" or t.get("bidirectional", True)):
            raise ValueError("causal: true needs temporal kind=gru with bidirectional: false")
        self.temporal = Temporal(t["kind"], t["d_model"], t["d_model"], t.get("layers", 2),
                                 t.get("bidirectional", True), t.get("heads", 4),
                                 dropout=config.get("dropout", 0.1))
        self.pre = nn.Sequential(nn.Linear(d_cat, t["d_model"]), nn.ReLU(),
                                 nn.Dropout(config.get("dropout", 0.1)))
        h = config["head"]
        self.head = SeldHead(self.temporal.out_dim, config["num_classes"], h["num_tracks"],
                             h["mode"], h.get("distance", False), h.get("hidden", 128))
        self.output_names = self.head.output_names

    def _init_yamnet(self, config: dict, C: int, F_: int) -> None:
        """``semantic: yamnet``: YAMNet stream + spatial stream, late fusion (see module docstring)."""
        self.causal = bool(config.get("causal", False))
        if not self.causal:
            raise ValueError("semantic: yamnet needs causal: true (YAMNet runs on the causal window of each hop)")
        config["causal"] = True
        if config["fusion"]["mode"] == "early":
            raise ValueError("semantic: yamnet joins the spatial stream late; fusion.mode early is not possible")
        config["fusion"] = {"mode": "late", "after_blocks": []}
        self.early, self.after, self.backbone = False, [], None
        config["yamnet"] = default_yamnet_stream_config(**config.get("yamnet", {}))
        self.yamnet = YamnetStream(config["yamnet"], dropout=config.get("dropout", 0.1))
        sch = list(config["spatial_channels"])
        pools = label_frame_pools(len(sch))
        self.frames_per_label = 5
        self.spatial = SpatialEncoder(C, sch, pools, dropout=config.get("dropout", 0.1), causal=True)
        self.spatial_pool = config.get("spatial_pool", "meanmax")
        if self.spatial_pool == "meanmax":
            d_spa = 2 * sch[-1]
        elif self.spatial_pool == "flatten":
            d_spa = sch[-1] * (F_ // 2 ** len(sch))
        else:
            raise ValueError(f"spatial_pool: meanmax | flatten, got {self.spatial_pool!r}")
        self._init_temporal_and_head(config, self.yamnet.out_dim + d_spa)

    def example_inputs(self, batch: int = 1, frames: int = 50) -> tuple[torch.Tensor, ...]:
        if frames % 5:
            raise ValueError("frames must be a multiple of 5")
        return (torch.randn(batch, self.input_channels, frames, self.config["n_mels"]),)

    # -- causal streaming ------------------------------------------------------------------------
    def state_specs(self, batch: int = 1) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of every state tensor, in the order :meth:`step` takes and returns them."""
        if not self.causal:
            raise ValueError("state_specs: this network is not causal (model.causal: false)")
        specs = []
        if self.backbone is not None:
            specs += conv_state_specs("b", self.backbone.cache_shapes(batch))
        if self.spatial is not None:
            specs += conv_state_specs("s", self.spatial.cache_shapes(self.config["n_mels"], batch))
        if self.yamnet is not None:
            specs.append(("state_yamnet", self.yamnet.state_shape(self.config["n_mels"], batch)))
        specs.append(gru_state_spec("state_gru", self.temporal, batch))
        return specs

    def initial_state(self, batch: int = 1, device=None) -> list[torch.Tensor]:
        """The state at stream start: all zeros."""
        return zero_state(self.state_specs(batch), self.norm.mean, device)

    def step(self, features: torch.Tensor, state: list,
             semantic: torch.Tensor | None = None) -> tuple[tuple[torch.Tensor, ...], list]:
        """Run ``features`` (B, C, 5 n, F) — n >= 1 hops of 100 ms — after the stream whose ``state``
        is given; returns (outputs for the n label frames, new state). One hop per call is what the
        node does; the whole clip from :meth:`initial_state` is what :meth:`forward` does.
        ``semantic`` (``semantic: yamnet`` only): YAMNet's fixed part for the n hops, precomputed."""
        if not self.causal:
            raise ValueError("step: this network is not causal (model.causal: false)")
        if self.yamnet is not None and self.refine is None:
            return self._step_yamnet(features, state, semantic)
        if semantic is not None and self.refine is None:
            raise ValueError("semantic= is for networks with YAMNet (semantic: yamnet or refine: yamnet)")
        nb = self.backbone.num_blocks
        C = self.config["in_channels"]
        x = self.norm(features[:, :C])
        new_state: list = []
        if self.early:
            s = self.backbone.stem(x)
            for i in range(nb):
                s, c = self.backbone.run_block_causal(i, s, state[2 * i:2 * i + 2])
                new_state += c
            h = self.backbone.embed(s)
        else:
            s = self.backbone.stem(x[:, :1])
            p = x
            sp_new: list = []
            for i in range(nb):
                s, c = self.backbone.run_block_causal(i, s, state[2 * i:2 * i + 2])
                new_state += c
                p, c = self.spatial.run_block_causal(i, p, state[2 * nb + 2 * i:2 * nb + 2 * i + 2])
                sp_new += c
                if (i + 1) in self.after:
                    s, p = self.stitch[str(i + 1)](s, p)
            new_state += sp_new
            h = torch.cat([self.backbone.embed(s), self._spatial_vector(p)], dim=2)
        h, h_gru = self.temporal.forward_stateful(self.pre(h), state[-1])
        if self.refine is None:
            return self.head(h), new_state + [h_gru]
        hidden = self.head.fc(h)
        act, *rest = self.head.from_hidden(hidden)
        vector, yam_state = self.yamnet.step(features[:, C:C + 2], state[-2], semantic)
        offset = self.refine(torch.cat([vector, hidden], dim=2)).reshape(act.shape)
        return (act + offset, *rest), new_state + [yam_state, h_gru]

    def _step_yamnet(self, features, state, semantic):
        C = self.config["in_channels"]
        p = self.norm(features[:, :C])
        new_state: list = []
        for i in range(len(self.spatial.blocks)):
            p, c = self.spatial.run_block_causal(i, p, state[2 * i:2 * i + 2])
            new_state += c
        vector, yam_state = self.yamnet.step(features[:, C:C + 2], state[-2], semantic)
        h = torch.cat([vector, self._spatial_vector(p)], dim=2)
        h, h_gru = self.temporal.forward_stateful(self.pre(h), state[-1])
        return self.head(h), new_state + [yam_state, h_gru]

    def _spatial_vector(self, p: torch.Tensor) -> torch.Tensor:
        if self.spatial_pool == "flatten":
            return p.permute(0, 2, 1, 3).flatten(2)              # (B, L, C * F')
        return torch.cat([p.mean(dim=3), p.amax(dim=3)], dim=1).transpose(1, 2)

    def forward(self, features: torch.Tensor, semantic: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        if self.causal:  # the streaming step over the whole clip, from the zero state
            return self.step(features, self.initial_state(features.shape[0], features.device), semantic)[0]
        if semantic is not None:
            raise ValueError("semantic= is for semantic: yamnet networks")
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
            h = torch.cat([sem, self._spatial_vector(p)], dim=2)
        h = self.temporal(self.pre(h))
        return self.head(h)

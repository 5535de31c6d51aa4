"""The semantic stream of AT2SELD with ``semantic: yamnet`` (and the detector's tagger of the stereo two-branch
network with ``semantic: yamnet``, on the mid channel): YAMNet run once per 100 ms hop on the causal 0.96 s
window of its own log-mel that ends with the current label frame (its last YAMNet frame ends 10 ms before the label
frame does: the feature channels pair YAMNet frames 2t - 1, 2t with feature frame t, see ``seld_ros.features.yamnet``).

    YAMNet log-mel of W or mid, 10 per hop ─┐
    state_yamnet: the 86 frames before ─────┴▶ window of 96 frames ─▶ YAMNet ─▶ embedding (1024) [⊕ logits (521)]
                                                                     ─▶ LayerNorm ─▶ Linear ─▶ ReLU ─▶ frame vector

The window is exact, not an approximation: the state holds the last 86 frames themselves, so a hop's window is the
same whether the clip runs in one call or hop by hop. The state is stored relative to YAMNet's silence value
ln(0.001) (what the front end gives for digital silence), so the all-zero state at stream start *is* silence before
the stream, and offline (``forward`` from the zero state) equals streaming by construction. Added latency: none
(the window ends inside the label frame, so its output never waits for later audio); what the design costs is the
0.96 s of history it looks at, and that a label frame's last 10 ms reach YAMNet one hop later.

Training modes (``train``): ``frozen`` — every YAMNet weight fixed; ``partial`` — the last ``trainable_layers``
of its 14 layers (and its classifier) train; ``all``. The YAMNet part that stays fixed is a pure function of the
audio, so its output can be computed once per scene and cached: :meth:`YamnetStream.encode` gives that cached form
(``frozen``: the raw per-hop vector; ``partial``: the feature map before the first trainable layer) and
:meth:`YamnetStream.decode` finishes it. ``AT2SELD.forward(features, semantic=cached)`` takes the cached form in
place of running YAMNet on ``features``' YAMNet channels.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from .yamnet import YAMNET_CLASS_COUNT, YAMNET_LAYER_COUNT, YAMNET_PATCH_FRAMES, YAMNet

YAMNET_HOP_FRAMES = 10  # YAMNet frames (10 ms) per 100 ms label frame
YAMNET_CONTEXT_FRAMES = YAMNET_PATCH_FRAMES - YAMNET_HOP_FRAMES  # carried in the state: 86
YAMNET_LOG_FLOOR = math.log(0.001)  # YAMNet's log-mel of silence: ln(0 + 0.001)
TRAIN_MODES = ("frozen", "partial", "all")


def default_yamnet_stream_config(**overrides) -> dict:
    cfg = {
        "train": "frozen",          # frozen | partial | all
        "trainable_layers": 2,      # partial: how many of the 14 YAMNet layers (from the top) train
        "use_logits": True,         # the frame vector sees the 521 AudioSet logits besides the 1024-d embedding
        "proj_dim": 128,
        "width": 1.0,               # < 1: a narrower random YAMNet (tests); the pretrained weights need 1.0
        "num_classes": YAMNET_CLASS_COUNT,
    }
    cfg.update(overrides)
    return cfg


class YamnetStream(nn.Module):
    """See module docstring. ``cut``: YAMNet layers before it are fixed (14 = all fixed)."""

    def __init__(self, config: dict, dropout: float = 0.1):
        super().__init__()
        cfg = default_yamnet_stream_config(**(config or {}))
        self.config = cfg
        mode = cfg["train"]
        if mode not in TRAIN_MODES:
            raise ValueError(f"yamnet.train: one of {TRAIN_MODES}, got {mode!r}")
        k = int(cfg["trainable_layers"])
        if mode == "partial" and not 1 <= k <= YAMNET_LAYER_COUNT:
            raise ValueError(f"yamnet.trainable_layers must be in 1..{YAMNET_LAYER_COUNT}, got {k}")
        self.net = YAMNet(num_classes=int(cfg["num_classes"]), width=float(cfg["width"]))
        self.cut = {"frozen": YAMNET_LAYER_COUNT, "partial": YAMNET_LAYER_COUNT - k, "all": 0}[mode]
        for i, layer in enumerate(self.net.layers):
            layer.requires_grad_(i >= self.cut)
        self.net.classifier.requires_grad_(mode != "frozen")
        self.use_logits = bool(cfg["use_logits"])
        self.raw_dim = self.net.embedding_dim + (self.net.num_classes if self.use_logits else 0)
        self.norm = nn.LayerNorm(self.raw_dim)
        self.proj = nn.Sequential(nn.Linear(self.raw_dim, int(cfg["proj_dim"])), nn.ReLU(), nn.Dropout(dropout))
        self.out_dim = int(cfg["proj_dim"])

    # -- the causal window ---------------------------------------------------------------------------------
    @staticmethod
    def frames_of(channels: torch.Tensor) -> torch.Tensor:
        """The two YAMNet channels of the feature tensor (B, 2, T, F) -> YAMNet frames (B, 1, 2T, F)
        (feature frame t holds YAMNet frames 2t, 2t+1)."""
        b, two, t, f = channels.shape
        return channels.permute(0, 2, 1, 3).reshape(b, 1, two * t, f)

    @staticmethod
    def windows(frames: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """frames (B, 1, 10 n, F) after ``state`` (B, 1, 86, F) -> (windows (B, n, 96, F), the next state).
        Window j ends with the last frame of hop j."""
        seq = torch.cat([state + YAMNET_LOG_FLOOR, frames], dim=2)[:, 0]
        n = frames.shape[2] // YAMNET_HOP_FRAMES
        wins = torch.stack([seq[:, YAMNET_HOP_FRAMES * j:YAMNET_HOP_FRAMES * j + YAMNET_PATCH_FRAMES]
                            for j in range(n)], dim=1)
        return wins, (seq[:, None, -YAMNET_CONTEXT_FRAMES:] - YAMNET_LOG_FLOOR)

    @staticmethod
    def next_state(frames: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """The state after ``frames`` without building the windows (YAMNet's output given precomputed)."""
        seq = torch.cat([state + YAMNET_LOG_FLOOR, frames], dim=2)
        return seq[:, :, -YAMNET_CONTEXT_FRAMES:] - YAMNET_LOG_FLOOR

    def state_shape(self, n_mels: int, batch: int = 1) -> tuple[int, ...]:
        return (batch, 1, YAMNET_CONTEXT_FRAMES, int(n_mels))

    def step(self, channels: torch.Tensor, state: torch.Tensor,
             semantic: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The two YAMNet log-mel channels of n hops (B, 2, 5 n, F) after ``state`` -> (frame vectors (B, n,
        out_dim), the next state). ``semantic``: YAMNet's fixed part for those hops, precomputed (:meth:`encode`,
        training on the cache), in place of running it."""
        frames = self.frames_of(channels)
        if semantic is None:
            windows, new_state = self.windows(frames, state)
            semantic = self.encode(windows)
        else:
            new_state = self.next_state(frames, state)
        return self(self.decode(semantic)), new_state

    # -- fixed part / trainable part ------------------------------------------------------------------------
    def encode(self, windows: torch.Tensor) -> torch.Tensor:
        """The fixed part, cacheable: windows (B, n, 96, F) -> (B, n, raw_dim) for ``frozen``, else the map
        before the first trainable layer (B, n, C, T', F')."""
        b, n = windows.shape[:2]
        x = self.net.forward_features(windows.reshape(b * n, 1, *windows.shape[2:]), upto=self.cut)
        if self.cut == YAMNET_LAYER_COUNT:
            x = self._raw(*self.net.forward_from(x, start=self.cut))
        return x.reshape(b, n, *x.shape[1:])

    def decode(self, encoded: torch.Tensor) -> torch.Tensor:
        """The trainable part of YAMNet: the output of :meth:`encode` -> raw per-hop vector (B, n, raw_dim)."""
        if self.cut == YAMNET_LAYER_COUNT:
            return encoded
        b, n = encoded.shape[:2]
        raw = self._raw(*self.net.forward_from(encoded.reshape(b * n, *encoded.shape[2:]), start=self.cut))
        return raw.reshape(b, n, -1)

    def _raw(self, logits: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        return torch.cat([embedding, logits], dim=1) if self.use_logits else embedding

    def encoded_shape(self, n_mels: int = 64) -> tuple[int, ...]:
        """Shape of one hop's :meth:`encode` output (what a cache stores per label frame)."""
        if self.cut == YAMNET_LAYER_COUNT:
            return (self.raw_dim,)
        channels = 1 if self.cut == 0 else self.net.layer_channels[self.cut - 1]
        return (channels, *YAMNet.feature_shape(self.cut, YAMNET_PATCH_FRAMES, int(n_mels)))

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        """raw per-hop vectors (B, L, raw_dim) -> frame vectors (B, L, out_dim)."""
        return self.proj(self.norm(raw))

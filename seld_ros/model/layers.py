"""Building blocks shared by the SELD networks: input normalisation, the
spatial residual encoder, cross-stitch fusion, temporal models and heads."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .panns import CAUSAL_CONTEXT, causal_conv


class InputNorm(nn.Module):
    """(x - mean) / std with per-channel / per-mel statistics stored as buffers.

    The statistics travel in the state dict, so an exported network takes the
    *raw* features of ``seld_ros.features.FoaFeatures``.
    """

    def __init__(self, channels: int, n_mels: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(1, channels, 1, n_mels))
        self.register_buffer("std", torch.ones(1, channels, 1, n_mels))

    def set_stats(self, mean, std) -> None:
        mean = torch.as_tensor(mean, dtype=torch.float32)
        std = torch.as_tensor(std, dtype=torch.float32)
        c, f = self.mean.shape[1], self.mean.shape[3]
        if mean.dim() == 1:  # per channel
            mean, std = mean[:, None], std[:, None]
        mean = mean.reshape(c, -1)[None, :, None, :].expand(1, c, 1, f)
        std = std.reshape(c, -1)[None, :, None, :].expand(1, c, 1, f)
        self.mean.copy_(mean)
        self.std.copy_(torch.clamp(std, min=1e-5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ResBlock(nn.Module):
    """Pre-pooling residual block: conv-BN-ReLU-conv-BN + 1x1 shortcut, ReLU, avg-pool.
    ``causal``: time-causal convs (see ``seld_ros.model.panns.causal_conv``)."""

    def __init__(self, cin: int, cout: int, causal: bool = False):
        super().__init__()
        pad = (0, 1) if causal else 1
        self.causal = causal
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, pad, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, pad, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, pool: tuple[int, int]) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        y = F.relu(y + self.short(x))
        if pool != (1, 1):
            y = F.avg_pool2d(y, kernel_size=pool)
        return y

    def forward_causal(self, x: torch.Tensor, pool: tuple[int, int], caches: list) -> tuple[torch.Tensor, list]:
        y, c1 = causal_conv(self.conv1, x, caches[0])
        y = F.relu(self.bn1(y))
        y, c2 = causal_conv(self.conv2, y, caches[1])
        y = F.relu(self.bn2(y) + self.short(x))
        if pool != (1, 1):
            y = F.avg_pool2d(y, kernel_size=pool)
        return y, [c1, c2]


def conv_state_specs(prefix: str, shapes: list[tuple[int, ...]]) -> list[tuple[str, tuple[int, ...]]]:
    """State names of causal conv caches, two per block: ``state_<prefix>{block}c{conv}`` (1-based)."""
    return [(f"state_{prefix}{k // 2 + 1}c{k % 2 + 1}", shape) for k, shape in enumerate(shapes)]


def gru_state_spec(name: str, temporal: "Temporal", batch: int) -> tuple[str, tuple[int, ...]]:
    """The hidden state of a unidirectional GRU ``Temporal``: (layers, B, hidden)."""
    rnn = temporal.rnn
    return name, (rnn.num_layers, batch, rnn.hidden_size)


def zero_state(specs, like: torch.Tensor, device=None) -> list[torch.Tensor]:
    """The state at stream start: zeros of every (name, shape) in ``specs``, on ``device`` (default: ``like``'s)
    in ``like``'s dtype."""
    return [torch.zeros(shape, device=device or like.device, dtype=like.dtype) for _, shape in specs]


def label_frame_pools(blocks: int) -> list[tuple[int, int]]:
    """(time, frequency) pooling of a spatial stream that has no backbone to follow: the first block pools time by 5
    (one 100 ms label frame), every block frequency by 2 (the slim backbone's schedule)."""
    return [(5, 2)] + [(1, 2)] * (blocks - 1)


class SpatialEncoder(nn.Module):
    """Compact residual encoder over the FOA descriptors (log-mel + IV + phase)."""

    def __init__(self, in_channels: int, channels: list[int], pools: list[tuple[int, int]],
                 dropout: float = 0.1, causal: bool = False):
        super().__init__()
        ins = [in_channels] + list(channels[:-1])
        self.blocks = nn.ModuleList(ResBlock(ci, co, causal) for ci, co in zip(ins, channels))
        self.pools = [tuple(p) for p in pools]
        self.dropout = dropout
        self._ins = ins
        self._channels = list(channels)

    def run_block(self, i: int, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks[i](x, self.pools[i])
        return F.dropout(x, p=self.dropout, training=self.training)

    def run_block_causal(self, i: int, x: torch.Tensor, caches: list) -> tuple[torch.Tensor, list]:
        x, caches = self.blocks[i].forward_causal(x, self.pools[i], caches)
        return F.dropout(x, p=self.dropout, training=self.training), caches

    def cache_shapes(self, n_mels: int, batch: int = 1) -> list[tuple[int, ...]]:
        """Shapes of the causal conv caches, two per block (conv1, conv2 input context)."""
        shapes, f = [], int(n_mels)
        for ci, co, (_, fp) in zip(self._ins, self._channels, self.pools):
            shapes += [(batch, ci, CAUSAL_CONTEXT, f), (batch, co, CAUSAL_CONTEXT, f)]
            f //= fp
        return shapes


class CrossStitch(nn.Module):
    """Cross-stitch unit (Misra et al., 2016) between two feature maps of equal
    time/frequency size. Per-channel mixing weights, initialised close to
    identity; 1x1 projections bridge different channel counts."""

    def __init__(self, c_a: int, c_b: int, self_weight: float = 0.9):
        super().__init__()
        self.a_to_b = nn.Conv2d(c_a, c_b, 1, bias=False) if c_a != c_b else nn.Identity()
        self.b_to_a = nn.Conv2d(c_b, c_a, 1, bias=False) if c_a != c_b else nn.Identity()
        self.w_aa = nn.Parameter(torch.full((1, c_a, 1, 1), self_weight))
        self.w_ab = nn.Parameter(torch.full((1, c_a, 1, 1), 1.0 - self_weight))
        self.w_bb = nn.Parameter(torch.full((1, c_b, 1, 1), self_weight))
        self.w_ba = nn.Parameter(torch.full((1, c_b, 1, 1), 1.0 - self_weight))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a2 = self.w_aa * a + self.w_ab * self.b_to_a(b)
        b2 = self.w_bb * b + self.w_ba * self.a_to_b(a)
        return a2, b2


class ConformerBlock(nn.Module):
    """Small Conformer block: FFN/2, MHSA, depthwise conv module, FFN/2, LayerNorm."""

    def __init__(self, d: int, heads: int = 4, kernel: int = 7, ff_mult: int = 2, dropout: float = 0.1):
        super().__init__()
        self.ff1 = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, ff_mult * d), nn.SiLU(),
                                 nn.Dropout(dropout), nn.Linear(ff_mult * d, d))
        self.ln_att = nn.LayerNorm(d)
        self.att = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.ln_conv = nn.LayerNorm(d)
        self.pw1 = nn.Conv1d(d, 2 * d, 1)
        self.dw = nn.Conv1d(d, d, kernel, padding=kernel // 2, groups=d)
        self.bn = nn.BatchNorm1d(d)
        self.pw2 = nn.Conv1d(d, d, 1)
        self.ff2 = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, ff_mult * d), nn.SiLU(),
                                 nn.Dropout(dropout), nn.Linear(ff_mult * d, d))
        self.ln_out = nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + 0.5 * self.ff1(x)
        h = self.ln_att(x)
        x = x + self.drop(self.att(h, h, h, need_weights=False)[0])
        h = self.ln_conv(x).transpose(1, 2)
        h = F.glu(self.pw1(h), dim=1)
        h = self.pw2(F.silu(self.bn(self.dw(h))))
        x = x + self.drop(h.transpose(1, 2))
        x = x + 0.5 * self.ff2(x)
        return self.ln_out(x)


class Temporal(nn.Module):
    """GRU (optionally bidirectional) or Conformer stack over (B, L, d_in)."""

    def __init__(self, kind: str, d_in: int, d_model: int, layers: int = 2,
                 bidirectional: bool = True, heads: int = 4, dropout: float = 0.1):
        super().__init__()
        self.kind = kind
        if kind == "gru":
            hidden = d_model // 2 if bidirectional else d_model
            self.rnn = nn.GRU(d_in, hidden, num_layers=layers, batch_first=True,
                              bidirectional=bidirectional, dropout=dropout if layers > 1 else 0.0)
            self.out_dim = hidden * (2 if bidirectional else 1)
        elif kind == "conformer":
            self.proj = nn.Linear(d_in, d_model)
            self.blocks = nn.ModuleList(ConformerBlock(d_model, heads, dropout=dropout)
                                        for _ in range(layers))
            self.out_dim = d_model
        else:
            raise ValueError(f"temporal kind {kind!r}: gru | conformer")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "gru":
            return self.rnn(x)[0]
        x = self.proj(x)
        for blk in self.blocks:
            x = blk(x)
        return x

    def forward_stateful(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unidirectional GRU from hidden state ``h`` (layers, B, hidden); returns (outputs, new state)."""
        if self.kind != "gru" or self.rnn.bidirectional:
            raise ValueError("a stateful temporal model needs kind=gru, bidirectional=false")
        return self.rnn(x, h)


def unit_norm(v: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """v / |v| along the last axis (ONNX-friendly, no data-dependent branching)."""
    return v / torch.sqrt((v * v).sum(dim=-1, keepdim=True) + eps)


class SeldHead(nn.Module):
    """Output heads.

    ``trackwise``: N tracks, each with K activity logits, a unit DOA and
    (optionally) a distance in metres -> ``activity_logits`` (B, L, N, K),
    ``doa`` (B, L, N, 3)[, ``distance`` (B, L, N)].
    ``multi_accdoa``: N tracks x K classes of ACCDOA vectors (length = activity)
    -> ``accdoa`` (B, L, N, K, 3)[, ``distance`` (B, L, N, K)].
    """

    def __init__(self, d_in: int, num_classes: int, num_tracks: int, mode: str,
                 distance: bool, hidden: int = 128):
        super().__init__()
        if mode not in ("trackwise", "multi_accdoa"):
            raise ValueError(f"output mode {mode!r}: trackwise | multi_accdoa")
        self.mode, self.K, self.N, self.use_distance = mode, num_classes, num_tracks, distance
        self.fc = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU())
        if mode == "trackwise":
            self.act = nn.Linear(hidden, num_tracks * num_classes)
            self.doa = nn.Linear(hidden, num_tracks * 3)
            self.dist = nn.Linear(hidden, num_tracks) if distance else None
            nn.init.constant_(self.act.bias, -math.log(99.0))  # start quiet: p = 0.01
        else:
            self.acc = nn.Linear(hidden, num_tracks * num_classes * 3)
            self.dist = nn.Linear(hidden, num_tracks * num_classes) if distance else None

    @property
    def output_names(self) -> list[str]:
        names = ["activity_logits", "doa"] if self.mode == "trackwise" else ["accdoa"]
        return names + (["distance"] if self.use_distance else [])

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.from_hidden(self.fc(h))

    def from_hidden(self, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The outputs from the shared hidden layer ``fc(h)`` (an AT2SELD refinement reads that layer too)."""
        b, l = h.shape[0], h.shape[1]
        if self.mode == "trackwise":
            act = self.act(h).reshape(b, l, self.N, self.K)
            doa = unit_norm(self.doa(h).reshape(b, l, self.N, 3))
            out = (act, doa)
            if self.dist is not None:
                out = out + (F.softplus(self.dist(h)).reshape(b, l, self.N),)
            return out
        acc = torch.tanh(self.acc(h)).reshape(b, l, self.N, self.K, 3)
        out = (acc,)
        if self.dist is not None:
            out = out + (F.softplus(self.dist(h)).reshape(b, l, self.N, self.K),)
        return out

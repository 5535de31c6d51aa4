"""PANNs-compatible audio-tagging CNNs (Cnn10 / Cnn14 and slim variants).

Our own implementation of the architecture published by Kong et al. (2020),
"PANNs: Large-Scale Pretrained Audio Neural Networks". Parameter names and
shapes are exactly those of the public checkpoints (``bn0.*``,
``conv_block{i}.conv{1,2}.weight``, ``conv_block{i}.bn{1,2}.*``, ``fc1.*``,
``fc_audioset.*``), so a downloaded ``Cnn14_mAP=0.431.pth`` or
``Cnn10_mAP=0.380.pth`` loads with :func:`load_panns_state_dict`.

Differences from the tagging network, and why:

* The input is a log-mel spectrogram computed by the project's front end
  (``seld_ros.features``), not a waveform: the checkpoints' STFT / mel
  buffers (``spectrogram_extractor.*``, ``logmel_extractor.*``) are ignored.
  The front end the weights were trained with is kept in the config
  (``frontend``) so a mismatch is visible; ``bn0`` re-normalises per mel bin.
* Time pooling is configurable per block. PANNs pools time by 2 in every
  block; SELD needs 100 ms output frames (5 feature frames), so the default
  schedule pools time by 5 in the first block and keeps it afterwards.
  Convolution weights do not depend on the pooling, so checkpoints still apply.
"""
from __future__ import annotations

import os
from typing import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from seld_ros.constants import SAMPLE_RATE

# Architectures of the public checkpoints (channels per ConvBlock, fc1 width).
PANNS_ARCHS = {
    "cnn10": {"channels": [64, 128, 256, 512], "emb_dim": 512},
    "cnn14": {"channels": [64, 128, 256, 512, 1024, 2048], "emb_dim": 2048},
}
# Front end the public AudioSet checkpoints were trained with.
PANNS_FRONTEND = {"sample_rate": 32000, "window_size": 1024, "hop_size": 320,
                  "mel_bins": 64, "fmin": 50, "fmax": 14000, "log": "10*log10(power)"}

# Buffers of the PANNs waveform front end: present in checkpoints, not used here.
_IGNORED_PREFIXES = ("spectrogram_extractor.", "logmel_extractor.")


class PannsError(ValueError):
    """A checkpoint does not fit the backbone (missing keys or wrong shapes)."""


def backbone_config(arch: str = "slim", **overrides) -> dict:
    """Full backbone config for ``arch`` ("cnn10", "cnn14" or "slim")."""
    if arch in PANNS_ARCHS:
        cfg = dict(PANNS_ARCHS[arch])
        cfg["frontend"] = dict(PANNS_FRONTEND)
    elif arch == "slim":
        # Cnn10 layout at 1/4 width: ~0.3 M parameters, fast on a CPU.
        cfg = {"channels": [16, 32, 64, 128], "emb_dim": 128,
               "frontend": {"sample_rate": SAMPLE_RATE, "window_size": 960, "hop_size": 480,
                            "mel_bins": 64, "log": "seld_ros.features"}}
    else:
        raise ValueError(f"unknown backbone arch {arch!r} (cnn10, cnn14, slim)")
    if "channels" in overrides:
        cfg["channels"] = list(overrides["channels"])
    n = len(cfg["channels"])
    cfg.update({"arch": arch, "in_channels": 1, "n_mels": 64, "num_at_classes": 527,
                "time_pool": [5] + [1] * (n - 1),
                "freq_pool": [2] * min(n, 5) + [1] * max(0, n - 5),
                "dropout": 0.2})
    cfg.update(overrides)
    if len(cfg["time_pool"]) != n or len(cfg["freq_pool"]) != n:
        raise ValueError("time_pool / freq_pool need one entry per conv block")
    return cfg


CAUSAL_CONTEXT = 2  # time frames a 3x3 conv needs before its output frame (its left context)


def causal_conv(conv: nn.Conv2d, x: torch.Tensor, cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A time-causal 3x3 conv: the ``CAUSAL_CONTEXT`` frames before ``x`` come from ``cache``
    (zeros at stream start = offline left zero padding), frequency is padded by the conv itself.
    Returns (output with x's time length, the new cache = the last input frames)."""
    xx = torch.cat([cache, x], dim=2)
    return conv(xx), xx[:, :, -CAUSAL_CONTEXT:]


class ConvBlock(nn.Module):
    """Two 3x3 conv + BN + ReLU, then average pooling (PANNs ConvBlock).

    ``causal``: the convs pad only frequency; :meth:`forward_causal` takes the left time context
    from caches (same parameter names and shapes, so weights transfer either way)."""

    def __init__(self, in_channels: int, out_channels: int, causal: bool = False):
        super().__init__()
        pad = (0, 1) if causal else 1
        self.causal = causal
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, pad, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, pad, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        for conv in (self.conv1, self.conv2):
            nn.init.xavier_uniform_(conv.weight)

    def forward(self, x: torch.Tensor, pool: tuple[int, int]) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        if pool != (1, 1):
            x = F.avg_pool2d(x, kernel_size=pool)
        return x

    def forward_causal(self, x: torch.Tensor, pool: tuple[int, int], caches: list) -> tuple[torch.Tensor, list]:
        """Causal version: ``caches`` = [conv1 input context, conv2 input context]; the time axis of ``x``
        must be a multiple of the time pool (pooling windows then align with label frames)."""
        y, c1 = causal_conv(self.conv1, x, caches[0])
        y = F.relu(self.bn1(y))
        y, c2 = causal_conv(self.conv2, y, caches[1])
        y = F.relu(self.bn2(y))
        if pool != (1, 1):
            y = F.avg_pool2d(y, kernel_size=pool)
        return y, [c1, c2]


class PannsBackbone(nn.Module):
    """PANNs-style CNN over a log-mel spectrogram.

    Input ``x``: (B, in_channels, T, n_mels) log-mel (T feature frames).
    :meth:`blocks_forward` exposes the per-block feature maps (for fusion);
    :meth:`frame_embedding` gives (B, T', emb_dim) per-frame embeddings;
    :meth:`forward` gives clip-level tagging logits (B, num_at_classes).
    """

    def __init__(self, config: dict):
        super().__init__()
        self.config = dict(config)
        ch = list(config["channels"])
        self.bn0 = nn.BatchNorm2d(config["n_mels"])
        ins = [config["in_channels"]] + ch[:-1]
        for i, (ci, co) in enumerate(zip(ins, ch), start=1):
            setattr(self, f"conv_block{i}", ConvBlock(ci, co, causal=bool(config.get("causal", False))))
        self.fc1 = nn.Linear(ch[-1], config["emb_dim"], bias=True)
        self.fc_audioset = nn.Linear(config["emb_dim"], config["num_at_classes"], bias=True)
        nn.init.xavier_uniform_(self.fc1.weight)
        nn.init.zeros_(self.fc1.bias)
        nn.init.xavier_uniform_(self.fc_audioset.weight)
        nn.init.zeros_(self.fc_audioset.bias)
        self.num_blocks = len(ch)
        self.pools = [(int(t), int(f)) for t, f in zip(config["time_pool"], config["freq_pool"])]
        self.dropout = float(config.get("dropout", 0.2))

    @property
    def channels(self) -> list[int]:
        return list(self.config["channels"])

    def block(self, i: int) -> ConvBlock:
        return getattr(self, f"conv_block{i + 1}")

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """Per-mel-bin batch norm, as PANNs does (bn0 over the mel axis)."""
        return self.bn0(x.transpose(1, 3)).transpose(1, 3)

    def run_block(self, i: int, x: torch.Tensor) -> torch.Tensor:
        x = self.block(i)(x, self.pools[i])
        return F.dropout(x, p=self.dropout, training=self.training)

    def run_block_causal(self, i: int, x: torch.Tensor, caches: list) -> tuple[torch.Tensor, list]:
        x, caches = self.block(i).forward_causal(x, self.pools[i], caches)
        return F.dropout(x, p=self.dropout, training=self.training), caches

    def cache_shapes(self, batch: int = 1) -> list[tuple[int, ...]]:
        """Shapes of the causal conv caches, two per block (conv1, conv2 input context)."""
        shapes, f = [], int(self.config["n_mels"])
        ins = [int(self.config["in_channels"])] + self.channels[:-1]
        for (ci, co), (_, fp) in zip(zip(ins, self.channels), self.pools):
            shapes += [(batch, ci, CAUSAL_CONTEXT, f), (batch, co, CAUSAL_CONTEXT, f)]
            f //= fp
        return shapes

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T', F') last feature map -> (B, T', emb_dim) frame embeddings."""
        x = x.mean(dim=3).transpose(1, 2)
        return F.relu(self.fc1(x))

    def frame_embedding(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for i in range(self.num_blocks):
            x = self.run_block(i, x)
        return self.embed(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Clip-level tagging logits (max + mean pooling over time, as PANNs)."""
        x = self.stem(x)
        for i in range(self.num_blocks):
            x = self.run_block(i, x)
        x = x.mean(dim=3)
        x = x.max(dim=2).values + x.mean(dim=2)
        x = F.dropout(x, p=0.5, training=self.training)
        x = F.relu(self.fc1(x))
        return self.fc_audioset(x)

    def set_trainable(self, mode: str = "all", trainable_blocks: int = 0) -> None:
        """"all": fine-tune; "frozen": nothing trains; "partial": only the last
        ``trainable_blocks`` conv blocks and fc1 train."""
        if mode not in ("all", "frozen", "partial"):
            raise ValueError(f"backbone training mode {mode!r}: all | frozen | partial")
        for p in self.parameters():
            p.requires_grad = mode == "all"
        if mode == "partial":
            for i in range(self.num_blocks - int(trainable_blocks), self.num_blocks):
                for p in self.block(i).parameters():
                    p.requires_grad = True
            for p in self.fc1.parameters():
                p.requires_grad = True
        self._frozen_mode = mode
        self._trainable_blocks = int(trainable_blocks)

    def train(self, mode: bool = True):
        super().train(mode)
        # Frozen layers keep their BN statistics: run them in eval mode.
        frozen = getattr(self, "_frozen_mode", "all")
        if mode and frozen != "all":
            self.bn0.eval()
            n_train = self._trainable_blocks if frozen == "partial" else 0
            for i in range(self.num_blocks - n_train):
                self.block(i).eval()
        return self


def _extract_state_dict(obj) -> Mapping[str, torch.Tensor]:
    if isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        obj = obj["model"]
    if not isinstance(obj, Mapping):
        raise PannsError(f"not a PANNs checkpoint: expected a state dict, got {type(obj).__name__}")
    out = {}
    for k, v in obj.items():
        if not isinstance(k, str):
            continue
        if k.startswith("module."):  # saved from DataParallel
            k = k[len("module."):]
        out[k] = v
    return out


def load_panns_state_dict(backbone: PannsBackbone, source, strict_head: bool = False) -> dict:
    """Load PANNs weights into ``backbone``.

    ``source``: a path (loaded with ``weights_only=True``), a checkpoint dict
    with a ``"model"`` key, or a bare state dict. Front-end buffers are
    ignored. ``fc_audioset`` is loaded when its shape fits, skipped otherwise
    (unless ``strict_head``). Missing keys or wrong shapes raise
    :class:`PannsError` naming them. Returns a small report dict.
    """
    if isinstance(source, (str, os.PathLike)):
        if not os.path.isfile(source):
            raise PannsError(f"PANNs checkpoint not found: {source}")
        try:
            source = torch.load(source, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file
            raise PannsError(f"cannot read PANNs checkpoint {source}: {e}") from e
    sd = _extract_state_dict(source)
    own = backbone.state_dict()
    ignored = sorted(k for k in sd if k.startswith(_IGNORED_PREFIXES))
    sd = {k: v for k, v in sd.items() if not k.startswith(_IGNORED_PREFIXES)}
    skipped = []
    if not strict_head:
        for k in ("fc_audioset.weight", "fc_audioset.bias"):
            if k in sd and k in own and tuple(sd[k].shape) != tuple(own[k].shape):
                skipped.append(k)
                sd.pop(k)
            elif k not in sd:
                skipped.append(k)
    missing = [k for k in own if k not in sd and k not in skipped]
    # num_batches_tracked is bookkeeping: tolerate its absence.
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    unexpected = sorted(k for k in sd if k not in own)
    wrong = [f"{k}: checkpoint {tuple(sd[k].shape)} vs backbone {tuple(own[k].shape)}"
             for k in sd if k in own and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or wrong:
        arch = backbone.config.get("arch")
        msg = [f"PANNs checkpoint does not fit backbone arch={arch!r} channels={backbone.channels}:"]
        if missing:
            msg.append(f"  missing keys ({len(missing)}): {missing[:8]}{' ...' if len(missing) > 8 else ''}")
        if wrong:
            msg.append(f"  wrong shapes ({len(wrong)}): {wrong[:6]}{' ...' if len(wrong) > 6 else ''}")
        if unexpected:
            msg.append(f"  unexpected keys ({len(unexpected)}): {unexpected[:8]}")
        raise PannsError("\n".join(msg))
    load = {k: v for k, v in sd.items() if k in own}
    backbone.load_state_dict(load, strict=False)
    return {"loaded": len(load), "ignored_frontend": len(ignored), "skipped_head": skipped,
            "unexpected": unexpected}

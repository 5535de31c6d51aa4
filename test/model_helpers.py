"""Small real model bundles made on the spot for tests (random weights, real architecture)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from seld_ros.classes import STARSS23_CLASSES


def tiny_at2seld_config(**over) -> dict:
    from seld_ros.model import default_at2seld_config
    from seld_ros.model.panns import backbone_config

    cfg = default_at2seld_config(
        backbone=backbone_config("slim", channels=[8, 16]),
        spatial_channels=[8, 16],
        temporal={"kind": "gru", "d_model": 32, "layers": 1, "bidirectional": True, "heads": 2},
        head={"mode": "trackwise", "num_tracks": 3, "distance": True, "hidden": 32},
    )
    cfg.update(over)
    return cfg


def tiny_causal_config(**over) -> dict:
    """The tiny AT2SELD, causal (time-causal convs, unidirectional 2-layer GRU): streams incrementally."""
    over = {"causal": True, "temporal": {"kind": "gru", "d_model": 32, "layers": 2, "bidirectional": False,
                                         "heads": 2}, **over}
    return tiny_at2seld_config(**over)


def tiny_yamnet_config(**over) -> dict:
    """The tiny causal AT2SELD with the YAMNet semantic stream (a narrow random YAMNet: width 1/8)."""
    over = {"semantic": "yamnet", "yamnet": {"width": 0.125, "proj_dim": 16}, **over}
    return tiny_causal_config(**over)


def tiny_two_branch_config(**over) -> dict:
    """The tiny stereo two-branch network; ``causal=True`` gives its streaming form (unidirectional GRUs, GRU
    localiser), ``semantic="yamnet"`` (with causal) a narrow random YAMNet (width 1/8) in the detector."""
    from seld_ros.model import default_two_branch_config
    from seld_ros.model.panns import backbone_config

    causal = bool(over.get("causal", False))
    cfg = default_two_branch_config(
        backbone=backbone_config("slim", channels=[8, 16]), detector={"d_model": 32, "layers": 1},
        localiser={"channels": [8, 16], "d_model": 32, "layers": 1, "heads": 2,
                   "kind": "gru" if causal else "conformer"},
        yamnet={"width": 0.125, "proj_dim": 16})
    cfg.update(over)
    return cfg


def make_tiny_yamnet_bundle(path: Path, seed: int = 0, thresholds: float = 0.5, config: dict | None = None,
                            feature_set: str = "logmel+iv+phase", model=None) -> Path:
    """A real ``semantic: yamnet`` AT2SELD bundle (random narrow YAMNet) on features with ``yamnet: true``
    (``model``: a network that reads those features, saved as it is)."""
    from seld_ros.features.config import FeatureConfig
    from seld_ros.features.foa import FoaFeatures
    from seld_ros.model import build_model

    fcfg = FeatureConfig(feature_set=feature_set, yamnet=True)
    torch.manual_seed(seed)
    if model is None:
        model = build_model(config or tiny_yamnet_config(in_channels=fcfg.spatial_channels)).eval()
    return _save_with_noise_stats(path, model, fcfg, FoaFeatures(fcfg), 4, seed, thresholds,
                                  "test YAMNet bundle, random weights")


def make_tiny_bundle(path: Path, seed: int = 0, thresholds: float = 0.5, causal: bool = False,
                     config: dict | None = None) -> Path:
    """A real AT2SELD bundle (tiny widths, random weights; ``config`` replaces the tiny network config) with feature
    statistics from noise."""
    from seld_ros.features.config import FeatureConfig
    from seld_ros.features.foa import FoaFeatures
    from seld_ros.model import build_model

    torch.manual_seed(seed)
    model = build_model(config or (tiny_causal_config() if causal else tiny_at2seld_config())).eval()
    return _save_with_noise_stats(path, model, FeatureConfig(), FoaFeatures(FeatureConfig()), 4, seed, thresholds,
                                  "test bundle, random weights")


def _save_with_noise_stats(path, model, fcfg, extractor, channels: int, seed: int, thresholds: float, note: str):
    """Save ``model`` as a bundle with feature statistics of 2 s of ``channels``-channel noise."""
    from seld_ros.features.stats import FeatureStats
    from seld_ros.model.bundle import save_bundle

    stats = FeatureStats(fcfg.num_channels, fcfg.n_mels)
    rng = np.random.default_rng(seed)
    stats.update(extractor.compute((rng.standard_normal((channels, 48000)) * 0.1).astype(np.float32)))
    save_bundle(str(path), model, fcfg.to_dict(), stats.to_dict(), list(STARSS23_CLASSES),
                [thresholds] * len(STARSS23_CLASSES), provenance={"note": note})
    return Path(path)


def make_tiny_stereo_bundle(path: Path, seed: int = 0, thresholds: float = 0.5, causal: bool = False,
                            config: dict | None = None, output_mode: str = "trackwise", yamnet: bool = False) -> Path:
    """A real stereo AT2SELD bundle (tiny widths, random weights): ``in_channels`` and the feature config come from
    ``StereoFeatureConfig`` (never hard-coded), feature statistics from stereo noise. ``output_mode``: trackwise or
    multi_accdoa head (both with distance). ``yamnet``: features with the YAMNet channels of the mid (``config``
    then names a network that reads them; its ``in_channels`` are the stereo channels)."""
    from seld_ros.features import StereoFeatureConfig, make_extractor
    from seld_ros.model import build_model

    fcfg = StereoFeatureConfig(yamnet=yamnet)
    if config is None:
        head = {"mode": output_mode, "num_tracks": 3, "distance": True, "hidden": 32}
        config = (tiny_causal_config if causal else tiny_at2seld_config)(in_channels=fcfg.num_channels, head=head)
    torch.manual_seed(seed)
    model = build_model(config).eval()
    return _save_with_noise_stats(path, model, fcfg, make_extractor(fcfg), 2, seed, thresholds,
                                  "test stereo bundle, random weights")


def invert_bytes_in_largest_tensor(path, count=2000):
    """Invert ``count`` bytes in the middle of the bundle's largest stored tensor (the zip record's data, so torch's
    reader, which checks no CRC, still loads the file)."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    data = bytearray(open(path, "rb").read())
    name_len, extra_len = int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little"), \
        int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len + info.file_size // 2 - count // 2
    assert count < info.file_size
    data[start:start + count] = bytes(b ^ 0xFF for b in data[start:start + count])
    open(path, "wb").write(bytes(data))

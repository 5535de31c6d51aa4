"""Model bundle: one file with the weights and everything needed to use them.

Saved with ``torch.save`` of tensors and plain containers only, loaded with
``torch.load(path, weights_only=True)``::

    {"format": "seld_ros.bundle", "version": 1,
     "state_dict": {...}, "model_config": {...}, "feature_config": {...},
     "feature_stats": {...}, "class_names": [...], "thresholds": [...],
     "output_mode": "trackwise" | "multi_accdoa",
     "provenance": {"data", "command", "git_commit", "date", ...}, "metrics": {...}}

The network normalises its input itself (``norm.mean`` / ``norm.std`` buffers,
equal to ``feature_stats``): feed it the raw ``FoaFeatures`` output.
"""
from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import os
import subprocess
from dataclasses import dataclass, field
from typing import Any

import torch

from seld_ros.decode import TrackDecoder
from seld_ros.digests import file_sha256  # noqa: F401  (model users call it from here)
from seld_ros.features.config import feature_config_from_dict, front_end_of
from seld_ros.model import build_model

BUNDLE_FORMAT = "seld_ros.bundle"
BUNDLE_VERSION = 1
_REQUIRED = ("state_dict", "model_config", "feature_config", "class_names", "thresholds", "output_mode")


class BundleError(RuntimeError):
    """A bundle file is missing, unreadable, or does not match its architecture."""


@dataclass
class Bundle:
    model: torch.nn.Module
    model_config: dict
    feature_config: dict
    feature_stats: dict
    class_names: list
    thresholds: list
    output_mode: str
    provenance: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    path: str = ""
    sha256: str = ""

    @property
    def input_names(self) -> list:
        return list(self.model.input_names)

    @property
    def output_names(self) -> list:
        return list(self.model.output_names)

    def make_feature_config(self):
        """The bundle's feature config: ``FeatureConfig`` (FOA) or ``StereoFeatureConfig`` (see ``front_end``)."""
        return feature_config_from_dict(self.feature_config)

    @property
    def front_end(self) -> str:
        """``"foa"`` (4-channel ACN/SN3D input, full-sphere DOA) or ``"stereo"`` (2-channel L/R input; the DOA is
        front-folded: azimuth in [-90, 90] deg, elevation 0, as DCASE 2025 scores it)."""
        return front_end_of(self.feature_config)

    @property
    def doa_front_folded(self) -> bool:
        return self.front_end == "stereo"

    def make_decoder(self, merge_angle_deg: float = 20.0):
        return TrackDecoder(self.class_names, self.thresholds, self.output_mode, merge_angle_deg,
                            front_folded=self.doa_front_folded)


def _plain(obj):
    """Convert to tensors / plain containers so weights_only loading works."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # numpy
        return obj.tolist()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "to_dict"):
        return _plain(obj.to_dict())
    return str(obj)


def git_commit(cwd: str | None = None) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd or os.path.dirname(__file__),
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except Exception:  # noqa: BLE001
        return "unknown"


def save_bundle(path, model, feature_config, feature_stats, class_names, thresholds,
                output_mode: str | None = None, provenance: dict | None = None,
                metrics: dict | None = None) -> str:
    """Write a bundle; returns its sha256. ``feature_config`` / ``feature_stats``
    may be objects with ``to_dict()`` or dicts."""
    model_config = copy.deepcopy(model.config)
    mode = output_mode or model_config["head"]["mode"]
    if len(thresholds) != len(class_names):
        raise ValueError("one threshold per class")
    prov = {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "git_commit": git_commit()}
    prov.update(provenance or {})
    obj = {"format": BUNDLE_FORMAT, "version": BUNDLE_VERSION,
           "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
           "model_config": _plain(model_config), "feature_config": _plain(feature_config),
           "feature_stats": _plain(feature_stats or {}), "class_names": [str(c) for c in class_names],
           "thresholds": [float(t) for t in thresholds], "output_mode": str(mode),
           "provenance": _plain(prov), "metrics": _plain(metrics or {})}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)  # never leave a half-written bundle behind
    return bundle_hash(path)


def bundle_hash(path) -> str:
    """sha256 of the bundle file (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_bundle_dict(path) -> dict:
    """The raw, validated bundle dict (no model built)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise BundleError(f"model bundle not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - truncated zip, pickle errors, foreign objects
        raise BundleError(f"model bundle {path} is corrupt or not a torch file: "
                          f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
    if not isinstance(obj, dict) or obj.get("format") != BUNDLE_FORMAT:
        fmt = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise BundleError(f"{path} is not a seld_ros model bundle (format={fmt!r}, "
                          f"expected {BUNDLE_FORMAT!r}); a bare checkpoint needs save_bundle first")
    if obj.get("version") != BUNDLE_VERSION:
        raise BundleError(f"{path}: bundle version {obj.get('version')!r} unsupported "
                          f"(this code reads version {BUNDLE_VERSION})")
    missing = [k for k in _REQUIRED if k not in obj]
    if missing:
        raise BundleError(f"{path}: bundle lacks fields {missing}")
    return obj


def load_bundle(path, device: str = "cpu") -> Bundle:
    """Load a bundle: build its network, load the weights strictly, eval mode."""
    obj = read_bundle_dict(path)
    try:
        model = build_model(obj["model_config"])
    except Exception as e:  # noqa: BLE001
        raise BundleError(f"{path}: cannot build the network from model_config: {e}") from e
    sd = obj["state_dict"]
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    wrong = [f"{k}: bundle {tuple(sd[k].shape)} vs network {tuple(own[k].shape)}"
             for k in sd if k in own and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        parts = [f"{path}: weights do not match the architecture in model_config "
                 f"(name={obj['model_config'].get('name')!r})"]
        if missing:
            parts.append(f"missing keys ({len(missing)}): {missing[:6]}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {unexpected[:6]}")
        if wrong:
            parts.append(f"shape mismatches ({len(wrong)}): {wrong[:4]}")
        raise BundleError("; ".join(parts))
    model.load_state_dict(sd, strict=True)
    model.to(device).eval()
    K = len(obj["class_names"])
    if model.config.get("num_classes") != K or len(obj["thresholds"]) != K:
        raise BundleError(f"{path}: {K} class names, {len(obj['thresholds'])} thresholds, "
                          f"network has {model.config.get('num_classes')} classes")
    return Bundle(model=model, model_config=obj["model_config"], feature_config=obj["feature_config"],
                  feature_stats=obj.get("feature_stats", {}), class_names=list(obj["class_names"]),
                  thresholds=list(obj["thresholds"]), output_mode=obj["output_mode"],
                  provenance=obj.get("provenance", {}), metrics=obj.get("metrics", {}),
                  path=os.fspath(path), sha256=bundle_hash(path))


def describe_bundle(path) -> dict[str, Any]:
    """JSON-able summary (no weights) — for docs and ``default.json``."""
    obj = read_bundle_dict(path)
    n = sum(int(v.numel()) for k, v in obj["state_dict"].items() if "num_batches" not in k)
    return {k: obj[k] for k in ("model_config", "feature_config", "class_names", "thresholds",
                                 "output_mode", "provenance", "metrics")} | {
        "state_numel": n, "sha256": bundle_hash(path), "bytes": os.path.getsize(path)}

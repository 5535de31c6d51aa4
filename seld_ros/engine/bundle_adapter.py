"""Thin adapter between model bundles (``seld_ros.model.bundle``) and the engine code.

Everything in ``seld_ros.engine`` needs only a network that follows the model contract (see
:mod:`seld_ros.engine.testing`) plus a hash identifying it; this is the one place that knows how a
bundle file provides both.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Optional

from .base import BackendError


@dataclass
class LoadedNetwork:
    model: object                 # torch.nn.Module following the model contract
    bundle_hash: Optional[str]
    feature_config: dict = field(default_factory=dict)
    class_names: tuple = ()
    bundle: object = None


def load_network(bundle_path: str) -> LoadedNetwork:
    """Load a bundle file into a :class:`LoadedNetwork` (eval mode, CPU)."""
    try:
        from seld_ros.model import bundle as bundle_mod
    except ImportError as e:
        raise BackendError(f"cannot load bundle '{bundle_path}': seld_ros.model.bundle is not importable ({e})") \
            from e
    try:
        b = bundle_mod.load_bundle(bundle_path)
    except FileNotFoundError:
        raise BackendError(f"bundle not found: {bundle_path}") from None
    except Exception as e:
        raise BackendError(f"cannot load bundle '{bundle_path}': {type(e).__name__}: {e}") from e
    h = bundle_mod.bundle_hash(bundle_path) if hasattr(bundle_mod, "bundle_hash") else _sha256(bundle_path)
    model = b.model.eval()
    return LoadedNetwork(model=model, bundle_hash=h, feature_config=dict(getattr(b, "feature_config", {}) or {}),
                         class_names=tuple(getattr(b, "class_names", ()) or ()), bundle=b)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

"""A bundle file as the bare network the engine code works on (``seld-export``, benchmarks).

Everything in ``seld_ros.engine`` needs only a network that follows the model contract (see
:mod:`seld_ros.engine.testing`) plus a hash identifying it. :func:`load_network` gives both for a bundle file;
to run a bundle as a stream (backend, cache, incremental or sliding window) use :func:`seld_ros.engine.open_stream`.
"""
from __future__ import annotations

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
        from seld_ros.model import bundle as bundle_mod  # imports torch: only when a network is loaded
    except ImportError as e:
        raise BackendError(f"cannot load bundle '{bundle_path}': seld_ros.model.bundle is not importable ({e})") \
            from e
    try:
        b = bundle_mod.load_bundle(bundle_path)
    except FileNotFoundError:
        raise BackendError(f"bundle not found: {bundle_path}") from None
    except Exception as e:
        raise BackendError(f"cannot load bundle '{bundle_path}': {type(e).__name__}: {e}") from e
    return LoadedNetwork(model=b.model.eval(), bundle_hash=b.sha256, feature_config=dict(b.feature_config or {}),
                         class_names=tuple(b.class_names or ()), bundle=b)

"""Open a model bundle as a stream: the one place that turns a loaded bundle into (stream, backend).

    stream, backend = open_stream(bundle, StreamOptions(backend="auto", context_seconds=2.0))
    out = stream.push(features_of_one_hop)    # (C, 5, F) -> StreamOutput or None; flush(), reset()

It decides, in this order:

1. **incremental or sliding window**: a causal network (``model_config.causal``) runs its one-hop step with the
   state carried over (:class:`IncrementalInference`, no look-ahead); any other network re-runs a window of
   ``context_seconds`` (rounded to whole 100 ms label frames) every hop (:class:`StreamingInference`), its older part
   padded with the bundle's mean feature until the window is full;
2. **the cache folder** for exported ONNX files (and TensorRT engines beside them): ``cache_dir``, else
   ``$SELD_CACHE_DIR``, else ``$XDG_CACHE_HOME/seld_ros`` (``~/.cache/seld_ros``), created 0700 and refused when
   others could write it (:func:`seld_ros.engine.cache.ensure_private_dir`);
3. **cached file names**: ``<bundle sha256[:16]>_<frames>.onnx`` for a window, ``<sha256[:16]>_step.onnx`` for a
   causal step;
4. **trust**: a cached ONNX is used only when its bytes match the digest recorded when this process family exported
   it for the same key (``trusted.json``), else it is removed and re-exported; ``engine_file_path`` must lie in a
   directory only the user can write;
5. **the backend** (``auto``: TensorRT, torch on CUDA, onnxruntime, torch on CPU; see :mod:`.factory`).

Every failure is a :class:`StreamOpenError` whose message says what to fix.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from seld_ros.constants import LABEL_HOP_FRAMES, LABEL_HOP_S
from seld_ros.features.stats import FeatureStats

from .base import BackendError
from .cache import (
    DEFAULT_WORKSPACE_BYTES,
    CacheTrustError,
    check_engine_location,
    ensure_private_dir,
    record_trusted_digest,
    trusted_digest_matches,
)
from .factory import create_backend
from .incremental import IncrementalInference, is_causal, stateful_step
from .streaming import StreamingInference

log = logging.getLogger(__name__)


class StreamOpenError(BackendError):
    """The bundle cannot be opened as a stream (cache folder, engine location, backend, look-ahead)."""


@dataclass
class StreamOptions:
    backend: str = "auto"  # auto | tensorrt | onnxruntime | torch
    context_seconds: float = 2.0  # window of a non-causal network, rounded to whole 100 ms label frames
    lookahead_frames: int = 0  # label frames of right context (sliding window only; +100 ms latency each)
    num_threads: int = 1
    cache_dir: str = ""  # empty: default_cache_dir()
    engine_file_path: str = ""  # TensorRT engine (empty: beside the cached ONNX)
    force_engine_update: bool = False
    enable_fp16: bool = True
    max_workspace_size: int = DEFAULT_WORKSPACE_BYTES
    warmup: int = 2  # network runs before the first real one (allocations, engine autotuning)


def default_cache_dir() -> str:
    """``$SELD_CACHE_DIR`` if set (tests and the demo point it at a temporary folder), else
    ``$XDG_CACHE_HOME/seld_ros`` (``~/.cache/seld_ros``)."""
    if os.environ.get("SELD_CACHE_DIR"):
        return os.environ["SELD_CACHE_DIR"]
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "seld_ros")


def window_frames(context_seconds: float) -> int:
    """Feature frames of the sliding window: ``context_seconds`` in whole label frames (at least one)."""
    return max(1, int(round(float(context_seconds) / LABEL_HOP_S))) * LABEL_HOP_FRAMES


def open_stream(bundle, options: Optional[StreamOptions] = None):
    """(stream, backend) for a loaded bundle (:class:`seld_ros.model.bundle.Bundle`); see the module docstring."""
    opts = options or StreamOptions()
    digest = bundle.sha256
    name = os.path.basename(bundle.path) or "bundle"
    if is_causal(bundle.model):  # one hop per call; the state is explicit I/O
        backend = _open_backend(stateful_step(bundle.model), LABEL_HOP_FRAMES, f"{digest[:16]}_step", digest, opts)
        if opts.lookahead_frames:
            log.warning("lookahead_frames=%d ignored: the causal bundle runs incrementally with no look-ahead",
                        opts.lookahead_frames)
        log.info("inference mode: incremental (causal bundle %s: one 100 ms hop per network call, state carried "
                 "over, no look-ahead; backend %s)", name, backend.name)
        return IncrementalInference(backend), backend
    frames = window_frames(opts.context_seconds)
    backend = _open_backend(bundle.model, frames, f"{digest[:16]}_{frames}", digest, opts)
    try:
        stream = StreamingInference(backend, lookahead=opts.lookahead_frames, pad_value=_mean_feature(bundle))
    except ValueError as exc:
        raise StreamOpenError(f"lookahead_frames: {exc}") from None
    log.info("inference mode: sliding window (non-causal bundle %s: %.1f s of context re-run every 100 ms hop, "
             "look-ahead %d frames; backend %s)", name, stream.window_seconds, opts.lookahead_frames, backend.name)
    return stream, backend


def _mean_feature(bundle):
    """The network normalises its raw-feature input itself (statistics in its state dict). Until the window is full,
    its older part is padded with the mean feature: "average background", not silence."""
    if not bundle.feature_stats:
        return 0.0

    try:
        return FeatureStats.from_dict(bundle.feature_stats).mean.astype(np.float32)
    except (ValueError, KeyError):
        log.warning("bundle feature statistics unreadable; padding the stream start with zeros")
        return 0.0


def _open_backend(network, frames: int, stem: str, digest: str, opts: StreamOptions):
    """The backend for ``network`` at a block of ``frames``, its ONNX cached as ``<cache>/<stem>.onnx``."""
    cache, onnx_path = "", None
    trust_key = f"onnx:{digest}:{stem}"
    if opts.backend in ("auto", "onnxruntime", "tensorrt"):
        try:
            cache = ensure_private_dir(os.path.expanduser(opts.cache_dir or default_cache_dir()))
        except (CacheTrustError, OSError) as exc:
            raise StreamOpenError(f"ONNX/engine cache refused: {exc}") from None
        onnx_path = os.path.join(cache, f"{stem}.onnx")
        if os.path.exists(onnx_path):
            # its own sidecar proves nothing: it must match the digest recorded when we exported it for this key
            ok, why = trusted_digest_matches(cache, trust_key, onnx_path)
            if not ok:
                log.warning("cached ONNX %s not trusted: %s; re-exporting it from the bundle", onnx_path, why)
                for stale in (onnx_path, onnx_path + ".json"):
                    if os.path.lexists(stale):
                        os.unlink(stale)
    if opts.engine_file_path:
        try:
            check_engine_location(opts.engine_file_path, for_write=not os.path.exists(opts.engine_file_path))
        except (CacheTrustError, OSError) as exc:
            raise StreamOpenError(f"engine_file_path refused: {exc}") from None
    try:
        import torch  # heavy and optional for the ROS-free core: imported only when a stream is opened

        torch.set_num_threads(opts.num_threads)
        backend = create_backend(
            opts.backend, model=network, onnx_path=onnx_path, frames=frames, num_threads=opts.num_threads,
            engine_file_path=opts.engine_file_path, force_engine_update=opts.force_engine_update,
            enable_fp16=opts.enable_fp16, max_workspace_size=opts.max_workspace_size, bundle_hash=digest,
            warmup=opts.warmup,
        )
    except (BackendError, OSError, ValueError, RuntimeError) as exc:
        raise StreamOpenError(f"cannot start inference backend '{opts.backend}': {exc}") from None
    if onnx_path and os.path.isfile(onnx_path) and not trusted_digest_matches(cache, trust_key, onnx_path)[0]:
        record_trusted_digest(cache, trust_key, onnx_path)  # exported just now by the factory
    return backend

"""Inference engines for the SELD network, ROS-free.

One interface (:class:`InferenceBackend`), three implementations (torch, onnxruntime, TensorRT),
``create_backend("auto")`` to pick one, ONNX export with a parity check, a versioned TensorRT engine
cache, and per 100 ms hop either :class:`IncrementalInference` (a causal network's one-hop step with
carried state) or :class:`StreamingInference` (a sliding window, for the rest). ``open_stream(bundle, options)``
is the one way to open a model bundle as a stream: it picks all of these (see :mod:`.stream`, docs/engine.md).

Importing this package imports neither torch nor onnxruntime nor tensorrt.
"""
from .base import BackendError, BackendUnavailableError, InferenceBackend, TensorSpec
from .cache import EngineKey, EngineParams, check_engine, compute_key
from .factory import available_backends, create_backend, probe_backends
from .incremental import IncrementalInference, is_causal, stateful_step
from .stream import StreamOpenError, StreamOptions, default_cache_dir, open_stream
from .streaming import StreamingInference

__all__ = [
    "BackendError", "BackendUnavailableError", "InferenceBackend", "TensorSpec",
    "EngineKey", "EngineParams", "check_engine", "compute_key",
    "available_backends", "create_backend", "probe_backends",
    "StreamingInference", "IncrementalInference", "is_causal", "stateful_step",
    "open_stream", "StreamOptions", "StreamOpenError", "default_cache_dir",
]

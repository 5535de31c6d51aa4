"""Pick and load a backend: ``create_backend("auto" | "tensorrt" | "onnxruntime" | "torch", ...)``.

``auto`` order, each step logged with the reason it was taken or skipped:

1. ``tensorrt`` — TensorRT importable, a CUDA GPU visible (via pycuda or torch) and an ONNX model
   (given, or exportable from ``model``). FP16 by ``enable_fp16``.
2. ``torch`` on CUDA — no TensorRT but torch sees a GPU and ``model`` is given.
3. ``onnxruntime`` on CPU — the faster CPU path for the SELD network at batch 1 (see docs/engine.md).
4. ``torch`` on CPU — always there.

Asking for a backend by name never falls back: if it cannot run, :class:`BackendUnavailableError`
says what is missing.
"""
from __future__ import annotations

import logging
import os
import tempfile
import time
from typing import Dict, Optional, Tuple

from .base import BackendError, BackendUnavailableError, InferenceBackend
from .cache import DEFAULT_WORKSPACE_BYTES

log = logging.getLogger(__name__)

BACKENDS = ("tensorrt", "onnxruntime", "torch")


def _backend_class(name: str):
    if name == "torch":
        from .torch_backend import TorchBackend  # imports torch: only the backend asked for is loaded
        return TorchBackend
    if name == "onnxruntime":
        from .onnxruntime_backend import OnnxRuntimeBackend  # imports onnxruntime
        return OnnxRuntimeBackend
    if name == "tensorrt":
        from .tensorrt_backend import TensorRTBackend  # imports tensorrt / pycuda where present
        return TensorRTBackend
    raise ValueError(f"unknown backend {name!r}; choose auto or one of {BACKENDS}")


def probe_backends() -> Dict[str, Tuple[bool, str]]:
    """{name: (available, reason)} for every backend; never raises."""
    out = {}
    for name in BACKENDS:
        try:
            out[name] = _backend_class(name).probe()
        except Exception as e:  # pragma: no cover - probes are written not to raise
            out[name] = (False, f"probe failed: {e}")
    return out


def available_backends() -> list:
    return [n for n, (ok, _) in probe_backends().items() if ok]


def _torch_has_cuda() -> bool:
    from .torch_backend import TorchBackend  # imports torch
    return TorchBackend.cuda_available()


def _ensure_onnx(model, onnx_path: Optional[str], frames: Optional[int], bundle_hash: Optional[str]) -> Optional[str]:
    """An ONNX file for TensorRT/onnxruntime: ``onnx_path`` if current, else exported from ``model``."""
    from .export import export_onnx, onnx_is_current  # imports torch and onnx
    if onnx_path and os.path.isfile(onnx_path):
        if model is None or frames is None:
            return onnx_path
        ok, why = onnx_is_current(onnx_path, frames, bundle_hash, getattr(model, "state_layout", "") or "")
        if ok:
            return onnx_path
        log.warning("re-exporting %s: %s", onnx_path, why)
    if model is None or frames is None:
        return None
    if not onnx_path:
        onnx_path = os.path.join(tempfile.mkdtemp(prefix="seld_onnx_"), "model.onnx")
    # a first start with an empty cache spends its time here: say so before, and how long it took after
    log.info("exporting the model to ONNX (once per bundle; typically 10-30 s on a CPU) into %s",
             os.path.dirname(os.path.abspath(onnx_path)))
    t0 = time.perf_counter()
    export_onnx(model, onnx_path, frames, bundle_hash=bundle_hash)
    log.info("ONNX export done in %.1f s; later starts load %s", time.perf_counter() - t0, onnx_path)
    return onnx_path


def create_backend(name: str = "auto", *, model=None, onnx_path: Optional[str] = None, frames: Optional[int] = None,
                   device: Optional[str] = None, precision: str = "fp32", num_threads: Optional[int] = None,
                   cuda_graphs: bool = False, engine_file_path: str = "", force_engine_update: bool = False,
                   enable_fp16: bool = True, max_workspace_size: int = DEFAULT_WORKSPACE_BYTES,
                   bundle_hash: Optional[str] = None, warmup: int = 0) -> InferenceBackend:
    """Create and load a backend.

    model:     nn.Module following the model contract (needed by torch; lets the others export ONNX).
    onnx_path: ONNX of the network at the block length (``model_file_path`` in Isaac ROS terms).
    frames:    block length in feature frames (multiple of 5); needed with ``model``.
    device / precision / cuda_graphs / num_threads: torch and onnxruntime options.
    engine_file_path / force_engine_update / enable_fp16 / max_workspace_size: TensorRT (Isaac ROS names).
    """
    name = (name or "auto").lower()
    if name == "auto":
        backend = _create_auto(model=model, onnx_path=onnx_path, frames=frames, precision=precision,
                               num_threads=num_threads, cuda_graphs=cuda_graphs, engine_file_path=engine_file_path,
                               force_engine_update=force_engine_update, enable_fp16=enable_fp16,
                               max_workspace_size=max_workspace_size, bundle_hash=bundle_hash)
    else:
        cls = _backend_class(name)
        ok, why = cls.probe()
        if not ok:
            raise BackendUnavailableError(f"backend '{name}' was requested but cannot run here: {why}")
        backend = _load(name, model=model, onnx_path=onnx_path, frames=frames, device=device, precision=precision,
                        num_threads=num_threads, cuda_graphs=cuda_graphs, engine_file_path=engine_file_path,
                        force_engine_update=force_engine_update, enable_fp16=enable_fp16,
                        max_workspace_size=max_workspace_size, bundle_hash=bundle_hash)
    if warmup:
        backend.warmup(warmup)
    return backend


def _load(name, *, model, onnx_path, frames, device, precision, num_threads, cuda_graphs, engine_file_path,
          force_engine_update, enable_fp16, max_workspace_size, bundle_hash) -> InferenceBackend:
    cls = _backend_class(name)
    if name == "torch":
        if model is None or frames is None:
            raise ValueError("the torch backend needs model= and frames=")
        return cls().load(model, frames, device=device or "cpu", precision=precision, cuda_graphs=cuda_graphs,
                          num_threads=num_threads)
    if name == "onnxruntime":
        path = _ensure_onnx(model, onnx_path, frames, bundle_hash)
        if path is None:
            raise ValueError("the onnxruntime backend needs onnx_path= (or model= and frames= to export one)")
        return cls().load(path, device=device or "cpu", num_threads=num_threads)
    if name == "tensorrt":
        path = _ensure_onnx(model, onnx_path, frames, bundle_hash)
        if path is None and not engine_file_path:
            raise ValueError("the tensorrt backend needs onnx_path= (or model= and frames=) or engine_file_path=")
        return cls().load(path or "", engine_file_path, force_engine_update=force_engine_update,
                          enable_fp16=enable_fp16, max_workspace_size=max_workspace_size, bundle_hash=bundle_hash)
    raise ValueError(name)  # pragma: no cover


def _create_auto(**kw) -> InferenceBackend:
    model, onnx_path, frames = kw["model"], kw["onnx_path"], kw["frames"]
    has_network = model is not None and frames is not None
    has_onnx = bool(onnx_path) and os.path.isfile(onnx_path)
    probes = probe_backends()
    skipped = []

    def attempt(name, reason, **over):
        log.info("backend auto: picked %s (%s)", name, reason)
        args = dict(kw, device=None)
        args.update(over)
        return _load(name, **args)

    ok, why = probes["tensorrt"]
    if ok and (has_onnx or has_network or kw["engine_file_path"]):
        try:
            return attempt("tensorrt", why)
        except BackendError as e:
            skipped.append(f"tensorrt failed to load ({e})")
            log.warning("backend auto: tensorrt available but failed to load: %s; falling back", e)
    else:
        skipped.append(why if not ok else "tensorrt: no ONNX/engine and no model to export")
    if has_network and _torch_has_cuda():
        return attempt("torch", "no usable TensorRT; torch has CUDA [" + "; ".join(skipped) + "]", device="cuda",
                       precision="fp16" if kw["enable_fp16"] else kw["precision"])
    ok, why = probes["onnxruntime"]
    if ok and (has_onnx or has_network):
        try:
            return attempt("onnxruntime", "CPU; fastest CPU backend for this network [" + "; ".join(skipped) + "]",
                           device="cpu")
        except Exception as e:  # e.g. the ONNX export failed (exporter missing, parity check): torch still runs
            if not has_network:
                raise
            why = f"onnxruntime failed to load ({type(e).__name__}: {e})"
            log.warning("backend auto: %s; falling back to torch on CPU", why)
            ok = False
    skipped.append(why if not ok else "onnxruntime: no ONNX and no model to export")
    if has_network:
        return attempt("torch", "CPU fallback [" + "; ".join(skipped) + "]", device="cpu",
                       precision="fp32" if kw["precision"] == "fp16" else kw["precision"])
    raise BackendUnavailableError("backend auto: nothing can run: " + "; ".join(skipped)
                                  + "; torch needs model= and frames=")

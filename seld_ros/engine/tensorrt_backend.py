"""TensorRT backend (TensorRT 10 Python API): build an engine from ONNX, cache it, run it.

Written against TensorRT 10.x as shipped with JetPack 6 (10.3), and 8.6 (JetPack 5), which has the same
named-tensor API:

* build: ``trt.Builder`` -> ``create_network(flags)`` (explicit batch: implicit in 10.x, the EXPLICIT_BATCH flag
  on 8.x) -> ``trt.OnnxParser``
  -> ``BuilderConfig.set_memory_pool_limit(MemoryPoolType.WORKSPACE, n)`` (+ ``BuilderFlag.FP16``)
  -> ``build_serialized_network``; the plan is cached by :mod:`seld_ros.engine.cache`.
* run: ``Runtime.deserialize_cuda_engine`` -> ``create_execution_context``; I/O tensors by *name*
  (``num_io_tensors``, ``get_tensor_name``, ``get_tensor_mode``, ``get_tensor_shape``, ``get_tensor_dtype``),
  ``set_tensor_address`` once per buffer, then per block: async H2D copies, ``execute_async_v3(stream)``,
  async D2H copies, stream sync. A stateful step engine (a causal bundle, ``state_*`` -> ``next_state_*``)
  keeps its state on the device: :meth:`TensorRTBackend.run_step` swaps each pair's buffers and re-binds them
  by name after every step.
* buffers: pycuda page-locked host arrays + ``mem_alloc`` device buffers + ``pycuda.driver.Stream``
  (in the device's *primary* context, the one TensorRT's runtime API uses), or torch CUDA tensors
  when torch has CUDA (no pycuda needed then; JetPack's torch wheels have CUDA).

This module imports cleanly without TensorRT / pycuda / CUDA: :func:`probe` then reports why it
cannot run, and :meth:`TensorRTBackend.load` raises :class:`BackendUnavailableError` with that reason.
``BuilderFlag.FP16`` is deprecated from TensorRT 10.12 and gone in 11 (strong typing); on such a
version ``enable_fp16`` fails with a clear message instead of silently building FP32.
"""
from __future__ import annotations

import logging
import os
from typing import Dict, Optional, Tuple

import numpy as np

from .base import BackendError, BackendUnavailableError, InferenceBackend, TensorSpec
from .cache import DEFAULT_WORKSPACE_BYTES, CacheCheck, EngineKey, EngineParams, check_engine, compute_key, \
    ensure_engine, read_sidecar
from .incremental import state_pairs

log = logging.getLogger(__name__)


# -- what is installed ----------------------------------------------------------------------------

def import_tensorrt():
    """(module or None, reason)."""
    try:
        import tensorrt as trt
    except Exception as e:  # ImportError, or OSError for a broken libnvinfer
        return None, (f"tensorrt is not importable ({type(e).__name__}: {e}); on Jetson it comes with JetPack "
                      "(python3-libnvinfer), on x86 `pip install tensorrt`")
    return trt, f"tensorrt {getattr(trt, '__version__', '?')}"


def import_pycuda():
    try:
        import pycuda.driver as cuda
    except Exception as e:
        return None, f"pycuda is not importable ({type(e).__name__}: {e})"
    return cuda, "pycuda importable"


def torch_cuda():
    """(torch or None, reason): torch usable for CUDA buffers."""
    try:
        import torch
    except Exception as e:
        return None, f"torch is not importable ({e})"
    if not torch.cuda.is_available():
        return None, f"torch {torch.__version__} has no usable CUDA device"
    return torch, f"torch {torch.__version__} with CUDA {torch.version.cuda}"


def gpu_info(device_index: int = 0) -> Tuple[Optional[dict], str]:
    """({'name', 'compute_capability', 'via'} or None, reason) from pycuda or torch."""
    reasons = []
    cuda, why = import_pycuda()
    if cuda is not None:
        try:
            cuda.init()
            if cuda.Device.count() > device_index:
                dev = cuda.Device(device_index)
                cc = dev.compute_capability()
                return {"name": dev.name(), "compute_capability": f"{cc[0]}.{cc[1]}", "via": "pycuda"}, "ok"
            reasons.append(f"pycuda sees {cuda.Device.count()} CUDA device(s)")
        except Exception as e:
            reasons.append(f"pycuda cannot initialise CUDA ({e})")
    else:
        reasons.append(why)
    torch, why = torch_cuda()
    if torch is not None:
        if torch.cuda.device_count() > device_index:
            cc = torch.cuda.get_device_capability(device_index)
            return {"name": torch.cuda.get_device_name(device_index), "compute_capability": f"{cc[0]}.{cc[1]}",
                    "via": "torch"}, "ok"
        reasons.append(f"torch sees {torch.cuda.device_count()} CUDA device(s)")
    else:
        reasons.append(why)
    return None, "no CUDA GPU usable: " + "; ".join(reasons)


def probe() -> Tuple[bool, str]:
    """Can the TensorRT backend run here? Never raises."""
    trt, why_trt = import_tensorrt()
    gpu, why_gpu = gpu_info()
    missing = []
    if trt is None:
        missing.append(why_trt)
    else:
        try:
            version = tuple(int(x) for x in str(trt.__version__).split(".")[:2])
        except ValueError:
            version = (10, 0)
        if version < (8, 5):  # named I/O tensors and execute_async_v3 arrived in 8.5
            missing.append(f"tensorrt {trt.__version__} is older than 8.5 (this backend uses the named-tensor API "
                           "of TensorRT 8.5+/10)")
    if gpu is None:
        missing.append(why_gpu)
    if missing:
        return False, "TensorRT backend unavailable: " + "; ".join(missing)
    return True, f"{why_trt} on {gpu['name']} (sm {gpu['compute_capability']}, buffers via {gpu['via']})"


# -- TensorRT helpers (called only when tensorrt imported) ------------------------------------------

_TRT_LOGGER = None


def _trt_logger(trt):
    """One process-wide TensorRT logger forwarding into python logging."""
    global _TRT_LOGGER
    if _TRT_LOGGER is None:
        class _Bridge(trt.ILogger):
            def __init__(self):
                trt.ILogger.__init__(self)

            def log(self, severity, msg):
                level = {trt.ILogger.INTERNAL_ERROR: logging.CRITICAL, trt.ILogger.ERROR: logging.ERROR,
                         trt.ILogger.WARNING: logging.WARNING, trt.ILogger.INFO: logging.DEBUG}.get(severity,
                                                                                                   logging.DEBUG)
                log.log(level, "[TensorRT] %s", msg)

        _TRT_LOGGER = _Bridge()
    return _TRT_LOGGER


def build_serialized_engine(onnx_path: str, enable_fp16: bool = True,
                            max_workspace_size: int = DEFAULT_WORKSPACE_BYTES) -> bytes:
    """Parse ``onnx_path`` and build a serialized engine (plan bytes). Raises BackendError on failure."""
    trt, why = import_tensorrt()
    if trt is None:
        raise BackendUnavailableError(why)
    if not os.path.isfile(onnx_path):
        raise BackendError(f"ONNX model not found: {onnx_path}")
    logger = _trt_logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(os.path.abspath(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendError(f"TensorRT could not parse ONNX '{onnx_path}' (corrupt or unsupported): {errors}")
    for i in range(network.num_inputs):
        shape = tuple(network.get_input(i).shape)
        if any(d < 0 for d in shape):
            raise BackendError(f"ONNX input '{network.get_input(i).name}' has dynamic shape {shape}; "
                               "export at a fixed block length (seld-export --frames N)")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(max_workspace_size))
    if enable_fp16:
        if not hasattr(trt.BuilderFlag, "FP16"):
            raise BackendError(f"TensorRT {trt.__version__} has no BuilderFlag.FP16 (removed in 11: strong typing); "
                               "build with enable_fp16=False or export an FP16 ONNX")
        config.set_flag(trt.BuilderFlag.FP16)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise BackendError(f"TensorRT failed to build an engine from '{onnx_path}' (see the [TensorRT] log lines)")
    return bytes(plan)


def _onnx_state_layout(onnx_path: str) -> str:
    """The state layout recorded by ``export_onnx`` next to the ONNX ('' for stateless or unrecorded graphs)."""
    import json
    try:
        with open(onnx_path + ".json", encoding="utf-8") as f:
            return str(json.load(f).get("state_layout") or "")
    except (OSError, ValueError, AttributeError):
        return ""


def _network_flags(trt) -> int:
    """TensorRT 10: networks are always explicit-batch (flag 0). TensorRT 8.x: the ONNX parser needs the
    EXPLICIT_BATCH flag (deprecated and ignored from 10)."""
    try:
        major = int(str(trt.__version__).split(".")[0])
    except ValueError:
        major = 10
    if major >= 10:
        return 0
    return 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)


# -- device buffers -------------------------------------------------------------------------------

class _PycudaBuffers:
    """Page-locked host arrays + device allocations + one stream, in the device's primary context."""

    via = "pycuda"

    def __init__(self, specs, device_index: int = 0):
        import pycuda.driver as cuda
        self.cuda = cuda
        cuda.init()
        # The primary context is the one the CUDA runtime (hence TensorRT) uses: sharing it means
        # TensorRT's kernels and our copies see the same allocations, and torch can coexist.
        self.ctx = cuda.Device(device_index).retain_primary_context()
        self.ctx.push()
        try:
            self.stream = cuda.Stream()
            self.host = {s.name: cuda.pagelocked_empty(s.shape, np.dtype(s.dtype)) for s in specs}
            self.dev = {name: cuda.mem_alloc(max(1, h.nbytes)) for name, h in self.host.items()}
        finally:
            self.ctx.pop()

    def __enter__(self):
        self.ctx.push()
        return self

    def __exit__(self, *exc):
        self.ctx.pop()

    def address(self, name: str) -> int:
        return int(self.dev[name])

    @property
    def stream_handle(self) -> int:
        return self.stream.handle

    def run(self, context, inputs: Dict[str, np.ndarray], output_names) -> Dict[str, np.ndarray]:
        cuda = self.cuda
        with self:
            for name, x in inputs.items():
                np.copyto(self.host[name], x, casting="same_kind")
                cuda.memcpy_htod_async(self.dev[name], self.host[name], self.stream)
            if not context.execute_async_v3(self.stream.handle):
                raise BackendError("TensorRT execute_async_v3 returned False (see the [TensorRT] log lines)")
            for name in output_names:
                cuda.memcpy_dtoh_async(self.host[name], self.dev[name], self.stream)
            self.stream.synchronize()
        return {name: np.array(self.host[name], dtype=np.float32) for name in output_names}

    def swap(self, a: str, b: str) -> None:
        """Exchange the device buffers of two same-shape tensors (state in <-> next state out)."""
        self.dev[a], self.dev[b] = self.dev[b], self.dev[a]

    def zero(self, name: str) -> None:
        with self:
            self.cuda.memset_d8(self.dev[name], 0, self.host[name].nbytes)

    def read(self, name: str) -> np.ndarray:
        with self:
            self.cuda.memcpy_dtoh(self.host[name], self.dev[name])
        return np.array(self.host[name], dtype=np.float32)

    def close(self):
        if self.ctx is None:
            return
        self.ctx.push()
        try:
            for d in self.dev.values():
                d.free()
            self.dev.clear()
            self.host.clear()
            self.stream = None
        finally:
            self.ctx.pop()
            self.ctx.detach()
            self.ctx = None


class _TorchBuffers:
    """Pinned CPU tensors + CUDA tensors + a torch CUDA stream (no pycuda needed)."""

    via = "torch"

    def __init__(self, specs, device_index: int = 0):
        import torch
        self.torch = torch
        self.device = torch.device("cuda", device_index)
        dt = {"float32": torch.float32, "float16": torch.float16, "int32": torch.int32, "int64": torch.int64,
              "bool": torch.bool}
        self.stream = torch.cuda.Stream(device=self.device)
        self.dev = {s.name: torch.empty(s.shape, dtype=dt[s.dtype], device=self.device) for s in specs}
        self.host = {s.name: torch.empty(s.shape, dtype=dt[s.dtype], pin_memory=True) for s in specs}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def address(self, name: str) -> int:
        return int(self.dev[name].data_ptr())

    @property
    def stream_handle(self) -> int:
        return self.stream.cuda_stream

    def run(self, context, inputs, output_names):
        torch = self.torch
        with torch.cuda.stream(self.stream):
            for name, x in inputs.items():
                self.host[name].numpy()[...] = x
                self.dev[name].copy_(self.host[name], non_blocking=True)
            if not context.execute_async_v3(self.stream.cuda_stream):
                raise BackendError("TensorRT execute_async_v3 returned False (see the [TensorRT] log lines)")
            for name in output_names:
                self.host[name].copy_(self.dev[name], non_blocking=True)
        self.stream.synchronize()
        return {name: self.host[name].numpy().astype(np.float32, copy=True) for name in output_names}

    def swap(self, a: str, b: str) -> None:
        """Exchange the device buffers of two same-shape tensors (state in <-> next state out)."""
        self.dev[a], self.dev[b] = self.dev[b], self.dev[a]

    def zero(self, name: str) -> None:
        with self.torch.cuda.stream(self.stream):
            self.dev[name].zero_()
        self.stream.synchronize()

    def read(self, name: str) -> np.ndarray:
        self.stream.synchronize()
        return self.dev[name].cpu().numpy().astype(np.float32, copy=True)

    def close(self):
        self.dev.clear()
        self.host.clear()


# -- the backend ----------------------------------------------------------------------------------

class TensorRTBackend(InferenceBackend):
    name = "tensorrt"

    @classmethod
    def probe(cls):
        return probe()

    def load(self, model_file_path: str = "", engine_file_path: str = "", *, force_engine_update: bool = False,
             enable_fp16: bool = True, max_workspace_size: int = DEFAULT_WORKSPACE_BYTES,
             bundle_hash: Optional[str] = None, buffers: str = "auto", device_index: int = 0,
             params: Optional[EngineParams] = None) -> "TensorRTBackend":
        """Load (building and caching if needed) an engine for ``model_file_path`` (ONNX).

        Arguments mirror Isaac ROS' TensorRT node; ``params`` may carry them instead. ``engine_file_path``
        defaults to ``<onnx>.<precision>.plan``. With no ONNX, a cached engine is loaded only if its
        sidecar matches this TensorRT version, GPU and precision. ``buffers``: auto | pycuda | torch.
        """
        if params is None:
            params = EngineParams(model_file_path=model_file_path, engine_file_path=engine_file_path,
                                  force_engine_update=force_engine_update, enable_fp16=enable_fp16,
                                  max_workspace_size=max_workspace_size)
        if not params.engine_file_path:
            if not params.model_file_path:
                raise ValueError("TensorRT backend needs model_file_path (ONNX) and/or engine_file_path")
            params.engine_file_path = os.path.splitext(params.model_file_path)[0] + f".{params.precision}.plan"
        ok, why = probe()
        if not ok:
            raise BackendUnavailableError(why)
        trt, _ = import_tensorrt()
        gpu, _ = gpu_info(device_index)
        self._trt = trt
        self.params = params
        self.gpu = gpu

        self._buffers = None
        self._make_buffers_provider(buffers, device_index)  # first: the build runs in the same CUDA context
        key = self._wanted_key(params, bundle_hash)
        data, self.cache_check = self._engine_bytes(params, key)
        runtime = trt.Runtime(_trt_logger(trt))
        with self._provider_ctx():
            engine = runtime.deserialize_cuda_engine(data)
            if engine is None and self.cache_check.ok and params.model_file_path:
                log.warning("cached TensorRT engine %s passed the cache check but does not deserialize; rebuilding",
                            params.engine_file_path)
                data, self.cache_check = ensure_engine(
                    EngineParams(**{**params.__dict__, "force_engine_update": True}), key, self._builder(params))
                engine = runtime.deserialize_cuda_engine(data)
            if engine is None:
                raise BackendError(f"TensorRT could not deserialize engine '{params.engine_file_path}' "
                                   "(corrupt, or built by another TensorRT version / GPU)")
            self._runtime, self.engine = runtime, engine
            self.context = engine.create_execution_context()
            if self.context is None:
                raise BackendError("TensorRT could not create an execution context (out of GPU memory?)")
            self._bind_io(trt, engine, device_index)
        self.device = f"cuda:{device_index}"
        self.precision = params.precision
        self._loaded = True
        return self

    # -- load helpers ---------------------------------------------------------------------------
    def _wanted_key(self, params: EngineParams, bundle_hash: Optional[str]) -> EngineKey:
        trt, gpu = self._trt, self.gpu
        if params.model_file_path:
            if not os.path.isfile(params.model_file_path):
                raise BackendError(f"ONNX model not found: {params.model_file_path}")
            return compute_key(bundle_hash=bundle_hash, onnx_path=params.model_file_path,
                               tensorrt_version=trt.__version__, gpu_name=gpu["name"],
                               compute_capability=gpu["compute_capability"], precision=params.precision,
                               state_layout=_onnx_state_layout(params.model_file_path))
        # engine-only: the network fields are whatever the sidecar says, the rest must match here
        try:
            cached = read_sidecar(params.engine_file_path)["key"]
        except ValueError as e:
            raise BackendError(f"cannot trust engine {params.engine_file_path} without its ONNX: {e}") from None
        return EngineKey(bundle_hash=bundle_hash or cached.get("bundle_hash", ""),
                         onnx_sha256=cached.get("onnx_sha256", ""), tensorrt_version=trt.__version__,
                         gpu_name=gpu["name"], compute_capability=gpu["compute_capability"],
                         precision=params.precision, state_layout=cached.get("state_layout", ""))

    def _builder(self, params: EngineParams):
        def build():
            with self._provider_ctx():
                return build_serialized_engine(params.model_file_path, params.enable_fp16, params.max_workspace_size)
        return build

    def _engine_bytes(self, params: EngineParams, key: EngineKey):
        if params.model_file_path:
            return ensure_engine(params, key, self._builder(params), logger=log)
        check = check_engine(params.engine_file_path, key)
        if not check.ok:
            raise BackendError(f"engine {params.engine_file_path} is {check.status} ({check.reason}) and no "
                               "model_file_path (ONNX) was given to rebuild it")
        with open(params.engine_file_path, "rb") as f:
            return f.read(), check

    def _make_buffers_provider(self, buffers: str, device_index: int) -> None:
        self._buffers_kind = buffers
        self._device_index = device_index
        if buffers == "auto":
            self._buffers_kind = "pycuda" if import_pycuda()[0] is not None else "torch"
        if self._buffers_kind == "pycuda":
            cuda, why = import_pycuda()
            if cuda is None:
                raise BackendUnavailableError(why)
            cuda.init()
            self._ctx = cuda.Device(device_index).retain_primary_context()
        elif self._buffers_kind == "torch":
            torch, why = torch_cuda()
            if torch is None:
                raise BackendUnavailableError(why)
            self._ctx = None
        else:
            raise ValueError(f"buffers must be auto, pycuda or torch, got {buffers!r}")

    def _provider_ctx(self):
        backend = self

        class _Ctx:
            def __enter__(self_):
                if getattr(backend, "_ctx", None) is not None:
                    backend._ctx.push()

            def __exit__(self_, *exc):
                if getattr(backend, "_ctx", None) is not None:
                    backend._ctx.pop()
        return _Ctx()

    def _bind_io(self, trt, engine, device_index: int) -> None:
        ins, outs = [], []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            shape = tuple(int(d) for d in engine.get_tensor_shape(name))
            if any(d < 0 for d in shape):
                raise BackendError(f"engine tensor '{name}' has dynamic shape {shape}; build from a fixed-length ONNX")
            spec = TensorSpec(name, shape, np.dtype(trt.nptype(engine.get_tensor_dtype(name))).name)
            (ins if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT else outs).append(spec)
        self.input_specs, self.output_specs = ins, outs
        cls = _PycudaBuffers if self._buffers_kind == "pycuda" else _TorchBuffers
        self._buffers = cls(ins + outs, device_index)
        for spec in ins + outs:
            if not self.context.set_tensor_address(spec.name, self._buffers.address(spec.name)):
                raise BackendError(f"TensorRT refused the buffer address for tensor '{spec.name}'")

    # -- run ------------------------------------------------------------------------------------
    def _run(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        return self._buffers.run(self.context, inputs, self.output_names)

    # -- device-resident state (the stateful step of a causal network) ----------------------------
    @property
    def state_pairs(self):
        """[(state input, next-state output)] of a stateful step engine ([] for a plain block engine)."""
        return state_pairs(self.input_names, self.output_names) if self._loaded else []

    def reset_state(self) -> None:
        """Zero the state inputs on the device (stream start)."""
        for a, _ in self.state_pairs:
            self._buffers.zero(a)

    def read_state(self) -> Dict[str, np.ndarray]:
        return {a: self._buffers.read(a) for a, _ in self.state_pairs}

    def run_step(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """One step with the state kept on the GPU: only the non-state inputs go in and the non-state
        outputs come out; then each state input/output buffer pair is swapped and re-bound by name
        (``set_tensor_address``), so the next step reads the state this one wrote. No state copies."""
        if not self._loaded:
            raise BackendError("tensorrt backend: run_step() called before load()")
        pairs = self.state_pairs
        state_in, state_out = {a for a, _ in pairs}, {b for _, b in pairs}
        specs = [sp for sp in self.input_specs if sp.name not in state_in]
        if set(inputs) != {sp.name for sp in specs}:
            raise ValueError(f"tensorrt backend: run_step takes {[sp.name for sp in specs]}, got {sorted(inputs)}")
        x = {}
        for sp in specs:
            a = np.asarray(inputs[sp.name])
            if tuple(a.shape) != tuple(sp.shape):
                raise ValueError(f"tensorrt backend: input '{sp.name}' has shape {tuple(a.shape)}, the engine "
                                 f"takes {tuple(sp.shape)}")
            x[sp.name] = np.ascontiguousarray(a, dtype=sp.dtype)
        out = self._buffers.run(self.context, x, [n for n in self.output_names if n not in state_out])
        for a, b in pairs:
            self._buffers.swap(a, b)
            for name in (a, b):
                if not self.context.set_tensor_address(name, self._buffers.address(name)):
                    raise BackendError(f"TensorRT refused the buffer address for state tensor '{name}'")
        return out

    def versions(self) -> dict:
        v = super().versions()
        v["tensorrt"] = getattr(getattr(self, "_trt", None), "__version__", None)
        if getattr(self, "gpu", None):
            v["gpu"] = self.gpu["name"]
            v["compute_capability"] = self.gpu["compute_capability"]
        v["buffers"] = getattr(self, "_buffers_kind", None)
        return v

    def info(self) -> dict:
        d = super().info()
        if hasattr(self, "params"):
            d["engine_file_path"] = self.params.engine_file_path
            d["cache"] = getattr(self, "cache_check", CacheCheck("missing", "")).status
        return d

    def close(self) -> None:
        if getattr(self, "_buffers", None) is not None:
            self._buffers.close()
            self._buffers = None
        self.context = None
        self.engine = None
        if getattr(self, "_ctx", None) is not None:
            try:
                self._ctx.detach()
            except Exception:  # pragma: no cover
                pass
            self._ctx = None
        self._loaded = False

"""ONNX Runtime backend: the exported ONNX graph on CPU (or the CUDA execution provider where present).

On one CPU core ORT is usually the fastest way to run the small SELD network
(fused GRU kernel, no Python per layer), so ``auto`` prefers it on CPU when an
ONNX file is at hand.
"""
from __future__ import annotations

import logging
import os
from typing import Dict, Optional, Sequence

import numpy as np

from .base import BackendError, BackendUnavailableError, InferenceBackend, TensorSpec

log = logging.getLogger(__name__)

_ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
              "tensor(int64)": "int64", "tensor(int32)": "int32"}


class OnnxRuntimeBackend(InferenceBackend):
    name = "onnxruntime"

    @classmethod
    def probe(cls):
        try:
            import onnxruntime as ort
        except ImportError as e:
            return False, f"onnxruntime is not importable ({e}); pip install onnxruntime"
        return True, f"onnxruntime {ort.__version__} (providers: {', '.join(ort.get_available_providers())})"

    @staticmethod
    def cuda_provider_available() -> bool:
        try:
            import onnxruntime as ort
            return "CUDAExecutionProvider" in ort.get_available_providers()
        except ImportError:
            return False

    def load(self, onnx_path: str, device: str = "cpu", num_threads: Optional[int] = None,
             providers: Optional[Sequence[str]] = None) -> "OnnxRuntimeBackend":
        """Open ``onnx_path``. ``device='cuda'`` asks for the CUDA EP (error if this ORT build lacks it).

        ``num_threads`` sets intra-op threads (1 = one core, as the benchmarks run it); inter-op is 1.
        """
        ok, why = self.probe()
        if not ok:
            raise BackendUnavailableError(why)
        import onnxruntime as ort

        if not os.path.isfile(onnx_path):
            raise BackendError(f"ONNX model not found: {onnx_path}")
        available = ort.get_available_providers()
        if providers is None:
            if device.startswith("cuda"):
                if "CUDAExecutionProvider" not in available:
                    raise BackendUnavailableError(
                        "onnxruntime on 'cuda' requested but this onnxruntime build has no CUDAExecutionProvider "
                        f"(available: {available}); install onnxruntime-gpu")
                providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
            else:
                providers = ["CPUExecutionProvider"]
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.inter_op_num_threads = 1
        if num_threads is not None:
            opts.intra_op_num_threads = int(num_threads)
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(onnx_path, sess_options=opts, providers=list(providers))
        except Exception as e:  # ORT raises its own exception types (InvalidProtobuf, Fail, ...)
            raise BackendError(f"onnxruntime cannot load '{onnx_path}' (corrupt or not an ONNX model?): "
                               f"{type(e).__name__}: {e}") from e
        self._ort = ort
        self.onnx_path = onnx_path
        used = self.session.get_providers()
        self.device = "cuda" if "CUDAExecutionProvider" in used else "cpu"
        self.precision = "fp32"
        self.input_specs = [self._spec(i) for i in self.session.get_inputs()]
        self.output_specs = [self._spec(o) for o in self.session.get_outputs()]
        self._loaded = True
        return self

    @staticmethod
    def _spec(node) -> TensorSpec:
        shape = []
        for d in node.shape:
            if not isinstance(d, int):
                raise BackendError(f"ONNX tensor '{node.name}' has a dynamic dimension {d!r} ({node.shape}); "
                                   "export at a fixed block length (seld-export --frames N)")
            shape.append(d)
        return TensorSpec(node.name, tuple(shape), _ORT_TYPES.get(node.type, "float32"))

    def _run(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        try:
            outs = self.session.run(self.output_names, inputs)
        except Exception as e:
            raise BackendError(f"onnxruntime run failed: {type(e).__name__}: {e}") from e
        return {s.name: np.asarray(o, dtype=np.float32) for s, o in zip(self.output_specs, outs)}

    def versions(self) -> dict:
        v = super().versions()
        v["onnxruntime"] = self._ort.__version__ if hasattr(self, "_ort") else None
        if hasattr(self, "session"):
            v["providers"] = self.session.get_providers()
        return v

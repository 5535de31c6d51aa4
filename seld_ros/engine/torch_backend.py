"""PyTorch backend: eager on CPU or CUDA, optional FP16/BF16 and CUDA graphs on GPU.

The reference backend: every other backend is checked against it. On CPU it is
also the fallback when onnxruntime is missing. On GPU, CUDA graphs remove the
per-kernel launch overhead that dominates a small model at batch 1: the
network is captured once on static input/output tensors and each ``infer``
copies the block in, replays the graph and copies the outputs out.
"""
from __future__ import annotations

import copy
import logging
from typing import Dict, Optional

import numpy as np

from .base import PRECISIONS, BackendError, BackendUnavailableError, InferenceBackend, specs_from_arrays

log = logging.getLogger(__name__)


class TorchBackend(InferenceBackend):
    name = "torch"

    @classmethod
    def probe(cls):
        try:
            import torch  # noqa: F401
        except ImportError as e:  # pragma: no cover - torch is a core dependency
            return False, f"torch is not importable ({e})"
        return True, "torch importable"

    @staticmethod
    def cuda_available() -> bool:
        try:
            import torch
            return bool(torch.cuda.is_available())
        except Exception:  # pragma: no cover
            return False

    def load(self, model, frames: int, device: str = "cpu", precision: str = "fp32",
             cuda_graphs: bool = False, num_threads: Optional[int] = None) -> "TorchBackend":
        """Wrap ``model`` (an nn.Module following the model contract) for blocks of ``frames`` feature frames.

        ``num_threads`` sets torch's intra-op threads (process-wide!); None leaves it alone.
        """
        ok, why = self.probe()
        if not ok:
            raise BackendUnavailableError(why)
        import torch

        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailableError("torch backend on 'cuda' requested but torch.cuda.is_available() is "
                                          f"False (torch {torch.__version__}, a CPU-only build or no GPU)")
        if precision == "fp16" and dev.type != "cuda":
            raise ValueError("fp16 is a GPU precision here; use fp32 or bf16 on CPU")
        if cuda_graphs and dev.type != "cuda":
            raise ValueError("cuda_graphs=True needs device='cuda'")
        if num_threads is not None:
            torch.set_num_threads(int(num_threads))

        self._torch = torch
        self._dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
        # a private copy: .to() converts a module in place, and the caller may still use theirs
        self.model = copy.deepcopy(model).eval().to(device=dev, dtype=self._dtype)
        for m in self.model.modules():  # cuDNN wants contiguous RNN weights (also before graph capture)
            if isinstance(m, torch.nn.RNNBase):
                m.flatten_parameters()
        self.device = str(dev)
        self.precision = precision
        examples = model.example_inputs(1, frames)
        self.input_specs = specs_from_arrays(model.input_names, examples)
        with torch.inference_mode():
            outs = self.model(*[e.to(dev, self._dtype) for e in examples])
        self.output_specs = specs_from_arrays(model.output_names, outs)
        self._graph = None
        if cuda_graphs:
            self._capture_graph()
        self._loaded = True
        return self

    def _capture_graph(self) -> None:
        torch = self._torch
        self._static_in = [torch.zeros(s.shape, device=self.device, dtype=self._dtype) for s in self.input_specs]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.inference_mode(), torch.cuda.stream(side):
            for _ in range(3):  # warm up allocator and cuDNN autotuning outside the capture
                self.model(*self._static_in)
        torch.cuda.current_stream().wait_stream(side)
        self._graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(self._graph):
            self._static_out = self.model(*self._static_in)
        log.info("torch backend: captured a CUDA graph for block %s", self.input_specs[0].shape)

    def _run(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        torch = self._torch
        try:
            if self._graph is not None:
                for buf, spec in zip(self._static_in, self.input_specs):
                    buf.copy_(torch.from_numpy(inputs[spec.name]))
                self._graph.replay()
                outs = self._static_out
            else:
                with torch.inference_mode():
                    xs = [torch.from_numpy(inputs[s.name]).to(self.device, self._dtype) for s in self.input_specs]
                    outs = self.model(*xs)
            return {s.name: o.detach().to("cpu", torch.float32).numpy() for s, o in zip(self.output_specs, outs)}
        except RuntimeError as e:
            raise BackendError(f"torch backend failed on {self.device}/{self.precision}: {e}") from e

    def versions(self) -> dict:
        v = super().versions()
        v["torch"] = self._torch.__version__ if hasattr(self, "_torch") else None
        if self.device.startswith("cuda"):
            v["cuda"] = self._torch.version.cuda
            v["gpu"] = self._torch.cuda.get_device_name(self._torch.device(self.device))
        return v

    def info(self) -> dict:
        d = super().info()
        d["cuda_graphs"] = self._graph is not None
        return d

"""The one interface every inference backend implements.

A backend runs the SELD *network* (not the STFT / feature extraction) on one
fixed-size block of features at batch 1::

    backend.load(...)                       # backend-specific artefact: nn.Module, ONNX, engine
    backend.warmup(10)                      # first calls allocate, autotune, capture graphs
    out = backend.infer({"features": x})    # dict name -> float32 array, in, and out
    backend.info()                          # what is running where, for logs and diagnostics

Shapes are fixed at load time (a GRU's time axis is not dynamic in the exported
graph, and TensorRT / CUDA graphs are fastest with static shapes), so ``infer``
checks every input against ``input_specs`` and fails with a message that says
what was expected instead of a backend-specific stack trace.

This module imports neither torch nor onnxruntime nor tensorrt.
"""
from __future__ import annotations

import abc
import logging
import platform
import time
from dataclasses import dataclass
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "bf16")


class BackendError(RuntimeError):
    """A backend could not load or run a model (corrupt file, wrong shapes, ...)."""


class BackendUnavailableError(BackendError):
    """A backend was asked for but cannot run here; the message names what is missing."""


@dataclass(frozen=True)
class TensorSpec:
    """Name, static shape and numpy dtype of one network input or output."""

    name: str
    shape: Tuple[int, ...]
    dtype: str = "float32"

    def as_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


class InferenceBackend(abc.ABC):
    """Base class: runs a network on fixed-shape float32 blocks at batch 1.

    Subclasses set ``name`` and fill ``input_specs`` / ``output_specs`` /
    ``device`` / ``precision`` in :meth:`load`, and implement :meth:`_run`.
    """

    name: str = "base"

    def __init__(self) -> None:
        self.input_specs: List[TensorSpec] = []
        self.output_specs: List[TensorSpec] = []
        self.device: str = "cpu"
        self.precision: str = "fp32"
        self._loaded = False

    # -- availability -------------------------------------------------------------------------
    @classmethod
    def probe(cls) -> Tuple[bool, str]:
        """(available, reason). Must be cheap and must never raise."""
        return True, "always available"

    # -- lifecycle ----------------------------------------------------------------------------
    @abc.abstractmethod
    def load(self, *args, **kwargs) -> "InferenceBackend":
        """Load the backend's artefact; returns self."""

    @abc.abstractmethod
    def _run(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run one block; inputs are already validated, contiguous float32."""

    def infer(self, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run the network on one block. Returns float32 arrays keyed by output name."""
        if not self._loaded:
            raise BackendError(f"{self.name} backend: infer() called before load()")
        return self._run(self._validate(inputs))

    def warmup(self, n: int = 10) -> float:
        """Run ``n`` blocks of zeros; returns the mean seconds per call (for logs)."""
        zeros = self.zero_inputs()
        t0 = time.perf_counter()
        for _ in range(max(0, n)):
            self.infer(zeros)
        return (time.perf_counter() - t0) / max(1, n)

    def info(self) -> dict:
        """What runs where: name, device, precision, library versions, block shapes."""
        return {
            "name": self.name,
            "backend": self.name,
            "device": self.device,
            "precision": self.precision,
            "versions": self.versions(),
            "inputs": [s.as_dict() for s in self.input_specs],
            "outputs": [s.as_dict() for s in self.output_specs],
            "block_frames": self.block_frames,
            "block_shape": list(self.input_specs[0].shape) if self.input_specs else None,
        }

    def versions(self) -> dict:
        return {"python": platform.python_version(), "numpy": np.__version__}

    def close(self) -> None:
        """Release device resources (idempotent)."""

    def __enter__(self) -> "InferenceBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- helpers ------------------------------------------------------------------------------
    @property
    def input_names(self) -> List[str]:
        return [s.name for s in self.input_specs]

    @property
    def output_names(self) -> List[str]:
        return [s.name for s in self.output_specs]

    @property
    def block_frames(self) -> int | None:
        """Feature frames per block: the time axis (axis 2) of the first input, (B, C, T, F)."""
        if not self.input_specs or len(self.input_specs[0].shape) < 3:
            return None
        return int(self.input_specs[0].shape[2])

    def zero_inputs(self) -> Dict[str, np.ndarray]:
        return {s.name: np.zeros(s.shape, dtype=s.dtype) for s in self.input_specs}

    def _validate(self, inputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        expected = set(self.input_names)
        got = set(inputs)
        if got != expected:
            raise ValueError(
                f"{self.name} backend: inputs {sorted(got)} do not match the network's {sorted(expected)}")
        out = {}
        for spec in self.input_specs:
            x = np.asarray(inputs[spec.name])
            if tuple(x.shape) != tuple(spec.shape):
                raise ValueError(
                    f"{self.name} backend: input '{spec.name}' has shape {tuple(x.shape)}, the loaded "
                    f"network takes a fixed block {tuple(spec.shape)} (re-export for another block length)")
            out[spec.name] = np.ascontiguousarray(x, dtype=spec.dtype)
        return out


def specs_from_arrays(names: Sequence[str], arrays: Sequence) -> List[TensorSpec]:
    """TensorSpecs from example arrays/tensors (anything with .shape)."""
    return [TensorSpec(n, tuple(int(d) for d in a.shape), "float32") for n, a in zip(names, arrays)]

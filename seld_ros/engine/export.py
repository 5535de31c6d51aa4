"""Export the SELD network (not the STFT) to ONNX at a fixed block length, and prove it.

* Fixed length: the block is ``frames`` feature frames (20 ms each; a multiple of 5 so it holds whole
  100 ms label frames) — the streaming window. A GRU's time axis cannot be made dynamic in the exported
  graph without losing TensorRT's static-shape optimisations, so every block length is its own export.
* Opset pinned (:data:`DEFAULT_OPSET`), dynamo exporter (``torch.onnx.export(..., dynamo=True)``, needs
  onnxscript); without onnxscript the legacy TorchScript exporter (``dynamo=False``), logged.
* Parity: after export, onnxruntime and torch run the same seeded random blocks; the max abs
  difference over all outputs (for the ``next_state_*`` outputs of a stateful step: relative to the state's
  largest magnitude when that exceeds 1) is reported and the export fails (:class:`ParityError`) above the
  tolerance (1e-4). The destination file is only replaced when the check passes (atomic rename).
* Provenance: ``<out>.onnx.json`` records the bundle hash, block shape, opset, measured parity and, for
  the stateful step of a causal network (:mod:`seld_ros.engine.incremental`), the state layout, so a
  stale ONNX (bundle or state layout changed since) is recognised by :func:`onnx_is_current`.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

import numpy as np

from seld_ros.constants import LABEL_HOP_FRAMES

from .cache import atomic_write_json, file_sha256

log = logging.getLogger(__name__)

DEFAULT_OPSET = 18
PARITY_TOLERANCE = 1e-4


class ParityError(RuntimeError):
    """onnxruntime and torch disagree beyond the tolerance: the exported graph is not the model."""


@dataclass
class ExportReport:
    onnx_path: str
    frames: int
    opset: int
    input_names: List[str]
    output_names: List[str]
    input_shapes: Dict[str, list]
    output_shapes: Dict[str, list]
    max_abs_diff: float
    per_output_diff: Dict[str, float]
    tolerance: float
    onnx_sha256: str
    bundle_hash: Optional[str] = None
    export_seconds: float = 0.0
    torch_version: str = ""
    state_layout: str = ""      # digest of the state inputs/outputs of a stateful step graph ('' = stateless)
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def check_frames(frames: int) -> int:
    frames = int(frames)
    if frames <= 0 or frames % LABEL_HOP_FRAMES:
        raise ValueError(f"frames must be a positive multiple of {LABEL_HOP_FRAMES} (whole 100 ms label frames), "
                         f"got {frames}")
    return frames


def _cpu_fp32(model):
    import copy
    import torch
    m = copy.deepcopy(model).eval().to("cpu", torch.float32)
    for sub in m.modules():
        if isinstance(sub, torch.nn.RNNBase):
            sub.flatten_parameters()
    return m


def export_onnx(model, onnx_path: str, frames: int, *, opset: int = DEFAULT_OPSET, tolerance: float = PARITY_TOLERANCE,
                bundle_hash: Optional[str] = None, trials: int = 3, seed: int = 0, quiet: bool = True) -> ExportReport:
    """Export ``model`` for blocks of ``frames`` feature frames and run the parity check.

    Raises ParityError (destination untouched) when onnxruntime and torch differ by more than ``tolerance``.
    """
    import torch
    frames = check_frames(frames)
    model = _cpu_fp32(model)
    torch.manual_seed(seed)
    examples = tuple(model.example_inputs(1, frames))
    out_dir = os.path.dirname(os.path.abspath(onnx_path))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(onnx_path) + ".", suffix=".tmp.onnx", dir=out_dir)
    os.close(fd)
    t0 = time.perf_counter()
    try:
        with contextlib.ExitStack() as stack:
            if quiet:  # the exporter prints progress lines and warns about GRU weight attributes
                stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
                stack.enter_context(warnings.catch_warnings())
                warnings.simplefilter("ignore")
                stack.enter_context(_quiet_loggers())
            exporter = _torch_onnx_export(model, examples, tmp, opset)
        export_s = time.perf_counter() - t0
        log.debug("ONNX export with the %s exporter", exporter)
        import onnx
        onnx.checker.check_model(tmp, full_check=True)
        per_output = parity_check(model, tmp, frames, trials=trials, seed=seed)
        max_diff = max(per_output.values()) if per_output else float("nan")
        if not np.isfinite(max_diff) or max_diff > tolerance:
            raise ParityError(f"ONNX export parity check FAILED: max |onnxruntime - torch| = {max_diff:.3g} > "
                              f"tolerance {tolerance:g} (per output: "
                              + ", ".join(f"{k}={v:.3g}" for k, v in per_output.items()) + f"); '{onnx_path}' "
                              "was not written")
        os.replace(tmp, onnx_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    import onnxruntime as ort
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    report = ExportReport(
        onnx_path=onnx_path, frames=frames, opset=opset,
        input_names=list(model.input_names), output_names=list(model.output_names),
        input_shapes={i.name: list(i.shape) for i in sess.get_inputs()},
        output_shapes={o.name: list(o.shape) for o in sess.get_outputs()},
        max_abs_diff=float(max_diff), per_output_diff={k: float(v) for k, v in per_output.items()},
        tolerance=tolerance, onnx_sha256=file_sha256(onnx_path), bundle_hash=bundle_hash,
        export_seconds=round(export_s, 2), torch_version=torch.__version__,
        state_layout=str(getattr(model, "state_layout", "") or ""),
        extra={"model_config": _jsonable(getattr(model, "config", {})), "exporter": exporter})
    atomic_write_json(onnx_path + ".json", report.as_dict())
    log.info("exported %s (frames=%d, opset=%d), parity max abs diff %.3g", onnx_path, frames, opset, max_diff)
    return report


# Libraries the exporter drives that log at INFO/WARNING about their own internals (onnxscript's rewriter and
# onnx_ir's passes: dozens of "Replaced initializer ..." lines; torchvision's operator registration when it is
# installed): none of it is actionable for a user, and the parity check below is what proves the export.
_CHATTY_LOGGERS = ("onnxscript", "onnx_ir", "torch.onnx", "torch._dynamo", "torch.export", "torchvision")


@contextlib.contextmanager
def _quiet_loggers():
    saved = {n: logging.getLogger(n).level for n in _CHATTY_LOGGERS}
    try:
        for n in _CHATTY_LOGGERS:
            logging.getLogger(n).setLevel(logging.ERROR)
        yield
    finally:
        for n, level in saved.items():
            logging.getLogger(n).setLevel(level)


def _torch_onnx_export(model, examples, path: str, opset: int) -> str:
    """The dynamo exporter (needs the onnxscript package); without onnxscript, the legacy TorchScript-based
    exporter (``dynamo=False``), with a log line. Either way the parity check that follows proves the graph.
    Returns which exporter ran."""
    import torch

    names = dict(input_names=list(model.input_names), output_names=list(model.output_names))
    try:
        import onnxscript  # noqa: F401
    except ImportError:
        log.warning("onnxscript is not installed: exporting ONNX with torch's legacy TorchScript exporter "
                    "(dynamo=False) instead of the dynamo exporter (pip install onnxscript to use that one)")
        torch.onnx.export(model, examples, path, dynamo=False, opset_version=opset, **names)
        return "torchscript"
    torch.onnx.export(model, examples, path, dynamo=True, opset_version=opset, external_data=False, verbose=False,
                      **names)
    return "dynamo"


def parity_check(model, onnx_path: str, frames: int, trials: int = 3, seed: int = 0,
                 inputs: Optional[List[Dict[str, np.ndarray]]] = None) -> Dict[str, float]:
    """Max abs difference per output between torch (CPU fp32) and onnxruntime (CPU) on the same blocks.

    ``inputs``: blocks to use (e.g. real features); default ``trials`` seeded random blocks.
    """
    import torch
    import onnxruntime as ort
    model = _cpu_fp32(model)
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    if inputs is None:
        gen = torch.Generator().manual_seed(seed)
        shapes = [tuple(e.shape) for e in model.example_inputs(1, frames)]
        inputs = [{n: torch.randn(s, generator=gen).numpy() for n, s in zip(model.input_names, shapes)}
                  for _ in range(trials)]
    worst: Dict[str, float] = {n: 0.0 for n in model.output_names}
    for block in inputs:
        with torch.inference_mode():
            ref = model(*[torch.from_numpy(np.ascontiguousarray(block[n], dtype=np.float32))
                          for n in model.input_names])
        got = sess.run(list(model.output_names), {n: np.asarray(block[n], dtype=np.float32)
                                                   for n in model.input_names})
        for name, r, g in zip(model.output_names, ref, got):
            d = float(np.max(np.abs(r.numpy().astype(np.float64) - g.astype(np.float64)))) if r.numel() else 0.0
            if name.startswith("next_state_") and r.numel():
                # a carried state is an internal activation of arbitrary scale (hundreds, on random blocks):
                # its error is judged relative to its magnitude; the network's outputs stay absolute
                d /= max(1.0, float(r.abs().max()))
            worst[name] = max(worst[name], d) if np.isfinite(d) else float("inf")
    return worst


def onnx_is_current(onnx_path: str, frames: int, bundle_hash: Optional[str] = None,
                    state_layout: Optional[str] = None) -> tuple:
    """(usable, reason): does ``onnx_path`` exist, for this block length, bundle and state layout (when
    given), untouched since export?"""
    if not os.path.isfile(onnx_path):
        return False, f"no ONNX at {onnx_path}"
    try:
        with open(onnx_path + ".json", encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        return False, f"no readable export record {onnx_path}.json ({e})"
    if meta.get("frames") != frames:
        return False, f"ONNX exported for {meta.get('frames')} frames, {frames} wanted"
    if bundle_hash and meta.get("bundle_hash") != bundle_hash:
        return False, "ONNX exported from another bundle"
    if state_layout is not None and (meta.get("state_layout") or "") != state_layout:
        return False, f"ONNX state layout {meta.get('state_layout') or 'none'!r} != wanted {state_layout or 'none'!r}"
    if meta.get("onnx_sha256") != file_sha256(onnx_path):
        return False, "ONNX file changed since export"
    return True, "ONNX current"


def _jsonable(obj):
    try:
        json.dumps(obj)
        return obj
    except TypeError:
        return json.loads(json.dumps(obj, default=str))

"""seld-export: bundle -> ONNX (fixed block, parity-checked) [-> TensorRT engine].

    seld-export --bundle model.pt --onnx out.onnx [--frames 100] [--engine out.plan --fp16]

Exit status: 0 ok; 1 parity check failed (ONNX not written); 2 bad arguments / unreadable bundle;
3 TensorRT engine requested but TensorRT cannot run here (the ONNX is still written and checked).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from seld_ros.constants import LABEL_HOP_FRAMES
from seld_ros.engine import bundle_adapter
from seld_ros.engine.base import BackendError, BackendUnavailableError
from seld_ros.engine.cache import DEFAULT_WORKSPACE_BYTES
from seld_ros.engine.export import DEFAULT_OPSET, PARITY_TOLERANCE, ParityError, check_frames, export_onnx
from seld_ros.engine.incremental import is_causal, stateful_step
from seld_ros.engine.streaming_defaults import DEFAULT_WINDOW_FRAMES, window_frames_from_config
from seld_ros.engine.tensorrt_backend import TensorRTBackend

log = logging.getLogger("seld-export")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seld-export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", required=True, help="model bundle file (required)")
    p.add_argument("--onnx", required=True, help="ONNX file to write (required)")
    p.add_argument("--frames", type=int, default=None,
                   help=f"block length in 20 ms feature frames, multiple of 5 (default: the bundle's streaming "
                        f"window, else {DEFAULT_WINDOW_FRAMES})")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (default: %(default)s)")
    p.add_argument("--tolerance", type=float, default=PARITY_TOLERANCE,
                   help="max |onnxruntime - torch| allowed (default: %(default)g)")
    p.add_argument("--engine", default=None,
                   help="also build a TensorRT engine file here (needs TensorRT + GPU; default: none)")
    p.add_argument("--fp16", action="store_true", help="allow FP16 kernels in the TensorRT engine (default: FP32)")
    p.add_argument("--workspace-mb", type=int, default=DEFAULT_WORKSPACE_BYTES >> 20,
                   help="TensorRT builder workspace in MiB (default: %(default)s)")
    p.add_argument("--force", action="store_true",
                   help="rebuild the engine even if the cached one matches (default: reuse a matching one)")
    # debug logging; hidden: the other tools have no -v either (one option scheme, docs/cli.md)
    p.add_argument("-v", "--verbose", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    try:
        net = bundle_adapter.load_network(args.bundle)
        frames = check_frames(args.frames if args.frames is not None
                              else window_frames_from_config(net.feature_config, getattr(net.model, "config", {})))
    except (BackendError, ValueError) as e:
        print(f"seld-export: error: {e}", file=sys.stderr)
        return 2
    model = net.model
    if is_causal(model):  # a causal bundle exports its one-hop step with the state as explicit I/O
        if args.frames not in (None, LABEL_HOP_FRAMES):
            print(f"seld-export: causal bundle: exporting the one-hop stateful step ({LABEL_HOP_FRAMES} frames), "
                  f"not {args.frames}")
        model, frames = stateful_step(model), LABEL_HOP_FRAMES
    try:
        report = export_onnx(model, args.onnx, frames, opset=args.opset, tolerance=args.tolerance,
                             bundle_hash=net.bundle_hash)
    except ParityError as e:
        print(f"seld-export: {e}", file=sys.stderr)
        return 1
    print(f"ONNX: {report.onnx_path} (frames={report.frames}, opset={report.opset}, "
          f"inputs={report.input_shapes}, outputs={report.output_shapes})")
    print(f"parity onnxruntime vs torch: max abs diff = {report.max_abs_diff:.3g} (tolerance {report.tolerance:g}) OK")
    if args.engine:
        try:
            trt_backend = TensorRTBackend().load(args.onnx, args.engine, enable_fp16=args.fp16,
                                                 force_engine_update=args.force,
                                                 max_workspace_size=args.workspace_mb << 20,
                                                 bundle_hash=net.bundle_hash)
        except BackendUnavailableError as e:
            print(f"seld-export: cannot build the TensorRT engine here: {e}", file=sys.stderr)
            return 3
        except BackendError as e:
            print(f"seld-export: TensorRT engine build failed: {e}", file=sys.stderr)
            return 1
        print(f"TensorRT engine: {args.engine} ({trt_backend.precision}, cache: {trt_backend.cache_check.status})")
        print(json.dumps(trt_backend.info(), indent=2, default=str))
        trt_backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

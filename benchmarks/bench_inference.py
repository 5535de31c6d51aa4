"""Per-hop inference cost of the SELD network, per available backend, at the streaming block size.

    .venv/bin/python benchmarks/bench_inference.py [--bundle B | --config C] [--context-seconds 2.0] [--iters 300]

What is timed: ``backend.infer({"features": block})`` for one (1, 13, 5W, 64) float32 block — exactly
what ``StreamingInference`` runs every 100 ms hop (the network only; features are bench_features.py).
Batch 1, one CPU thread (torch.set_num_threads(1), onnxruntime intra_op_num_threads=1, process bound to
one core where possible). GPU backends (torch CUDA fp32/fp16/CUDA graphs, onnxruntime CUDA EP, TensorRT)
are timed when present and reported as not run otherwise.

Model: the default bundle (seld_ros/models/default.pt) when it exists, else the default AT2SELD
architecture with random weights (cost does not depend on the weights); ``--config`` times the network a seld-train
config describes instead (random weights; e.g. config/train/at2seld_yamnet.yaml for AT2SELD with YAMNet). MACs from
torch's FLOP counter.

Incremental vs sliding window (``incremental_*``, ``window_*``): the same architecture made causal
(``causal: true``, weights of the bundle where they fit — cost does not depend on them) run as the
stateful step graph (one 100 ms hop of features + the carried state in, one label frame + the new
state out) through :class:`seld_ros.engine.incremental.IncrementalInference` — state swapping
included — against the window block above, per CPU backend: ``<backend>_incremental_ms_per_hop_p50``,
``<backend>_window_ms_per_hop_p50``, ``<backend>_incremental_speedup``; the unprefixed figures are
those of the fastest CPU backend.
Writes flat JSON to benchmarks/results/bench_inference.json.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy / torch load

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from seld_ros.engine.export import export_onnx  # noqa: E402
from benchmarks.common import cpu_model, git_commit  # noqa: E402,F401 (also used by bench_streaming)
from seld_ros.engine.factory import probe_backends  # noqa: E402
from seld_ros.engine.onnxruntime_backend import OnnxRuntimeBackend  # noqa: E402
from seld_ros.engine.profile import count_macs  # noqa: E402
from seld_ros.engine.torch_backend import TorchBackend  # noqa: E402

HOP_MS = 100.0
DEFAULT_BUNDLE = REPO / "seld_ros" / "models" / "default.pt"


def model_of_config(path: str):
    """The network of a seld-train config (random weights), and its description."""
    from seld_ros.features.config import feature_config_from_dict
    from seld_ros.model import build_model
    from seld_ros.train.trainer import load_config, network_config
    cfg = load_config(path)
    m = {k: v for k, v in cfg["model"].items() if k not in ("pretrained_backbone", "init_from", "pretrained_yamnet")}
    torch.manual_seed(0)
    net = build_model(network_config(m, feature_config_from_dict(cfg["data"]["features"]),
                                     len(cfg["data"]["class_names"])))
    return net.eval(), f"network of {Path(path).name}", "random"


def load_model(bundle: str | None):
    path = Path(bundle) if bundle else DEFAULT_BUNDLE
    if path.is_file():
        from seld_ros.engine.bundle_adapter import load_network
        net = load_network(str(path))
        return net.model, f"bundle {path.name} ({net.bundle_hash[:12]})", "trained"
    if bundle:
        raise SystemExit(f"bundle not found: {bundle}")
    from seld_ros.model import build_model, default_at2seld_config
    torch.manual_seed(0)
    return build_model(default_at2seld_config()).eval(), "default AT2SELD config", "random"


def time_backend(backend, iters: int, warmup: int, sync=None) -> dict:
    rng = np.random.default_rng(0)
    block = {s.name: rng.standard_normal(s.shape).astype(np.float32) for s in backend.input_specs}
    for _ in range(warmup):
        backend.infer(block)
    ts = np.empty(iters)
    for i in range(iters):
        t0 = time.perf_counter()
        backend.infer(block)  # returns host numpy arrays: includes H2D/D2H and sync on GPU backends
        ts[i] = time.perf_counter() - t0
    ms = ts * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean()), "hops_per_s": float(1e3 / ms.mean())}


def causal_twin(model):
    """The same AT2SELD architecture with causal: true (the bundle's weights loaded; shapes are equal)."""
    from seld_ros.model import build_model
    cfg = dict(model.config)
    if cfg.get("name") != "at2seld":
        return None
    cfg["causal"] = True
    cfg["temporal"] = {**cfg["temporal"], "bidirectional": False}
    twin = build_model(cfg).eval()
    try:
        twin.load_state_dict(model.state_dict())
    except RuntimeError:  # a bidirectional GRU has other shapes: random weights, same cost
        pass
    return twin


def incremental(model, res: dict, args, rows) -> None:
    """Time the stateful step (one hop per call, state swapped) on the CPU backends."""
    from seld_ros.engine.incremental import IncrementalInference, stateful_step

    twin = model if model.config.get("causal") else causal_twin(model)
    if twin is None:
        res["incremental_status"] = "not run: not an AT2SELD network"
        return
    step = stateful_step(twin)
    res["incremental_model"] = "the bundle's network" if twin is model else "causal twin of the bundle's network"
    res["incremental_state_layout"] = step.state_layout
    res["incremental_state_floats"] = int(sum(np.prod(s) for _, s in step.specs))
    res["incremental_model_macs_per_hop"] = count_macs(step, 5)["macs"]
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = os.path.join(tmp, "step.onnx")
        rep = export_onnx(step, onnx_path, 5)
        res["incremental_onnx_parity_max_abs_diff"] = rep.max_abs_diff
        window = {k: r for k, _, r in rows}
        best = None
        for key, make in (("torch", lambda: TorchBackend().load(step, 5)),
                          ("onnxruntime", lambda: OnnxRuntimeBackend().load(onnx_path, num_threads=1))):
            backend = make()
            inc = IncrementalInference(backend)
            hop = np.random.default_rng(0).standard_normal((inc.channels, 5, inc.bins)).astype(np.float32)
            for _ in range(args.warmup):
                inc.push(hop)
            ts = np.empty(args.iters)
            for i in range(args.iters):
                t0 = time.perf_counter()
                inc.push(hop)
                ts[i] = time.perf_counter() - t0
            p50 = float(np.percentile(ts * 1e3, 50))
            res[f"{key}_incremental_ms_per_hop_p50"] = round(p50, 4)
            res[f"{key}_incremental_ms_per_hop_p99"] = round(float(np.percentile(ts * 1e3, 99)), 4)
            w = window.get(f"{key}_cpu_fp32")
            if w is not None:
                res[f"{key}_window_ms_per_hop_p50"] = round(w["p50_ms"], 4)
                res[f"{key}_incremental_speedup"] = round(w["p50_ms"] / p50, 2)
                print(f"{key:12s} incremental p50 {p50:7.3f} ms/hop vs window {w['p50_ms']:7.3f} ms/hop: "
                      f"{w['p50_ms'] / p50:5.1f}x")
            if best is None or p50 < best[1]:
                best = (key, p50)
            backend.close()
    key = best[0]
    res["incremental_backend"] = key
    res["incremental_ms_per_hop_p50"] = res[f"{key}_incremental_ms_per_hop_p50"]
    if f"{key}_window_ms_per_hop_p50" in res:
        res["window_ms_per_hop_p50"] = res[f"{key}_window_ms_per_hop_p50"]
        res["incremental_speedup"] = res[f"{key}_incremental_speedup"]
        res["acceptance_incremental_speedup_ge_5"] = bool(min(
            res.get(f"{k}_incremental_speedup", 0.0) for k in ("torch", "onnxruntime")) >= 5.0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bundle", default=None)
    p.add_argument("--config", default=None, help="time the network of this seld-train config (random weights)")
    p.add_argument("--context-seconds", type=float, default=2.0, help="streaming window (default %(default)s s)")
    p.add_argument("--iters", type=int, default=300)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "bench_inference.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        except OSError:
            pass
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)

    model, model_desc, weights = model_of_config(args.config) if args.config else load_model(args.bundle)
    frames = int(round(args.context_seconds / 0.1)) * 5
    cost = count_macs(model, frames)
    res = {"model": model_desc, "weights": weights, "block_frames": frames, "context_seconds": frames * 0.02,
           "batch": 1, "cpu_threads": 1, "model_params": cost["params"], "model_macs_per_hop": cost["macs"],
           "model_gmacs_per_hop": round(cost["macs"] / 1e9, 4)}

    rows = []

    def record(key, label, fn):
        try:
            backend = fn()
        except Exception as e:  # noqa: BLE001 - report and continue
            res[f"{key}_status"] = f"not run: {type(e).__name__}: {e}"
            print(f"{label:38s} not run: {e}")
            return
        r = time_backend(backend, args.iters, args.warmup)
        for k, v in r.items():
            res[f"{key}_{k}"] = round(v, 4)
        res[f"{key}_status"] = "ok"
        rows.append((key, label, r))
        print(f"{label:38s} p50 {r['p50_ms']:7.3f} ms  p99 {r['p99_ms']:7.3f} ms  {r['hops_per_s']:8.1f} hops/s")
        backend.close()

    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = os.path.join(tmp, "model.onnx")
        rep = export_onnx(model, onnx_path, frames)
        res["onnx_parity_max_abs_diff"] = rep.max_abs_diff
        record("torch_cpu_fp32", "torch CPU fp32 (1 thread)", lambda: TorchBackend().load(model, frames))
        record("onnxruntime_cpu_fp32", "onnxruntime CPU fp32 (1 thread)",
               lambda: OnnxRuntimeBackend().load(onnx_path, num_threads=1))
        gpu = torch.cuda.is_available()
        if gpu:
            res["gpu"] = torch.cuda.get_device_name(0)
        for prec, graphs in (("fp32", False), ("fp16", False), ("fp32", True), ("fp16", True)):
            key = f"torch_cuda_{prec}" + ("_graphs" if graphs else "")
            if not gpu:
                res[f"{key}_status"] = "not run: torch has no CUDA device"
                continue
            record(key, f"torch CUDA {prec}{' + CUDA graphs' if graphs else ''}",
                   lambda prec=prec, graphs=graphs: TorchBackend().load(model, frames, device="cuda", precision=prec,
                                                                        cuda_graphs=graphs))
        if OnnxRuntimeBackend.cuda_provider_available():
            record("onnxruntime_cuda_fp32", "onnxruntime CUDA EP fp32",
                   lambda: OnnxRuntimeBackend().load(onnx_path, device="cuda"))
        else:
            res["onnxruntime_cuda_fp32_status"] = "not run: onnxruntime has no CUDAExecutionProvider"
        ok, why = probe_backends()["tensorrt"]
        for fp16 in (False, True):
            key = f"tensorrt_{'fp16' if fp16 else 'fp32'}"
            if not ok:
                res[f"{key}_status"] = f"not run: {why}"
                continue
            from seld_ros.engine.tensorrt_backend import TensorRTBackend
            record(key, f"TensorRT {'fp16' if fp16 else 'fp32'}",
                   lambda fp16=fp16: TensorRTBackend().load(onnx_path, os.path.join(tmp, f"m{fp16}.plan"),
                                                            enable_fp16=fp16))

    incremental(model, res, args, rows)
    cpu = [(k, r) for k, _, r in rows if "_cpu_" in k]
    if cpu:
        best_key, best = min(cpu, key=lambda kr: kr[1]["p50_ms"])
        res["fastest_cpu_backend"] = best_key
        res["fastest_cpu_p50_ms"] = round(best["p50_ms"], 4)
        res["fastest_cpu_realtime_fraction"] = round(best["p50_ms"] / HOP_MS, 4)
        res["acceptance_cpu_p50_le_10ms"] = bool(best["p50_ms"] <= 10.0)
    res.update({"hardware": cpu_model() + (f" + {res['gpu']}" if "gpu" in res else "") + f" ({os.cpu_count()} cpus "
                "visible, 1 used)", "commit": git_commit("seld_ros/engine", "seld_ros/model", "benchmarks/bench_inference.py"), "python": platform.python_version(),
                "torch": torch.__version__, "onnxruntime": __import__("onnxruntime").__version__,
                "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    print(f"MACs per hop: {cost['macs'] / 1e6:.1f} M, params {cost['params'] / 1e6:.2f} M; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

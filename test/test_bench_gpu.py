"""benchmarks/bench_gpu.py: the summary it writes from the per-path figures (speed-ups, fastest path).

The GPU run itself needs a GPU (docs/BENCHMARKS.md, "GPU"); what is checked here is the arithmetic
and the bookkeeping that turn its flat per-path keys into the headline figures, on given numbers.
"""
import importlib.util
import math
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_gpu.py"
_spec = importlib.util.spec_from_file_location("bench_gpu", _PATH)
bench_gpu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_gpu)


def _ok(res, key, p50, **extra):
    res[f"{key}_status"] = "ok"
    res[f"{key}_p50_ms"] = p50
    res.update({f"{key}_{k}": v for k, v in extra.items()})


def test_speedup_is_eager_over_fastest_gpu_path():
    res = {}
    _ok(res, "torch_cpu_fp32", 7.0)
    _ok(res, "onnxruntime_cpu_fp32", 2.0)
    _ok(res, "torch_cuda_fp32", 4.0, parity_ok=True)
    _ok(res, "torch_cuda_fp16", 3.5, parity_ok=True)
    _ok(res, "torch_cuda_fp16_graphs", 0.8, parity_ok=True)
    res["tensorrt_fp16_status"] = "not run: tensorrt is not importable"
    res["tensorrt_fp16_p50_ms"] = 0.1  # a stale figure beside a not-run status must not count
    s = bench_gpu.summarize(res)
    assert s["fastest_gpu_path"] == "torch_cuda_fp16_graphs"
    assert s["fastest_gpu_p50_ms"] == 0.8
    assert s["gpu_speedup_vs_eager"] == pytest.approx(5.0)
    assert s["gpu_speedup_goal_met"] is True
    assert s["fastest_cpu_path"] == "onnxruntime_cpu_fp32"
    assert s["gpu_speedup_vs_best_cpu"] == pytest.approx(2.5)
    assert "incremental_fastest_gpu_path" not in s  # no incremental figures, no incremental summary


def test_failed_or_wrong_paths_do_not_count():
    res = {}
    _ok(res, "torch_cuda_fp32", 4.0, parity_ok=True)
    _ok(res, "torch_cuda_fp16", 0.5, parity_ok=False)  # fast but wrong: excluded
    res["torch_cuda_fp32_graphs_status"] = "failed: RuntimeError: operation not permitted when stream is capturing"
    res["torch_cuda_fp32_graphs_p50_ms"] = 0.2
    _ok(res, "onnxruntime_cuda_fp32", float("nan"))  # no usable figure
    _ok(res, "tensorrt_fp32", 2.0, parity_ok=True)
    s = bench_gpu.summarize(res)
    assert s["fastest_gpu_path"] == "tensorrt_fp32"
    assert s["gpu_speedup_vs_eager"] == pytest.approx(2.0)
    assert s["gpu_speedup_goal_met"] is False
    assert s["fastest_cpu_path"] is None and s["gpu_speedup_vs_best_cpu"] is None


def test_no_eager_figure_gives_no_speedup_and_cpu_only_gives_no_gpu_path():
    res = {}
    _ok(res, "torch_cuda_fp16_graphs", 0.8)
    s = bench_gpu.summarize(res)
    assert s["fastest_gpu_path"] == "torch_cuda_fp16_graphs"
    assert s["gpu_speedup_vs_eager"] is None and s["gpu_speedup_goal_met"] is None

    dry = {"torch_cuda_fp32_status": "not run: dry run (CPU only)"}
    _ok(dry, "onnxruntime_cpu_fp32", 1.9)
    s = bench_gpu.summarize(dry)
    assert s["fastest_gpu_path"] is None and s["gpu_speedup_vs_eager"] is None
    assert s["fastest_cpu_path"] == "onnxruntime_cpu_fp32" and s["fastest_cpu_p50_ms"] == 1.9
    assert bench_gpu.summarize({}) == {}


def test_incremental_and_window_figures_are_summarised_apart():
    res = {}
    _ok(res, "torch_cuda_fp32", 4.0)
    _ok(res, "torch_cuda_fp32_graphs", 1.0)
    _ok(res, "incremental_torch_cuda_fp32", 3.0)
    _ok(res, "incremental_torch_cuda_fp32_graphs", 0.3)
    s = bench_gpu.summarize(res)
    assert s["gpu_speedup_vs_eager"] == pytest.approx(4.0)
    assert s["incremental_gpu_speedup_vs_eager"] == pytest.approx(10.0)
    assert s["incremental_fastest_gpu_p50_ms"] == 0.3


def test_rel_error_and_precision_of_a_path():
    ref = {"a": [[1.0, 0.0], [0.0, 1.0]], "b": [3.0, 4.0]}
    rel, mx = bench_gpu.rel_error({"a": [[1.0, 0.0], [0.0, 1.0]], "b": [3.0, 4.5]}, ref)
    assert rel == pytest.approx(0.1) and mx == pytest.approx(0.5)
    rel, mx = bench_gpu.rel_error({"a": [[float("nan"), 0.0], [0.0, 1.0]], "b": [3.0, 4.0]}, ref)
    assert math.isinf(rel) and math.isinf(mx)
    assert bench_gpu.path_precision("torch_cuda_fp16_graphs") == "fp16"
    assert bench_gpu.path_precision("incremental_tensorrt_fp32") == "fp32"
    assert bench_gpu.path_precision("onnxruntime_trt_ep_fp32") == "fp32"
    assert bench_gpu.path_precision("torch_cuda_bf16") == "bf16"


def test_latency_stats():
    st = bench_gpu.latency_stats(list(range(1, 101)))
    assert st["p50_ms"] == pytest.approx(50.5) and st["max_ms"] == 100 and st["n"] == 100
    assert st["p99_ms"] == pytest.approx(99.01)

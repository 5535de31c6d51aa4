"""One-shot GPU benchmark: every inference path of the package on one GPU, plus the node's pipeline.

    bash benchmarks/bench_gpu.sh prepare          # here (network): scene bag + rosbags wheels into .gpu_carry/
    bash benchmarks/bench_gpu.sh run              # on the GPU machine (OUT=... is where results go)
    python benchmarks/bench_gpu.py --dry-run      # any machine: every step that needs no CUDA

Made for a short lease of a GPU machine (see docs/BENCHMARKS.md, "GPU"): one process, a time budget
(``--budget-s``), and every figure written to ``<out-dir>/bench_gpu.json`` the moment it is measured, so
a run cut short still brings back what it had. Steps:

1. environment: GPU (nvidia-smi, torch), driver, torch / CUDA / cuDNN, onnx, onnxruntime and its execution
   providers, onnxscript, TensorRT (``tensorrt``, ``tensorrt_lean``, ``tensorrt_rtx``), pycuda, rosbags;
2. per 100 ms hop p50/p99 of ``backend.infer`` (host numpy in, host numpy out: what the node pays) for
   the shipped default model as the node runs it (sliding window, one (1, 13, 100, 64) block per hop) on
   each path: torch CPU fp32 and onnxruntime CPU (1 thread, the reference), torch CUDA fp32 eager, fp16,
   bf16, CUDA graphs (fp32, fp16), onnxruntime CUDA EP (and TensorRT EP), TensorRT fp32/fp16 through
   ``seld_ros.engine.tensorrt_backend``; each path's outputs are compared with torch CPU fp32 on the same
   block (relative error), so a fast but wrong path shows;
3. the same for the incremental streaming model (one hop + explicit state per call) when the checkout
   has one (``seld_ros.engine.incremental``), found by feature, not assumed;
4. ``SeldPipeline`` (ROS-free, backend ``auto``, as the node builds it) over a scene bag: per-hop latency
   of ``push`` (features + network + decoder + tracker), x real time, DCASE scores against the bag's ground
   truth; and the same with the CPU onnxruntime backend as the reference;
5. summary: fastest GPU path, ``gpu_speedup_vs_eager`` = torch CUDA fp32 eager p50 / fastest GPU path p50
   (goal >= 3), and GPU vs best CPU path.

A path that cannot run is recorded as ``<path>_status = "not run: <reason>"``, never silently left out.
``--dry-run`` skips every CUDA path with that reason, even on a machine that has CUDA.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy / torch load

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

HOP_MS = 100.0
DEFAULT_BUNDLE = REPO / "seld_ros" / "models" / "default.pt"
DEFAULT_CARRY = REPO / ".gpu_carry"

# Every timed path, in the order it runs. CPU paths are the reference; the rest are GPU paths.
CPU_PATHS = ("torch_cpu_fp32", "onnxruntime_cpu_fp32")
GPU_PATHS = ("torch_cuda_fp32", "torch_cuda_fp16", "torch_cuda_bf16", "torch_cuda_fp32_graphs",
             "torch_cuda_fp16_graphs", "onnxruntime_cuda_fp32", "onnxruntime_trt_ep_fp32", "tensorrt_fp32",
             "tensorrt_fp16")
EAGER_PATH = "torch_cuda_fp32"
# model prefixes: "" = the shipped default as the node runs it today (sliding window), "incremental_" = the
# causal step with explicit state, when the checkout has it
MODEL_PREFIXES = ("", "incremental_")
# relative error ||out - ref|| / ||ref|| against torch CPU fp32 that a path must stay under (TF32 convolutions
# on Ampere+ put fp32 near 1e-3; half precision near 1e-2)
PARITY_TOLERANCE = {"fp32": 5e-3, "fp16": 5e-2, "bf16": 1e-1}
GOAL_SPEEDUP = 3.0
# What `pip download` found for a CPython 3.12 x86-64 GPU machine (2026-11, docs/BENCHMARKS.md "GPU"), written
# into the results when `import tensorrt` fails there, so the JSON says what was missing and why.
TENSORRT_MISSING = (
    "no TensorRT builder is obtainable: PyPI's tensorrt / tensorrt-cu13-libs 11.4.0.106 (libnvinfer + "
    "libnvonnxparser) is a 15 kB wheel_stub sdist that downloads the real wheel from NVIDIA's own index at install "
    "time (unreachable from this workplace); tensorrt-lean-cu13-libs 11.4.0.106 (44.4 MB, module tensorrt_lean) "
    "fits the 64 MiB carry but is a runtime only (no builder, no ONNX parser: it runs version-compatible plans built "
    "by full TensorRT); tensorrt-rtx-cu13-libs 1.7.1.116 is 95.2 MB (over the carry limit) and TensorRT-RTX supports "
    "compute capability 7.5/8.6/8.9/12.x, not the H200's 9.0. onnxruntime-gpu 1.31.1 (CUDA 13 build; its TensorRT EP "
    "needs libnvinfer.so.10) is 255.6 MB, over the 64 MiB carry limit")


# -- summary (pure: tested in test/test_bench_gpu.py) ---------------------------------------------

def path_precision(path: str) -> str:
    for p in ("fp16", "bf16", "fp32"):
        if f"_{p}" in path:
            return p
    return "fp32"


def summarize(res: dict) -> dict:
    """Speed-ups from the flat per-path keys of ``res`` (``<prefix><path>_p50_ms`` + ``_status == "ok"``).

    Per model prefix: the fastest GPU and CPU paths, ``gpu_speedup_vs_eager`` (torch CUDA fp32 eager p50 /
    fastest GPU path p50; None without an eager figure), ``gpu_speedup_vs_best_cpu`` and whether the 3x goal
    is met. Paths whose status is not "ok" or whose parity check failed do not count.
    """
    out: dict = {}
    for prefix in MODEL_PREFIXES:
        def ok(path, prefix=prefix):
            key = f"{prefix}{path}"
            p50 = res.get(f"{key}_p50_ms")
            return (res.get(f"{key}_status") == "ok" and isinstance(p50, (int, float)) and np.isfinite(p50)
                    and p50 > 0 and res.get(f"{key}_parity_ok", True) is not False)

        gpu = {p: float(res[f"{prefix}{p}_p50_ms"]) for p in GPU_PATHS if ok(p)}
        cpu = {p: float(res[f"{prefix}{p}_p50_ms"]) for p in CPU_PATHS if ok(p)}
        if not gpu and not cpu:
            continue
        fastest_gpu = min(gpu, key=gpu.get) if gpu else None
        fastest_cpu = min(cpu, key=cpu.get) if cpu else None
        out[f"{prefix}fastest_gpu_path"] = fastest_gpu
        out[f"{prefix}fastest_gpu_p50_ms"] = gpu[fastest_gpu] if gpu else None
        out[f"{prefix}fastest_cpu_path"] = fastest_cpu
        out[f"{prefix}fastest_cpu_p50_ms"] = cpu[fastest_cpu] if cpu else None
        speedup = gpu[EAGER_PATH] / gpu[fastest_gpu] if EAGER_PATH in gpu else None
        out[f"{prefix}gpu_speedup_vs_eager"] = round(speedup, 3) if speedup is not None else None
        out[f"{prefix}gpu_speedup_goal_met"] = bool(speedup >= GOAL_SPEEDUP) if speedup is not None else None
        vs_cpu = cpu[fastest_cpu] / gpu[fastest_gpu] if gpu and cpu else None
        out[f"{prefix}gpu_speedup_vs_best_cpu"] = round(vs_cpu, 3) if vs_cpu is not None else None
    return out


def latency_stats(ms) -> dict:
    ms = np.asarray(ms, dtype=np.float64)
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "max_ms": float(ms.max()), "mean_ms": float(ms.mean()), "n": int(ms.size)}


def rel_error(outs: dict, ref: dict) -> tuple:
    """(max over outputs of ||out - ref|| / ||ref||, max abs difference); NaN/inf give inf."""
    worst_rel, worst_abs = 0.0, 0.0
    for name, r in ref.items():
        o = np.asarray(outs[name], dtype=np.float64)
        r = np.asarray(r, dtype=np.float64)
        if not np.all(np.isfinite(o)):
            return float("inf"), float("inf")
        d = o - r
        worst_abs = max(worst_abs, float(np.max(np.abs(d))) if d.size else 0.0)
        worst_rel = max(worst_rel, float(np.linalg.norm(d) / max(np.linalg.norm(r), 1e-12)))
    return worst_rel, worst_abs


# -- results file: flat JSON, rewritten after every figure ------------------------------------------

class Results(dict):
    def __init__(self, path: Path):
        super().__init__()
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def save(self) -> None:
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self, indent=1, sort_keys=True, default=str) + "\n")
        os.replace(tmp, self.path)

    def put(self, **kv) -> None:
        self.update(kv)
        self.save()


class Budget:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


def say(msg: str) -> None:
    print(msg, flush=True)


# -- 1. environment ------------------------------------------------------------------------------

def _common():
    """benchmarks/common.py, loaded by path: a site-packages package named ``benchmarks`` (some wheels ship one)
    would shadow this folder, which has no __init__.py, on a machine we cannot inspect beforehand."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("seld_benchmarks_common", REPO / "benchmarks" / "common.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(cmd, timeout=20) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout).stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        return f"error: {e}"


def _version(module: str):
    try:
        mod = __import__(module)
        return getattr(mod, "__version__", "importable"), "ok"
    except Exception as e:  # ImportError, or OSError from a broken native library
        return None, f"{type(e).__name__}: {e}"


def commit_id() -> str:
    sha = _common().git_commit("seld_ros", "benchmarks/bench_gpu.py")
    if sha != "unknown":
        return sha
    f = DEFAULT_CARRY / "commit.txt"  # the tree travels to the GPU machine without .git: prepare wrote it
    return f.read_text().strip() if f.is_file() else "unknown"


def environment(res: Results, dry_run: bool) -> bool:
    """Fill the environment keys; True when torch sees a CUDA GPU we may use."""
    import torch
    cpu_model = _common().cpu_model

    res.put(python=platform.python_version(), platform=platform.platform(), cpu_model=cpu_model(),
            cpu_count=os.cpu_count(), numpy=np.__version__, torch=torch.__version__,
            torch_cuda_build=torch.version.cuda, commit=commit_id(), dry_run=dry_run,
            load_avg_1min_before=round(os.getloadavg()[0], 2),
            date_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    smi = _run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,"
                "temperature.gpu,power.draw,compute_mode", "--format=csv,noheader"])
    res.put(nvidia_smi=smi or "no output")
    cuda = bool(torch.cuda.is_available())
    res.put(torch_cuda_available=cuda)
    if cuda:
        try:
            props = torch.cuda.get_device_properties(0)
            cc = torch.cuda.get_device_capability(0)
            res.put(gpu_name=torch.cuda.get_device_name(0), gpu_compute_capability=f"{cc[0]}.{cc[1]}",
                    gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    gpu_multiprocessors=props.multi_processor_count)
        except Exception as e:  # noqa: BLE001 - say so and let the paths report what fails
            res.put(gpu_name=None, gpu_status=f"torch sees CUDA but the device query failed: {e}")
        for key, get in (("cudnn", lambda: torch.backends.cudnn.version()),
                         ("tf32_matmul", lambda: torch.backends.cuda.matmul.allow_tf32),
                         ("tf32_cudnn", lambda: torch.backends.cudnn.allow_tf32)):
            try:
                res.put(**{key: get()})
            except Exception as e:  # noqa: BLE001
                res.put(**{key: f"unknown ({type(e).__name__})"})
    else:
        res.put(gpu_name=None, gpu_status=f"torch {torch.__version__} sees no CUDA device")
    for mod in ("onnx", "onnxscript", "onnxruntime", "tensorrt", "tensorrt_lean", "tensorrt_rtx", "pycuda",
                "rosbags"):
        v, why = _version(mod)
        res.put(**{mod: v, f"{mod}_import": why})
    if res.get("tensorrt") is None:
        res.put(tensorrt_missing=TENSORRT_MISSING)
    try:
        import onnxruntime as ort
        providers = ort.get_available_providers()
        res.put(onnxruntime_providers=",".join(providers), onnxruntime_device=ort.get_device())
    except Exception as e:  # noqa: BLE001
        res.put(onnxruntime_providers=f"error: {e}")
    from seld_ros.engine.factory import probe_backends
    for name, (ok, why) in probe_backends().items():
        res.put(**{f"probe_{name}": why if ok else f"unavailable: {why}"})
    say(f"GPU: {res.get('gpu_name') or 'none'} | nvidia-smi: {smi or '-'}")
    say(f"torch {torch.__version__} (CUDA build {torch.version.cuda}, cuDNN {res.get('cudnn')}), onnxruntime "
        f"{res.get('onnxruntime')} [{res.get('onnxruntime_providers')}], tensorrt: "
        f"{res.get('tensorrt') or res.get('tensorrt_import')}")
    return cuda and not dry_run


# -- 2./3. inference paths -------------------------------------------------------------------------

def load_default_model(bundle: str | None):
    from seld_ros.engine.bundle_adapter import load_network
    path = Path(bundle) if bundle else DEFAULT_BUNDLE
    net = load_network(str(path))
    return net.model, f"{path.name} ({(net.bundle_hash or '?')[:12]})", net.bundle_hash


def incremental_network(model):
    """(step module, description) for the incremental streaming model, or (None, why not).

    Found by feature: ``seld_ros.engine.incremental`` with ``is_causal`` and ``stateful_step``. The shipped
    bundle is used when it is causal; otherwise the same architecture with ``causal: true`` and random
    weights (the cost does not depend on the weights).
    """
    try:
        from seld_ros.engine import incremental as inc
    except ImportError as e:
        return None, f"not in this checkout (seld_ros.engine.incremental: {e})"
    if not (hasattr(inc, "is_causal") and hasattr(inc, "stateful_step")):
        return None, "seld_ros.engine.incremental has no is_causal/stateful_step"
    if inc.is_causal(model):
        return inc.stateful_step(model), "shipped bundle (causal)"
    try:
        import torch
        from seld_ros.model import build_model
        torch.manual_seed(0)
        causal = build_model({**dict(model.config), "causal": True}).eval()
    except Exception as e:  # noqa: BLE001
        return None, f"the shipped architecture cannot be built causal ({type(e).__name__}: {e})"
    if not inc.is_causal(causal):
        return None, "the shipped architecture with causal: true is not causal (is_causal False)"
    return inc.stateful_step(causal), "shipped architecture, causal: true, random weights"


class PathRunner:
    """Loads, checks and times one path after another, writing each figure as it comes."""

    def __init__(self, res: Results, budget: Budget, iters: int, warmup: int):
        self.res, self.budget, self.iters, self.warmup = res, budget, iters, warmup

    def skip(self, key: str, why: str) -> None:
        self.res.put(**{f"{key}_status": f"not run: {why}"})
        say(f"  {key:<40} not run: {why}")

    def run(self, key: str, make, block: dict, ref: dict | None, need_s: float = 10.0):
        if self.budget.left() < need_s:
            return self.skip(key, f"time budget left {self.budget.left():.0f} s < {need_s:.0f} s needed")
        t0 = time.perf_counter()
        backend = None
        try:
            backend = make()
            load_s = time.perf_counter() - t0
            outs = backend.infer(block)
            fields = {f"{key}_load_s": round(load_s, 2)}
            if ref is not None:
                rel, mx = rel_error(outs, ref)
                tol = PARITY_TOLERANCE[path_precision(key)]
                fields.update({f"{key}_rel_error": rel, f"{key}_max_abs_diff": mx,
                               f"{key}_parity_ok": bool(rel <= tol), f"{key}_parity_tolerance": tol})
            for _ in range(self.warmup):
                backend.infer(block)
            ms = np.empty(self.iters)
            for i in range(self.iters):
                t = time.perf_counter()
                backend.infer(block)  # host arrays in and out: includes H2D, D2H and the sync on GPU paths
                ms[i] = (time.perf_counter() - t) * 1e3
            st = latency_stats(ms)
            fields.update({f"{key}_{k}": (round(v, 4) if isinstance(v, float) else v) for k, v in st.items()})
            fields[f"{key}_realtime_fraction"] = round(st["p50_ms"] / HOP_MS, 5)
            info = backend.info()
            fields[f"{key}_device"] = info.get("device")
            fields[f"{key}_status"] = "ok"
            self.res.put(**fields)
            flag = "" if fields.get(f"{key}_parity_ok", True) else "  PARITY FAILED"
            say(f"  {key:<40} p50 {st['p50_ms']:8.3f} ms  p99 {st['p99_ms']:8.3f} ms  rel.err "
                f"{fields.get(f'{key}_rel_error', 0):.1e}{flag}")
            return outs
        except Exception as e:  # noqa: BLE001 - a failing path is a result, not the end of the run
            self.res.put(**{f"{key}_status": f"failed: {type(e).__name__}: {e}",
                            f"{key}_traceback": traceback.format_exc(limit=6)[-2000:]})
            say(f"  {key:<40} FAILED: {type(e).__name__}: {e}")
            return None
        finally:
            if backend is not None:
                try:
                    backend.close()
                except Exception:  # noqa: BLE001
                    pass


def time_model(runner: PathRunner, prefix: str, model, frames: int, bundle_hash, gpu: bool, dry_run: bool,
               work: Path) -> None:
    import torch
    from seld_ros.engine.export import export_onnx
    from seld_ros.engine.onnxruntime_backend import OnnxRuntimeBackend
    from seld_ros.engine.torch_backend import TorchBackend
    from seld_ros.engine.tensorrt_backend import probe as trt_probe

    res = runner.res
    rng = np.random.default_rng(0)
    shapes = [tuple(e.shape) for e in model.example_inputs(1, frames)]
    block = {n: rng.standard_normal(s).astype(np.float32) for n, s in zip(model.input_names, shapes)}
    res.put(**{f"{prefix}block_shapes": {n: list(s) for n, s in zip(model.input_names, shapes)}})
    try:
        from seld_ros.engine.profile import count_macs
        if len(model.input_names) == 1:
            cost = count_macs(model, frames)
            res.put(**{f"{prefix}model_params": cost["params"], f"{prefix}model_macs_per_hop": cost["macs"]})
    except Exception as e:  # noqa: BLE001
        res.put(**{f"{prefix}model_macs_status": f"not counted: {e}"})

    onnx_path = str(work / f"{prefix or 'window_'}model.onnx")
    t0 = time.perf_counter()
    try:
        rep = export_onnx(model, onnx_path, frames, bundle_hash=bundle_hash)
        res.put(**{f"{prefix}onnx_export_s": round(time.perf_counter() - t0, 2),
                   f"{prefix}onnx_parity_max_abs_diff": rep.max_abs_diff, f"{prefix}onnx_status": "ok"})
    except Exception as e:  # noqa: BLE001
        onnx_path = None
        res.put(**{f"{prefix}onnx_status": f"failed: {type(e).__name__}: {e}"})
        say(f"  ONNX export failed: {e}")

    ref = runner.run(f"{prefix}torch_cpu_fp32", lambda: TorchBackend().load(model, frames, num_threads=1),
                     block, None)
    if onnx_path:
        runner.run(f"{prefix}onnxruntime_cpu_fp32", lambda: OnnxRuntimeBackend().load(onnx_path, num_threads=1),
                   block, ref)
    else:
        runner.skip(f"{prefix}onnxruntime_cpu_fp32", "no ONNX (export failed)")

    no_gpu = "dry run (CPU only)" if dry_run else "torch has no CUDA device"
    for path, prec, graphs in (("torch_cuda_fp32", "fp32", False), ("torch_cuda_fp16", "fp16", False),
                               ("torch_cuda_bf16", "bf16", False), ("torch_cuda_fp32_graphs", "fp32", True),
                               ("torch_cuda_fp16_graphs", "fp16", True)):
        if not gpu:
            runner.skip(prefix + path, no_gpu)
            continue
        runner.run(prefix + path, lambda prec=prec, graphs=graphs: TorchBackend().load(
            model, frames, device="cuda", precision=prec, cuda_graphs=graphs), block, ref)
        res.put(**{f"{prefix}{path}_cuda_graphs": graphs})
        torch.cuda.empty_cache()

    providers = []
    try:
        import onnxruntime as ort
        providers = ort.get_available_providers()
    except ImportError:
        pass
    for path, ep in (("onnxruntime_cuda_fp32", "CUDAExecutionProvider"),
                     ("onnxruntime_trt_ep_fp32", "TensorrtExecutionProvider")):
        if not gpu:
            runner.skip(prefix + path, no_gpu)
        elif ep not in providers:
            runner.skip(prefix + path, f"this onnxruntime has no {ep} (providers: {', '.join(providers)}); "
                                       "it comes with onnxruntime-gpu")
        elif not onnx_path:
            runner.skip(prefix + path, "no ONNX (export failed)")
        else:
            eps = [ep, "CUDAExecutionProvider", "CPUExecutionProvider"] if ep != "CUDAExecutionProvider" else \
                [ep, "CPUExecutionProvider"]
            runner.run(prefix + path, lambda eps=eps: OnnxRuntimeBackend().load(onnx_path, providers=eps),
                       block, ref, need_s=60.0 if "trt" in path else 10.0)

    ok, why = trt_probe()
    for path, fp16 in (("tensorrt_fp32", False), ("tensorrt_fp16", True)):
        if not gpu:
            runner.skip(prefix + path, no_gpu)
        elif not ok:
            runner.skip(prefix + path, why)
        elif not onnx_path:
            runner.skip(prefix + path, "no ONNX (export failed)")
        else:
            from seld_ros.engine.tensorrt_backend import TensorRTBackend
            plan = str(work / f"{prefix or 'window_'}{path}.plan")
            runner.run(prefix + path, lambda fp16=fp16, plan=plan: TensorRTBackend().load(
                onnx_path, plan, enable_fp16=fp16, bundle_hash=bundle_hash), block, ref, need_s=120.0)


# -- 4. the node's pipeline over a bag ---------------------------------------------------------------

def run_pipeline(res: Results, budget: Budget, key: str, bag: Path, backend: str, work: Path) -> None:
    from seld_ros.bag.evaluate import evaluate_bag
    from seld_ros.pipeline import PipelineConfig, SeldPipeline

    if budget.left() < 30:
        res.put(**{f"{key}_status": f"not run: time budget left {budget.left():.0f} s"})
        return
    t0 = time.perf_counter()
    pipe = SeldPipeline(PipelineConfig(backend=backend, num_threads=1, onnx_cache_dir=str(work / "pipe_cache")))
    load_s = time.perf_counter() - t0
    times = []
    push = pipe.push

    def timed_push(chunk):
        t = time.perf_counter()
        try:
            return push(chunk)
        finally:
            times.append((time.perf_counter() - t) * 1e3)

    pipe.push = timed_push  # evaluate_bag drives the pipeline exactly as seld-eval-bag does; we time each push
    r = evaluate_bag(bag, out_dir=None, pipeline=pipe, plot=False)
    info = pipe.info()
    st = latency_stats(times[5:] if len(times) > 20 else times)  # the first pushes fill buffers / warm up
    fields = {f"{key}_{k}": (round(v, 4) if isinstance(v, float) else v) for k, v in st.items()}
    macro = r.scores.macro if r.scores is not None else {}
    fields.update({
        f"{key}_backend": info.get("backend"), f"{key}_device": info.get("backend_info", {}).get("device"),
        f"{key}_precision": info.get("backend_info", {}).get("precision"),
        f"{key}_mode": getattr(pipe, "mode", "sliding window"), f"{key}_load_s": round(load_s, 2),
        f"{key}_audio_s": r.audio_seconds, f"{key}_frames": len(r.frames), f"{key}_x_realtime": r.x_realtime,
        f"{key}_x_realtime_pipeline": r.x_realtime_pipeline, f"{key}_first_push_ms": round(times[0], 3),
        f"{key}_macro_f20": macro.get("f"), f"{key}_macro_doae_deg": macro.get("doa_error"),
        f"{key}_event_frames": sum(len(f.events) for f in r.frames), f"{key}_status": "ok"})
    res.put(**fields)
    say(f"  pipeline {backend:<12} -> {fields[f'{key}_backend']} on {fields[f'{key}_device']} "
        f"({fields[f'{key}_precision']}, {fields[f'{key}_mode']}): push p50 {st['p50_ms']:.3f} ms, p99 "
        f"{st['p99_ms']:.3f} ms per 100 ms hop; {r.x_realtime:.1f}x real time; macro F20 "
        f"{macro.get('f', float('nan')):.3f}, DOAE {macro.get('doa_error', float('nan')):.1f} deg")


# -- main --------------------------------------------------------------------------------------------

def print_summary(res: dict) -> None:
    say("\n== summary (ms per 100 ms hop, backend.infer, batch 1) ==")
    say(f"GPU: {res.get('gpu_name') or 'none'}  torch {res.get('torch')}  CUDA {res.get('torch_cuda_build')}  "
        f"onnxruntime {res.get('onnxruntime')}  tensorrt {res.get('tensorrt') or 'not importable'}")
    for prefix in MODEL_PREFIXES:
        rows = [(p, res.get(f"{prefix}{p}_status")) for p in CPU_PATHS + GPU_PATHS]
        if not any(s for _, s in rows):
            continue
        say(f"-- {'incremental model (one hop + state)' if prefix else 'default model, sliding window'}")
        for p, status in rows:
            k = prefix + p
            if status == "ok":
                say(f"   {p:<26} p50 {res[k + '_p50_ms']:8.3f}  p99 {res[k + '_p99_ms']:8.3f}"
                    + ("" if res.get(k + "_parity_ok", True) else "  (parity FAILED)"))
            else:
                say(f"   {p:<26} {str(status)[:110]}")
        su = res.get(f"{prefix}gpu_speedup_vs_eager")
        say(f"   fastest GPU: {res.get(prefix + 'fastest_gpu_path')}; gpu_speedup_vs_eager: {su}; "
            f"vs best CPU ({res.get(prefix + 'fastest_cpu_path')}): {res.get(prefix + 'gpu_speedup_vs_best_cpu')}")
    for key in ("pipeline_auto", "pipeline_cpu"):
        if res.get(f"{key}_status") == "ok":
            say(f"-- {key}: backend {res[key + '_backend']} ({res[key + '_device']}), push p50 "
                f"{res[key + '_p50_ms']:.3f} p99 {res[key + '_p99_ms']:.3f} ms/hop, "
                f"{res[key + '_x_realtime']:.1f}x real time, macro F20 {res.get(key + '_macro_f20') or float('nan'):.3f}")
        elif res.get(f"{key}_status"):
            say(f"-- {key}: {res[key + '_status']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="skip every CUDA path (recorded as not run)")
    ap.add_argument("--out-dir", default=os.environ.get("OUT") or str(REPO / "benchmarks" / "results"))
    ap.add_argument("--json-name", default=None,
                    help="file name in --out-dir (default bench_gpu.json; bench_gpu_dryrun.json with --dry-run)")
    ap.add_argument("--bundle", default=None, help="model bundle (default: the shipped default)")
    ap.add_argument("--bag", default=str(DEFAULT_CARRY / "scene"), help="scene bag for the pipeline run")
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--budget-s", type=float, default=240.0, help="stop starting new steps after this")
    ap.add_argument("--skip-pipeline", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    budget = Budget(args.budget_s)
    name = args.json_name or ("bench_gpu_dryrun.json" if args.dry_run else "bench_gpu.json")
    res = Results(Path(args.out_dir) / name)
    t_start = time.perf_counter()

    import torch
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="bench_gpu_") as tmp:
        work = Path(tmp)
        os.environ.setdefault("XDG_CACHE_HOME", str(work / "cache"))  # nothing into the user's home
        say("== 1. environment")
        gpu = environment(res, args.dry_run)

        say("== 2. default model as the node runs it (sliding window), per 100 ms hop")
        model, desc, bundle_hash = load_default_model(args.bundle)
        from seld_ros.engine.streaming_defaults import DEFAULT_WINDOW_FRAMES
        frames = DEFAULT_WINDOW_FRAMES
        res.put(model=desc, block_frames=frames, context_seconds=frames * 0.02, batch=1, cpu_threads=1,
                iters=args.iters, warmup=args.warmup)
        runner = PathRunner(res, budget, args.iters, args.warmup)
        time_model(runner, "", model, frames, bundle_hash, gpu, args.dry_run, work)
        res.put(**summarize(res))

        say("== 3. incremental streaming model (one hop + explicit state per call)")
        step, why = incremental_network(model)
        if step is None:
            res.put(incremental_status=f"not run: {why}")
            say(f"  not run: {why}")
        else:
            from seld_ros.engine.streaming_defaults import LABEL_HOP_FRAMES
            res.put(incremental_status="ok", incremental_model=why)
            time_model(runner, "incremental_", step, LABEL_HOP_FRAMES, None, gpu, args.dry_run, work)
            res.put(**summarize(res))

        say("== 4. SeldPipeline over a scene bag (per-hop push latency)")
        bag = Path(args.bag)
        if args.skip_pipeline:
            res.put(pipeline_auto_status="not run: --skip-pipeline")
        elif not bag.exists():
            res.put(pipeline_auto_status=f"not run: no scene bag at {bag} (bash benchmarks/bench_gpu.sh prepare)")
        elif res.get("rosbags") is None:
            res.put(pipeline_auto_status=f"not run: rosbags not importable ({res.get('rosbags_import')})")
        else:
            for key, backend in (("pipeline_auto", "auto"), ("pipeline_cpu", "onnxruntime")):
                try:
                    run_pipeline(res, budget, key, bag, backend, work)
                except Exception as e:  # noqa: BLE001
                    res.put(**{f"{key}_status": f"failed: {type(e).__name__}: {e}",
                               f"{key}_traceback": traceback.format_exc(limit=6)[-2000:]})
                    say(f"  pipeline {backend} FAILED: {e}")
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
        if res.get("pipeline_auto_status") and res["pipeline_auto_status"] != "ok":
            say(f"  {res['pipeline_auto_status']}")

    res.put(**summarize(res), total_s=round(time.perf_counter() - t_start, 1),
            load_avg_1min_after=round(os.getloadavg()[0], 2),
            hardware=f"{res.get('cpu_model')} ({res.get('cpu_count')} cpus visible, 1 thread used)"
            + (f" + {res['gpu_name']}" if res.get("gpu_name") else " (no GPU)"))
    print_summary(res)
    say(f"wrote {res.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

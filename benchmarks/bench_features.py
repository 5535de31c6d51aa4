"""Cost of the FOA front end per 100 ms hop on one CPU core: streaming extractor vs recomputing a 2 s window.

    .venv/bin/python benchmarks/bench_features.py            # prints a table, writes results/bench_features.json

Streaming: ``StreamingFoaFeatures.push`` of one 100 ms chunk (4 ch, 24 kHz, 2400 samples) -> 5 new frames of the
13-channel feature set. Recompute: ``FoaFeatures.compute`` over the last 2 s (48 000 samples -> 100 frames), what a
node without streaming state would do every hop. Single-threaded: thread pools are pinned to 1 before numpy loads
and the process is bound to one core.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # must precede the numpy import

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import cpu_model, git_commit  # noqa: E402
from seld_ros.audio import RingBuffer  # noqa: E402
from seld_ros.features import FeatureConfig, FoaFeatures, StreamingFoaFeatures  # noqa: E402

HOP_SAMPLES = 2400  # 100 ms at 24 kHz
WINDOW_SAMPLES = 48000  # 2 s recompute window


def time_per_call_ms(fn, calls: int, warmup: int) -> np.ndarray:
    for i in range(warmup):
        fn(i)
    out = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter_ns()
        fn(warmup + i)
        out[i] = (time.perf_counter_ns() - start) / 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hops", type=int, default=3000, help="timed streaming hops (100 ms each)")
    parser.add_argument("--recompute-hops", type=int, default=300, help="timed recompute hops")
    parser.add_argument("--feature-set", default="logmel+iv+phase")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench_features.json")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    try:  # torch is not used here, but pin it too in case an import pulled it in
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass

    cfg = FeatureConfig(feature_set=args.feature_set)
    warmup = 50
    total_hops = max(args.hops, args.recompute_hops) + warmup + WINDOW_SAMPLES // HOP_SAMPLES
    audio = (0.1 * np.random.default_rng(0).standard_normal((4, total_hops * HOP_SAMPLES))).astype(np.float32)
    chunks = [audio[:, i * HOP_SAMPLES : (i + 1) * HOP_SAMPLES] for i in range(total_hops)]

    streamer = StreamingFoaFeatures(cfg)
    streaming_ms = time_per_call_ms(lambda i: streamer.push(chunks[i]), args.hops, warmup)

    # The node's full per-hop work before the network: ring-buffer write (gap check) + streaming features.
    ring, node_streamer = RingBuffer(4, WINDOW_SAMPLES), StreamingFoaFeatures(cfg)

    def node_hop(i: int) -> None:
        ring.write(chunks[i], first_sample_index=i * HOP_SAMPLES)
        node_streamer.push(chunks[i])

    node_ms = time_per_call_ms(node_hop, args.hops, warmup)

    batch = FoaFeatures(cfg)
    offset = WINDOW_SAMPLES // HOP_SAMPLES
    recompute_ms = time_per_call_ms(
        lambda i: batch.compute(audio[:, (i + 1 + offset) * HOP_SAMPLES - WINDOW_SAMPLES : (i + 1 + offset) * HOP_SAMPLES]),
        args.recompute_hops, warmup=10,
    )

    results = {
        "features_ms_per_hop_p50": round(float(np.percentile(streaming_ms, 50)), 4),
        "features_ms_per_hop_p99": round(float(np.percentile(streaming_ms, 99)), 4),
        "ring_buffer_plus_features_ms_per_hop_p50": round(float(np.percentile(node_ms, 50)), 4),
        "recompute_ms_per_hop_p50": round(float(np.percentile(recompute_ms, 50)), 4),
        "recompute_ms_per_hop_p99": round(float(np.percentile(recompute_ms, 99)), 4),
        "recompute_ratio": round(float(np.percentile(recompute_ms, 50) / np.percentile(streaming_ms, 50)), 2),
        "realtime_factor": round(100.0 / float(np.percentile(streaming_ms, 50)), 1),
        "feature_set": cfg.feature_set,
        "feature_channels": cfg.num_channels,
        "hop_ms": 100,
        "recompute_window_s": WINDOW_SAMPLES / cfg.sample_rate,
        "streaming_hops_timed": args.hops,
        "recompute_hops_timed": args.recompute_hops,
        "threads": 1,
        "hardware": f"{cpu_model()}, 1 core pinned, {os.cpu_count()} logical CPUs visible",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "commit": git_commit("seld_ros/audio", "seld_ros/features", "benchmarks/bench_features.py"),
    }
    print(f"FOA features ({cfg.feature_set}, {cfg.num_channels} ch), one 100 ms hop, 1 thread, {results['hardware']}")
    print(f"  streaming push          p50 {results['features_ms_per_hop_p50']:.3f} ms   "
          f"p99 {results['features_ms_per_hop_p99']:.3f} ms")
    print(f"  ring buffer + streaming p50 {results['ring_buffer_plus_features_ms_per_hop_p50']:.3f} ms")
    print(f"  recompute 2 s window    p50 {results['recompute_ms_per_hop_p50']:.3f} ms   "
          f"p99 {results['recompute_ms_per_hop_p99']:.3f} ms")
    print(f"  recompute / streaming   {results['recompute_ratio']:.1f}x   (streaming runs {results['realtime_factor']}x "
          "faster than real time)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

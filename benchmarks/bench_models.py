"""Parameter counts, MMAC per second of audio and CPU latency of the SELD networks.

    .venv/bin/python benchmarks/bench_models.py [--bundle seld_ros/models/default.pt]

MACs are counted with torch.utils.flop_counter (FLOPs / 2) on a 5 s input plus
an analytic count for GRU layers (which the counter does not see), divided by
5 to give MMAC per second of audio. Writes benchmarks/results/bench_models.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from seld_ros.model import build_model, count_parameters  # noqa: E402

SECONDS = 5.0
FRAMES = int(SECONDS * 50)  # 20 ms feature frames


def gru_macs(model, frames_out: int) -> int:
    total = 0
    for m in model.modules():
        if isinstance(m, torch.nn.GRU):
            dirs = 2 if m.bidirectional else 1
            h = m.hidden_size
            for layer in range(m.num_layers):
                inp = m.input_size if layer == 0 else h * dirs
                total += dirs * frames_out * 3 * (inp * h + h * h)
    return total


def measure(model, threads: int = 1, reps: int = 5) -> dict:
    model.eval()
    (x,) = model.example_inputs(1, FRAMES)
    with FlopCounterMode(display=False) as fc:
        with torch.no_grad():
            model(x)
    macs = fc.get_total_flops() / 2 + gru_macs(model, FRAMES // 5)
    torch.set_num_threads(threads)
    with torch.no_grad():
        model(x)
        t = []
        for _ in range(reps):
            t0 = time.perf_counter()
            model(x)
            t.append(time.perf_counter() - t0)
    t.sort()
    return {"params": count_parameters(model), "mmac_per_s": macs / 1e6 / SECONDS,
            "cpu_ms_per_5s_window_p50": 1000 * t[len(t) // 2], "threads": threads}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_models.json"))
    args = ap.parse_args(argv)
    models = {
        "at2seld_default": {"name": "at2seld", "backbone": {"arch": "slim"}, "num_classes": 13},
        "at2seld_multi_accdoa": {"name": "at2seld", "head": {"mode": "multi_accdoa"}},
        "at2seld_conformer": {"name": "at2seld", "temporal": {"kind": "conformer", "layers": 2}},
        "at2seld_early_fusion": {"name": "at2seld", "fusion": {"mode": "early"}},
        "at2seld_cnn10_backbone": {"name": "at2seld", "backbone": {"arch": "cnn10"}},
        "at2seld_cnn14_backbone": {"name": "at2seld", "backbone": {"arch": "cnn14"},
                                   "spatial_channels": [16, 32, 64, 64, 64, 64]},
        "dcase_baseline_crnn": {"name": "dcase_baseline", "in_channels": 7},
    }
    res = {}
    for name, cfg in models.items():
        torch.manual_seed(0)
        r = measure(build_model(cfg), reps=3 if "cnn14" in name else 5)
        print(f"{name:28s} params {r['params'] / 1e6:7.3f} M  {r['mmac_per_s']:9.1f} MMAC/s  "
              f"CPU {r['cpu_ms_per_5s_window_p50']:8.1f} ms / 5 s window (1 thread)")
        for k, v in r.items():
            res[f"{name}_{k}"] = round(v, 3) if isinstance(v, float) else v
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent).stdout.strip()
    except Exception:  # noqa: BLE001
        commit = "unknown"
    res["hardware"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}"
    res["commit"] = commit
    res["input_seconds"] = SECONDS
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

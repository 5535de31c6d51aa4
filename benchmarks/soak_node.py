#!/usr/bin/env python3
"""Soak: the installed seld_node fed in real time over DDS for a long run (default 15 min).

Publishes 100 ms FOA chunks at real time into a node with the shipped parameters (live mode) and records the node's
resident memory (VmRSS, from /proc) every 10 s, its CPU use, every output frame and the last diagnostics. Passing:
RSS growth after warm-up < 5 MB and no missing frames (and diagnostics still OK). Not a test: it runs for minutes.

Run after `bash scripts/setup.sh && source scripts/env.sh`:
    nice python benchmarks/soak_node.py [--minutes 15] [--bundle B] [--backend auto]
Writes benchmarks/results/soak_node.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_faults import HOP, NodeRun, noise  # noqa: E402  (sets the ROS environment)
from benchmarks.common import cpu_model, git_commit  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=15.0)
    ap.add_argument("--warmup-s", type=float, default=60.0, help="RSS growth is measured from the end of this")
    ap.add_argument("--bundle", default="")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/soak_node.json"))
    a = ap.parse_args()

    import rclpy

    rclpy.init()
    me = rclpy.create_node("soak_driver")
    params = {"backend": a.backend, "diagnostics_period_s": 1.0}
    if a.bundle:
        params["model_file_path"] = a.bundle
    run = NodeRun(me, "/soak", params, tempfile.mkdtemp(prefix="seld_soak_"))
    if not run.wait_ready():
        print(run.finish()["log"][-3000:])
        return 2
    run.spin(2.0)
    x = noise(60.0, scale=0.05)  # one minute of audio, repeated with continuing sample indices
    per_loop = len(x) // HOP
    n = int(a.minutes * 60 * 10)
    rss, sent_at = [], {}
    pid = run.proc.pid
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    next_rss = t0
    rss_warm = None
    for k in range(n):
        due = t0 + 0.1 * k
        while time.monotonic() < due:
            rclpy.spin_once(me, timeout_sec=max(0.0, min(0.01, due - time.monotonic())))
        j = k % per_loop
        run.send(x[HOP * j:HOP * (j + 1)], HOP * k)
        sent_at[k] = time.monotonic()
        if time.monotonic() >= next_rss:
            rss.append((round(time.monotonic() - t0, 1), round(rss_mb(pid), 2)))
            next_rss += 10.0
            if rss_warm is None and time.monotonic() - t0 >= a.warmup_s:
                rss_warm = rss[-1][1]
    wall = time.monotonic() - t0
    cpu = cpu_seconds(pid) - cpu0
    run.spin(5.0, lambda: len({m.frame_index for m in run.events}) >= n)
    rss_end = rss_mb(pid)
    recv = {}
    for m in run.events:
        recv.setdefault(m.frame_index, m)
    diag = dict(run.diags[-1]) if run.diags else {}
    end = run.finish(settle_s=1.0)
    me.destroy_node()
    rclpy.shutdown()
    missing = sorted(set(range(n)) - set(recv))
    lat = np.array([float(diag.get("latency_ms_p99", "nan"))])
    res = {
        "minutes": round(wall / 60, 2), "frames_sent": n, "frames_received": len(recv), "missing_frames": len(missing),
        "rss_mb_after_warmup": rss_warm, "rss_mb_end": round(rss_end, 2),
        "rss_growth_mb": round(rss_end - (rss_warm if rss_warm is not None else rss[0][1]), 2),
        "node_cpu_percent_of_one_core": round(100.0 * cpu / wall, 2),
        "latency_ms_p99_last_diag": float(lat[0]), "diagnostics_level_last": diag.get("_level"),
        "lost_audio_s": float(diag.get("lost_audio_s", "nan")), "backend": diag.get("backend", "?"),
        # noise holds no sound event: every event published is a false one
        "false_events": sum(len(m.events) for m in recv.values()),
        **{k: int(diag.get(k, -1)) for k in ("publisher_restarts", "start_gaps", "segment_tails", "gaps", "skips",
                                              "dds_missed_messages", "chunks_dropped", "concealed_frames")},
        "node_exit_code": end["rc"], "rss_samples": rss, "cpu": cpu_model(),
        "commit": git_commit("seld_ros", "benchmarks/soak_node.py"),
    }
    res["passed"] = bool(res["rss_growth_mb"] < 5.0 and not missing)
    print(f"soak {res['minutes']:.1f} min: frames {len(recv)}/{n} (missing {len(missing)}), RSS "
          f"{res['rss_mb_after_warmup']} -> {res['rss_mb_end']} MB (growth {res['rss_growth_mb']} MB), node CPU "
          f"{res['node_cpu_percent_of_one_core']} % of one core, latency p99 {res['latency_ms_p99_last_diag']:.1f} ms, "
          f"lost_audio_s {res['lost_audio_s']}, last level {res['diagnostics_level_last']} -> "
          f"{'PASS' if res['passed'] else 'FAIL'}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=2) + "\n")
    return 0 if res["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

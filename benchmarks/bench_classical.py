"""Classical reference localizer on a generated split: intensity-vector DOA with oracle activity.

    python benchmarks/bench_classical.py --data data/dev --split test

For every labelled event in every frame, the estimate of the frame (oracle source count, class-agnostic Hungarian
match to the reference DOAs) is compared with the label. Prints the DOA error for 1-source and 2-3-source frames
and writes flat JSON to benchmarks/results/bench_classical.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seld_ros.data.classical import oracle_doa_errors  # noqa: E402
from seld_ros.data.dcase import iter_dataset, read_wav  # noqa: E402


def hardware() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "")
        cpus = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("CPU(s)")), "")
        return f"{model}, {cpus} CPUs ({platform.machine()})"
    except Exception:  # noqa: BLE001
        return platform.processor() or platform.machine()


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    except Exception:  # noqa: BLE001
        return "unknown"


def stats(e: np.ndarray) -> dict:
    if e.size == 0:
        return {"n": 0}
    return {"n": int(e.size), "mean": float(np.mean(e)), "median": float(np.median(e)),
            "p90": float(np.percentile(e, 90)), "within_20deg": float(np.mean(e <= 20.0))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="data/dev")
    ap.add_argument("--split", default="test")
    ap.add_argument("--fmax", type=float, default=8000.0)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "bench_classical.json"))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    errs, polys, n_files, seconds = [], [], 0, 0.0
    for name, wav, lab in iter_dataset(args.data, args.split):
        foa, fs = read_wav(wav)
        lab = lab.with_num_frames(int(np.ceil(foa.shape[1] / 2400)))
        e, p = oracle_doa_errors(foa, lab, fs, fmax=args.fmax)
        errs.append(e)
        polys.append(p)
        n_files += 1
        seconds += foa.shape[1] / fs
    if not n_files:
        print(f"no scenes under {args.data} split {args.split}", file=sys.stderr)
        return 2
    e, p = np.concatenate(errs), np.concatenate(polys)
    one, multi = stats(e[p == 1]), stats(e[p >= 2])
    res = {"split": args.split, "files": n_files, "audio_seconds": round(seconds, 1),
           "method": "intensity vector, oracle activity/count, 100-8000 Hz",
           "doa_err_1src_mean_deg": one.get("mean"), "doa_err_1src_median_deg": one.get("median"),
           "doa_err_1src_p90_deg": one.get("p90"), "doa_1src_within_20deg": one.get("within_20deg"),
           "doa_1src_events": one["n"],
           "doa_err_multi_mean_deg": multi.get("mean"), "doa_err_multi_median_deg": multi.get("median"),
           "doa_err_multi_p90_deg": multi.get("p90"), "doa_multi_within_20deg": multi.get("within_20deg"),
           "doa_multi_events": multi["n"],
           "doa_err_2src_mean_deg": stats(e[p == 2]).get("mean"), "doa_err_3src_mean_deg": stats(e[p == 3]).get("mean"),
           "wall_seconds": round(time.perf_counter() - t0, 1), "hardware": hardware(), "commit": commit()}
    print(f"classical IV localizer, oracle activity, {n_files} files ({seconds / 60:.1f} min) of {args.split}:")
    for label, s in (("1-source frames", one), ("2-3-source frames", multi)):
        if s["n"]:
            print(f"  {label:18s} n={s['n']:6d}  mean {s['mean']:5.1f} deg  median {s['median']:5.1f} deg  "
                  f"p90 {s['p90']:5.1f} deg  <=20 deg {100 * s['within_20deg']:5.1f}%")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Classical reference localizers on a generated split: intensity vector (FOA) and SRP-PHAT / MUSIC (A-format).

    python benchmarks/bench_classical.py --data data/dev --split test                  # B-format scenes: IV
    python benchmarks/bench_classical.py --data data/dev_tetra --split test --mic tetra  # IV, SRP-PHAT, MUSIC

For every labelled event in every frame, the estimate of the frame (oracle source count, class-agnostic Hungarian
match to the reference DOAs) is compared with the label. Prints the DOA error for 1-source and 2-3-source frames
and merges flat JSON into benchmarks/results/bench_classical.json: IV on B-format scenes under the unprefixed keys,
results on tetra scenes under ``tetra_<method>_...`` keys. SRP/MUSIC need scenes rendered with ``--mic tetra``
(on coincident B-format scenes the recovered capsules have no inter-capsule delays).
"""
from __future__ import annotations

import argparse
import json
import platform
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import cpu_model, git_commit  # noqa: E402

from seld_ros.data.classical import ARRAY_METHODS, METHODS, oracle_doa_errors  # noqa: E402
from seld_ros.data.dcase import iter_dataset, read_wav  # noqa: E402


def stats(e: np.ndarray) -> dict:
    if e.size == 0:
        return {"n": 0}
    return {"n": int(e.size), "mean": float(np.mean(e)), "median": float(np.median(e)),
            "p90": float(np.percentile(e, 90)), "within_20deg": float(np.mean(e <= 20.0))}


def describe(method: str, args) -> str:
    if method == "iv":
        return f"intensity vector, oracle activity/count, 100-{args.fmax:.0f} Hz"
    name = "SRP-PHAT (delay-only steering)" if method == "srp" else "MUSIC (cardioid-gain steering)"
    return (f"{name}, pyroomacoustics, tetrahedral A-format r=1.47 cm, oracle activity/count, "
            f"{args.array_fmin:.0f}-{args.array_fmax:.0f} Hz, nfft 512 hop 240, 2000-point 3-D grid")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="data/dev")
    ap.add_argument("--split", default="test")
    ap.add_argument("--mic", choices=("bformat", "tetra"), default="bformat",
                    help="how the scenes were rendered (seld-synth --mic); SRP/MUSIC need tetra")
    ap.add_argument("--method", choices=METHODS + ("all",), default="all",
                    help="iv, srp, music, or all that apply to --mic (default)")
    ap.add_argument("--fmax", type=float, default=8000.0, help="IV band top (Hz)")
    ap.add_argument("--array-fmin", type=float, default=500.0, help="SRP/MUSIC band (Hz)")
    ap.add_argument("--array-fmax", type=float, default=5000.0)
    ap.add_argument("--max-files", type=int, default=None)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "bench_classical.json"))
    args = ap.parse_args(argv)
    if args.method == "all":
        methods = METHODS if args.mic == "tetra" else ("iv",)
    else:
        methods = (args.method,)
    if args.mic == "bformat" and any(m in ARRAY_METHODS for m in methods):
        print("SRP/MUSIC need tetrahedral A-format scenes (seld-synth --mic tetra); pass --mic tetra", file=sys.stderr)
        return 2
    scenes = []
    for name, wav, lab in iter_dataset(args.data, args.split):
        foa, fs = read_wav(wav)
        scenes.append((foa, fs, lab.with_num_frames(int(np.ceil(foa.shape[1] / 2400)))))
        if args.max_files and len(scenes) >= args.max_files:
            break
    if not scenes:
        print(f"no scenes under {args.data} split {args.split}", file=sys.stderr)
        return 2
    n_files, seconds = len(scenes), sum(foa.shape[1] / fs for foa, fs, _ in scenes)
    out = Path(args.out)
    res = json.loads(out.read_text()) if out.exists() else {}
    print(f"classical localizers, oracle activity, {n_files} files ({seconds / 60:.1f} min) of {args.data} "
          f"{args.split} ({args.mic}):")
    for method in methods:
        t0 = time.perf_counter()
        errs, polys = [], []
        for foa, fs, lab in scenes:
            kw = {"fmax": args.fmax} if method == "iv" else {"fmin": args.array_fmin, "fmax": args.array_fmax}
            e, p = oracle_doa_errors(foa, lab, fs, method=method, **kw)
            errs.append(e)
            polys.append(p)
        e, p = np.concatenate(errs), np.concatenate(polys)
        one, multi = stats(e[p == 1]), stats(e[p >= 2])
        pre = "" if args.mic == "bformat" else f"tetra_{method}_"
        r = {"split": args.split, "files": n_files, "audio_seconds": round(seconds, 1),
             "method": describe(method, args),
             "doa_err_1src_mean_deg": one.get("mean"), "doa_err_1src_median_deg": one.get("median"),
             "doa_err_1src_p90_deg": one.get("p90"), "doa_1src_within_20deg": one.get("within_20deg"),
             "doa_1src_events": one["n"],
             "doa_err_multi_mean_deg": multi.get("mean"), "doa_err_multi_median_deg": multi.get("median"),
             "doa_err_multi_p90_deg": multi.get("p90"), "doa_multi_within_20deg": multi.get("within_20deg"),
             "doa_multi_events": multi["n"],
             "doa_err_2src_mean_deg": stats(e[p == 2]).get("mean"),
             "doa_err_3src_mean_deg": stats(e[p == 3]).get("mean"),
             "wall_seconds": round(time.perf_counter() - t0, 1), "hardware": f"{cpu_model()}, {os.cpu_count()} CPUs ({platform.machine()})", "commit": git_commit()}
        if pre:
            r["data"] = f"{args.data} ({args.split}, seld-synth --mic tetra)"
        res.update({pre + k: v for k, v in r.items()})
        print(f" {method}: {describe(method, args)}")
        for label, s in (("1-source frames", one), ("2-3-source frames", multi)):
            if s["n"]:
                print(f"  {label:18s} n={s['n']:6d}  mean {s['mean']:5.1f} deg  median {s['median']:5.1f} deg  "
                      f"p90 {s['p90']:5.1f} deg  <=20 deg {100 * s['within_20deg']:5.1f}%")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

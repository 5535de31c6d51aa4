"""Why the watch list misses sounds that overlap a steady source: how much a first-order beam separates them in a
room, and how much separation YAMNet needs (issue 26's steered-tagging aim).

    SELD_DEB_CACHE=<deb cache> OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_watch_masking.py

Four tune watch-list clips (bench_watchlist.WATCH_CLIPS: two dog barks, a scream, a glass break), each in three
unseen simulated rooms with sonic-pi's bass (music) 90 degrees away at the same active RMS throughout, rendered
apart so each part is known. At the clip's loudest patch: the family's best watched-label score (YAMNet, the
converted weights) on the clip alone (omni W), on the mixture's omni channel, a cardioid at the clip, and the
node's beam (cardioid at the clip with a null on the partner's true direction); the partner-to-clip power ratio on
W and in that beam; and the mixture's omni score with the partner scaled down by 10, 20 and 30 dB.
Writes benchmarks/results/bench_watch_masking.json (rows and medians).
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import bench_watchlist as bw  # noqa: E402

CLIPS = ("lugaru-data:Bark3.ogg", "lugaru-data:BarkGrowl.ogg", "ufoai-sound:civfemscream01a.ogg",
         "ufoai-sound:breakglass05.ogg")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=str(bw.WEIGHTS))
    ap.add_argument("--deb-cache", type=Path,
                    default=Path(os.environ.get("SELD_DEB_CACHE") or REPO / "benchmarks" / "cache" / "debs"))
    ap.add_argument("--rooms", type=int, nargs="+", default=(31100, 31101, 31102))
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench_watch_masking.json")
    args = ap.parse_args()

    from seld_ros.data.synth import SynthConfig, room_from_id
    from seld_ros.event_tags import open_yamnet
    from seld_ros.tagging import FoaSpectra, sigmoid, steering_gains_with_nulls
    network, info = open_yamnet(args.weights, str(REPO / "benchmarks" / "cache" / "onnx"))
    names = info["class_names"]
    clips, partners = bw.load_sounds(args.deb_cache, ("tune",))
    cfg, rows = SynthConfig(), []
    omni = bw.OMNI[0]

    def score(spectra, gains, labels) -> float:
        s = sigmoid(network(spectra.patches(np.atleast_2d(gains).astype(np.float32)))[0])[0]
        return float(max(s[names.index(n)] for n in labels))

    def power(spectra, gains) -> float:
        return float(spectra.power(np.atleast_2d(gains).astype(np.float32))[0])

    for clip in CLIPS:
        family, _, x = clips[clip]
        labels = bw.FAMILY_LABELS[family]
        rms, _, _ = bw.active_rms(x)
        xs, start = x * (0.05 / rms), int(bw.PAD_S * bw.RATE)
        for room_id in args.rooms:
            room, rng = room_from_id(room_id, cfg), np.random.default_rng(room_id)
            pos, u, az = bw.place(rng, room)
            p_pos, p_u, _ = bw.place(rng, room, az=(az + 90.0, az - 90.0))
            length = start + x.size + int(bw.PAD_S * bw.RATE)
            bass = partners["music"]
            looped = np.tile(bass, length // bass.size + 1)[:length] * (0.05 / bw.active_rms(bass)[0])
            clip_foa = bw.render(room, cfg, np.random.default_rng(1), [(xs, start, pos)])
            partner_foa = bw.render(room, cfg, np.random.default_rng(2), [(looped, 0, p_pos)])
            n = min(clip_foa.shape[1], partner_foa.shape[1])
            energy = np.mean(xs[:x.size // bw.HOP * bw.HOP].reshape(-1, bw.HOP) ** 2, axis=1)
            end = min(n, start + (int(np.argmax(energy)) + 5) * bw.HOP)
            c, p = clip_foa[:, :end], partner_foa[:, :end]
            mix, alone, other = FoaSpectra(c + p), FoaSpectra(c), FoaSpectra(p)
            beam = steering_gains_with_nulls(u[None], nulls=[p_u])[0]
            row = {"clip": clip, "room": room_id, "rt60_s": round(room.rt60, 2),
                   "score_clip_alone_omni": score(alone, omni, labels), "score_mix_omni": score(mix, omni, labels),
                   "score_mix_cardioid": score(mix, steering_gains_with_nulls(u[None])[0], labels),
                   "score_mix_nulled_beam": score(mix, beam, labels),
                   "score_clip_alone_nulled_beam": score(alone, beam, labels),
                   "partner_to_clip_db_omni": 10 * np.log10(power(other, omni) / power(alone, omni)),
                   "partner_to_clip_db_nulled_beam": 10 * np.log10(power(other, beam) / power(alone, beam))}
            for db in (-10, -20, -30):
                row[f"score_mix_omni_partner_{db}db"] = score(FoaSpectra(c + p * 10 ** (db / 20)), omni, labels)
            rows.append(row)
            print(" ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
                  flush=True)
    numeric = [k for k, v in rows[0].items() if isinstance(v, float)]
    res = {"rows": rows, "median": {k: float(np.median([r[k] for r in rows])) for k in numeric}}
    print(json.dumps(res["median"], indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

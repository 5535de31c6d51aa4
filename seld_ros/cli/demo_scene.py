"""seld-demo-scene: render the demo's short FOA scene (known sources, one moving) as wav + DCASE csv.

    python -m seld_ros.cli.demo_scene --out demo_out/scene   # -> scene.wav, scene.csv

A 5 x 4 x 3 m room (RT60 0.35 s), the array in the middle, four procedural sources of different classes: a male
voice front-left, footsteps walking around the array, a telephone behind, a knock above-right; ambient noise at
20 dB SNR. Deterministic for a seed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from seld_ros.constants import SAMPLE_RATE
from seld_ros.data.bank import ProceduralBank
from seld_ros.data.dcase import write_labels, write_wav
from seld_ros.data.synth import Room, SynthConfig, make_event, render_scene

# (class, start s, azimuth deg, elevation deg, distance m, azimuth speed deg/s)
DEMO_EVENTS = (
    ("maleSpeech", 0.5, 45.0, 0.0, 1.5, 0.0),
    ("footsteps", 3.0, -80.0, -30.0, 1.5, 25.0),
    ("telephone", 8.0, 160.0, 10.0, 1.5, 0.0),
    ("knock", 12.5, -45.0, 20.0, 1.2, 0.0),
    ("femaleSpeech", 15.0, 100.0, 5.0, 1.4, 0.0),
)


def render_demo_scene(seed: int = 7, duration_s: float = 20.0, events=DEMO_EVENTS, snr_db: float = 20.0,
                      max_event_s: float | None = None):
    """Render ``events`` ((class, start s, azimuth, elevation, distance m, azimuth speed deg/s), ...) in the
    demo room; ``max_event_s`` cuts each sound to at most that length. Returns a synth Scene (foa, labels)."""
    cfg = SynthConfig(duration_s=duration_s, snr_db=(snr_db, snr_db), rt60_s=(0.35, 0.35))
    room = Room(room_id=-1, dims=(5.0, 4.0, 3.0), rt60=0.35, mic=(2.5, 2.0, 1.4))
    rng = np.random.default_rng(seed)
    bank = ProceduralBank(cfg.class_names)
    rendered = []
    for src, (name, start, az, el, dist, speed) in enumerate(events):
        sig = bank.draw(name, rng)
        end = duration_s - 0.2 if max_event_s is None else min(duration_s - 0.2, start + max_event_s)
        sig = sig[: int(min(len(sig), (end - start) * SAMPLE_RATE))]
        rendered.append(make_event(room, cfg, cfg.class_names.index(name), sig, start, az, el, dist,
                                   speed_deg_s=speed, source_id=src))
    return render_scene(room, cfg, rng, events=rendered)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="seld-demo-scene", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="demo_out/scene", help="output path without extension")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--duration", type=float, default=20.0)
    a = p.parse_args(argv)

    scene = render_demo_scene(a.seed, a.duration)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_wav(out.with_suffix(".wav"), scene.foa)
    write_labels(out.with_suffix(".csv"), scene.labels)
    print(f"wrote {out.with_suffix('.wav')} ({scene.foa.shape[1] / SAMPLE_RATE:.1f} s, 4 ch FOA) and "
          f"{out.with_suffix('.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

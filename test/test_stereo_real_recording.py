"""A real stereo recording goes through the tools (issue 17 acceptance).

The recording: ``mehackit_phone1.flac`` and ``mehackit_phone3.flac`` of the Debian package ``sonic-pi-samples``
(listed for the telephone class in ../shared/real_sound_sources.md and config/real_bank/mapping.yaml; 44.1 kHz
stereo with different left and right channels; licence: the package's copyright file puts them under
``Files: *``, MIT, Samuel Aaron). Nothing is committed: the test downloads the package with ``apt-get download``
(21 MB, about a second from a Debian mirror) into a temporary folder, or reuses ``$SELD_DEB_CACHE/debs`` when that
variable names a cache (the layout of ``seld_ros.data.realbank.fetch.DebCache``, shared with the real-sound bank).

From it the test writes what a robot's stereo microphone driver would have recorded with the ros-drivers
audio_common stack: a ROS 1 ``.bag`` (AudioData S16LE + AudioInfo, as ``audio_capture`` records) and a rosbag2
(AudioDataStamped + AudioInfo); then ``seld-bag info``, ``seld-eval-bag`` (tiny random-weight stereo bundle, low
thresholds, so that there are events to report) and ``seld_replay`` into the installed node over DDS read it.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from model_helpers import make_tiny_stereo_bundle

PACKAGE = "sonic-pi-samples"
MEMBERS = ("usr/share/sonic-pi/samples/mehackit_phone1.flac", "usr/share/sonic-pi/samples/mehackit_phone3.flac")
RATE = 44100
STEREO_DEFAULT = Path(__file__).resolve().parents[1] / "seld_ros" / "models" / "stereo_default.pt"


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """The real stereo recording as a float32 wav at its own rate, its two audio_common bags and a stereo bundle."""
    for tool in ("apt-get", "dpkg-deb", "tar"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed: the real recording comes from a Debian package")
    import soundfile as sf

    from seld_ros.bag.convert import from_dcase
    from seld_ros.data.dcase import write_wav
    from seld_ros.data.realbank.fetch import DebCache, licence_summary

    d = tmp_path_factory.mktemp("real_stereo")
    cache = DebCache(os.environ.get("SELD_DEB_CACHE") or d / "deb_cache")
    deb = cache.fetch(PACKAGE)  # apt-get download (a failure names the apt-get line to run)
    tree = d / "tree"
    tree.mkdir()
    members = [f"./{m}" for m in MEMBERS] + [f"./usr/share/doc/{PACKAGE}/copyright"]
    # only the files needed, not the whole 23 MB package
    tar = subprocess.run(f"dpkg-deb --fsys-tarfile '{deb}' | tar -x -C '{tree}' " + " ".join(f"'{m}'" for m in members),
                         shell=True, capture_output=True, text=True, timeout=300)
    assert tar.returncode == 0, tar.stderr
    assert licence_summary(tree, PACKAGE).startswith("MIT"), "licence of the recording changed: check the package"
    parts = []
    for m in MEMBERS:
        x, fs = sf.read(tree / m, dtype="float32", always_2d=True)
        assert fs == RATE and x.shape[1] == 2, (m, fs, x.shape)
        parts.append(x)
    audio = np.concatenate(parts)  # (n, 2)
    # a real stereo recording: the channels differ (not dual mono)
    assert np.corrcoef(audio.T)[0, 1] < 0.9 and not np.array_equal(audio[:, 0], audio[:, 1])
    write_wav(d / "phone.wav", audio.T, RATE)
    from_dcase(d / "phone.wav", None, d / "phone.bag", chunk_ms=64, audio_common="ros1", audio_topic="/audio/audio")
    from_dcase(d / "phone.wav", None, d / "phone_ros2", chunk_ms=100, audio_common="ros2",
               audio_topic="/audio/audio_stamped")
    return {"dir": d, "audio": audio, "seconds": audio.shape[0] / RATE,
            "bundle": make_tiny_stereo_bundle(d / "tiny_stereo.pt", thresholds=0.005)}


def _folded(evs) -> bool:
    return all(e.direction_front_folded and e.elevation == 0.0 and e.direction.x >= 0 and math.isfinite(e.distance)
               for e in evs)


@pytest.mark.parametrize("bag", ["phone.bag", "phone_ros2"])
def test_bag_info_and_eval_bag_read_the_real_stereo_recording_and_report_events(recording, bag, tmp_path, capsys):
    from seld_ros.bag.evaluate import EVENTS_TOPIC
    from seld_ros.bag.io import connections_for, iter_messages, open_bag
    from seld_ros.cli import bag as bag_cli
    from seld_ros.cli import eval_bag

    path = recording["dir"] / bag
    n = recording["audio"].shape[0]
    assert bag_cli.main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == ("ROS 1 bag" if bag.endswith(".bag") else "rosbag2")
    (topic, a), = info["audio"].items()
    assert (a["channels"], a["layout"], a["sample_rate"], a["gaps"], a["overlaps"]) == (2, "stereo", RATE, 0, 0)
    assert a["duration_s"] == pytest.approx(n / RATE, abs=1e-6)

    out = tmp_path / "eval"
    rc = eval_bag.main([str(path), "--bundle", str(recording["bundle"]), "--backend", "torch", "--out", str(out),
                        "--no-plot"])
    text = capsys.readouterr()
    assert rc == 0, text.err[-2000:]
    assert "Traceback" not in text.err and "rejected" not in text.out
    assert f"of stereo audio @ {RATE} Hz on {topic}" in text.out and "events per class" in text.out
    assert "directions are front-folded" in text.out
    s = json.loads((out / "summary.json").read_text())
    assert s["rejected_chunks"] == {} and s["frames"] == n // 4410 and sum(s["events_per_class"].values()) > 0
    with open_bag(out / "results") as r:
        evs = [e for _, _, m in iter_messages(r, connections_for(r, EVENTS_TOPIC)) for e in m.events]
    assert evs and _folded(evs)
    (pred_csv,) = (out / "pred").glob("*.csv")
    pred = pred_csv.read_text().splitlines()
    assert pred[0] == "frame,class,source,azimuth,distance,onscreen" and len(pred) > 1
    if STEREO_DEFAULT.is_file():  # the shipped stereo model reads it without error too (its events: see docs)
        rc = eval_bag.main([str(path), "--bundle", str(STEREO_DEFAULT), "--backend", "torch",
                            "--out", str(tmp_path / "default"), "--no-plot", "--no-results-bag"])
        assert rc == 0 and "rejected" not in capsys.readouterr().out


def test_real_stereo_recording_replayed_from_a_ros1_bag_into_the_node(recording, tmp_path):
    from ros_helpers.ros_env import install_prefix, require_ros

    require_ros()
    from rosbags.rosbag2 import Reader

    from seld_ros.bag.types import seld_typestore

    out = tmp_path / "replay"
    run = subprocess.run([str(install_prefix() / "lib" / "seld_ros" / "seld_replay"),
                          str(recording["dir"] / "phone.bag"), "--out", str(out), "--start-node",
                          "--bundle", str(recording["bundle"]), "--backend", "onnxruntime", "--rate", "0",
                          "--compare", "--quiet", "--node", "/real_stereo/seld_node"],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "SELD_CACHE_DIR": str(tmp_path)})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    s = json.loads((out / "replay_summary.json").read_text())
    n_frames = recording["audio"].shape[0] // 4410
    assert s["frames_received"] == s["expected_frames"] == n_frames
    assert s["comparison"]["agree"] and sum(s["events_per_class"].values()) > 0
    ts = seld_typestore()
    with Reader(out / "node_outputs") as r:
        conns = [c for c in r.connections if c.topic == "/real_stereo/seld_node/events"]
        evs = [e for _, _, raw in r.messages(connections=conns)
               for e in ts.deserialize_cdr(raw, "seld_ros/msg/SoundEventArray").events]
    assert evs and _folded(evs)

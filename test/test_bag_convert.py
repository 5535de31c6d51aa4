"""wav <-> bag conversion, bag errors, audio_common PCM bags, discontinuities (ROS-free: rosbags only)."""
from __future__ import annotations

import logging
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from seld_ros.bag import messages as M
from seld_ros.bag.audio import PcmFormat, iter_audio, read_audio
from seld_ros.bag.convert import from_dcase, sample_stamp_ns, to_wav
from seld_ros.bag.evaluate import read_reference
from seld_ros.bag.audio import bag_info
from seld_ros.bag.io import BagError, BagWriter
from seld_ros.classes import STARSS23_CLASSES
from seld_ros.cli import bag as bag_cli
from seld_ros.data.dcase import read_labels, write_labels, write_wav
from seld_ros.data.labels import SceneLabels

REPO = Path(__file__).resolve().parents[1]
FS = 24000


def _labels(num_frames=30) -> SceneLabels:
    rows = []
    for k in range(3, 12):
        rows.append((k, "footsteps", 0, -40 + 2 * k, 10, 150))  # moving, cm
    for k in range(8, 20):
        rows.append((k, "knock", 1, 120, -20, 230))
        rows.append((k, "knock", 2, -150, 5, 90))  # same class twice in a frame
    return SceneLabels.from_rows([(f, c, s, a, e, d / 100.0) for f, c, s, a, e, d in rows], STARSS23_CLASSES,
                                 num_frames=num_frames)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    d = tmp_path_factory.mktemp("scene")
    rng = np.random.default_rng(1)
    foa = (rng.standard_normal((4, 3 * FS)) * 0.1).astype(np.float32)
    write_wav(d / "s.wav", foa, FS)
    write_labels(d / "s.csv", _labels())
    return d, foa


def _read(path):
    fs, x = wavfile.read(str(path))
    return fs, x


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
@pytest.mark.parametrize("layout,channels", [("foa_acn_sn3d", 4), ("a_format_tetra", 4), ("stereo", 2)])
def test_wav_bag_wav_bit_exact(tmp_path, storage, layout, channels):
    rng = np.random.default_rng(channels)
    # odd length (last chunk short) and values that are not round in float32
    x = (rng.standard_normal((channels, FS + 1234)) * 0.3).astype(np.float32)
    write_wav(tmp_path / "in.wav", x, FS)
    s = from_dcase(tmp_path / "in.wav", None, tmp_path / "bag", chunk_ms=40, layout=layout, storage=storage)
    assert (s.audio_messages, s.gt_messages, s.layout) == (math.ceil((FS + 1234) / 960), 0, layout)
    assert (tmp_path / "bag" / ("bag.mcap" if storage == "mcap" else "bag.db3")).is_file()
    audio = to_wav(tmp_path / "bag", tmp_path / "out.wav")
    assert audio.layout == layout and audio.issues == [] and audio.first_sample_index == 0
    fs_in, a = _read(tmp_path / "in.wav")
    fs_out, b = _read(tmp_path / "out.wav")
    assert fs_in == fs_out == FS and a.dtype == b.dtype == np.float32
    assert a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))
    assert (tmp_path / "in.wav").read_bytes() == (tmp_path / "out.wav").read_bytes()


def test_int16_wav_keeps_its_values(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.integers(-32768, 32767, size=(FS // 2, 2), dtype=np.int16)
    wavfile.write(str(tmp_path / "pcm.wav"), FS, x)
    from_dcase(tmp_path / "pcm.wav", None, tmp_path / "bag")
    audio = read_audio(tmp_path / "bag")
    assert audio.layout == "stereo"
    assert np.array_equal(audio.samples, (x.T.astype(np.float32) / 32768.0))


def test_messages_stamps_indices_and_ground_truth(scene, tmp_path):
    d, foa = scene
    start = 1_600_000_000.25
    s = from_dcase(d / "s.wav", d / "s.csv", tmp_path / "bag", chunk_ms=100, start_time_s=start,
                   frame_id="array")
    assert s.gt_messages == 30 and s.gt_events == 9 + 24
    start_ns = int(round(start * 1e9))
    chunks = list(iter_audio(tmp_path / "bag"))
    assert [c.first_sample_index for c in chunks] == list(range(0, 3 * FS, 2400))
    for c in chunks:
        assert c.stamp_ns == c.bag_time_ns == sample_stamp_ns(start_ns, c.first_sample_index, FS)
        assert c.frame_id == "array" and c.samples.dtype == np.float32
    # ground truth: one message per label frame, stamped at the frame start, directions and metres
    from seld_ros.bag.io import connections_for, iter_messages, open_bag

    with open_bag(tmp_path / "bag") as r:
        msgs = [(t, m) for _, t, m in iter_messages(r, connections_for(r, "/seld/ground_truth"))]
    assert [m.frame_index for _, m in msgs] == list(range(30))
    for t, m in msgs:
        assert t == M.time_to_ns(m.header.stamp) == start_ns + m.frame_index * 100_000_000
    m = msgs[10][1]
    kn = sorted((e for e in m.events if e.class_name == "knock"), key=lambda e: e.track_id)
    assert [e.track_id for e in kn] == [1, 2]
    assert math.isclose(math.degrees(kn[0].azimuth), 120, abs_tol=1e-4)
    assert math.isclose(math.degrees(kn[0].elevation), -20, abs_tol=1e-4)
    assert math.isclose(kn[0].distance, 2.3, rel_tol=1e-6)
    assert M.time_to_ns(kn[0].first_stamp) == start_ns + 8 * 100_000_000  # start of its run
    # back to labels: the same as the CSV (padded with silence to the end of the audio)
    ref = read_reference(tmp_path / "bag", "/seld/ground_truth", STARSS23_CLASSES)
    csv = read_labels(d / "s.csv", num_frames=30)
    assert ref.num_frames == 30 and sorted(map(_rnd, ref.to_rows())) == sorted(map(_rnd, csv.to_rows()))


def _rnd(row):
    f, c, s, a, e, dist = row
    return (f, c, s, round(a, 3), round(e, 3), round(dist, 4))


def _write_chunks(path, chunks, storage="mcap", topic="/audio"):
    with BagWriter(path, storage) as w:
        w.add(topic, M.AUDIO_MSGTYPE)
        for idx, x in chunks:
            t = sample_stamp_ns(0, idx, FS) + 1_000_000_000
            w.write(topic, t, M.audio_to_msg(x, FS, "foa_acn_sn3d", idx, t, "mic"))


def test_gaps_and_overlaps_are_reported_and_repaired(tmp_path, caplog):
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((9600, 4)) * 0.1).astype(np.float32)
    # 0..2400, then a 480-sample gap, then 2880..4800, then a chunk overlapping by 240 samples
    chunks = [(0, x[:2400]), (2880, x[2880:4800]), (4560, x[4560:7200])]
    _write_chunks(tmp_path / "bag", chunks)
    with caplog.at_level(logging.WARNING):
        audio = to_wav(tmp_path / "bag", tmp_path / "out.wav")
    kinds = [(i.kind, i.index, i.samples) for i in audio.issues]
    assert kinds == [("gap", 2880, 480), ("overlap", 4560, 240)]
    assert "gap: 480 samples (20.0 ms) missing before sample index 2880: zero-filled" in caplog.text
    assert "overlap" in caplog.text and "dropped" in caplog.text
    y = audio.samples.T
    assert y.shape == (7200, 4)
    assert np.array_equal(y[:2400], x[:2400]) and not y[2400:2880].any()
    assert np.array_equal(y[2880:], x[2880:7200])
    info = bag_info(tmp_path / "bag")["audio"]["/audio"]
    assert (info["gaps"], info["gap_samples"], info["overlaps"]) == (1, 480, 1)


def test_cli_round_trip_and_info(scene, tmp_path, capsys):
    d, _ = scene
    assert bag_cli.main(["from-dcase", str(d / "s.wav"), str(d / "s.csv"), str(tmp_path / "b"), "--storage",
                         "sqlite3", "--chunk-ms", "25"]) == 0
    assert bag_cli.main(["info", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "/seld/ground_truth" in out and "120 chunks of 25.0 ms" in out and "continuous" in out
    assert bag_cli.main(["to-wav", str(tmp_path / "b"), str(tmp_path / "o.wav")]) == 0
    assert (d / "s.wav").read_bytes() == (tmp_path / "o.wav").read_bytes()
    # refuses to overwrite, says why
    assert bag_cli.main(["from-dcase", str(d / "s.wav"), "-", str(tmp_path / "b")]) == 2
    assert "already exists" in capsys.readouterr().err
    # layout / channel mismatch
    assert bag_cli.main(["from-dcase", str(d / "s.wav"), "-", str(tmp_path / "c"), "--layout", "stereo"]) == 2
    assert "stereo has 2 channels" in capsys.readouterr().err


# -- broken bags -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def good_bag(scene, tmp_path_factory):
    d, _ = scene
    out = tmp_path_factory.mktemp("good")
    from_dcase(d / "s.wav", d / "s.csv", out / "mcap")
    from_dcase(d / "s.wav", d / "s.csv", out / "db3", storage="sqlite3")
    return out


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("storage,cut", [("mcap", 0.5), ("mcap", 0.05), ("db3", 0.5)])
def test_truncated_bag_gives_clear_error(good_bag, tmp_path, storage, cut):
    bag = _copy(good_bag / storage, tmp_path / "bag")
    f = next(p for p in bag.iterdir() if p.suffix in (".mcap", ".db3"))
    data = f.read_bytes()
    f.write_bytes(data[:int(len(data) * cut)])
    with pytest.raises(BagError, match=r"(cannot open bag|truncated or corrupt).*" + bag.name):
        read_audio(bag)


@pytest.mark.parametrize("where", ["all", "records", "footer"])
def test_corrupt_bag_gives_clear_error(good_bag, tmp_path, where):
    bag = _copy(good_bag / "mcap", tmp_path / "bag")
    f = next(bag.glob("*.mcap"))
    data = bytearray(f.read_bytes())
    if where == "all":
        data[:] = np.random.default_rng(0).integers(0, 256, len(data), dtype=np.uint8).tobytes()
    elif where == "records":  # schema/channel records after the magic
        data[8:400] = b"\xff" * 392
    else:
        data[-500:-8] = b"\xff" * 492
    f.write_bytes(bytes(data))
    with pytest.raises(BagError, match=r"cannot open bag .*bag: ReaderError"):
        read_audio(bag)


def test_bad_metadata_missing_bag_missing_topic(good_bag, tmp_path):
    bag = _copy(good_bag / "mcap", tmp_path / "bag")
    (bag / "metadata.yaml").write_text("rosbag2_bagfile_information: [not, a, mapping\n")
    with pytest.raises(BagError, match="cannot open bag"):
        read_audio(bag)
    with pytest.raises(BagError, match="bag not found"):
        read_audio(tmp_path / "missing")
    with pytest.raises(BagError, match="no topic /nope; audio topics: /audio"):
        read_audio(good_bag / "mcap", topic="/nope")


def test_undecodable_message_names_topic_and_position(tmp_path):
    from rosbags.rosbag2 import StoragePlugin, Writer

    ts = M.seld_typestore()
    good = M.audio_to_msg(np.zeros((480, 4), np.float32), FS, "foa_acn_sn3d", 0, 1, "mic")
    with Writer(tmp_path / "bag", version=9, storage_plugin=StoragePlugin.MCAP) as w:
        c = w.add_connection("/audio", M.AUDIO_MSGTYPE, typestore=ts)
        w.write(c, 1, ts.serialize_cdr(good, M.AUDIO_MSGTYPE))
        w.write(c, 2, b"\x00\x01\x00\x00garbage")
    with pytest.raises(BagError, match=r"message 1 on /audio \(seld_ros/msg/MultichannelAudio\) cannot be decoded"):
        read_audio(tmp_path / "bag")


def test_cli_broken_bag_exits_nonzero_without_traceback(good_bag, tmp_path):
    bag = _copy(good_bag / "mcap", tmp_path / "bag")
    f = next(bag.glob("*.mcap"))
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    for tool in ("seld_ros.cli.bag", "seld_ros.cli.eval_bag"):
        args = ["to-wav", str(bag), str(tmp_path / "x.wav")] if tool.endswith(".bag") else [str(bag), "--out",
                                                                                           str(tmp_path / "ev")]
        p = subprocess.run([sys.executable, "-m", tool, *args], capture_output=True, text=True, cwd=REPO,
                           timeout=120)
        assert p.returncode == 2, p.stderr
        assert "Traceback" not in p.stderr and "error:" in p.stderr and str(bag) in p.stderr


# -- audio_common ------------------------------------------------------------------------------------------------
def _audio_common_bag(path, pcm_bytes: bytes, msg_bytes: int, info: dict | None, start_ns=5_000_000_000,
                      fs=FS, channels=4, width=2, stamped=True):
    ts_types = M.seld_typestore().types
    AudioData, Stamped = ts_types[M.AUDIO_COMMON_DATA], ts_types[M.AUDIO_COMMON_STAMPED]
    with BagWriter(path) as w:
        w.add("/audio/audio_stamped", M.AUDIO_COMMON_STAMPED if stamped else M.AUDIO_COMMON_DATA)
        if info:
            w.add("/audio/audio_info", M.AUDIO_COMMON_INFO)
            w.write("/audio/audio_info", start_ns, ts_types[M.AUDIO_COMMON_INFO](**info))
        for off in range(0, len(pcm_bytes), msg_bytes):
            frames_before = off // (width * channels)
            t = start_ns + frames_before * 1_000_000_000 // fs
            data = AudioData(data=np.frombuffer(pcm_bytes[off:off + msg_bytes], np.uint8).copy())
            msg = Stamped(header=M.header(t, "mic"), audio=data) if stamped else data
            w.write("/audio/audio_stamped", t, msg)


def test_audio_common_s16le_with_audio_info(tmp_path):
    rng = np.random.default_rng(7)
    x = rng.integers(-32768, 32767, size=(FS, 4), dtype=np.int16)
    raw = x.astype("<i2").tobytes()
    # 1001 bytes per message: sample frames (8 bytes) split across messages
    _audio_common_bag(tmp_path / "bag", raw, 1001, {"channels": 4, "sample_rate": FS, "sample_format": "S16LE",
                                                     "bitrate": 0, "coding_format": "wave"})
    chunks = list(iter_audio(tmp_path / "bag"))
    idx = 0
    for c in chunks:
        assert c.first_sample_index == idx and c.layout == "foa_acn_sn3d" and c.sample_rate == FS
        idx += c.samples.shape[0]
    assert idx == FS
    audio = read_audio(tmp_path / "bag")
    assert audio.issues == [] and audio.frame_id == "mic"
    assert np.array_equal(audio.samples, x.T.astype(np.float32) / 32768.0)
    # stamps: the header stamp of the message the chunk came from
    assert chunks[0].stamp_ns == 5_000_000_000
    # options override the AudioInfo topic
    a2 = read_audio(tmp_path / "bag", pcm=PcmFormat(layout="a_format_tetra"))
    assert a2.layout == "a_format_tetra"


def test_audio_common_format_from_options_and_errors(tmp_path):
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((4800, 2)) * 0.2).astype("<f4")
    _audio_common_bag(tmp_path / "bag", x.tobytes(), 1920, None, fs=48000, channels=2, width=4, stamped=False)
    with pytest.raises(BagError, match=r"no AudioInfo topic that says their format: give --sample-rate, --channels, --sample-format"):
        read_audio(tmp_path / "bag")
    audio = read_audio(tmp_path / "bag", pcm=PcmFormat(48000, 2, "F32LE"))
    assert audio.sample_rate == 48000 and audio.layout == "stereo"
    assert np.array_equal(audio.samples, x.T)
    chunks = list(iter_audio(tmp_path / "bag", pcm=PcmFormat(48000, 2, "F32LE")))
    assert chunks[0].stamp_ns == chunks[0].bag_time_ns  # AudioData has no header: bag time
    _audio_common_bag(tmp_path / "mp3", b"\x00" * 64, 64, {"channels": 2, "sample_rate": 48000, "sample_format": "",
                                                          "bitrate": 128, "coding_format": "mp3"})
    with pytest.raises(BagError, match="compressed audio"):
        read_audio(tmp_path / "mp3")


def test_bag_tools_do_not_import_ros():
    code = ("import sys; import seld_ros.bag.convert, seld_ros.bag.evaluate, seld_ros.bag.plot, seld_ros.cli.bag, "
            "seld_ros.cli.eval_bag; bad = [m for m in sys.modules if m.startswith(('rclpy', 'seld_ros.ros', "
            "'seld_ros.msg', 'builtin_interfaces', 'visualization_msgs'))]; print(bad); sys.exit(1 if bad else 0)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr

"""ROS 1 bags and mgonzs13 AudioStamped bags are read like rosbag2 ones (info, eval-bag, to-wav)."""
from __future__ import annotations

import numpy as np

from seld_ros.bag.convert import sample_stamp_ns
from cli_helpers import FS, START_NS, noise, tiny  # noqa: F401 (tiny: a fixture)


# -- ROS 1 bags -----------------------------------------------------------------------------------------------
def _write_ros1_bag(path, x, rate, with_info=True, chunk=2400):
    """A ROS 1 bag as audio_capture records it: audio_common_msgs/AudioData (S16LE bytes) + AudioInfo."""
    from rosbags.rosbag1 import Writer

    from seld_ros.bag.types import seld_typestore

    ts = seld_typestore("ROS1_NOETIC")
    AudioData, AudioInfo = ts.types["audio_common_msgs/msg/AudioData"], ts.types["audio_common_msgs/msg/AudioInfo"]
    pcm = (np.clip(x.T, -1, 1) * 32767).astype("<i2")
    with Writer(path) as w:
        ca = w.add_connection("/audio/audio", "audio_common_msgs/msg/AudioData", typestore=ts)
        if with_info:
            ci = w.add_connection("/audio/audio_info", "audio_common_msgs/msg/AudioInfo", typestore=ts)
            info = AudioInfo(channels=4, sample_rate=rate, sample_format="S16LE", bitrate=0, coding_format="wave")
            w.write(ci, START_NS, ts.serialize_ros1(info, "audio_common_msgs/msg/AudioInfo"))
        for i in range(0, pcm.shape[0], chunk):
            msg = AudioData(data=np.frombuffer(pcm[i:i + chunk].tobytes(), np.uint8))
            w.write(ca, sample_stamp_ns(START_NS, i, rate) + 1000,
                    ts.serialize_ros1(msg, "audio_common_msgs/msg/AudioData"))
    return pcm.astype(np.float32) / 32768.0


# -- both ROS 2 audio stacks in bags -------------------------------------------------------------------------------
def _write_audio_stamped_bag(path, x, rate, chunk=2400, fmt=8):
    """mgonzs13/audio_common AudioStamped (typed int16 samples, format in every message), as a rosbag2."""
    from seld_ros.bag.io import BagWriter
    from seld_ros.bag.messages import header
    from seld_ros.bag.types import seld_typestore

    T = seld_typestore("ROS2_JAZZY", "mgonzs13").types
    pcm = (np.clip(x.T, -1, 1) * 32767).astype(np.int16)
    with BagWriter(path, audio_common="mgonzs13") as w:
        w.add("/audio", "audio_common_msgs/msg/AudioStamped")
        for i in range(0, pcm.shape[0], chunk):
            z = {k: np.zeros(0, d) for k, d in (("float32_data", np.float32), ("int32_data", np.int32),
                                               ("int16_data", np.int16), ("int8_data", np.int8),
                                               ("uint8_data", np.uint8))}
            z["int16_data"] = pcm[i:i + chunk].reshape(-1)
            audio = T["audio_common_msgs/msg/Audio"](
                audio_data=T["audio_common_msgs/msg/AudioData"](**z),
                info=T["audio_common_msgs/msg/AudioInfo"](format=fmt, channels=4, rate=rate, chunk=chunk))
            stamp = sample_stamp_ns(START_NS, i, rate)
            w.write("/audio", stamp, T["audio_common_msgs/msg/AudioStamped"](header=header(stamp, "mic"),
                                                                             audio=audio))
    return pcm.astype(np.float32) / 32768.0


def test_ros1_bag_with_audio_common_is_read_directly(tiny, tmp_path, capsys):
    from seld_ros.bag.audio import PcmFormat, read_audio
    from seld_ros.cli import bag as bag_cli
    from seld_ros.cli import eval_bag

    x = noise(2.0)
    expect = _write_ros1_bag(tmp_path / "applause.bag", x, FS)
    assert bag_cli.main(["info", str(tmp_path / "applause.bag")]) == 0
    out = capsys.readouterr().out
    assert "ROS 1 bag" in out and "audio /audio/audio: 4 ch foa_acn_sn3d @ 24000 Hz, 2.00 s in 20 chunks" in out
    a = read_audio(tmp_path / "applause.bag")
    np.testing.assert_array_equal(a.samples, expect.T)
    assert eval_bag.main([str(tmp_path / "applause.bag"), "--bundle", str(tiny), "--out", str(tmp_path / "o"),
                          "--no-plot", "--quiet", "--backend", "torch"]) == 0
    assert "-> 20 output frames" in capsys.readouterr().out
    # no AudioInfo: the format from options, else a clear error naming them
    _write_ros1_bag(tmp_path / "bare.bag", x, FS, with_info=False)
    assert bag_cli.main(["info", str(tmp_path / "bare.bag")]) == 0
    assert "--sample-rate, --channels, --sample-format" in capsys.readouterr().out
    a = read_audio(tmp_path / "bare.bag", pcm=PcmFormat(FS, 4, "S16LE"))
    np.testing.assert_array_equal(a.samples, expect.T)
    assert eval_bag.main([str(tmp_path / "bare.bag"), "--bundle", str(tiny), "--quiet", "--backend", "torch",
                          "--out", str(tmp_path / "o2"), "--no-plot"]) == 2
    assert "no AudioInfo topic" in capsys.readouterr().err
    assert eval_bag.main([str(tmp_path / "bare.bag"), "--bundle", str(tiny), "--quiet", "--backend", "torch",
                          "--out", str(tmp_path / "o2"), "--no-plot", "--sample-rate", "24000", "--channels", "4",
                          "--sample-format", "S16LE"]) == 0
    # a .bag that is not a ROS 1 bag: said so, exit 2
    (tmp_path / "fake.bag").write_bytes(b"hello")
    assert bag_cli.main(["info", str(tmp_path / "fake.bag")]) == 2
    assert "not a ROS 1 bag" in capsys.readouterr().err


def test_audio_stamped_bags_are_read_like_the_others(tiny, tmp_path, capsys):
    from seld_ros.bag.audio import read_audio
    from seld_ros.cli import bag as bag_cli
    from seld_ros.cli import eval_bag

    x = noise(2.0)
    expect = _write_audio_stamped_bag(tmp_path / "as_bag", x, FS)
    a = read_audio(tmp_path / "as_bag")
    np.testing.assert_array_equal(a.samples, expect.T)
    assert a.start_stamp_ns == START_NS and a.layout == "foa_acn_sn3d"
    assert bag_cli.main(["info", str(tmp_path / "as_bag")]) == 0
    out = capsys.readouterr().out
    assert "audio_common_msgs/msg/AudioStamped" in out and "4 ch foa_acn_sn3d @ 24000 Hz, 2.00 s in 20 chunks" in out
    assert eval_bag.main([str(tmp_path / "as_bag"), "--bundle", str(tiny), "--out", str(tmp_path / "o"),
                          "--no-plot", "--quiet", "--backend", "torch", "--audio-common"]) == 0
    assert "-> 20 output frames" in capsys.readouterr().out
    # an unknown PortAudio format is a clear error
    _write_audio_stamped_bag(tmp_path / "bad_bag", x[:, :2400], FS, fmt=4)
    assert bag_cli.main(["to-wav", str(tmp_path / "bad_bag"), str(tmp_path / "o.wav")]) == 2
    assert "info.format 4 is not a supported PortAudio sample format" in capsys.readouterr().err


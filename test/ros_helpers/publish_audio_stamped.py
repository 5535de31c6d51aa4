"""Child process (run with ros_env.mgonzs13_env()): publish FOA noise as mgonzs13 audio_common_msgs/AudioStamped.

Usage: python publish_audio_stamped.py TOPIC SECONDS RATE CHUNK [--skip K,K,...]
int16 samples (PortAudio paInt16 = 8), 4 channels, header stamps = T0 + sample time; messages listed in --skip are
not sent (lost in transport). Exits after the last message once the subscriber has had time to take it.
"""
from __future__ import annotations

import sys
import time

import numpy as np
import rclpy
from audio_common_msgs.msg import AudioStamped
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

T0 = 1_700_000_000_000_000_000


def main() -> int:
    topic, seconds, rate, chunk = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    skip = set()
    if "--skip" in sys.argv:
        skip = {int(k) for k in sys.argv[sys.argv.index("--skip") + 1].split(",")}
    x = (np.random.default_rng(0).standard_normal((int(seconds * rate), 4)) * 0.05).astype(np.float32)
    pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16)
    rclpy.init()
    node = rclpy.create_node("audio_stamped_publisher")
    pub = node.create_publisher(AudioStamped, topic,
                                QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE))
    deadline = time.monotonic() + 60.0
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    if pub.get_subscription_count() == 0:
        print("no subscriber matched within 60 s", file=sys.stderr)
        return 2
    for k, start in enumerate(range(0, pcm.shape[0], chunk)):
        if k in skip:
            continue
        msg = AudioStamped()
        ns = T0 + int(start * 1e9 / rate)
        msg.header.stamp.sec, msg.header.stamp.nanosec = ns // 10**9, ns % 10**9
        msg.header.frame_id = "mic_test"
        msg.audio.info.format, msg.audio.info.channels, msg.audio.info.rate = 8, 4, rate
        msg.audio.info.chunk = chunk
        msg.audio.audio_data.int16_data = pcm[start:start + chunk].reshape(-1).tolist()
        pub.publish(msg)
    print("published", flush=True)
    end = time.monotonic() + 10.0
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.1)
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

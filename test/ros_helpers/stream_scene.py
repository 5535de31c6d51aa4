"""Child process: stream a FOA wav as MultichannelAudio chunks, paced at real time.

Usage: python stream_scene.py <topic> <wav> <t0_ns> [--chunk N] [--speed X] [--frame-id F]

Waits (up to 30 s) until a subscriber is matched, then publishes chunk k with
``first_sample_index = k * N`` and header stamp ``t0_ns + k * N / rate`` at wall
time ``start + (k + 1) * N / rate / speed`` (a microphone driver delivers a chunk
once it is complete). Reliable QoS, so nothing is lost in the test. Prints
``published <count> chunks in <s> s`` and exits 0; exit 3 if nobody subscribed.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import rclpy
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from seld_ros.data.dcase import read_wav
from seld_ros.ros.conversions import audio_to_msg
from seld_ros.msg import MultichannelAudio


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("topic")
    ap.add_argument("wav")
    ap.add_argument("t0_ns", type=int)
    ap.add_argument("--chunk", type=int, default=2400)
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--frame-id", default="mic_e2e")
    a = ap.parse_args()
    audio, rate = read_wav(a.wav)                       # (channels, samples) float32
    x = np.ascontiguousarray(audio.T, dtype=np.float32)
    rclpy.init()
    node = rclpy.create_node("scene_streamer")
    pub = node.create_publisher(MultichannelAudio, a.topic,
                                QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE))
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline and pub.get_subscription_count() == 0:
        rclpy.spin_once(node, timeout_sec=0.05)
    if pub.get_subscription_count() == 0:
        print("no subscriber matched", flush=True)
        return 3
    time.sleep(0.3)  # let the reliable writer finish matching the reader
    n = x.shape[0] // a.chunk
    start = time.monotonic()
    for k in range(n):
        due = start + (k + 1) * a.chunk / rate / a.speed
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        stamp = a.t0_ns + int(round(k * a.chunk * 1e9 / rate))
        pub.publish(audio_to_msg(x[k * a.chunk:(k + 1) * a.chunk], rate, "foa_acn_sn3d", k * a.chunk, stamp,
                                 a.frame_id))
    print(f"published {n} chunks in {time.monotonic() - start:.2f} s", flush=True)
    time.sleep(0.5)  # keep the writer alive while the last samples are delivered
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Child process: publish every sample message on its topic once a subscriber is matched.

Usage: python publish_samples.py <topic_prefix> [--corrupt]
--corrupt flips one audio sample: used to prove the subscriber side detects a difference.
"""
from __future__ import annotations

import sys
import time

import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy, DurabilityPolicy

from sample_messages import build_messages


def main() -> int:
    prefix = sys.argv[1]
    corrupt = "--corrupt" in sys.argv
    rclpy.init()
    node = rclpy.create_node("sample_publisher")
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
    msgs = build_messages()
    if corrupt:
        msgs["audio"].data[5] = msgs["audio"].data[5] + 1.0
    pubs = {name: node.create_publisher(type(m), f"{prefix}/{name}", qos) for name, m in msgs.items()}
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline and any(p.get_subscription_count() == 0 for p in pubs.values()):
        rclpy.spin_once(node, timeout_sec=0.05)
    if any(p.get_subscription_count() == 0 for p in pubs.values()):
        print("no subscriber matched within 20 s", file=sys.stderr)
        return 2
    for name, m in msgs.items():
        pubs[name].publish(m)
    print("published", flush=True)
    # stay alive until the subscriber says it is done (stdin closes) or 20 s pass
    end = time.monotonic() + 20.0
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.1)
        if all(p.get_subscription_count() == 0 for p in pubs.values()):
            break
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

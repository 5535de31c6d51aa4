"""The node's message types: rclpy classes as the type provider of seld_ros.messages (one builder for the node and
the bag tools), and the hot-path readers (no copies where rclpy allows it)."""
from __future__ import annotations

import array
import importlib

import numpy as np

from seld_ros.messages import MessageBuilder, MessageTypes, audio_from_msg, time_to_ns  # noqa: F401 (re-exported)


class RclpyTypes(MessageTypes):
    """``make("geometry_msgs/msg/Vector3", x=1.0)`` -> ``geometry_msgs.msg.Vector3(x=1.0)`` (classes imported once)."""

    def __init__(self) -> None:
        self._classes: dict = {}

    def message_class(self, msgtype: str):
        cls = self._classes.get(msgtype)
        if cls is None:
            package, _, name = msgtype.split("/")
            cls = self._classes[msgtype] = getattr(importlib.import_module(f"{package}.msg"), name)
        return cls

    def make(self, msgtype: str, **fields):
        cls = self._classes.get(msgtype) or self.message_class(msgtype)  # the hot path: one dict lookup
        return cls(**fields)

    def float32_array(self, values: np.ndarray):
        return array.array("f", np.ascontiguousarray(values, dtype=np.float32).tobytes())  # ~300x faster than a list


BUILD = MessageBuilder(RclpyTypes())
audio_to_msg = BUILD.audio
ns_to_time = BUILD.time

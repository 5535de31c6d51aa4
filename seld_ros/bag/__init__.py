"""rosbag2 files (mcap and sqlite3) without ROS: the pure-Python `rosbags` library
with seld_ros's message types registered. ROS-free: usable from a pip install."""
from seld_ros.bag.types import (  # noqa: F401
    AUDIO_COMMON_DEFINITIONS,
    SELD_MSG_NAMES,
    msg_definition_dir,
    seld_typestore,
)

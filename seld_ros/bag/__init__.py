"""rosbag2 files (mcap and sqlite3) without ROS: the pure-Python `rosbags` library
with seld_ros's message types registered. ROS-free: usable from a pip install."""
from seld_ros.bag.types import (  # noqa: F401
    AUDIO_COMMON_DEFINITIONS,
    SELD_MSG_NAMES,
    msg_definition_dir,
    seld_typestore,
)

# The bag tools, imported on first use (PEP 562): `import seld_ros.bag` stays as light as the typestore.
_LAZY = {
    "BagAudio": "audio", "BagChunk": "audio", "PcmFormat": "audio", "iter_audio": "audio", "read_audio": "audio",
    "from_dcase": "convert", "to_wav": "convert",
    "EvalResult": "evaluate", "evaluate_bag": "evaluate",
    "BagError": "io", "BagWriter": "io", "bag_info": "audio", "open_bag": "io",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"seld_ros.bag.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'seld_ros.bag' has no attribute {name!r}")

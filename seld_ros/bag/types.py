"""The message types that seld_ros reads and writes in bags, registered in a rosbags typestore.

Our own .msg files are the single source of truth. They are found, in order:
1. ``seld_ros/_msg/`` inside the installed Python package (a pip install copies them there),
2. ``msg/`` beside the package in a source checkout (editable install, tests),
3. ``share/seld_ros/msg/`` in any prefix on ``AMENT_PREFIX_PATH`` (a colcon/apt install).
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

from rosbags.typesys import Stores, get_typestore, get_types_from_msg

SELD_MSG_NAMES = ("MultichannelAudio", "SoundEvent", "SoundEventArray")

# audio_common_msgs (ros-drivers/audio_common), the common audio type in bags found in the
# wild (ROS 1 and ROS 2). Not part of rosbags' built-in stores; definitions as published by that package.
AUDIO_COMMON_DEFINITIONS = {
    "audio_common_msgs/msg/AudioData": "uint8[] data\n",
    "audio_common_msgs/msg/AudioDataStamped": "std_msgs/Header header\naudio_common_msgs/AudioData audio\n",
    "audio_common_msgs/msg/AudioInfo": (
        "uint8 channels\nuint32 sample_rate\nstring sample_format\nuint32 bitrate\nstring coding_format\n"
    ),
}

# The other widely used ROS 2 audio stack, mgonzs13/audio_common: the SAME package name with different types
# (AudioStamped = header + Audio{AudioData audio_data (typed arrays), AudioInfo info (PortAudio format, channels,
# rate, chunk)}). AudioData and AudioInfo clash with the definitions above, so one typestore holds one flavour;
# a bag's flavour is recognised by its message types (see :func:`audio_common_flavor`).
AUDIO_COMMON_MGONZS13_DEFINITIONS = {
    "audio_common_msgs/msg/AudioData": (
        "float32[] float32_data\nint32[] int32_data\nint16[] int16_data\nint8[] int8_data\nuint8[] uint8_data\n"
    ),
    "audio_common_msgs/msg/AudioInfo": "int32 format\nint32 channels\nint32 rate\nint32 chunk\n",
    "audio_common_msgs/msg/Audio": "audio_common_msgs/AudioData audio_data\naudio_common_msgs/AudioInfo info\n",
    "audio_common_msgs/msg/AudioStamped": "std_msgs/Header header\naudio_common_msgs/Audio audio\n",
}
AUDIO_COMMON_FLAVORS = {"ros_drivers": AUDIO_COMMON_DEFINITIONS, "mgonzs13": AUDIO_COMMON_MGONZS13_DEFINITIONS}


def audio_common_flavor(msgtypes) -> str:
    """'mgonzs13' when the message types include that stack's AudioStamped / Audio, else 'ros_drivers'."""
    names = set(msgtypes)
    return "mgonzs13" if names & {"audio_common_msgs/msg/AudioStamped", "audio_common_msgs/msg/Audio"} \
        else "ros_drivers"


def typestore_for_recorded_definitions(connections, typestore, audio_common: str = "ros_drivers"):
    """``typestore``, unless a rosbag2 bag embeds a seld_ros message definition that differs from ours (a bag
    recorded before a field was added): then a typestore with the bag's own definitions of those types, so its
    messages decode as they were written (a missing field reads as absent: use ``getattr(msg, name, default)``)."""
    from rosbags.interfaces import MessageDefinitionFormat

    recorded = {}
    for c in connections:
        msgdef = getattr(c, "msgdef", None)
        if (c.msgtype.startswith("seld_ros/msg/") and msgdef is not None
                and msgdef.format == MessageDefinitionFormat.MSG and msgdef.data):
            try:
                types = get_types_from_msg(msgdef.data, c.msgtype)
            except Exception:  # noqa: BLE001 - an unparsable embedded definition: keep ours
                continue
            ours = {k: typestore.fielddefs.get(k) for k in types if k.startswith("seld_ros/msg/")}
            theirs = {k: v for k, v in types.items() if k.startswith("seld_ros/msg/")}
            if any(_fields(theirs[k]) != _fields(ours[k]) for k in theirs if ours[k] is not None):
                recorded.update(types)
    if not recorded:
        return typestore
    own = get_typestore(Stores.ROS2_JAZZY)
    names = {f"seld_ros/msg/{n}" for n in SELD_MSG_NAMES}
    folder = msg_definition_dir()
    base = {}
    for name in SELD_MSG_NAMES:  # today's definitions for the types the bag does not redefine
        base.update(get_types_from_msg((folder / f"{name}.msg").read_text(), f"seld_ros/msg/{name}"))
    base.update({k: v for k, v in recorded.items() if k in names})
    for name, text in AUDIO_COMMON_FLAVORS[audio_common].items():
        base.update(get_types_from_msg(text, name))
    own.register(base)
    return own


def _fields(typedef) -> list:
    """Field names and kinds of a parsed or registered type, comparable between the two."""
    fields = typedef[1] if isinstance(typedef, tuple) and len(typedef) == 2 else typedef
    return [(name, repr(desc)) for name, desc in fields]


class MessageDefinitionError(RuntimeError):
    """The seld_ros .msg files could not be found or parsed."""


def msg_definition_dir() -> Path:
    """Directory holding MultichannelAudio.msg & co (see module docstring for the search order)."""
    pkg = Path(__file__).resolve().parents[1]
    candidates = [pkg / "_msg", pkg.parent / "msg"]
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / "share" / "seld_ros" / "msg")
    for cand in candidates:
        if all((cand / f"{name}.msg").is_file() for name in SELD_MSG_NAMES):
            return cand
    raise MessageDefinitionError(
        "seld_ros message definitions not found; looked in: " + ", ".join(str(c) for c in candidates)
    )


@functools.lru_cache(maxsize=None)
def seld_typestore(store: str = "ROS2_JAZZY", audio_common: str = "ros_drivers"):
    """A rosbags typestore with the standard types of ``store`` (ROS2_JAZZY; ROS1_NOETIC for ROS 1 bags) plus
    the seld_ros types and one flavour of audio_common_msgs (``ros_drivers`` or ``mgonzs13``)."""
    typestore = get_typestore(getattr(Stores, store))
    folder = msg_definition_dir()
    types = {}
    for name in SELD_MSG_NAMES:
        text = (folder / f"{name}.msg").read_text()
        try:
            types.update(get_types_from_msg(text, f"seld_ros/msg/{name}"))
        except Exception as exc:  # rosbags raises its own parse errors
            raise MessageDefinitionError(f"cannot parse {folder / name}.msg: {exc}") from exc
    for name, text in AUDIO_COMMON_FLAVORS[audio_common].items():
        types.update(get_types_from_msg(text, name))
    typestore.register(types)
    return typestore

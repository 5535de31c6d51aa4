"""Opening, writing and describing rosbag2 bags (mcap or sqlite3) with ``rosbags``, ROS-free.

Every failure of the storage layer (missing file, truncated mcap, corrupt sqlite3, undecodable message) is raised
as :class:`BagError` with the bag path and what went wrong, so the command-line tools can print one line and exit
non-zero instead of a traceback from deep inside a storage plugin.
"""
from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Iterator

from seld_ros.bag.types import audio_common_flavor, seld_typestore, typestore_for_recorded_definitions

STORAGES = ("mcap", "sqlite3")


class BagError(RuntimeError):
    """A bag cannot be read or written (missing, truncated, corrupt, no such topic, undecodable message)."""


class _Bag:
    """A rosbags reader plus the typestore its messages decode with (ROS 2 CDR or ROS 1 serialization, and
    the audio_common flavour the bag uses); everything else is the reader's own API."""

    def __init__(self, reader, ros1: bool):
        self._reader, self.ros1 = reader, ros1
        self.audio_common = audio_common_flavor(c.msgtype for c in reader.connections)
        self.typestore = seld_typestore("ROS1_NOETIC" if ros1 else "ROS2_JAZZY", self.audio_common)
        if not ros1:
            # a bag recorded with an older seld_ros message definition (e.g. SoundEvent before
            # direction_front_folded) decodes with the definitions it embeds, not with today's
            self.typestore = typestore_for_recorded_definitions(reader.connections, self.typestore,
                                                                self.audio_common)

    def __getattr__(self, name):
        return getattr(self._reader, name)

    def deserialize(self, raw, msgtype: str):
        if self.ros1:
            return self.typestore.deserialize_ros1(raw, msgtype)
        return self.typestore.deserialize_cdr(raw, msgtype)


def is_ros1_bag(path) -> bool:
    """A ROS 1 bag file (``#ROSBAG V2.0`` magic; usually ``.bag``)."""
    path = Path(path)
    if not path.is_file():
        return False
    with path.open("rb") as f:
        return f.read(13) == b"#ROSBAG V2.0\n"


@contextlib.contextmanager
def open_bag(path) -> Iterator:
    """A reader for a rosbag2 folder, .mcap or .db3 file, or a ROS 1 .bag (``rosbags.rosbag1``); storage errors
    become BagError. Messages are decoded with :func:`iter_messages`."""
    from rosbags.rosbag1 import Reader as Reader1
    from rosbags.rosbag2 import Reader

    path = Path(path)
    if not path.exists():
        raise BagError(f"bag not found: {path}")
    ros1 = is_ros1_bag(path)
    if path.suffix == ".bag" and not ros1:
        raise BagError(f"cannot open bag {path}: a .bag file that is not a ROS 1 bag (no '#ROSBAG V2.0' header)")
    try:
        reader = Reader1(path) if ros1 else Reader(path)
        reader.open()
    except BagError:
        raise
    except Exception as exc:  # rosbags / mcap / sqlite3 raise many types for broken files
        kind = "ROS 1 bag" if ros1 else "bag"
        raise BagError(f"cannot open {kind} {path}: {_describe(exc)}") from exc
    try:
        yield _Bag(reader, ros1)
    finally:
        with contextlib.suppress(Exception):
            reader.close()


def iter_messages(reader, connections, path="") -> Iterator[tuple[object, int, object]]:
    """(connection, bag timestamp ns, deserialized message) in bag order; read/decode errors become BagError
    naming the topic and how many of its messages were read."""
    it = reader.messages(connections=connections)
    n = 0
    while True:
        try:
            conn, t, raw = next(it)
        except StopIteration:
            return
        except Exception as exc:
            raise BagError(f"bag {path} is truncated or corrupt (after {n} messages): {_describe(exc)}") from exc
        try:
            msg = reader.deserialize(raw, conn.msgtype)
        except Exception as exc:
            raise BagError(f"bag {path}: message {n} on {conn.topic} ({conn.msgtype}) cannot be decoded: "
                           f"{_describe(exc)}") from exc
        n += 1
        yield conn, t, msg


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or "no details"
    return f"{type(exc).__name__}: {text}"


def connections_for(reader, topic: str | None = None, msgtypes: tuple[str, ...] = ()) -> list:
    """Connections on ``topic`` (any type) or, without a topic, those of the given message types."""
    conns = list(reader.connections)
    if topic:
        return [c for c in conns if c.topic == topic]
    return [c for c in conns if c.msgtype in msgtypes]


def topic_summary(reader) -> dict[str, dict]:
    """{topic: {"type": msgtype, "count": messages}} as the bag's index says."""
    out: dict[str, dict] = {}
    for c in reader.connections:
        d = out.setdefault(c.topic, {"type": c.msgtype, "count": 0})
        d["count"] += int(c.msgcount or 0)
    return out


class BagWriter:
    """A rosbag2 writer for seld_ros types: ``add(topic, msgtype)`` once, then ``write(topic, t_ns, msg)``.

    ``storage``: 'mcap' (default, what Jazzy records) or 'sqlite3'. The bag folder must not exist unless
    ``overwrite``. ``audio_common``: which audio_common_msgs flavour the bag's types are (ros_drivers, mgonzs13). Message definitions are embedded, so ``ros2 bag play`` can replay the result."""

    def __init__(self, path, storage: str = "mcap", overwrite: bool = False, audio_common: str = "ros_drivers"):
        from rosbags.rosbag2 import StoragePlugin, Writer

        if storage not in STORAGES:
            raise BagError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")
        self.path = Path(path)
        if self.path.exists():
            if not overwrite:
                raise BagError(f"output bag {self.path} already exists (remove it or pass --overwrite)")
            if self.path.is_dir():
                shutil.rmtree(self.path)
            else:
                self.path.unlink()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self._ts = seld_typestore("ROS2_JAZZY", audio_common)
        self._writer = Writer(self.path, version=9, storage_plugin=plugin)
        self._conns: dict[str, tuple[object, str]] = {}
        self.counts: dict[str, int] = {}

    def __enter__(self) -> "BagWriter":
        try:
            self._writer.open()
        except Exception as exc:
            raise BagError(f"cannot create bag {self.path}: {_describe(exc)}") from exc
        return self

    def __exit__(self, *exc) -> None:
        self._writer.close()

    def add(self, topic: str, msgtype: str) -> None:
        if topic not in self._conns:
            self._conns[topic] = (self._writer.add_connection(topic, msgtype, typestore=self._ts), msgtype)
            self.counts[topic] = 0

    def write(self, topic: str, t_ns: int, msg) -> None:
        conn, msgtype = self._conns[topic]
        self._writer.write(conn, int(t_ns), self._ts.serialize_cdr(msg, msgtype))
        self.counts[topic] += 1

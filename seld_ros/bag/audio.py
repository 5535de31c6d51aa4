"""Audio out of bags: seld_ros ``MultichannelAudio``, ros-drivers audio_common ``AudioDataStamped`` / ``AudioData``
(ROS 2 and ROS 1 bags) and mgonzs13 audio_common ``AudioStamped``.

Both come out as :class:`BagChunk` (float32 ``(samples, channels)``, rate, layout, running ``first_sample_index``,
acquisition stamp), in bag order, ready for :class:`seld_ros.pipeline.SeldPipeline`.

audio_common bags (the common case in the wild) carry raw PCM bytes and no sample index; the format comes from
options (:class:`PcmFormat`) or from an ``audio_common_msgs/msg/AudioInfo`` topic in the same bag. ``AudioStamped``
(mgonzs13/audio_common) carries typed sample arrays and its format (PortAudio constant, channels, rate) in every
message. Both are decoded by :mod:`seld_ros.audio.audio_common`, the node's decoders: the sample index is counted
from the samples and moved past messages whose loss the header stamps show, exactly as the node does live. Stamps:
the message header stamp, or the bag time when the header is zero or absent (AudioData).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from seld_ros.audio.audio_common import AudioCommonError, RawPcmDecoder, TypedAudioDecoder
from seld_ros.audio.pcm import PCM_FORMATS, pcm_to_float  # noqa: F401 (re-exported for the bag tools)
from seld_ros.bag.io import BagError, connections_for, iter_messages, open_bag, topic_summary
from seld_ros.bag.messages import (
    AUDIO_COMMON_DATA,
    AUDIO_COMMON_INFO,
    AUDIO_COMMON_STAMPED,
    AUDIO_MSGTYPE,
    AUDIO_STAMPED,
    audio_from_msg,
    time_to_ns,
)
from seld_ros.constants import LAYOUT_CHANNELS, default_layout
from seld_ros.pipeline import AudioChunk

log = logging.getLogger(__name__)

AUDIO_TYPES = (AUDIO_MSGTYPE, AUDIO_COMMON_STAMPED, AUDIO_COMMON_DATA, AUDIO_STAMPED)
RAW_PCM_TYPES = (AUDIO_COMMON_STAMPED, AUDIO_COMMON_DATA)  # ros-drivers audio_common: bytes + AudioInfo
KNOWN_LAYOUTS = LAYOUT_CHANNELS  # layouts a bag's audio may name, with their channel counts


@dataclass
class PcmFormat:
    """How to read raw PCM bytes (audio_common). Unset fields (0 / '') come from an AudioInfo topic."""

    sample_rate: int = 0
    channels: int = 0
    sample_format: str = ""  # S16LE | F32LE | ... (PCM_FORMATS)
    layout: str = ""  # default by channel count: 4 foa_acn_sn3d, 2 stereo, 1 mono

    def complete(self) -> bool:
        return bool(self.sample_rate and self.channels and self.sample_format)


@dataclass
class BagChunk:
    samples: np.ndarray  # float32 (samples, channels)
    sample_rate: int
    channels: int
    layout: str
    first_sample_index: int
    stamp_ns: int
    frame_id: str
    bag_time_ns: int

    def to_audio_chunk(self, layout: str | None = None):
        return AudioChunk(samples=self.samples, sample_rate=self.sample_rate, channels=self.channels,
                          layout=layout or self.layout, first_sample_index=self.first_sample_index,
                          stamp_ns=self.stamp_ns, frame_id=self.frame_id)


@dataclass
class Discontinuity:
    kind: str  # gap | overlap
    index: int  # first_sample_index of the chunk where it was seen
    samples: int  # missing (gap) or repeated (overlap) sample frames
    sample_rate: int

    def __str__(self) -> str:
        what = "missing before" if self.kind == "gap" else "repeated at"
        return (f"{self.kind}: {self.samples} samples ({self.samples / max(self.sample_rate, 1) * 1e3:.1f} ms) "
                f"{what} sample index {self.index}")


def pick_audio_topic(reader, topic: str | None, path="") -> tuple[str, str]:
    """(topic, msgtype) of the audio to read: ``topic`` if given, else the only audio topic in the bag."""
    if topic:
        conns = connections_for(reader, topic)
        if not conns:
            known = ", ".join(_audio_topics(reader)) or "none"
            raise BagError(f"bag {path} has no topic {topic}; audio topics: {known}")
        if conns[0].msgtype not in _audio_types(reader):
            raise BagError(f"{topic} in {path} is {conns[0].msgtype}, not audio ({', '.join(_audio_types(reader))})")
        return topic, conns[0].msgtype
    found = _audio_topics(reader)
    if not found:
        topics = ", ".join(f"{c.topic} ({c.msgtype})" for c in reader.connections) or "none"
        raise BagError(f"bag {path} has no audio topic ({', '.join(_audio_types(reader))}); topics: {topics}")
    if len(found) > 1:
        raise BagError(f"bag {path} has several audio topics ({', '.join(found)}); choose one with --audio-topic")
    topic = found[0]
    return topic, connections_for(reader, topic)[0].msgtype


def _audio_topics(reader) -> list[str]:
    return sorted({c.topic for c in reader.connections if c.msgtype in _audio_types(reader)})


def _audio_types(reader) -> tuple[str, ...]:
    """Audio types of this bag: in an mgonzs13 audio_common bag ``AudioData`` holds typed arrays, not PCM bytes,
    and only its ``AudioStamped`` (format in every message) is audio."""
    if getattr(reader, "audio_common", "ros_drivers") == "mgonzs13":
        return (AUDIO_MSGTYPE, AUDIO_STAMPED)
    return (AUDIO_MSGTYPE, AUDIO_COMMON_STAMPED, AUDIO_COMMON_DATA)


def read_audio_info(reader, path="", near_topic: str = "") -> dict | None:
    """The first AudioInfo message in the bag as a dict (the one whose namespace matches ``near_topic`` first)."""
    conns = connections_for(reader, None, (AUDIO_COMMON_INFO,))
    if not conns:
        return None
    ns = near_topic.rsplit("/", 1)[0]
    conns.sort(key=lambda c: (not c.topic.startswith(ns + "/"), c.topic))
    for _, _, msg in iter_messages(reader, [conns[0]], path):
        return {"topic": conns[0].topic, "channels": int(msg.channels), "sample_rate": int(msg.sample_rate),
                "sample_format": str(msg.sample_format), "coding_format": str(msg.coding_format),
                "bitrate": int(msg.bitrate)}
    return None


def resolve_pcm(reader, pcm: PcmFormat | None, topic: str, path="") -> PcmFormat:
    """Options first, then the bag's AudioInfo; error if something is still unknown."""
    pcm = PcmFormat(**vars(pcm)) if pcm else PcmFormat()
    info = None if pcm.complete() else read_audio_info(reader, path, topic)
    if info:
        coding = info["coding_format"].lower()
        if coding and coding not in ("wave", "wav", "pcm", "raw", "s16le", "f32le"):
            raise BagError(f"{topic} in {path}: coding_format {info['coding_format']!r} (per {info['topic']}) is "
                           "compressed audio; only raw PCM ('wave') can be evaluated")
        pcm.sample_rate = pcm.sample_rate or info["sample_rate"]
        pcm.channels = pcm.channels or info["channels"]
        pcm.sample_format = pcm.sample_format or info["sample_format"]
    missing = [n for n in ("sample_rate", "channels", "sample_format") if not getattr(pcm, n)]
    if missing:
        raise BagError(f"{topic} in {path} carries raw PCM bytes and the bag has no AudioInfo topic that says "
                       "their format: give " + ", ".join("--" + m.replace("_", "-") for m in missing)
                       + " (e.g. --sample-rate 48000 --channels 4 --sample-format S16LE)")
    pcm.sample_format = pcm.sample_format.upper()
    if pcm.sample_format not in PCM_FORMATS:
        raise BagError(f"unsupported PCM sample format {pcm.sample_format!r}; known: {', '.join(PCM_FORMATS)}")
    pcm.layout = pcm.layout or default_layout(pcm.channels)
    if not pcm.layout:
        raise BagError(f"{pcm.channels}-channel audio: give its --layout")
    return pcm


def iter_audio(path, topic: str | None = None, pcm: PcmFormat | None = None, layout: str | None = None
               ) -> Iterator[BagChunk]:
    """Audio chunks of one topic in bag order. ``layout`` overrides the message's layout (MultichannelAudio);
    ``pcm`` gives rate/channels/format/layout for audio_common topics (else the bag's AudioInfo)."""
    with open_bag(path) as reader:
        topic, msgtype = pick_audio_topic(reader, topic, path)
        conns = connections_for(reader, topic)
        if msgtype == AUDIO_MSGTYPE:
            for _, t, msg in iter_messages(reader, conns, path):
                try:
                    samples = audio_from_msg(msg)
                except ValueError as exc:
                    raise BagError(f"{topic} in {path}, sample index {msg.first_sample_index}: {exc}") from None
                yield BagChunk(samples, int(msg.sample_rate), int(msg.channels), layout or str(msg.layout),
                               int(msg.first_sample_index), time_to_ns(msg.header.stamp), str(msg.header.frame_id),
                               int(t))
            return
        if msgtype == AUDIO_STAMPED:
            yield from _iter_audio_stamped(reader, conns, topic, path, pcm, layout)
            return
        fmt = resolve_pcm(reader, pcm, topic, path)
        decoder = RawPcmDecoder(fmt.sample_format, fmt.sample_rate, fmt.channels, layout or fmt.layout)
        for _, t, msg in iter_messages(reader, conns, path):
            if msgtype == AUDIO_COMMON_STAMPED:
                raw, stamp, frame_id = bytes(msg.audio.data), time_to_ns(msg.header.stamp), str(msg.header.frame_id)
            else:
                raw, stamp, frame_id = bytes(msg.data), 0, ""
            try:
                got = decoder.decode(raw, stamp)
            except AudioCommonError as exc:
                raise BagError(f"{topic} in {path}: {exc}") from None
            if got is not None:
                yield BagChunk(got.samples, got.sample_rate, got.channels, got.layout, got.first_sample_index,
                               stamp or int(t), frame_id, int(t))
        if decoder.pending_bytes:
            log.warning("%s: %d trailing bytes do not make a whole sample frame (%d bytes): ignored", topic,
                        decoder.pending_bytes, decoder.frame_bytes)


def _iter_audio_stamped(reader, conns, topic, path, pcm: PcmFormat | None, layout: str | None):
    """mgonzs13 AudioStamped: format per message (the node's decoder, seld_ros.audio.audio_common)."""
    decoder = TypedAudioDecoder(pcm.sample_rate if pcm else 0, pcm.channels if pcm else 0,
                                layout or (pcm.layout if pcm else ""))
    for _, t, msg in iter_messages(reader, conns, path):
        stamp = time_to_ns(msg.header.stamp)
        try:
            got = decoder.decode(msg, stamp)
        except AudioCommonError as exc:
            raise BagError(f"{topic} in {path}, message at sample index {decoder.next_index}: {exc}") from None
        if got is None:
            continue
        if not got.layout:
            raise BagError(f"{got.channels}-channel audio on {topic}: give its --layout")
        yield BagChunk(got.samples, got.sample_rate, got.channels, got.layout, got.first_sample_index,
                       stamp or int(t), str(msg.header.frame_id), int(t))


class ContinuityCheck:
    """Follows first_sample_index across chunks; reports gaps (lost audio) and overlaps (repeated audio)."""

    def __init__(self):
        self.next_index: int | None = None
        self.first_index: int | None = None
        self.chunks = 0
        self.issues: list[Discontinuity] = []

    def update(self, chunk: BagChunk) -> Discontinuity | None:
        idx, n = chunk.first_sample_index, chunk.samples.shape[0]
        issue = None
        if self.next_index is None:
            self.first_index = idx
        elif idx > self.next_index:
            issue = Discontinuity("gap", idx, idx - self.next_index, chunk.sample_rate)
        elif idx < self.next_index:
            issue = Discontinuity("overlap", idx, min(self.next_index - idx, n), chunk.sample_rate)
        if issue:
            self.issues.append(issue)
        self.next_index = idx + n if self.next_index is None else max(self.next_index, idx + n)
        self.chunks += 1
        return issue


@dataclass
class BagAudio:
    samples: np.ndarray  # float32 (channels, samples); gaps zero-filled, overlaps dropped
    sample_rate: int
    layout: str
    first_sample_index: int
    start_stamp_ns: int
    frame_id: str
    chunks: int
    issues: list[Discontinuity] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.samples.shape[1] / float(self.sample_rate)


def read_audio(path, topic: str | None = None, pcm: PcmFormat | None = None, layout: str | None = None,
               warn: bool = True) -> BagAudio:
    """All audio of a topic as one array. Gaps in first_sample_index are zero-filled and overlaps dropped, each
    reported (in ``issues`` and, with ``warn``, as a log warning); a change of rate or channels is an error."""
    check = ContinuityCheck()
    parts: list[np.ndarray] = []
    first: BagChunk | None = None
    for ch in iter_audio(path, topic, pcm, layout):
        if first is None:
            first = ch
        elif (ch.sample_rate, ch.channels) != (first.sample_rate, first.channels):
            raise BagError(f"{path}: audio format changes at sample index {ch.first_sample_index} "
                           f"({first.channels} ch @ {first.sample_rate} Hz -> {ch.channels} ch @ {ch.sample_rate} Hz)"
                           "; one wav cannot hold both")
        expected = check.next_index
        issue = check.update(ch)
        data = ch.samples
        if issue and issue.kind == "gap":
            parts.append(np.zeros((issue.samples, ch.channels), np.float32))
        elif issue and issue.kind == "overlap":
            data = data[expected - ch.first_sample_index:]
        if issue and warn:
            log.warning("%s: %s", path, f"{issue}: " + ("zero-filled" if issue.kind == "gap" else "dropped"))
        if data.shape[0]:
            parts.append(data)
    if first is None:
        raise BagError(f"bag {path} has no audio messages")
    samples = np.concatenate(parts, axis=0).T if parts else np.zeros((first.channels, 0), np.float32)
    return BagAudio(np.ascontiguousarray(samples, dtype=np.float32), first.sample_rate, first.layout,
                    first.first_sample_index, first.stamp_ns, first.frame_id, check.chunks,
                    check.issues)


def scan_audio(path, topic: str, pcm: PcmFormat | None = None) -> dict:
    """Format, length and continuity of an audio topic (for ``seld-bag info``)."""
    check = ContinuityCheck()
    n_msgs = n_samples = 0
    first = last = None
    for ch in iter_audio(path, topic, pcm):
        check.update(ch)
        first = first or ch
        last = ch
        n_msgs += 1
        n_samples += ch.samples.shape[0]
    if first is None:
        return {"messages": 0}
    span = check.next_index - check.first_index
    return {"messages": n_msgs, "sample_rate": first.sample_rate, "channels": first.channels,
            "layout": first.layout, "frame_id": first.frame_id, "samples": n_samples,
            "duration_s": span / first.sample_rate, "first_sample_index": check.first_index,
            "first_stamp_ns": first.stamp_ns, "last_stamp_ns": last.stamp_ns,
            "chunk_ms": n_samples / n_msgs / first.sample_rate * 1e3,
            "gaps": sum(1 for i in check.issues if i.kind == "gap"),
            "gap_samples": sum(i.samples for i in check.issues if i.kind == "gap"),
            "overlaps": sum(1 for i in check.issues if i.kind == "overlap"),
            "issues": [str(i) for i in check.issues[:20]]}


def bag_path_name(path) -> str:
    p = Path(path)
    return p.stem if p.suffix in (".mcap", ".db3") else p.name


def bag_info(path, pcm=None) -> dict:
    """Storage, duration, topics and, for audio topics, format and sample continuity (reads the audio topic).
    ``pcm``: format of raw audio topics whose bag has no AudioInfo (:class:`seld_ros.bag.audio.PcmFormat`)."""
    with open_bag(path) as reader:
        topics = topic_summary(reader)
        meta = reader
        start, end = int(meta.start_time), int(meta.end_time)
        count = int(meta.message_count)
        fmt = "ROS 1 bag" if reader.ros1 else "rosbag2"
    info = {"path": str(path), "format": fmt, "messages": count, "start_ns": start if count else None,
            "duration_s": (end - start) / 1e9 if count else 0.0, "topics": topics, "audio": {}}
    for topic, d in topics.items():
        if d["type"] in AUDIO_TYPES:
            try:
                info["audio"][topic] = scan_audio(path, topic, pcm)
            except BagError as exc:
                info["audio"][topic] = {"error": str(exc)}
    return info

"""wav (+ DCASE CSV) -> rosbag2 and back, ROS-free.

``from_dcase`` writes what a microphone-array driver would have recorded:

* ``MultichannelAudio`` chunks of ``chunk_ms`` on the audio topic: header stamp = start time + sample offset of the
  chunk's first sample, ``first_sample_index`` running from 0, layout as given (FOA, A-format, stereo, ...),
  float32 samples exactly as in the wav (int16/int32 wavs are scaled to [-1, 1) as ``read_wav`` does);
* one ``SoundEventArray`` per 100 ms label frame on the ground-truth topic (empty frames included, up to the end
  of the audio): track_id = the CSV's source index, confidence 1, distance in metres (NaN when unknown),
  frame_index = label frame;
* bag timestamps = header stamps (audio time), so ``ros2 bag play`` replays at the recorded pace.

With ``audio_common="ros2"`` the audio goes out as a microphone driver of the ros-drivers audio_common stack
records it instead: raw PCM bytes (``sample_format``, S16LE by default) in ``audio_common_msgs/AudioDataStamped`` on
``/audio/audio_stamped`` plus one ``AudioInfo`` on ``/audio/audio_info``; with ``audio_common="ros1"`` a ROS 1 ``.bag``
as ``audio_capture`` records it (``AudioData`` on ``/audio/audio`` + ``AudioInfo``). These carry no sample index
and no layout (the readers count samples and take the layout from the channel count: 2 = stereo, 4 = FOA).
Reference labels in the DCASE 2025 stereo format become events with ``direction_front_folded`` set.

``to_wav`` concatenates an audio topic back into a float32 wav: bit-exact for a bag written by ``from_dcase``;
gaps in ``first_sample_index`` are zero-filled and overlaps dropped, with a warning each.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from seld_ros.audio.pcm import PCM_FORMATS
from seld_ros.bag.audio import KNOWN_LAYOUTS, BagAudio, PcmFormat, read_audio
from seld_ros.bag.io import BagError, BagWriter
from seld_ros.bag.messages import (
    AUDIO_COMMON_DATA,
    AUDIO_COMMON_INFO,
    AUDIO_COMMON_STAMPED,
    AUDIO_MSGTYPE,
    EVENTS_MSGTYPE,
    audio_to_msg,
    header,
    labels_to_events_msgs,
)
from seld_ros.bag.types import seld_typestore
from seld_ros.classes import STARSS23_CLASSES
from seld_ros.constants import LABEL_HOP_S, default_layout
from seld_ros.data.dcase import _split_lines, detect_format, read_labels, read_wav, write_wav
from seld_ros.data.labels import LabelError, SceneLabels

log = logging.getLogger(__name__)

NS = 1_000_000_000
DEFAULT_START_TIME_S = 1_700_000_000.0  # a fixed epoch (2023-11-14) so that generated bags are reproducible
DEFAULT_AUDIO_TOPIC = "/audio"
DEFAULT_GT_TOPIC = "/seld/ground_truth"
DEFAULT_FRAME_ID = "mic_array"
AUDIO_COMMON_MODES = ("", "ros2", "ros1")
# where the ros-drivers audio_common driver (audio_capture) publishes
AUDIO_COMMON_TOPICS = {"ros2": "/audio/audio_stamped", "ros1": "/audio/audio"}
AUDIO_COMMON_INFO_TOPIC = "/audio/audio_info"
PCM_WRITE_FORMATS = ("S16LE", "S32LE", "F32LE")


def float_to_pcm(samples: np.ndarray, sample_format: str) -> bytes:
    """(samples, channels) float in [-1, 1] -> interleaved PCM bytes; the inverse of
    ``seld_ros.audio.pcm.pcm_to_float`` for every value it can produce (integers: round, clip to full scale)."""
    if sample_format not in PCM_WRITE_FORMATS:
        raise BagError(f"cannot write PCM format {sample_format!r}; writable: {', '.join(PCM_WRITE_FORMATS)}")
    _, dtype, scale, _ = PCM_FORMATS[sample_format]
    x = np.asarray(samples, dtype=np.float64)
    if sample_format == "F32LE":
        return x.astype("<f4").tobytes()
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale), info.min, info.max).astype(dtype).tobytes()


def sample_stamp_ns(start_ns: int, index: int, rate: int) -> int:
    """Acquisition time of sample ``index`` (integer arithmetic, rounded to the nearest ns)."""
    return int(start_ns) + (int(index) * NS + rate // 2) // rate


def read_wav_native(path) -> tuple[np.ndarray, int]:
    """A wav at its own rate as float32 (channels, samples), scaled as seld_ros.data.dcase.read_wav does."""
    try:
        return read_wav(path, target_fs=None)
    except (OSError, ValueError) as exc:
        raise BagError(f"cannot read wav {path}: {exc}") from None


@dataclass
class FromDcaseSummary:
    bag: str
    storage: str
    sample_rate: int
    channels: int
    layout: str
    duration_s: float
    audio_messages: int
    gt_messages: int
    gt_events: int
    start_ns: int


def from_dcase(wav, csv, out_bag, chunk_ms: float = 100.0, start_time_s: float = DEFAULT_START_TIME_S,
               layout: str | None = None, storage: str = "mcap", audio_topic: str = DEFAULT_AUDIO_TOPIC,
               gt_topic: str = DEFAULT_GT_TOPIC, frame_id: str = DEFAULT_FRAME_ID,
               class_names: Sequence[str] | None = None, overwrite: bool = False,
               label_format: str = "auto", audio_common: str = "", sample_format: str = "S16LE") -> FromDcaseSummary:
    """Write a bag from a wav and (optionally, ``csv=None`` for none) its DCASE label CSV. ``audio_common``:
    "" (MultichannelAudio), "ros2" or "ros1" (raw PCM in ``sample_format``, see the module docstring; for "ros1"
    ``out_bag`` is the .bag file)."""
    if audio_common not in AUDIO_COMMON_MODES:
        raise BagError(f"audio_common must be '', 'ros2' or 'ros1', got {audio_common!r}")
    audio, fs = read_wav_native(wav)
    channels = audio.shape[0]
    layout = layout or default_layout(channels)
    if not layout:
        raise BagError(f"{wav} has {channels} channels: give its layout (--layout)")
    if layout in KNOWN_LAYOUTS and KNOWN_LAYOUTS[layout] != channels:
        raise BagError(f"layout {layout} has {KNOWN_LAYOUTS[layout]} channels, but {wav} has {channels}")
    if layout not in KNOWN_LAYOUTS:
        raise BagError(f"unknown layout {layout!r}; known: {', '.join(KNOWN_LAYOUTS)}")
    if not chunk_ms > 0:
        raise BagError(f"chunk size must be positive, got {chunk_ms} ms")
    step = max(1, int(round(chunk_ms * fs / 1000.0)))
    start_ns = int(round(float(start_time_s) * NS))
    n = audio.shape[1]

    labels = None
    folded = False
    if csv is not None:
        per_frame = int(round(fs * LABEL_HOP_S))
        try:
            labels = read_labels(csv, label_format, tuple(class_names or STARSS23_CLASSES))
            folded = _label_format(csv, label_format) == "dcase2025"
        except (LabelError, OSError) as exc:
            raise BagError(f"cannot read labels {csv}: {exc}") from None
        frames = max(labels.num_frames, -(-n // per_frame))
        if frames > labels.num_frames:  # silence up to the end of the audio is ground truth too
            labels = _pad_labels(labels, frames)

    # (bag time, order, topic, message): audio before ground truth at equal times
    items: list[tuple[int, int, str, object]] = []
    samples = np.ascontiguousarray(audio.T)  # (n, ch) interleaved order
    if audio_common:
        audio_type, types = _audio_common_items(items, samples, fs, channels, audio_common, sample_format, step,
                                                start_ns, audio_topic, frame_id)
    else:
        audio_type, types = AUDIO_MSGTYPE, {audio_topic: AUDIO_MSGTYPE}
        for i in range(0, n, step):
            t = sample_stamp_ns(start_ns, i, fs)
            items.append((t, 0, audio_topic, audio_to_msg(samples[i:i + step], fs, layout, i, t, frame_id)))
    gt_events = 0
    if labels is not None:
        per_frame = int(round(fs * LABEL_HOP_S))
        msgs = labels_to_events_msgs(labels, lambda k: sample_stamp_ns(start_ns, k * per_frame, fs), frame_id,
                                     front_folded=folded)
        for m in msgs:
            gt_events += len(m.events)
            items.append((sample_stamp_ns(start_ns, int(m.frame_index) * per_frame, fs), 1, gt_topic, m))
    items.sort(key=lambda x: (x[0], x[1]))

    if audio_common == "ros1":
        counts = _write_ros1(out_bag, items, overwrite)
    else:
        with BagWriter(out_bag, storage, overwrite) as w:
            for t, _, topic, msg in items:
                w.add(topic, types.get(topic, EVENTS_MSGTYPE))
                w.write(topic, t, msg)
            counts = dict(w.counts)
    return FromDcaseSummary(str(out_bag), "ros1" if audio_common == "ros1" else storage, fs, channels, layout,
                            n / fs, counts.get(audio_topic, 0),
                            counts.get(gt_topic, 0), gt_events, start_ns)


def _label_format(csv, fmt: str) -> str:
    """The format a label file is read as (``auto`` resolved the way ``read_labels`` resolves it)."""
    if fmt != "auto":
        return fmt
    from pathlib import Path

    return detect_format(_split_lines(Path(csv).read_text()))


def _audio_common_items(items, samples, fs, channels, mode, sample_format, step, start_ns, audio_topic, frame_id):
    """Append the AudioInfo and PCM audio messages of ``samples`` to ``items``; returns (audio type, {topic: type})."""
    ts = seld_typestore("ROS1_NOETIC" if mode == "ros1" else "ROS2_JAZZY").types
    if not 0 < channels < 256:
        raise BagError(f"audio_common AudioInfo.channels is a uint8: {channels} channels cannot be written")
    pcm = float_to_pcm(samples, sample_format)
    frame_bytes = len(pcm) // max(samples.shape[0], 1)
    audio_type = AUDIO_COMMON_DATA if mode == "ros1" else AUDIO_COMMON_STAMPED
    info = ts[AUDIO_COMMON_INFO](channels=int(channels), sample_rate=int(fs), sample_format=sample_format,
                                 bitrate=int(fs * frame_bytes * 8), coding_format="wave")
    items.append((start_ns, -1, AUDIO_COMMON_INFO_TOPIC, info))
    for i in range(0, samples.shape[0], step):
        t = sample_stamp_ns(start_ns, i, fs)
        data = ts[AUDIO_COMMON_DATA](data=np.frombuffer(pcm[i * frame_bytes:(i + step) * frame_bytes],
                                                        np.uint8).copy())
        msg = data if mode == "ros1" else ts[AUDIO_COMMON_STAMPED](header=header(t, frame_id), audio=data)
        items.append((t, 0, audio_topic, msg))
    return audio_type, {audio_topic: audio_type, AUDIO_COMMON_INFO_TOPIC: AUDIO_COMMON_INFO}


def _write_ros1(path, items, overwrite: bool) -> dict:
    """A ROS 1 bag (rosbags.rosbag1) of (time, order, topic, message) items."""
    from pathlib import Path

    from rosbags.rosbag1 import Writer

    path = Path(path)
    if path.exists():
        if not overwrite:
            raise BagError(f"output bag {path} already exists (remove it or pass --overwrite)")
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    ts = seld_typestore("ROS1_NOETIC")
    counts: dict = {}
    conns: dict = {}
    try:
        with Writer(path) as w:
            for t, _, topic, msg in items:
                msgtype = msg.__msgtype__
                if topic not in conns:
                    conns[topic] = w.add_connection(topic, msgtype, typestore=ts)
                w.write(conns[topic], int(t), ts.serialize_ros1(msg, msgtype))
                counts[topic] = counts.get(topic, 0) + 1
    except BagError:
        raise
    except Exception as exc:  # rosbags raises its own writer errors
        raise BagError(f"cannot write ROS 1 bag {path}: {type(exc).__name__}: {exc}") from exc
    return counts


def _pad_labels(labels, frames: int):
    out = SceneLabels.empty(frames, labels.class_names, labels.max_events, labels.frame_hop_s)
    t = labels.num_frames
    out.class_id[:t], out.source_id[:t], out.doa[:t], out.distance[:t] = (
        labels.class_id, labels.source_id, labels.doa, labels.distance)
    return out


def to_wav(bag, out_wav, topic: str | None = None, pcm: PcmFormat | None = None,
           layout: str | None = None) -> BagAudio:
    """Write a bag's audio topic as a float32 wav (bit-exact for float32 audio); returns what was read, with the
    gaps/overlaps found in ``issues`` (each also logged as a warning)."""
    audio = read_audio(bag, topic, pcm, layout)
    try:
        write_wav(out_wav, audio.samples, audio.sample_rate)
    except OSError as exc:
        raise BagError(f"cannot write {out_wav}: {exc}") from None
    return audio

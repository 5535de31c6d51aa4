"""audio_common messages as sample chunks, one way for the node and the bag tools alike (no ROS: messages are read
by their field names, so rclpy and rosbags messages both work).

Two ROS 2 audio stacks share the package name audio_common_msgs:

* ros-drivers' ``AudioDataStamped`` / ``AudioData``: raw PCM bytes; the format comes from an ``AudioInfo`` message or
  from the user (parameters, options); the sample index is counted from the bytes (a partial sample frame at the end
  of a message is carried into the next one) — :class:`RawPcmDecoder`;
* mgonzs13's ``AudioStamped``: typed sample arrays with the format (PortAudio constant, channels, rate) in every
  message; the sample index is counted from the samples — :class:`TypedAudioDecoder`.

Neither carries a sample index, so a lost message would go unnoticed by counting alone. One placement rule
(:class:`StampPlacement`) serves both: when a message's header stamp is later than the sample count predicts by more
than the stamp jitter (20 ms, or half a message), the lost span is skipped in the index, so the pipeline sees (and
reports) a gap. A zero header stamp places nothing (the bag tools then stamp the chunk with its bag time).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seld_ros.audio.pcm import PcmAssembler, typed_audio_to_float
from seld_ros.constants import NS, default_layout

RAW_PCM_CODINGS = ("wave", "wav", "raw", "pcm", "")


class AudioCommonError(ValueError):
    """An audio_common message that cannot be read (unknown format, no rate, ...): the message says why."""


@dataclass
class DecodedAudio:
    samples: np.ndarray  # float32 (samples, channels)
    sample_rate: int
    channels: int
    layout: str  # the given layout, else by channel count (4 foa_acn_sn3d, 2 stereo, 1 mono)
    first_sample_index: int
    stamp_ns: int  # the header stamp (0 when unset)


class StampPlacement:
    """Moves the running sample index past audio that the stamps say was lost (see the module docstring)."""

    def __init__(self) -> None:
        self.anchor: tuple[int, int] | None = None  # (sample index, stamp) the prediction starts from

    def reset(self) -> None:
        self.anchor = None

    def place(self, next_index: int, stamp_ns: int, samples: int, rate: int) -> int:
        """The index the next ``samples`` samples get (``next_index``, or later after lost messages)."""
        if self.anchor is not None and stamp_ns > 0:
            predicted = self.anchor[1] + (next_index - self.anchor[0]) * NS // rate
            late = stamp_ns - predicted
            # tolerance: stamp jitter, up to half a message (a lost message is a whole one)
            if late > max(20_000_000, samples * (NS // 2) // rate):
                next_index += round(late * rate / NS)
                self.anchor = (next_index, stamp_ns)
        if self.anchor is None and stamp_ns > 0:
            self.anchor = (next_index, stamp_ns)
        return next_index


class TypedAudioDecoder:
    """mgonzs13 ``AudioStamped``: ``sample_rate`` / ``channels`` / ``layout`` fill in what a message leaves at 0/''."""

    def __init__(self, sample_rate: int = 0, channels: int = 0, layout: str = ""):
        self.sample_rate, self.channels, self.layout = int(sample_rate), int(channels), layout
        self.next_index = 0
        self._placement = StampPlacement()

    def decode(self, msg, stamp_ns: int) -> DecodedAudio | None:
        """One message -> samples (None when it holds none). Raises AudioCommonError for an unreadable one."""
        info = msg.audio.info
        rate = int(info.rate) or self.sample_rate
        channels = int(info.channels) or self.channels
        if not rate:
            raise AudioCommonError("info.rate is 0 and no sample rate is given (audio_common.sample_rate / "
                                   "--sample-rate)")
        try:
            samples = typed_audio_to_float(msg.audio.audio_data, int(info.format), channels)
        except ValueError as exc:
            raise AudioCommonError(str(exc)) from None
        if samples.shape[0] == 0:
            return None
        index = self._placement.place(self.next_index, stamp_ns, samples.shape[0], rate)
        self.next_index = index + samples.shape[0]
        return DecodedAudio(samples, rate, channels, self.layout or default_layout(channels), index, stamp_ns)


class RawPcmDecoder:
    """ros-drivers ``AudioDataStamped`` / ``AudioData`` (raw PCM bytes). The format is what the user gave
    (``sample_format``, ``sample_rate``, ``channels``), else what the last ``AudioInfo`` said."""

    def __init__(self, sample_format: str = "", sample_rate: int = 0, channels: int = 0, layout: str = ""):
        self.given = (sample_format, int(sample_rate), int(channels))
        self.layout = layout
        self.info: tuple | None = None  # (sample_format, rate, channels) of the last AudioInfo
        self._assembler: PcmAssembler | None = None
        self._rate = 0
        self._placement = StampPlacement()

    def set_info(self, info) -> None:
        """An AudioInfo message. Raises AudioCommonError (and forgets the format) when it is not raw PCM."""
        if (info.coding_format or "").lower() not in RAW_PCM_CODINGS:
            self.info = None
            raise AudioCommonError(f"audio_common coding_format {info.coding_format!r} is not raw PCM")
        self.info = (info.sample_format, int(info.sample_rate), int(info.channels))

    @property
    def format(self) -> tuple:
        info = self.info or ("", 0, 0)
        return tuple(g or i for g, i in zip(self.given, info))

    @property
    def pending_bytes(self) -> int:
        return self._assembler.pending_bytes if self._assembler is not None else 0

    @property
    def frame_bytes(self) -> int:
        return self._assembler.frame_bytes if self._assembler is not None else 0

    def decode(self, data: bytes, stamp_ns: int) -> DecodedAudio | None:
        """The bytes of one message -> samples (None while less than one sample frame is at hand)."""
        fmt, rate, channels = self.format
        if not (fmt and rate and channels):
            raise AudioCommonError("sample format/rate/channels unknown (no AudioInfo message, and none given as "
                                   "audio_common.* parameters or options)")
        asm = self._assembler
        if asm is None or (asm.sample_format, self._rate, asm.channels) != (fmt, rate, channels):
            try:
                asm = self._assembler = PcmAssembler(fmt, channels)
            except ValueError as exc:
                raise AudioCommonError(str(exc)) from None
            self._rate = rate
            self._placement.reset()
        placed = self._placement.place(asm.next_index, stamp_ns, len(data) // asm.frame_bytes, rate)
        if placed != asm.next_index:
            asm.reset(next_index=placed)
        samples, index = asm.push(bytes(data))
        if samples.shape[0] == 0:
            return None
        return DecodedAudio(samples, rate, channels, self.layout or default_layout(channels), index, stamp_ns)

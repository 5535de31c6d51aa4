"""The node's audio_common input: subscriptions for whichever audio_common_msgs flavour is installed, decoded by
seld_ros.audio.audio_common (the same decoders the bag tools use, so a live stream and its recording give the same
chunks).

Two ROS 2 audio stacks share the package name audio_common_msgs: ros-drivers' AudioDataStamped (raw PCM bytes; the
format comes from AudioInfo on ~/audio_info or from the audio_common.* parameters) and mgonzs13's AudioStamped (typed
sample arrays with the format in every message). ``audio_common.msg_type`` picks one; auto takes whichever the
installed package provides. Both arrive on ~/audio_stamped.
"""
from __future__ import annotations

import time

from seld_ros.audio.audio_common import AudioCommonError, RawPcmDecoder, TypedAudioDecoder
from seld_ros.health import Fault
from seld_ros.pipeline import AudioChunk
from seld_ros.ros.conversions import time_to_ns
from seld_ros.ros.params import StartupError

FLAVOURS = {"AudioStamped": "mgonzs13/audio_common", "AudioDataStamped": "ros-drivers/audio_common"}


class AudioCommonInput:
    """Subscribes ~/audio_stamped (and ~/audio_info for raw PCM) on ``node`` and hands chunks to ``node.enqueue``;
    unreadable messages are counted (``Fault.AUDIO_COMMON_FORMAT``) and warned about through the node's throttle."""

    @classmethod
    def attach(cls, node, qos) -> "AudioCommonInput | None":
        """The input, or None when audio_common input is off or audio_common_msgs is not installed."""
        s = node.settings
        if not s["audio_common.enable"]:
            return None
        try:
            import audio_common_msgs.msg as ac_msgs  # optional: installed by users of either audio stack
        except ImportError:
            node.get_logger().info("audio_common_msgs is not installed: only ~/audio (MultichannelAudio) is used")
            return None
        kind = s["audio_common.msg_type"]
        if kind == "auto":
            kind = "AudioStamped" if hasattr(ac_msgs, "AudioStamped") else "AudioDataStamped"
        if not hasattr(ac_msgs, kind):
            have = [n for n in FLAVOURS if hasattr(ac_msgs, n)]
            raise StartupError(f"audio_common.msg_type {kind}: the installed audio_common_msgs has no {kind} "
                               f"(it has {', '.join(have) or 'neither AudioDataStamped nor AudioStamped'}; "
                               "ros-drivers/audio_common provides AudioDataStamped, mgonzs13/audio_common "
                               "AudioStamped)")
        return cls(node, qos, ac_msgs, kind)

    def __init__(self, node, qos, ac_msgs, kind: str):
        self.node, self.kind = node, kind
        s = node.settings
        layout = s["input_layout"]
        if kind == "AudioStamped":
            self.decoder = TypedAudioDecoder(s["audio_common.sample_rate"], s["audio_common.channels"], layout)
            node.create_subscription(ac_msgs.AudioStamped, "~/audio_stamped", self._on_audio_stamped, qos)
        else:
            self.decoder = RawPcmDecoder(s["audio_common.sample_format"], s["audio_common.sample_rate"],
                                         s["audio_common.channels"], layout)
            node.create_subscription(ac_msgs.AudioInfo, "~/audio_info", self._on_audio_info, 10)
            node.create_subscription(ac_msgs.AudioDataStamped, "~/audio_stamped", self._on_audio_data_stamped, qos)
        node.get_logger().info(f"audio_common input: audio_common_msgs/{kind} on ~/audio_stamped")

    def _on_audio_info(self, info) -> None:
        try:
            self.decoder.set_info(info)
        except AudioCommonError as exc:
            self.node._throttle.warn(Fault.AUDIO_COMMON_CODING, f"{exc}: ~/audio_stamped is ignored")

    def _on_audio_stamped(self, msg) -> None:
        self._decode(lambda stamp: self.decoder.decode(msg, stamp), msg.header)

    def _on_audio_data_stamped(self, msg) -> None:
        self._decode(lambda stamp: self.decoder.decode(msg.audio.data, stamp), msg.header)

    def _decode(self, decode, header) -> None:
        node = self.node
        node.counters["chunks_in"] += 1
        try:
            got = decode(time_to_ns(header.stamp))
        except AudioCommonError as exc:
            node.counters.add(Fault.AUDIO_COMMON_FORMAT)
            node._throttle.warn(Fault.AUDIO_COMMON_FORMAT, f"~/audio_stamped ({self.kind}): {exc}: chunk dropped")
            return
        if got is not None:
            node.enqueue(AudioChunk(samples=got.samples, sample_rate=got.sample_rate, channels=got.channels,
                                    layout=got.layout, first_sample_index=got.first_sample_index,
                                    stamp_ns=got.stamp_ns, frame_id=header.frame_id,
                                    received_monotonic=time.monotonic()))

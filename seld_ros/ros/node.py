"""seld_node: the ROS 2 shell around seld_ros.pipeline.SeldPipeline.

Threads: the executor thread only converts each audio message to an array view and
queues it; one worker thread runs the pipeline (features, network, decoder,
tracker) and publishes. In live mode a full queue drops its OLDEST chunk (counted
and reported: the freshest audio matters most to a robot); in replay mode the
subscription is reliable/keep-all and the callback blocks on a full queue, so DDS
flow control slows the player instead of losing audio.

Nothing is lost without a word: every dropped, rejected, concealed, skipped or
late piece of audio is counted by kind, logged (throttled, with the suppressed
count always reported by a periodic summary) and shown in /diagnostics, whose
level is WARN while problems occur and ERROR while they persist; ``lost_audio_s``
totals the audio that never reached the network. At shutdown the worker drains
what was already received (bounded by DRAIN_TIMEOUT_S) and counts what it could
not process.
"""
from __future__ import annotations

import collections
import difflib
import logging
import os
import queue
import signal
import sys
import threading
import time

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from visualization_msgs.msg import MarkerArray

from seld_ros.audio.pcm import PcmAssembler
from seld_ros.constants import default_layout
from seld_ros.health import (
    Fault,
    FaultCounter,
    Level,
    LevelTracker,
    NoAudioWatch,
    Summary,
    Throttle,
    diagnostic_values,
    status_message,
    watched_counts,
)
from seld_ros.msg import MultichannelAudio, SoundEventArray
from seld_ros.pipeline import AudioChunk, InputError, PipelineError, SeldPipeline
from seld_ros.ros import conversions, markers
from seld_ros.ros.params import PARAMS, PARAMS_BY_NAME, NodeSettings, ParamError, check_value, usage_text, wants_help

try:  # rclpy >= Humble
    from rclpy.executors import ExternalShutdownException
except ImportError:  # pragma: no cover
    class ExternalShutdownException(Exception):
        pass


class StartupError(RuntimeError):
    """The node cannot start (missing/corrupt model, unusable backend, bad parameters)."""


# At shutdown, process what was already received for at most this long: the node must end within 2 s of SIGINT
# under load (ros2 launch escalates to SIGTERM after its sigterm_timeout, 5 s by default).
DRAIN_TIMEOUT_S = 0.5
MARKER_CLEAR_WAIT_S = 0.3  # at shutdown, for reliable subscribers (RViz) to acknowledge the DELETEALL markers
# Largest message best-effort delivery carried intact in our measurement over Fast DDS (benchmarks/bench_faults.py,
# docs/interfaces.md); bigger messages on a best-effort subscription are warned about.
BEST_EFFORT_MAX_BYTES = 256 * 1024


class SeldNode(Node):
    def __init__(self, argv=None, **kwargs):
        super().__init__("seld_node", **kwargs)
        self._log_handler = _route_python_logging(self.get_logger())
        self._check_overrides(sys.argv if argv is None else argv)
        self.settings = self._declare_and_read_parameters()
        self._throttle = Throttle(self.get_logger(), self.settings["warn_throttle_s"])
        self.pipeline = self._build_pipeline()
        _add_pre_set_parameters_callback(self, _widen_integers_for_float_parameters)
        self.add_on_set_parameters_callback(self._on_set_parameters)

        replay = self.settings["mode"] == "replay"
        if replay:
            qos = QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE)
        else:
            qos = QoSProfile(
                depth=self.settings["qos_depth"],
                reliability=ReliabilityPolicy.RELIABLE if self.settings["qos_reliability"] == "reliable"
                else qos_profile_sensor_data.reliability,
                history=HistoryPolicy.KEEP_LAST,
            )
        self._best_effort = not replay and self.settings["qos_reliability"] == "best_effort"
        self._queue: queue.Queue = queue.Queue(maxsize=self.settings["queue_size"])
        self._stop = threading.Event()
        self._closing = threading.Event()
        self._discarded_s = 0.0
        self._dropped_since_processed = False
        self._lock = threading.Lock()
        self.counters = FaultCounter()
        self._latencies_ms: collections.deque = collections.deque(maxlen=2000)
        self._proc_s = 0.0
        self._audio_s = 0.0
        self._last_frame_id = self.settings["frame_id"] or "mic_array"

        self.pub_events = self.create_publisher(SoundEventArray, "~/events", 10)
        self.pub_markers = self.create_publisher(MarkerArray, "~/markers", 10)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.sub_audio = self.create_subscription(MultichannelAudio, "~/audio", self._on_audio, qos,
                                                  **_qos_event_kwargs(self._on_incompatible_qos, self._on_message_lost))
        self._setup_audio_common(qos)
        self._level = LevelTracker()
        self._summary = Summary()
        self._no_audio = NoAudioWatch(self.sub_audio.topic_name, self.settings["no_audio_timeout_s"],
                                      time.monotonic())
        self.create_timer(self.settings["diagnostics_period_s"], self._publish_diagnostics)
        self._worker = threading.Thread(target=self._work, name="seld_worker", daemon=True)
        self._worker.start()
        info = self.pipeline.info()
        front = ("stereo front end (2 ch left/right; directions front-folded: azimuth in [-90, 90] deg, elevation 0)"
                 if self.pipeline.front_end == "stereo" else "FOA front end (4 ch)")
        self.get_logger().info(
            f"seld_node ready: model {info.get('model')}, {front}, backend {info.get('backend')}, "
            f"{len(self.pipeline.class_names)} classes, mode {self.settings['mode']}, "
            f"subscribed to {self.sub_audio.topic_name}"
        )
        self._check_layout_parameter()

    # -- parameters ------------------------------------------------------------------------
    def _check_layout_parameter(self) -> None:
        """An input_layout of the other front-end family is not fatal (the chunks are rejected one by one, counted
        and shown in /diagnostics, so a re-plugged driver recovers) but it is said once, up front."""
        layout = self.settings["input_layout"]
        stereo_bundle = self.pipeline.front_end == "stereo"
        if layout and (layout == "stereo") != stereo_bundle:
            need = "stereo" if stereo_bundle else "an FOA layout (foa_acn_sn3d, foa_fuma, a_format_tetra)"
            self.get_logger().warning(
                f"input_layout '{layout}' does not fit the model ({self.pipeline.front_end} bundle, takes {need}): "
                "every audio chunk will be rejected (bad_layout); set input_layout: '' (the message's own layout) "
                "or pick a matching model_file_path")

    def _check_overrides(self, argv) -> None:
        """Unknown names (params file or -p) are warned, listed by name; a -p value of the wrong type or out of range
        is FATAL, also when a params file sets the same parameter (rcl then keeps the file's value silently)."""
        overrides = dict(getattr(self, "_parameter_overrides", None) or {})
        cli = _cli_param_overrides(argv)
        names = set(overrides) | {n for n, _ in cli}
        ignored = {"use_sim_time", "start_type_description_service"}
        unknown = sorted(n for n in names if n not in PARAMS_BY_NAME and n not in ignored
                         and not n.startswith("qos_overrides."))
        if unknown:
            hints = []
            for n in unknown:
                close = difflib.get_close_matches(n, PARAMS_BY_NAME, n=1, cutoff=0.6)
                hints.append(f"'{n}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
            self.get_logger().warning(f"unknown parameter(s) ignored: {', '.join(hints)}; see docs/parameters.md "
                                      "for the known names")
        self.unknown_parameters = unknown
        bad = []
        for name, text in cli:
            if name not in PARAMS_BY_NAME:
                continue
            try:
                check_value(name, _parse_param_text(text))
            except ParamError as exc:
                bad.append(f"-p {name}:={text}: {exc}")
        if bad:
            raise StartupError("invalid parameter override(s): " + "; ".join(bad))

    def _declare_and_read_parameters(self) -> NodeSettings:
        values = {}
        for p in PARAMS:
            desc = ParameterDescriptor(description=p.description, dynamic_typing=False)
            if p.choices:
                desc.additional_constraints = "one of: " + ", ".join(repr(c) for c in p.choices)
            if p.min is not None and isinstance(p.default, float):
                desc.floating_point_range = [FloatingPointRange(from_value=float(p.min), to_value=float(p.max))]
            elif p.min is not None and isinstance(p.default, int) and not isinstance(p.default, bool):
                desc.integer_range = [IntegerRange(from_value=int(p.min), to_value=int(p.max), step=1)]
            desc.read_only = not p.dynamic
            try:
                value = self.declare_parameter(p.name, p.default, desc).value
            except Exception as exc:  # wrong type or out of range in the params file
                raise StartupError(f"parameter '{p.name}': {exc}") from None
            try:
                values[p.name] = check_value(p.name, value)
            except ParamError as exc:
                raise StartupError(str(exc)) from None
        return NodeSettings(values)

    def _on_set_parameters(self, params) -> SetParametersResult:
        try:
            checked = {}
            for prm in params:
                spec = PARAMS_BY_NAME.get(prm.name)
                if spec is None:
                    continue
                if not spec.dynamic:
                    return SetParametersResult(successful=False, reason=f"{prm.name} cannot change at run time")
                checked[prm.name] = check_value(prm.name, prm.value)
            new = dict(self.settings.values, **checked)
            self.pipeline.set_thresholds(new["threshold_scale"], _per_class(new["class_thresholds"]))
        except (ParamError, ValueError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        with self._lock:
            changed = {k: (self.settings.values[k], v) for k, v in checked.items() if self.settings.values[k] != v}
            self.settings.values.update(checked)
        for name, (old, new_value) in changed.items():
            self.get_logger().info(f"parameter {name}: {old!r} -> {new_value!r}")
        if "warn_throttle_s" in checked:
            self._throttle.period_s = checked["warn_throttle_s"]
        return SetParametersResult(successful=True)

    def _build_pipeline(self):
        s = self.settings
        try:
            pipe = SeldPipeline.from_settings(s.values)
            pipe.set_thresholds(s["threshold_scale"], _per_class(s["class_thresholds"]))
        except (PipelineError, ValueError, OSError) as exc:
            raise StartupError(str(exc)) from None
        return pipe

    # -- audio in (executor thread) -----------------------------------------------------------
    def _on_audio(self, msg: MultichannelAudio) -> None:
        self.counters["chunks_in"] += 1
        if self._best_effort and len(msg.data) * 4 > BEST_EFFORT_MAX_BYTES:
            self.counters.add(Fault.LARGE_MESSAGE)
            self._throttle.warn(Fault.LARGE_MESSAGE, f"~/audio message of {len(msg.data) * 4} bytes on a best-effort "
                                f"subscription: messages over {BEST_EFFORT_MAX_BYTES} bytes can be lost without "
                                "trace over DDS; use qos_reliability: reliable or smaller messages")
        chunk = AudioChunk(
            samples=conversions.audio_from_msg(msg),
            sample_rate=msg.sample_rate,
            channels=msg.channels,
            layout=self.settings["input_layout"] or msg.layout,
            first_sample_index=msg.first_sample_index,
            stamp_ns=conversions.time_to_ns(msg.header.stamp),
            frame_id=msg.header.frame_id,
            received_monotonic=time.monotonic(),
        )
        self._enqueue(chunk)

    def _count_discarded(self, chunk: AudioChunk) -> None:
        self.counters.add(Fault.DISCARDED, int(chunk.samples.shape[0]))
        self._discarded_s += chunk.samples.shape[0] / max(int(chunk.sample_rate), 1)

    def _enqueue(self, chunk: AudioChunk) -> None:
        self._no_audio.heard(chunk.samples.shape[0] / max(int(chunk.sample_rate), 1), time.monotonic())
        if self._closing.is_set():
            self._count_discarded(chunk)
            return
        if self.settings["mode"] == "replay":
            while not self._stop.is_set():
                try:
                    self._queue.put(chunk, timeout=0.1)
                    return
                except queue.Full:
                    continue
            self._count_discarded(chunk)
            return
        while True:
            try:
                self._queue.put_nowait(chunk)
                return
            except queue.Full:
                try:
                    dropped = self._queue.get_nowait()
                    self._dropped_since_processed = True
                    self.counters.add(Fault.DROP, int(dropped.samples.shape[0]))
                    self._throttle.warn(Fault.DROP, "falling behind real time: dropped the oldest queued audio "
                                        f"({self.counters['chunks_dropped']} chunks so far)")
                except queue.Empty:
                    pass

    # -- audio_common input (optional) ---------------------------------------------------------
    def _setup_audio_common(self, qos) -> None:
        """Two ROS 2 audio stacks share the package name audio_common_msgs: ros-drivers' AudioDataStamped (raw PCM
        bytes; the format comes from AudioInfo or parameters, the index is counted from the bytes,
        seld_ros.audio.pcm) and mgonzs13's AudioStamped (typed sample arrays with the format in every message).
        ``audio_common.msg_type`` picks one; auto takes whichever the installed package provides."""
        self._ac_assembler = None
        self._ac_format = None
        self._ac_anchor = None
        if not self.settings["audio_common.enable"]:
            return
        try:
            import audio_common_msgs.msg as ac_msgs
        except ImportError:
            self.get_logger().info("audio_common_msgs is not installed: only ~/audio (MultichannelAudio) is used")
            return
        kind = self.settings["audio_common.msg_type"]
        if kind == "auto":
            kind = "AudioStamped" if hasattr(ac_msgs, "AudioStamped") else "AudioDataStamped"
        if not hasattr(ac_msgs, kind):
            have = [n for n in ("AudioDataStamped", "AudioStamped") if hasattr(ac_msgs, n)]
            raise StartupError(f"audio_common.msg_type {kind}: the installed audio_common_msgs has no {kind} "
                               f"(it has {', '.join(have) or 'neither AudioDataStamped nor AudioStamped'}; "
                               "ros-drivers/audio_common provides AudioDataStamped, mgonzs13/audio_common "
                               "AudioStamped)")
        if kind == "AudioStamped":
            self._ac_index = 0
            self.create_subscription(ac_msgs.AudioStamped, "~/audio_stamped", self._on_audio_stamped_typed, qos)
        else:
            self.create_subscription(ac_msgs.AudioInfo, "~/audio_info", self._on_audio_info, 10)
            self.create_subscription(ac_msgs.AudioDataStamped, "~/audio_stamped", self._on_audio_stamped, qos)
        self.get_logger().info(f"audio_common input: audio_common_msgs/{kind} on ~/audio_stamped")

    def _place_by_stamp(self, next_index: int, stamp_ns: int, samples: int, rate: int) -> int:
        """audio_common has no sample index: lost messages show up only as a stamp later than the sample count
        predicts. Returns the index the next samples get (moved forward past such a gap; the pipeline then
        reports it)."""
        if self._ac_anchor is not None and stamp_ns > 0:
            predicted = self._ac_anchor[1] + (next_index - self._ac_anchor[0]) * 1_000_000_000 // rate
            late = stamp_ns - predicted
            # tolerance: stamp jitter, up to half a message (a lost message is a whole one)
            if late > max(20_000_000, samples * 500_000_000 // rate):
                next_index += round(late * rate / 1e9)
                self._ac_anchor = (next_index, stamp_ns)
        if self._ac_anchor is None and stamp_ns > 0:
            self._ac_anchor = (next_index, stamp_ns)
        return next_index

    def _on_audio_stamped_typed(self, msg) -> None:
        from seld_ros.audio.pcm import typed_audio_to_float

        s = self.settings
        self.counters["chunks_in"] += 1
        info = msg.audio.info
        rate = int(info.rate) or s["audio_common.sample_rate"]
        channels = int(info.channels) or s["audio_common.channels"]
        try:
            if not rate:
                raise ValueError("info.rate is 0 and the audio_common.sample_rate parameter is not set")
            samples = typed_audio_to_float(msg.audio.audio_data, int(info.format), channels)
        except ValueError as exc:
            self.counters.add(Fault.AUDIO_COMMON_FORMAT)
            self._throttle.warn(Fault.AUDIO_COMMON_FORMAT, f"~/audio_stamped (AudioStamped): {exc}: chunk dropped")
            return
        if samples.shape[0] == 0:
            return
        stamp_ns = conversions.time_to_ns(msg.header.stamp)
        index = self._place_by_stamp(self._ac_index, stamp_ns, samples.shape[0], rate)
        self._ac_index = index + samples.shape[0]
        layout = s["input_layout"] or default_layout(channels)
        self._enqueue(AudioChunk(samples=samples, sample_rate=rate, channels=channels, layout=layout,
                                 first_sample_index=index, stamp_ns=stamp_ns, frame_id=msg.header.frame_id,
                                 received_monotonic=time.monotonic()))

    def _on_audio_info(self, info) -> None:
        if info.coding_format and info.coding_format.lower() not in ("wave", "wav", "raw", "pcm"):
            self._throttle.warn(Fault.AUDIO_COMMON_CODING, f"audio_common coding_format {info.coding_format!r} is "
                                "not raw PCM: ~/audio_stamped is ignored")
            self._ac_format = None
            return
        self._ac_format = (info.sample_format, int(info.sample_rate), int(info.channels))

    def _on_audio_stamped(self, msg) -> None:
        s = self.settings
        info = self._ac_format or ("", 0, 0)
        fmt = (s["audio_common.sample_format"] or info[0], s["audio_common.sample_rate"] or info[1],
               s["audio_common.channels"] or info[2])
        self.counters["chunks_in"] += 1
        if not all(fmt):
            self.counters.add(Fault.AUDIO_COMMON_FORMAT)
            self._throttle.warn(Fault.AUDIO_COMMON_FORMAT, "~/audio_stamped: sample format/rate/channels unknown (no "
                                "AudioInfo on ~/audio_info and no audio_common.* parameters): chunk dropped")
            return
        if self._ac_assembler is None or (self._ac_assembler.sample_format, self._ac_rate,
                                          self._ac_assembler.channels) != fmt:
            try:
                self._ac_assembler = PcmAssembler(fmt[0], fmt[2])
            except ValueError as exc:
                self.counters.add(Fault.AUDIO_COMMON_FORMAT)
                self._throttle.warn(Fault.AUDIO_COMMON_FORMAT, f"~/audio_stamped: {exc}")
                return
            self._ac_rate = fmt[1]
            self._ac_anchor = None
        stamp_ns = conversions.time_to_ns(msg.header.stamp)
        asm = self._ac_assembler
        placed = self._place_by_stamp(asm.next_index, stamp_ns, len(msg.audio.data) // asm.frame_bytes, fmt[1])
        if placed != asm.next_index:
            asm.reset(next_index=placed)
        samples, index = asm.push(bytes(msg.audio.data))
        if samples.shape[0] == 0:
            return
        layout = s["input_layout"] or default_layout(fmt[2])
        self._enqueue(AudioChunk(samples=samples, sample_rate=fmt[1], channels=fmt[2], layout=layout,
                                 first_sample_index=index, stamp_ns=stamp_ns,
                                 frame_id=msg.header.frame_id, received_monotonic=time.monotonic()))

    # -- processing (worker thread) -----------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                chunk = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._closing.is_set():
                    return  # drained
                continue
            if self._dropped_since_processed:
                self._dropped_since_processed = False
                chunk.after_drop = True
            t0 = time.perf_counter()
            try:
                result = self.pipeline.push(chunk)
            except InputError as exc:
                self.counters.add(exc.kind)
                self._throttle.warn(exc.kind, f"audio chunk rejected: {exc}")
                continue
            except Exception as exc:  # never let one chunk kill the node
                self.counters.add(Fault.INTERNAL)
                self._throttle.warn(Fault.INTERNAL, f"processing failed: {type(exc).__name__}: {exc}")
                continue
            for issue in result.issues:  # counted by the pipeline (stats())
                self._throttle.warn(issue.kind, issue.message)
            self._proc_s += time.perf_counter() - t0
            self._audio_s += chunk.samples.shape[0] / max(chunk.sample_rate, 1)
            frame_id = self.settings["frame_id"] or chunk.frame_id or "mic_array"
            self._last_frame_id = frame_id
            for frame in result.frames:
                self._publish_frame(frame, frame_id, chunk)

    def _publish_frame(self, frame, frame_id: str, chunk) -> None:
        msg = conversions.events_to_msg(frame, frame_id, self.pipeline.frame_stamp_ns)
        self.pub_events.publish(msg)
        self.counters["frames_out"] += 1
        self.counters["events_out"] += len(msg.events)
        # latency: from the arrival of the chunk that completed this frame to publication
        self._latencies_ms.append((time.monotonic() - chunk.received_monotonic) * 1e3)
        s = self.settings
        if s["markers.enable"] and msg.events:
            self.pub_markers.publish(markers.build_markers(
                msg, len(self.pipeline.class_names), s["markers.arrow_length"], s["markers.scale"],
                s["markers.lifetime_s"], s["markers.show_text"]))

    def _on_incompatible_qos(self, event) -> None:
        self.counters.add(Fault.QOS)
        policy = getattr(event, "last_policy_kind", "?")
        mine = "best_effort" if self._best_effort else "reliable"
        self._throttle.warn(Fault.QOS, f"a publisher on {self.sub_audio.topic_name} has a QoS incompatible with this "
                            f"subscription ({mine}, policy {getattr(policy, 'name', policy)}): its audio is NOT "
                            "received. A best-effort driver needs qos_reliability: best_effort (live mode)")

    def _on_message_lost(self, info) -> None:
        """The middleware lost messages before this node took them (e.g. a burst beyond qos_depth). Their samples
        show up as a gap or skip once a later message arrives; this also counts the ones at the end of a stream."""
        n = int(getattr(info, "total_count_change", 1) or 1)
        self.counters.add(Fault.DDS_LOST, count=n)
        self._throttle.warn(Fault.DDS_LOST, f"DDS lost {n} audio message(s) before the node could take them "
                            f"({self.counters['dds_lost_messages']} so far): raise qos_depth, or use replay mode")

    def _check_publishers(self) -> None:
        try:
            n = self.count_publishers(self.sub_audio.topic_name)
        except Exception:  # context going away
            return
        self._n_publishers = n
        if n > 1:
            self.counters[Fault.PUBLISHERS.events] = max(self.counters[Fault.PUBLISHERS.events], n - 1)
            self._throttle.warn(Fault.PUBLISHERS, f"{n} publishers on {self.sub_audio.topic_name}: interleaved streams "
                                "are detected by their sample indices; the first stream is kept")

    def _lost_audio_s(self, st: dict) -> float:
        return float(st.get("lost_audio_s", 0.0)) + self._discarded_s

    def _counts(self, st: dict) -> dict:
        """The pipeline's stream counters and the node's own (the node's frames_out: what it published)."""
        return {**st, **self.counters}

    def _log_summary(self, st: dict, force: bool = False) -> None:
        """Periodic summary: what went wrong since the last one (all kinds, suppressed warnings included)."""
        if not force and not self._summary.due(self.settings["warn_throttle_s"]):
            return
        self._throttle.flush(force=force)
        line = self._summary.line(watched_counts(self._counts(st)), self._lost_audio_s(st), force=force)
        if line:
            self.get_logger().warning(line)

    # -- diagnostics ------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        lat = np.asarray(self._latencies_ms, dtype=float)
        st = self.pipeline.stats()
        self._check_publishers()
        counts = self._counts(st)
        watched = watched_counts(counts)
        level, recent = self._level.update(watched, time.monotonic())
        status = DiagnosticStatus(name=f"{self.get_fully_qualified_name()}: sound event localization",
                                  hardware_id=self._last_frame_id, level=bytes([level]),
                                  message=status_message(level, watched, recent))
        silent_level, silent = self._no_audio.update(time.monotonic())
        if silent:  # a deaf node is never OK
            self._throttle.warn("no_audio", f"{silent}: is the driver running, and is ~/audio remapped to its "
                                "topic? (ros2 topic info -v <topic>)")
            status.message = silent if level == Level.OK else f"{silent}; {status.message}"
            status.level = bytes([max(level, silent_level)])
        if self.counters[Fault.QOS.events] and not self.counters["chunks_in"]:
            status.level = DiagnosticStatus.ERROR
            status.message = "no audio: the audio publisher's QoS is incompatible (see qos_reliability)"
        self._log_summary(st)
        head = {
            "backend": self.pipeline.info().get("backend", "?"),
            "mode": self.settings["mode"],
            "front_end": self.pipeline.front_end,
            "input_channels": self.pipeline.input_channels,
            "direction_front_folded": str(self.pipeline.doa_front_folded).lower(),
            "input_rate_hz": st.get("input_rate_hz", 0.0),
            "chunks_in": self.counters["chunks_in"],
        }
        tail = {
            "qos_reliability": "reliable" if not self._best_effort else "best_effort",
            "audio_publishers": getattr(self, "_n_publishers", 0),
            "seconds_without_audio": self._no_audio.silent_s(time.monotonic()),
            "queue_depth": self._queue.qsize(),
            "frames_out": self.counters["frames_out"],
            "events_out": self.counters["events_out"],
            "latency_ms_p50": float(np.percentile(lat, 50)) if lat.size else 0.0,
            "latency_ms_p99": float(np.percentile(lat, 99)) if lat.size else 0.0,
            "real_time_factor": self._proc_s / self._audio_s if self._audio_s > 0 else 0.0,
        }
        status.values = [KeyValue(key=k, value=v) for k, v in
                         diagnostic_values(head, counts, self._lost_audio_s(st), tail)]
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [status]
        self.pub_diag.publish(arr)

    # -- shutdown ----------------------------------------------------------------------------
    def close(self) -> None:
        """Process what was already received (at most DRAIN_TIMEOUT_S), count what is left, stop the worker, log the
        final input summary and clear this node's markers from RViz."""
        self._closing.set()
        self._worker.join(timeout=DRAIN_TIMEOUT_S)
        self._stop.set()
        self._worker.join(timeout=0.3)  # the chunk in hand; the worker is a daemon thread
        while True:
            try:
                self._count_discarded(self._queue.get_nowait())
            except queue.Empty:
                break
        if self.counters["chunks_discarded_at_shutdown"]:
            self.get_logger().warning(
                f"shutdown: {self.counters['chunks_discarded_at_shutdown']} received audio chunks "
                f"({self.counters['samples_discarded_at_shutdown']} samples) could not be processed within "
                f"{DRAIN_TIMEOUT_S:.0f} s and were discarded")
        try:
            self._log_summary(self.pipeline.stats(), force=True)
        except Exception as exc:  # pragma: no cover - logging after the context went away
            print(f"[seld_node] final summary failed: {exc}", file=sys.stderr)
        try:
            self.pub_markers.publish(markers.delete_all(self._last_frame_id, self.get_clock().now().to_msg()))
            # give reliable subscribers (RViz) the chance to get it before the participant goes away
            wait = getattr(self.pub_markers, "wait_for_all_acked", None)
            if wait is not None:
                from rclpy.duration import Duration

                wait(Duration(seconds=MARKER_CLEAR_WAIT_S))
            else:  # pragma: no cover - older rclpy
                time.sleep(0.2)
        except Exception as exc:  # context already shut down
            self.get_logger().debug(f"could not clear markers: {exc}")
        logging.getLogger("seld_ros").removeHandler(self._log_handler)


def _qos_event_kwargs(callback, lost_callback=None) -> dict:
    """event_callbacks= for incompatible-QoS and message-lost callbacks (rclpy.event_handler on Jazzy,
    rclpy.qos_event on Humble; both have these two events)."""
    try:
        from rclpy.event_handler import SubscriptionEventCallbacks
    except ImportError:  # pragma: no cover - Humble
        try:
            from rclpy.qos_event import SubscriptionEventCallbacks
        except ImportError:
            return {}
    return {"event_callbacks": SubscriptionEventCallbacks(incompatible_qos=callback, message_lost=lost_callback)}


class _RosLogHandler(logging.Handler):
    """seld_ros's ROS-free modules log with Python logging; inside the node their lines go to the node's ROS logger
    (its name, level and time, like every other line), not bare to stderr."""

    def __init__(self, ros_logger):
        super().__init__(logging.INFO)
        self.ros_logger = ros_logger

    def emit(self, record) -> None:
        try:
            text = self.format(record)
            if record.levelno >= logging.ERROR:
                self.ros_logger.error(text)
            elif record.levelno >= logging.WARNING:
                self.ros_logger.warning(text)
            else:
                self.ros_logger.info(text)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def _route_python_logging(ros_logger) -> logging.Handler:
    handler = _RosLogHandler(ros_logger)
    root = logging.getLogger("seld_ros")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False  # not twice (Python's last-resort handler prints WARNING lines bare to stderr)
    return handler


_FLOAT_PARAMETERS = frozenset(p.name for p in PARAMS if isinstance(p.default, float))


def _widen_integers_for_float_parameters(parameters):
    """`ros2 param set /seld_node threshold_scale 2` sends an INTEGER; users type floats like that, so an integer
    for a float parameter becomes a DOUBLE before rclpy's type check (which would refuse it)."""
    from rclpy.parameter import Parameter

    return [Parameter(p.name, Parameter.Type.DOUBLE, float(p.value))
            if p.name in _FLOAT_PARAMETERS and p.type_ == Parameter.Type.INTEGER else p for p in parameters]


def _add_pre_set_parameters_callback(node, callback) -> None:
    """rclpy >= Iron (Jazzy) runs pre-set callbacks before the type check; Humble has none, so there an integer
    for a float parameter stays refused as before."""
    add = getattr(node, "add_pre_set_parameters_callback", None)
    if add is not None:
        add(callback)


def _cli_param_overrides(argv) -> list:
    """[(name, value text)] of every ``-p/--param name:=value`` inside ``--ros-args`` in argv."""
    out, inside, it = [], False, iter(list(argv or []))
    for arg in it:
        if arg == "--ros-args":
            inside = True
        elif arg == "--" and inside:
            inside = False
        elif inside and arg in ("-p", "--param"):
            item = next(it, "")
            name, sep, text = item.partition(":=")
            if sep:
                out.append((name.rsplit(":", 1)[-1] if ":" in name else name, text))
    return out


def _parse_param_text(text: str):
    """A -p value as rcl reads it (YAML)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _per_class(values):
    """[0.0] (the yaml default) means: keep the bundle's calibrated thresholds."""
    vals = [float(v) for v in values]
    return None if vals == [0.0] or not vals else vals


def _init_rclpy(argv) -> None:
    """Our own SIGINT/SIGTERM handling where rclpy allows it, so the node can clean up (clear its
    RViz markers) before the context goes away."""
    try:
        from rclpy.signals import SignalHandlerOptions
    except ImportError:  # pragma: no cover - older rclpy: default handlers
        rclpy.init(args=argv)
        return
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)


class _StopRequest:
    """SIGINT / SIGTERM only set a flag that the spin loop polls.

    Python's default SIGINT handling raises KeyboardInterrupt in whatever the main thread runs at that moment;
    when that is a ``__del__`` (rclpy's ``Task.__del__`` runs often during spinning) Python prints "Exception
    ignored" and drops it, and the node keeps spinning forever. Setting a flag cannot be lost that way."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum = None
        self.spinning = False  # before the spin loop, a stop interrupts the start-up (model load, ONNX export)

    def __call__(self, signum, frame) -> None:
        first = not self.event.is_set()
        self.signum = signum
        self.event.set()
        if not self.spinning and first:
            # Start-up can take seconds (first-start ONNX export: ~20 s) and polls nothing, and an exception raised
            # into it can land in any constructor or __del__ (a traceback): nothing is published yet, so end now.
            os.write(2, b"[seld_node] stopped during start-up\n")
            os._exit(0)

    def install(self) -> None:
        signal.signal(signal.SIGINT, self)
        signal.signal(signal.SIGTERM, self)


def _spin_until_stopped(node, stop: _StopRequest, poll_s: float = 0.1) -> None:
    """Spin ``node`` until a stop is requested or the context shuts down (Humble and Jazzy API)."""
    stop.spinning = True  # from here a stop only sets the flag this loop polls
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.event.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=poll_s)
    finally:
        executor.remove_node(node)
        executor.shutdown()


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    if wants_help(argv):  # before rclpy: --help starts nothing (ROS arguments come after --ros-args)
        print(usage_text(os.path.basename(argv[0]) if argv else "seld_node"), flush=True)
        return 0
    try:
        _init_rclpy(argv)
    except Exception as exc:  # e.g. a params file that is not valid YAML: rcl refuses the arguments
        print(f"[seld_node] FATAL: cannot initialise ROS with the given arguments: {exc}", file=sys.stderr,
              flush=True)
        return 1
    stop = _StopRequest()
    stop.install()
    node = None
    code = 0
    try:
        node = SeldNode(argv=argv)
        if not stop.event.is_set():
            _spin_until_stopped(node, stop)
    except StartupError as exc:
        print(f"[seld_node] FATAL: {exc}", file=sys.stderr, flush=True)
        code = 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    if code == 0 and os.environ.get("SELD_NODE_REPORT_ON_EXIT") and node is not None:
        print(f"[seld_node] counters: {dict(node.counters)}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""seld_node: the ROS 2 shell around seld_ros.pipeline.SeldPipeline.

Threads: the executor thread only converts each audio message to an array view and
queues it; one worker thread runs the pipeline (features, network, decoder,
tracker) and publishes. In live mode a full queue drops its OLDEST chunk (counted
and reported: the freshest audio matters most to a robot); in replay mode the
subscription is reliable/keep-all and the callback blocks on a full queue, so DDS
flow control slows the player instead of losing audio.
"""
from __future__ import annotations

import collections
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
from seld_ros.msg import MultichannelAudio, SoundEventArray
from seld_ros.pipeline import AudioChunk, InputError, PipelineError, SeldPipeline
from seld_ros.ros import conversions, markers
from seld_ros.ros.params import PARAMS, PARAMS_BY_NAME, NodeSettings, ParamError, check_value

try:  # rclpy >= Humble
    from rclpy.executors import ExternalShutdownException
except ImportError:  # pragma: no cover
    class ExternalShutdownException(Exception):
        pass


class StartupError(RuntimeError):
    """The node cannot start (missing/corrupt model, unusable backend, bad parameters)."""


class _Throttle:
    """Log a given kind of warning at most once per period, with the count suppressed meanwhile."""

    def __init__(self, logger, period_s: float):
        self.logger, self.period_s = logger, period_s
        self._last: dict[str, float] = {}
        self._suppressed: collections.Counter = collections.Counter()

    def warn(self, kind: str, text: str) -> None:
        now = time.monotonic()
        if now - self._last.get(kind, -1e9) >= self.period_s:
            extra = f" ({self._suppressed[kind]} similar suppressed)" if self._suppressed[kind] else ""
            self.logger.warning(f"{text}{extra}")
            self._last[kind] = now
            self._suppressed[kind] = 0
        else:
            self._suppressed[kind] += 1


class SeldNode(Node):
    def __init__(self, **kwargs):
        super().__init__("seld_node", **kwargs)
        self.settings = self._declare_and_read_parameters()
        self._throttle = _Throttle(self.get_logger(), self.settings["warn_throttle_s"])
        self.pipeline = self._build_pipeline()
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
        self._queue: queue.Queue = queue.Queue(maxsize=self.settings["queue_size"])
        self._stop = threading.Event()
        self._dropped_since_processed = False
        self._lock = threading.Lock()
        self.counters = collections.Counter()
        self._latencies_ms: collections.deque = collections.deque(maxlen=2000)
        self._proc_s = 0.0
        self._audio_s = 0.0
        self._last_frame_id = self.settings["frame_id"] or "mic_array"

        self.pub_events = self.create_publisher(SoundEventArray, "~/events", 10)
        self.pub_markers = self.create_publisher(MarkerArray, "~/markers", 10)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.sub_audio = self.create_subscription(MultichannelAudio, "~/audio", self._on_audio, qos)
        self._setup_audio_common(qos)
        self.create_timer(self.settings["diagnostics_period_s"], self._publish_diagnostics)
        self._worker = threading.Thread(target=self._work, name="seld_worker", daemon=True)
        self._worker.start()
        info = self.pipeline.info()
        self.get_logger().info(
            f"seld_node ready: model {info.get('model')}, backend {info.get('backend')}, "
            f"{len(self.pipeline.class_names)} classes, mode {self.settings['mode']}, "
            f"subscribed to {self.sub_audio.topic_name}"
        )

    # -- parameters ------------------------------------------------------------------------
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
            self.settings.values.update(checked)
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

    def _enqueue(self, chunk: AudioChunk) -> None:
        if self.settings["mode"] == "replay":
            while not self._stop.is_set():
                try:
                    self._queue.put(chunk, timeout=0.1)
                    return
                except queue.Full:
                    continue
            return
        while True:
            try:
                self._queue.put_nowait(chunk)
                return
            except queue.Full:
                try:
                    dropped = self._queue.get_nowait()
                    self._dropped_since_processed = True
                    self.counters["chunks_dropped"] += 1
                    self.counters["samples_dropped"] += int(dropped.samples.shape[0])
                    self._throttle.warn("drop", "falling behind real time: dropped the oldest queued audio "
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
            self.counters["chunks_rejected"] += 1
            self._throttle.warn("ac_format", f"~/audio_stamped (AudioStamped): {exc}: chunk dropped")
            return
        if samples.shape[0] == 0:
            return
        stamp_ns = conversions.time_to_ns(msg.header.stamp)
        index = self._place_by_stamp(self._ac_index, stamp_ns, samples.shape[0], rate)
        self._ac_index = index + samples.shape[0]
        layout = s["input_layout"] or {4: "foa_acn_sn3d", 2: "stereo"}.get(channels, "")
        self._enqueue(AudioChunk(samples=samples, sample_rate=rate, channels=channels, layout=layout,
                                 first_sample_index=index, stamp_ns=stamp_ns, frame_id=msg.header.frame_id,
                                 received_monotonic=time.monotonic()))

    def _on_audio_info(self, info) -> None:
        if info.coding_format and info.coding_format.lower() not in ("wave", "wav", "raw", "pcm"):
            self._throttle.warn("ac_coding", f"audio_common coding_format {info.coding_format!r} is not raw PCM: "
                                "~/audio_stamped is ignored")
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
            self.counters["chunks_rejected"] += 1
            self._throttle.warn("ac_format", "~/audio_stamped: sample format/rate/channels unknown (no AudioInfo on "
                                "~/audio_info and no audio_common.* parameters): chunk dropped")
            return
        if self._ac_assembler is None or (self._ac_assembler.sample_format, self._ac_rate,
                                          self._ac_assembler.channels) != fmt:
            try:
                self._ac_assembler = PcmAssembler(fmt[0], fmt[2])
            except ValueError as exc:
                self.counters["chunks_rejected"] += 1
                self._throttle.warn("ac_format", f"~/audio_stamped: {exc}")
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
        layout = s["input_layout"] or {4: "foa_acn_sn3d", 2: "stereo"}.get(fmt[2], "")
        self._enqueue(AudioChunk(samples=samples, sample_rate=fmt[1], channels=fmt[2], layout=layout,
                                 first_sample_index=index, stamp_ns=stamp_ns,
                                 frame_id=msg.header.frame_id, received_monotonic=time.monotonic()))

    # -- processing (worker thread) -----------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                chunk = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if self._dropped_since_processed:
                self._dropped_since_processed = False
                chunk.after_drop = True
            t0 = time.perf_counter()
            try:
                result = self.pipeline.push(chunk)
            except InputError as exc:
                self.counters[f"rejected_{exc.kind}"] += 1
                self.counters["chunks_rejected"] += 1
                self._throttle.warn(exc.kind, f"audio chunk rejected: {exc}")
                continue
            except Exception as exc:  # never let one chunk kill the node
                self.counters["chunks_failed"] += 1
                self._throttle.warn("internal", f"processing failed: {type(exc).__name__}: {exc}")
                continue
            for issue in result.issues:
                self.counters[issue.kind] += 1
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

    # -- diagnostics ------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        lat = np.asarray(self._latencies_ms, dtype=float)
        c = self.counters
        st = self.pipeline.stats()
        status = DiagnosticStatus()
        status.name = f"{self.get_fully_qualified_name()}: sound event localization"
        status.hardware_id = self._last_frame_id
        problems = c["chunks_dropped"] + c["chunks_rejected"] + st.get("gaps", 0) + c["chunks_failed"]
        status.level = DiagnosticStatus.OK if problems == 0 else DiagnosticStatus.WARN
        status.message = "ok" if problems == 0 else "input problems: see values"
        rtf = self._proc_s / self._audio_s if self._audio_s > 0 else 0.0
        values = {
            "backend": self.pipeline.info().get("backend", "?"),
            "mode": self.settings["mode"],
            "input_rate_hz": st.get("input_rate_hz", 0.0),
            "chunks_in": c["chunks_in"],
            "chunks_dropped": c["chunks_dropped"],
            "samples_dropped": c["samples_dropped"],
            "chunks_rejected": c["chunks_rejected"],
            "gaps": st.get("gaps", 0),
            "gap_samples": st.get("gap_samples", 0),
            "overlaps": st.get("overlaps", 0),
            "queue_depth": self._queue.qsize(),
            "frames_out": c["frames_out"],
            "events_out": c["events_out"],
            "latency_ms_p50": float(np.percentile(lat, 50)) if lat.size else 0.0,
            "latency_ms_p99": float(np.percentile(lat, 99)) if lat.size else 0.0,
            "real_time_factor": rtf,
        }
        status.values = [KeyValue(key=k, value=(f"{v:.3f}" if isinstance(v, float) else str(v)))
                         for k, v in values.items()]
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [status]
        self.pub_diag.publish(arr)

    # -- shutdown ----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the worker and clear this node's markers from RViz."""
        self._stop.set()
        self._worker.join(timeout=5.0)
        try:
            self.pub_markers.publish(markers.delete_all(self._last_frame_id, self.get_clock().now().to_msg()))
            # give reliable subscribers (RViz) the chance to get it before the participant goes away
            wait = getattr(self.pub_markers, "wait_for_all_acked", None)
            if wait is not None:
                from rclpy.duration import Duration

                wait(Duration(seconds=1.0))
            else:  # pragma: no cover - older rclpy
                time.sleep(0.2)
        except Exception as exc:  # context already shut down
            self.get_logger().debug(f"could not clear markers: {exc}")


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

    def __call__(self, signum, frame) -> None:
        self.signum = signum
        self.event.set()

    def install(self) -> None:
        signal.signal(signal.SIGINT, self)
        signal.signal(signal.SIGTERM, self)


def _spin_until_stopped(node, stop: _StopRequest, poll_s: float = 0.1) -> None:
    """Spin ``node`` until a stop is requested or the context shuts down (Humble and Jazzy API)."""
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
        node = SeldNode()
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

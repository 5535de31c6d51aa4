"""seld_node: the ROS 2 shell around seld_ros.pipeline.SeldPipeline.

Threads: the executor thread only converts each audio message to an array view and
queues it; one worker thread runs the pipeline (features, network, decoder,
tracker) and publishes. In live mode a full queue drops its OLDEST chunk (counted
and reported: the freshest audio matters most to a robot); in replay mode the
subscription is reliable/keep-all and the callback blocks on a full queue, so DDS
flow control slows the player instead of losing audio.

Nothing is lost without a word: every dropped, rejected, concealed, skipped or
late piece of audio is a fault (seld_ros.health), counted by kind, logged (throttled,
with the suppressed count always reported by a periodic summary) and shown in
/diagnostics, whose level is WARN while problems occur and ERROR while they persist;
``lost_audio_s`` totals the audio that never reached the network. At shutdown the
worker drains what was already received (bounded by DRAIN_TIMEOUT_S) and counts what
it could not process.

This module only wires ROS: parameters (the table in seld_ros/ros/params.py), QoS,
subscriptions (audio_common ones in seld_ros/ros/audio_common_input.py), the worker,
timers and publishing. Messages are built by seld_ros.messages (rclpy types).
"""
from __future__ import annotations

import collections
import logging
import os
import queue
import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from visualization_msgs.msg import MarkerArray

from seld_ros.audio.publishers import SequenceSources
from seld_ros.health import Fault, FaultCounter, NoAudioWatch, Throttle
from seld_ros.msg import MultichannelAudio, SoundEventArray
from seld_ros.pipeline import AudioChunk, InputError, PipelineError, SeldPipeline
from seld_ros.ros.audio_common_input import AudioCommonInput
from seld_ros.ros.chunk_queue import ChunkQueue
from seld_ros.ros.compat import qos_event_kwargs, with_message_info
from seld_ros.ros.conversions import BUILD, audio_from_msg, time_to_ns
from seld_ros.ros.diagnostics import NodeDiagnostics
from seld_ros.ros.params import (
    PARAMS_BY_NAME,
    ParamError,
    StartupError,
    accept_integers_for_float_parameters,
    check_value,
    declare_parameters,
    usage_text,
    wants_help,
)
from seld_ros.ros.runtime import route_python_logging, run


RECENT_SOURCE_S = 2.0  # a publisher heard within this long counts as sending (audio_publishers_sending)
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
        self._log_handler = route_python_logging(self.get_logger())
        self.settings = declare_parameters(self, sys.argv if argv is None else argv)
        self.throttle = Throttle(self.get_logger(), self.settings["warn_throttle_s"])
        self.pipeline = self._build_pipeline()
        accept_integers_for_float_parameters(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        qos = self._audio_qos()
        self._stop, self._closing, self._lock = threading.Event(), threading.Event(), threading.Lock()
        self.discarded_s = 0.0
        self._sources = SequenceSources()
        self._source_seen: dict = {}  # source -> monotonic time of its latest message
        self.counters = FaultCounter()
        self._queue = ChunkQueue(self.settings["queue_size"], self.settings["mode"] == "replay", self.counters,
                                 self.throttle, self._stop)
        self._latencies_ms: collections.deque = collections.deque(maxlen=2000)
        self._proc_s = self._audio_s = 0.0
        self.last_frame_id = self.settings["frame_id"] or "mic_array"
        self.audio_publishers = self.audio_publishers_sending = 0
        self.diagnostics = NodeDiagnostics(self)

        depth = self.settings["output_qos_depth"]  # a long chunk's frames come out in one burst: keep them all
        self.pub_events = self.create_publisher(SoundEventArray, "~/events", depth)
        self.pub_markers = self.create_publisher(MarkerArray, "~/markers", depth)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.sub_audio = self.create_subscription(MultichannelAudio, "~/audio", with_message_info(self._on_audio),
                                                  qos, **qos_event_kwargs(self._on_incompatible_qos,
                                                                           self._on_message_lost))
        self.audio_common = AudioCommonInput.attach(self, qos)
        self.no_audio = NoAudioWatch(self.sub_audio.topic_name, self.settings["no_audio_timeout_s"], time.monotonic())
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
        mismatch = self.pipeline.layout_mismatch(self.settings["input_layout"])
        if mismatch:  # not fatal: chunks are rejected one by one (counted), so a re-plugged driver recovers
            self.get_logger().warning(mismatch + "; set input_layout: '' (the message's own layout) or pick a "
                                      "matching model_file_path")

    # -- parameters ------------------------------------------------------------------------
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
            self.throttle.period_s = checked["warn_throttle_s"]
        return SetParametersResult(successful=True)

    def _build_pipeline(self):
        s = self.settings
        try:
            pipe = SeldPipeline.from_settings(s.values)
            pipe.set_thresholds(s["threshold_scale"], _per_class(s["class_thresholds"]))
        except (PipelineError, ValueError, OSError) as exc:
            raise StartupError(str(exc)) from None
        return pipe

    def _audio_qos(self) -> QoSProfile:
        """Replay: reliable, keep-all (back-pressure, nothing lost). Live: qos_depth, qos_reliability."""
        s = self.settings
        self.best_effort = s["mode"] != "replay" and s["qos_reliability"] == "best_effort"
        if s["mode"] == "replay":
            return QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE)
        return QoSProfile(depth=s["qos_depth"], history=HistoryPolicy.KEEP_LAST,
                          reliability=qos_profile_sensor_data.reliability if self.best_effort
                          else ReliabilityPolicy.RELIABLE)

    # -- audio in (executor thread) -----------------------------------------------------------
    def _on_audio(self, msg: MultichannelAudio, info=None) -> None:
        self.counters["chunks_in"] += 1
        if self.best_effort and len(msg.data) * 4 > BEST_EFFORT_MAX_BYTES:
            self.counters.add(Fault.LARGE_MESSAGE)
            self.throttle.warn(Fault.LARGE_MESSAGE, f"~/audio message of {len(msg.data) * 4} bytes on a best-effort "
                                f"subscription: messages over {BEST_EFFORT_MAX_BYTES} bytes can be lost without "
                                "trace over DDS; use qos_reliability: reliable or smaller messages")
        try:
            samples = audio_from_msg(msg)
        except ValueError as exc:
            self.counters.add(Fault.BAD_SHAPE)
            self.throttle.warn(Fault.BAD_SHAPE, f"audio chunk rejected: {exc}")
            return
        self.enqueue(AudioChunk(samples=samples, sample_rate=msg.sample_rate, channels=msg.channels,
                                layout=self.settings["input_layout"] or msg.layout,
                                first_sample_index=msg.first_sample_index, stamp_ns=time_to_ns(msg.header.stamp),
                                frame_id=msg.header.frame_id, received_monotonic=time.monotonic(),
                                source=self._identify_source(info)))

    def _identify_source(self, info) -> str:
        """The message's publisher as its sequence number tells (see seld_ros.audio.publishers); numbers skipped
        within one publisher's series are messages lost in transport."""
        seq = info.get("publication_sequence_number") if isinstance(info, dict) else None
        source, missed = self._sources.identify(seq, time.monotonic())
        if source:
            self._source_seen[source] = time.monotonic()
        if missed:
            self.counters.add(Fault.DDS_MISSED, count=missed)
            self.throttle.warn(Fault.DDS_MISSED, f"{missed} audio message(s) of one publisher never arrived "
                               f"(sequence numbers skipped; {self.counters['dds_missed_messages']} so far): lost in "
                               "transport or overwritten in the subscription's history (raise qos_depth)")
        return source

    @property
    def pending_drop_s(self) -> float:  # dropped from the queue, not yet accounted for by the pipeline (diagnostics)
        return self._queue.pending_drop_s

    def _count_discarded(self, chunk: AudioChunk) -> None:
        self.counters.add(Fault.DISCARDED, int(chunk.samples.shape[0]))
        self.discarded_s += chunk.samples.shape[0] / max(int(chunk.sample_rate), 1)

    def enqueue(self, chunk: AudioChunk) -> None:
        """Hand a chunk to the worker (seld_ros.ros.chunk_queue: replay blocks, live drops the oldest)."""
        self.no_audio.heard(chunk.samples.shape[0] / max(int(chunk.sample_rate), 1), time.monotonic())
        if self._closing.is_set():
            self._count_discarded(chunk)
            return
        if not self._queue.put(chunk):
            self._count_discarded(chunk)

    # -- processing (worker thread) -----------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                chunk = self._queue.take(timeout=0.1)
            except queue.Empty:
                if self._closing.is_set():
                    return  # drained
                continue
            t0 = time.perf_counter()
            try:
                result = self.pipeline.push(chunk)
            except InputError as exc:
                self.counters.add(exc.kind)
                self.throttle.warn(exc.kind, f"audio chunk rejected: {exc}")
                continue
            except Exception as exc:  # never let one chunk kill the node
                self.counters.add(Fault.INTERNAL)
                self.throttle.warn(Fault.INTERNAL, f"processing failed: {type(exc).__name__}: {exc}")
                continue
            for issue in result.issues:  # counted by the pipeline (stats())
                self.throttle.warn(issue.kind, issue.message)
            self._proc_s += time.perf_counter() - t0
            self._audio_s += chunk.samples.shape[0] / max(chunk.sample_rate, 1)
            frame_id = self.settings["frame_id"] or chunk.frame_id or "mic_array"
            self.last_frame_id = frame_id
            for frame in result.frames:
                self._publish_frame(frame, frame_id, chunk)

    def _publish_frame(self, frame, frame_id: str, chunk) -> None:
        msg = BUILD.frame_events(frame, frame_id)
        self.pub_events.publish(msg)
        self.counters["frames_out"] += 1
        self.counters["events_out"] += len(msg.events)
        # latency: from the arrival of the chunk that completed this frame to publication
        if chunk is not None:
            self._latencies_ms.append((time.monotonic() - chunk.received_monotonic) * 1e3)
        s = self.settings
        if s["markers.enable"] and msg.events:
            self.pub_markers.publish(BUILD.markers(msg, len(self.pipeline.class_names), s["markers.arrow_length"],
                                                   s["markers.scale"], s["markers.lifetime_s"],
                                                   s["markers.show_text"]))

    # -- the middleware -------------------------------------------------------------------------
    def _on_incompatible_qos(self, event) -> None:
        self.counters.add(Fault.QOS)
        policy = getattr(event, "last_policy_kind", "?")
        mine = "best_effort" if self.best_effort else "reliable"
        self.throttle.warn(Fault.QOS, f"a publisher on {self.sub_audio.topic_name} has a QoS incompatible with this "
                            f"subscription ({mine}, policy {getattr(policy, 'name', policy)}): its audio is NOT "
                            "received. A best-effort driver needs qos_reliability: best_effort (live mode)")

    def _on_message_lost(self, info) -> None:
        """The middleware lost messages before this node took them (e.g. a burst beyond qos_depth). Their samples
        show up as a gap or skip once a later message arrives; this also counts the ones at the end of a stream."""
        n = int(getattr(info, "total_count_change", 1) or 1)
        self.counters.add(Fault.DDS_LOST, count=n)
        self.throttle.warn(Fault.DDS_LOST, f"DDS lost {n} audio message(s) before the node could take them "
                            f"({self.counters['dds_lost_messages']} so far): raise qos_depth, or use replay mode")

    def _check_publishers(self) -> None:
        try:
            n = self.count_publishers(self.sub_audio.topic_name)
        except Exception:  # context going away
            return
        self.audio_publishers = n
        now = time.monotonic()
        # a publisher that has gone quiet (a crashed driver the graph still lists until its lease runs out) is no
        # second stream
        self.audio_publishers_sending = sum(now - t <= RECENT_SOURCE_S for t in self._source_seen.values())
        if n > 1 and (not self._source_seen or self.audio_publishers_sending > 1):
            self.counters[Fault.PUBLISHERS.events] = max(self.counters[Fault.PUBLISHERS.events], n - 1)
            self.throttle.warn(Fault.PUBLISHERS, f"{n} publishers on {self.sub_audio.topic_name}: interleaved "
                                "streams are detected by their sample indices; the first stream is kept")

    def _publish_diagnostics(self) -> None:
        self._check_publishers()
        rtf = self._proc_s / self._audio_s if self._audio_s > 0 else 0.0
        self.pub_diag.publish(self.diagnostics.status(self._queue.qsize(), self._latencies_ms, rtf))

    # -- shutdown ----------------------------------------------------------------------------
    def close(self) -> None:
        """Process what was already received (at most DRAIN_TIMEOUT_S), count what is left, stop the worker, log the
        final input summary and clear this node's markers from RViz."""
        self._closing.set()
        self._worker.join(timeout=DRAIN_TIMEOUT_S)
        self._stop.set()
        self._worker.join(timeout=0.3)  # the chunk in hand; the worker is a daemon thread
        if not self._worker.is_alive():
            try:  # the end of the stream: what a look-ahead holds goes out, an incomplete last frame is counted
                for frame in self.pipeline.flush().frames:
                    self._publish_frame(frame, self.last_frame_id, None)
            except Exception as exc:  # pragma: no cover - context already shut down
                self.get_logger().debug(f"final flush failed: {exc}")
        for chunk in self._queue.drain():
            self._count_discarded(chunk)
        if self.counters["chunks_discarded_at_shutdown"]:
            self.get_logger().warning(
                f"shutdown: {self.counters['chunks_discarded_at_shutdown']} received audio chunks "
                f"({self.counters['samples_discarded_at_shutdown']} samples) could not be processed within "
                f"{DRAIN_TIMEOUT_S:g} s and were discarded")
        try:
            self.diagnostics.log_summary(self.pipeline.stats(), force=True)
        except Exception as exc:  # pragma: no cover - logging after the context went away
            print(f"[seld_node] final summary failed: {exc}", file=sys.stderr)
        try:
            self.pub_markers.publish(BUILD.delete_all_markers(self.last_frame_id,
                                                              self.get_clock().now().nanoseconds))
            # give reliable subscribers (RViz) the chance to get it before the participant goes away
            wait = getattr(self.pub_markers, "wait_for_all_acked", None)
            wait(Duration(seconds=MARKER_CLEAR_WAIT_S)) if wait is not None else time.sleep(0.2)  # older: no acks
        except Exception as exc:  # context already shut down
            self.get_logger().debug(f"could not clear markers: {exc}")
        logging.getLogger("seld_ros").removeHandler(self._log_handler)


def _per_class(values):
    """[0.0] (the yaml default) means: keep the bundle's calibrated thresholds."""
    vals = [float(v) for v in values]
    return None if vals == [0.0] or not vals else vals


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    if wants_help(argv):  # before rclpy: --help starts nothing (ROS arguments come after --ros-args)
        print(usage_text(os.path.basename(argv[0]) if argv else "seld_node"), flush=True)
        return 0
    code, node = run(lambda args: SeldNode(argv=args), argv, "seld_node")
    if code == 0 and os.environ.get("SELD_NODE_REPORT_ON_EXIT") and node is not None:
        print(f"[seld_node] counters: {dict(node.counters)}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())

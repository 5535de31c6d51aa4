"""The node's /diagnostics status and periodic input summary, made by seld_ros.health from the node's counters
(transport faults) and the pipeline's (stream faults)."""
from __future__ import annotations

import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from seld_ros.health import Fault, Level, LevelTracker, Summary, diagnostic_values, status_message, watched_counts


# what the AudioSet tagger did and cost (seld_ros.event_tags.EventTagger.stats), shown while tags are on
TAGGING_KEYS = ("taggings_per_s", "tagging_ms_p50", "tagging_ms_max", "taggings", "tags_deferred",
                "watch_events_opened", "watch_explained_by_tracks", "watch_searches", "watch_searches_deferred")


class NodeDiagnostics:
    """One status named ``<node>: sound event localization``; level and message from the watched counters."""

    def __init__(self, node):
        self.node = node
        self._level, self._summary = LevelTracker(), Summary()

    def counts(self, stats: dict) -> dict:
        """The pipeline's stream counters and the node's own (the node's frames_out: what it published)."""
        return {**stats, **self.node.counters}

    def lost_audio_s(self, stats: dict) -> float:
        return float(stats.get("lost_audio_s", 0.0)) + self.node.discarded_s + self.node.pending_drop_s

    def log_summary(self, stats: dict, force: bool = False) -> None:
        """What went wrong since the last summary (all kinds, suppressed warnings included), at most every
        warn_throttle_s (or at once with ``force``)."""
        node = self.node
        if not force and not self._summary.due(node.settings["warn_throttle_s"]):
            return
        node.throttle.flush(force=force)
        line = self._summary.line(watched_counts(self.counts(stats)), self.lost_audio_s(stats), force=force)
        if line:
            node.get_logger().warning(line)

    def status(self, queue_depth: int, latencies_ms, real_time_factor: float) -> DiagnosticArray:
        node, pipeline = self.node, self.node.pipeline
        stats = pipeline.stats()
        counts = self.counts(stats)
        watched = watched_counts(counts)
        level, recent = self._level.update(watched, time.monotonic())
        status = DiagnosticStatus(name=f"{node.get_fully_qualified_name()}: sound event localization",
                                  hardware_id=node.last_frame_id, level=bytes([level]),
                                  message=status_message(level, watched, recent))
        silent_level, silent = node.no_audio.update(time.monotonic())
        if silent:  # a deaf node is never OK
            node.throttle.warn("no_audio", f"{silent}: is the driver running, and is ~/audio remapped to its topic? "
                               "(ros2 topic info -v <topic>)")
            status.message = silent if level == Level.OK else f"{silent}; {status.message}"
            status.level = bytes([max(level, silent_level)])
        if node.counters[Fault.QOS.events] and not node.counters["chunks_in"]:
            status.level = DiagnosticStatus.ERROR
            status.message = "no audio: the audio publisher's QoS is incompatible (see qos_reliability)"
        self.log_summary(stats)
        info = pipeline.info()
        lat = np.asarray(latencies_ms, dtype=float)
        head = {"backend": info.get("backend", "?"), "mode": node.settings["mode"], "front_end": info["front_end"],
                "input_channels": info["input_channels"],
                "direction_front_folded": str(info["doa_front_folded"]).lower(),
                "input_rate_hz": stats.get("input_rate_hz", 0.0), "chunks_in": node.counters["chunks_in"]}
        tail = {"qos_reliability": "best_effort" if node.best_effort else "reliable",
                "audio_publishers": node.audio_publishers,
                "audio_publishers_sending": node.audio_publishers_sending,
                "seconds_without_audio": node.no_audio.silent_s(time.monotonic()), "queue_depth": queue_depth,
                "frames_out": node.counters["frames_out"], "events_out": node.counters["events_out"],
                "latency_ms_p50": float(np.percentile(lat, 50)) if lat.size else 0.0,
                "latency_ms_p99": float(np.percentile(lat, 99)) if lat.size else 0.0,
                "real_time_factor": real_time_factor,
                "tags": "on" if pipeline.tagger is not None else "off",
                **{k: stats[k] for k in TAGGING_KEYS if k in stats}}
        status.values = [KeyValue(key=k, value=v)
                         for k, v in diagnostic_values(head, counts, self.lost_audio_s(stats), tail)]
        arr = DiagnosticArray(status=[status])
        arr.header.stamp = node.get_clock().now().to_msg()
        return arr

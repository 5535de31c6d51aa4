"""The node's bounded hand-over of audio chunks from the executor thread to the worker thread.

Replay: ``put`` blocks while the queue is full, so DDS flow control slows the player instead of losing audio.
Live: a full queue drops its OLDEST chunk (the freshest audio matters most to a robot), counted as
``Fault.DROP`` and warned (throttled). The dropped span travels with the next chunk the worker takes
(``after_drop``, ``dropped_from_index``), where the pipeline counts it as skipped audio; until then it is
``pending_drop_s``, which /diagnostics adds to ``lost_audio_s`` so a drop is never unreported in between.
Plain Python (no rclpy): the node owns one and its tests drive it through the node over DDS.
"""
from __future__ import annotations

import queue
import threading
from typing import Iterator

from seld_ros.health import Fault


class ChunkQueue:
    def __init__(self, size: int, replay: bool, counters, throttle, stop: threading.Event):
        self._queue: queue.Queue = queue.Queue(maxsize=size)
        self.replay, self.counters, self.throttle, self._stop = replay, counters, throttle, stop
        self._lock = threading.Lock()
        self._dropped_since_taken = False
        self._dropped_from_index = None  # first_sample_index of the first chunk dropped since one was taken
        self.pending_drop_s = 0.0  # audio dropped that no taken chunk has accounted for yet

    def qsize(self) -> int:
        return self._queue.qsize()

    def put(self, chunk) -> bool:
        """Queue a chunk; False when it was not queued (replay while stopping): the caller counts it discarded."""
        if self.replay:
            while not self._stop.is_set():
                try:
                    self._queue.put(chunk, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False
        while True:
            try:
                self._queue.put_nowait(chunk)
                return True
            except queue.Full:
                try:
                    dropped = self._queue.get_nowait()
                except queue.Empty:
                    continue
                with self._lock:
                    if not self._dropped_since_taken:
                        self._dropped_from_index = int(dropped.first_sample_index)
                    self._dropped_since_taken = True
                    self.pending_drop_s += dropped.samples.shape[0] / max(int(dropped.sample_rate), 1)
                self.counters.add(Fault.DROP, int(dropped.samples.shape[0]))
                self.throttle.warn(Fault.DROP, "falling behind real time: dropped the oldest queued audio "
                                   f"({self.counters['chunks_dropped']} chunks so far)")

    def take(self, timeout: float):
        """The next chunk (raises queue.Empty after ``timeout``), carrying the span dropped before it."""
        chunk = self._queue.get(timeout=timeout)
        with self._lock:
            if self._dropped_since_taken:
                # the pipeline counts the dropped span as a skip (lost audio) when it takes this chunk
                self._dropped_since_taken = False
                self.pending_drop_s = 0.0
                chunk.after_drop, chunk.dropped_from_index = True, self._dropped_from_index
        return chunk

    def drain(self) -> Iterator:
        """What is still queued (at shutdown, to be counted as discarded)."""
        while True:
            try:
                yield self._queue.get_nowait()
            except queue.Empty:
                return


__all__ = ["ChunkQueue"]

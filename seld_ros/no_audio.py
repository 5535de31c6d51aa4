"""A deaf node is not healthy: how long no audio has arrived, as a diagnostics level and message.

A node whose input topic has no publisher, a driver that died, a remap that points nowhere: the problem counters stay
at zero, so without this the node reports OK while it hears nothing. WARN once no audio arrived for ``timeout_s``
(since start, or since the last chunk), ERROR once that lasts ``ERROR_FACTOR`` times as long. ROS-free: the node
feeds it the chunk counter and the clock.
"""
from __future__ import annotations

OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels
ERROR_FACTOR = 6.0  # "when it lasts": default 5 s WARN, 30 s ERROR


class NoAudioWatch:
    """``update(chunks_in, now)`` -> (level, message); message is "" while audio flows. ``timeout_s`` <= 0 turns
    the watch off."""

    def __init__(self, topic: str, timeout_s: float, now: float):
        self.topic, self.timeout_s = topic, float(timeout_s)
        self._chunks = 0
        self.since = now  # start, or the last time the chunk count grew
        self._ever = False

    def update(self, chunks_in: int, now: float) -> tuple[int, str]:
        if chunks_in != self._chunks:
            self._chunks, self.since, self._ever = chunks_in, now, True
        silent = now - self.since
        if self.timeout_s <= 0 or silent < self.timeout_s:
            return OK, ""
        what = "no audio" if self._ever else "no audio yet"
        level = ERROR if silent >= self.timeout_s * ERROR_FACTOR else WARN
        return level, f"{what} on {self.topic} for {silent:.0f} s"

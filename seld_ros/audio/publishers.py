"""Tell the publishers of one audio topic apart by their message sequence numbers (no ROS imports).

Every DDS writer numbers its messages 1, 2, 3, ... (rclpy on Jazzy hands the number to a subscription callback as
``publication_sequence_number``; Humble does not). A message continues the series whose last number is just below
its own; a number that continues none (a new process starts at 1 again) opens a new series. Within a series a jump
forward means messages lost in transport. Callers get an opaque source name per message: the pipeline starts a new
segment when the source changes while the previous one is quiet (a restarted driver) and keeps the first stream
while both send.

Limits: where the middleware gives no numbers every message has the unknown source "" (the pipeline then falls back
to the sample index: back near 0 is a restart). Two writers whose numbers run in lockstep can swap names; that only
matters while both send, where the sample-value conflict rule decides anyway.
"""
from __future__ import annotations

import collections

# rmw's RMW_MESSAGE_INFO_SEQUENCE_NUMBER_UNSUPPORTED (UINT64_MAX); 0 is never a valid number either
_UNSUPPORTED = 2**64 - 1
# a gap larger than this is no loss within one series but another writer
MAX_SEQUENCE_JUMP = 100_000
MAX_SERIES = 8  # remembered writers (the least recently heard is forgotten first)


class SequenceSources:
    """``identify(seq, now) -> (source name, messages missing before this one in its series)``."""

    def __init__(self, stale_s: float = 0.5) -> None:
        self.stale_s = stale_s
        self._last: collections.OrderedDict[str, tuple[int, float]] = collections.OrderedDict()  # name -> (seq, t)
        self._opened = 0

    @staticmethod
    def usable(seq) -> bool:
        return isinstance(seq, int) and 0 < seq < _UNSUPPORTED

    def identify(self, seq, now: float) -> tuple[str, int]:
        """Which series ``seq`` continues. Candidates (last < seq, within MAX_SEQUENCE_JUMP) are ranked: a series
        heard within ``stale_s`` before a stale one (a restarted driver numbers from 1 again and soon matches the
        dead one's last number), then the fewest missing numbers, then the least recently heard (two writers in
        lockstep alternate)."""
        if not self.usable(seq):
            return "", 0
        ranked = sorted((now - t > self.stale_s, seq - last - 1, t, name)
                        for name, (last, t) in self._last.items() if last < seq <= last + MAX_SEQUENCE_JUMP)
        if ranked:
            best, missing = ranked[0][3], ranked[0][1]
        else:
            self._opened += 1
            best, missing = f"publisher-{self._opened}", 0
        self._last[best] = (seq, now)
        self._last.move_to_end(best)
        while len(self._last) > MAX_SERIES:
            self._last.popitem(last=False)
        return best, missing

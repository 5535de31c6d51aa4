"""The health of an audio stream, without ROS: one enumeration of fault kinds, and from it the counters, the level,
the periodic summary line and the /diagnostics key/value list.

Every dropped, rejected, concealed, skipped or late piece of audio is one :class:`Fault`. Its ``kind`` is the word
the pipeline's issues and rejections carry (``InputIssue.kind``, ``InputError.kind``), the key under which warnings
of that kind are throttled, and the name in log lines; its counter keys are what /diagnostics shows. The pipeline
counts the stream faults it sees, the node the transport faults (queue drops, QoS, DDS losses), and
``seld-eval-bag`` reports rejections by the same kinds. docs/interfaces.md lists the keys (a test keeps it in step).

Level: OK while no watched counter grew in the last ``RECENT_S``; WARN while one did; ERROR when they grew in every
diagnostics period for ``SUSTAINED_S`` or more. The values are those of ``diagnostic_msgs/DiagnosticStatus``.
"""
from __future__ import annotations

import collections
import enum
import threading
import time
from typing import Iterable, Mapping

SUSTAINED_S = 5.0  # problems in every diagnostics period for this long: ERROR
RECENT_S = 10.0  # WARN while a watched counter grew within this window
SUMMARY_MIN_PERIOD_S = 5.0  # the periodic summary comes at most this often (or every warn_throttle_s when longer)
NO_AUDIO_ERROR_FACTOR = 6.0  # no audio for no_audio_timeout_s: WARN; six times as long: ERROR


class Level(enum.IntEnum):
    """Diagnostics level, valued as diagnostic_msgs/DiagnosticStatus OK / WARN / ERROR."""

    OK = 0
    WARN = 1
    ERROR = 2


def _fault(kind: str, events: str, amount: str = "", *, watch: str | None = None, shown: tuple | None = None,
           rejects: bool = False, meaning: str = "") -> tuple:
    return kind, events, amount, watch, shown, rejects, meaning


class Fault(str, enum.Enum):
    """A kind of input or processing fault.

    ``events``: counter of occurrences; ``amount``: counter of the samples (or messages) concerned; ``watch``: the
    counter whose growth raises the level ('' = informational); ``shown``: the counters /diagnostics lists;
    ``rejects``: the chunk is refused as a whole (counted also in ``chunks_rejected`` and ``chunks_rejected_<kind>``).
    """

    def __new__(cls, kind: str, events: str, amount: str, watch: str | None, shown: tuple | None, rejects: bool,
                meaning: str):
        obj = str.__new__(cls, kind)
        obj._value_ = kind
        obj.events, obj.amount, obj.rejects, obj.meaning = events, amount, rejects, meaning
        obj.watch = events if watch is None else watch
        obj.shown = tuple(k for k in (events, amount) if k) if shown is None else shown
        return obj

    # a Fault is its kind wherever a string is expected: as a dict key, in f-strings, in JSON
    __hash__ = str.__hash__
    __str__ = str.__str__
    __format__ = str.__format__

    # -- transport (the node) ------------------------------------------------------------------------------------
    DROP = _fault("drop", "chunks_dropped", "samples_dropped",
        meaning="live mode: queued chunks dropped (oldest first) to keep up with real time")
    # -- stream continuity (the pipeline) -----------------------------------------------------------------------
    SKIP = _fault("skip", "skips", "skip_samples",
        meaning="live mode: the stream restarted after drops, skipping the dropped span (part of lost_audio_s)")
    GAP = _fault("gap", "gaps", "gap_samples",
        meaning="missing sample indices (lost messages), filled by a ramp between the neighbouring samples (part of "
        "lost_audio_s)")
    RESTART = _fault("restart", "restarts", "restart_gap_samples",
        meaning="stream restarts: index jump > 5 s forward (its span is in lost_audio_s) or back, or a format change")
    OVERLAP = _fault("overlap", "overlaps", "overlap_samples", shown=("overlaps",),
        meaning="chunks whose samples were already received (dropped)")
    DUPLICATE = _fault("duplicate", "overlaps", "overlap_samples", shown=(),
        meaning="a chunk received twice (counted with the overlaps)")
    CONFLICT = _fault("conflict", "conflicting_chunks", "conflicting_samples", shown=("conflicting_chunks",),
        meaning="repeated sample indices with different samples: a second stream on the topic while both publishers "
        "send; the first is kept")
    PUBLISHER_RESTART = _fault("publisher_restart", "publisher_restarts",
        meaning="a new segment started at once: another publisher while the previous one has been silent for 0.5 s "
        "(DDS sequence numbers, where the RMW hands them over), or the sample index back below 1 s with new "
        "samples; frame numbers continue")
    START_GAP = _fault("start_gap", "start_gaps", "start_gap_samples",
        meaning="a stream whose first message here has an index within 5 s of 0: the samples before it never "
        "arrived (part of lost_audio_s)")
    SEGMENT_TAIL = _fault("segment_tail", "segment_tails", "segment_tail_samples",
        meaning="audio at the end of a segment (restart, skip, end of stream) too short for a whole frame (part of "
        "lost_audio_s)")
    REJECTED_AUDIO = _fault("rejected_audio", "", "samples_rejected", watch="", shown=(),
        meaning="samples of rejected chunks (part of lost_audio_s, not again as the gap they leave)")
    # -- time ---------------------------------------------------------------------------------------------------
    STAMP_JUMP = _fault("stamp_jump", "stamp_jumps",
        meaning="a stamp off its sample-count prediction: time re-anchored")
    STAMP_BACKWARDS = _fault("stamp_backwards", "stamp_backwards",
        meaning="a stamp going back against the sample count: replaced by the sample-count time")
    STAMP_ZERO = _fault("stamp_zero", "stamp_zero", meaning="header.stamp 0 (unset): replaced by the sample-count time")
    STAMP_INVALID = _fault("stamp_invalid", "stamp_invalid",
        meaning="an impossible stamp (negative, or near the int32-seconds limit): replaced")
    STAMP_CLAMPED = _fault("stamp_clamped", "stamps_clamped",
        meaning="output stamps moved forward to keep them monotonic")
    # -- level --------------------------------------------------------------------------------------------------
    NON_FINITE = _fault("non_finite", "non_finite_chunks", "non_finite_samples", watch="non_finite_samples",
        shown=("non_finite_samples",), meaning="NaN/Inf samples, replaced by 0 (the chunk is kept)")
    OUT_OF_RANGE = _fault("out_of_range", "out_of_range_chunks", "out_of_range_samples", watch="out_of_range_samples",
        shown=("out_of_range_samples",), meaning="samples beyond full scale: input must be float PCM in [-1.0, 1.0]")
    CLIPPED = _fault("clipped", "", "clipped_samples", watch="clipped_samples",
        meaning="samples at full scale (|x| >= 0.999, 3 or more in a chunk): the input is clipping")
    CONCEALED = _fault("concealed", "concealed_frames",
        meaning="frames with more than 5 % filled audio: published without events")
    # -- rejected chunks (a chunk that cannot be used at all) ---------------------------------------------------
    BAD_LAYOUT = _fault("bad_layout", "rejected_bad_layout", rejects=True,
        meaning="FOA audio to a stereo bundle or the reverse, or an unknown layout")
    BAD_CHANNELS = _fault("bad_channels", "rejected_bad_channels", rejects=True,
        meaning="a channel count that does not fit the layout")
    BAD_SHAPE = _fault("bad_shape", "rejected_bad_shape", rejects=True,
        meaning="data length not a multiple of the channel count")
    BAD_RATE = _fault("bad_rate", "rejected_bad_rate", rejects=True, meaning="a sample rate outside 8000..192000 Hz")
    BAD_DTYPE = _fault("bad_dtype", "rejected_bad_dtype", rejects=True, meaning="samples of a non-float type")
    EMPTY = _fault("empty", "rejected_empty", rejects=True, meaning="a chunk without samples")
    BAD_AUDIO = _fault("bad_audio", "rejected_bad_audio", rejects=True, meaning="audio the layout conversion refused")
    BAD_ENCODING = _fault("bad_encoding", "rejected_bad_encoding", rejects=True,
        meaning="audio_common bytes that do not look like the declared sample format (e.g. float32 samples declared "
        "S16LE), or more samples than AudioStamped's info.chunk announces")
    AUDIO_COMMON_FORMAT = _fault("ac_format", "", rejects=True,
        meaning="audio_common audio of unknown or unsupported format (no AudioInfo / parameters)")
    AUDIO_COMMON_CODING = _fault("ac_coding", "", meaning="audio_common coding_format that is not raw PCM (ignored)")
    INTERNAL = _fault("internal", "chunks_failed",
        meaning="processing errors (the chunk is skipped, the node keeps running)")
    # -- the middleware -----------------------------------------------------------------------------------------
    QOS = _fault("qos", "qos_incompatible", meaning="audio publishers whose QoS this subscription cannot match")
    LARGE_MESSAGE = _fault("large_message", "large_messages", meaning="messages over the best-effort size limit")
    DDS_LOST = _fault("dds_lost", "dds_lost_messages",
        meaning="messages the middleware reports lost before the node took them")
    DDS_MISSED = _fault("dds_missed", "dds_missed_messages",
        meaning="messages of one publisher whose sequence numbers were skipped: lost in transport or overwritten in "
        "the subscription's history (raise qos_depth)")
    PUBLISHERS = _fault("publishers", "extra_publishers", shown=(),
        meaning="more than one publisher on the audio topic (see audio_publishers)")
    DISCARDED = _fault("discarded_at_shutdown", "chunks_discarded_at_shutdown", "samples_discarded_at_shutdown",
        watch="", shown=(), meaning="received chunks left unprocessed at shutdown (in lost_audio_s)")


REJECTIONS = tuple(f for f in Fault if f.rejects and f.events)
# Counters whose growth is a problem (WARN, ERROR when sustained), in the enumeration's order.
WATCHED = tuple(dict.fromkeys(["chunks_rejected"] + [f.watch for f in Fault if f.watch]))


class FaultCounter(collections.Counter):
    """Counts faults by their counter keys (a Counter: also holds plain keys like ``chunks_in``)."""

    def add(self, fault: Fault, samples: int = 0, count: int = 1) -> None:
        if fault.events:
            self[fault.events] += count
        if fault.amount and samples:
            self[fault.amount] += int(samples)
        if fault.rejects:
            self["chunks_rejected"] += count


def watched_counts(counts: Mapping[str, int]) -> dict:
    """The watched counters (every one, 0 included), then rejections by kind (``rejected_<kind>``)."""
    out = {k: int(counts.get(k, 0)) for k in WATCHED}
    out.update({k: int(v) for k, v in sorted(counts.items()) if k.startswith("rejected_")})
    return out


class LevelTracker:
    """The diagnostics level from the watched counters: WARN while any grew within RECENT_S, ERROR when they grew in
    every update for SUSTAINED_S or more."""

    def __init__(self) -> None:
        self._prev: dict = {}
        self._last_growth: dict = {}
        self._streak_since: float | None = None

    def update(self, counts: Mapping[str, int], now: float) -> tuple:
        """(Level, names of the counters that grew recently)."""
        grew = [k for k, v in counts.items() if v > self._prev.get(k, 0)]
        self._prev = dict(counts)
        for k in grew:
            self._last_growth[k] = now
        if grew:
            if self._streak_since is None:
                self._streak_since = now
        else:
            self._streak_since = None
        recent = sorted(k for k, t in self._last_growth.items() if now - t <= RECENT_S)
        if self._streak_since is not None and now - self._streak_since >= SUSTAINED_S:
            return Level.ERROR, recent
        if recent:
            return Level.WARN, recent
        return Level.OK, []


class NoAudioWatch:
    """A deaf node is not healthy: a node whose input topic has no publisher, a driver that died, a remap that points
    nowhere keeps every fault counter at zero. ``heard(seconds, now)`` for every chunk taken in; ``update(now)`` ->
    (Level, message; "" while audio flows): WARN once no audio was due for ``timeout_s``, ERROR once that lasts
    NO_AUDIO_ERROR_FACTOR times as long. A chunk covers its own duration (a driver sending 10 s messages is not deaf
    between them). ``timeout_s`` <= 0 turns it off."""

    def __init__(self, topic: str, timeout_s: float, now: float):
        self.topic, self.timeout_s = topic, float(timeout_s)
        self.since = now  # start, or the end of the audio taken in so far, on the monotonic clock
        self._ever = False

    def heard(self, seconds: float, now: float) -> None:
        self.since = max(self.since, now + max(float(seconds), 0.0))
        self._ever = True

    def silent_s(self, now: float) -> float:
        return max(now - self.since, 0.0)

    def update(self, now: float) -> tuple:
        silent = self.silent_s(now)
        if self.timeout_s <= 0 or silent < self.timeout_s:
            return Level.OK, ""
        level = Level.ERROR if silent >= self.timeout_s * NO_AUDIO_ERROR_FACTOR else Level.WARN
        return level, f"{'no audio' if self._ever else 'no audio yet'} on {self.topic} for {silent:.0f} s"

def status_message(level: Level, counts: Mapping[str, int], recent: Iterable[str]) -> str:
    if level == Level.OK:
        return "ok" if not any(counts.values()) else "ok (earlier input problems: see values)"
    return ("sustained input problems: " if level == Level.ERROR else "input problems: ") + ", ".join(recent)


class Summary:
    """The periodic ``input summary`` line: what went wrong since the last one, with the totals."""

    def __init__(self) -> None:
        self._at = time.monotonic()
        self._counts: dict = {}

    def due(self, period_s: float, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return now - self._at >= max(period_s, SUMMARY_MIN_PERIOD_S)

    def line(self, counts: Mapping[str, int], lost_audio_s: float, force: bool = False) -> str | None:
        """The summary since the previous call ('' bookkeeping only, None when there is nothing to say)."""
        now = time.monotonic()
        delta = {k: v - self._counts.get(k, 0) for k, v in counts.items() if v != self._counts.get(k, 0)}
        text = None
        if delta or (force and any(counts.values())):
            what = ", ".join(f"{k} +{v}" for k, v in delta.items()) or "nothing new"
            text = (f"input summary (last {now - self._at:.0f} s): {what}; totals: lost_audio_s {lost_audio_s:.3f}, "
                    + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
        self._counts = dict(counts)
        self._at = now
        return text


def diagnostic_values(head: Mapping, counts: Mapping[str, int], lost_audio_s: float, tail: Mapping) -> list:
    """The /diagnostics key/value list: ``head`` (what runs), every shown fault counter in the enumeration's order
    with the rejections by kind (``chunks_rejected_<kind>``) and ``lost_audio_s``, then ``tail`` (performance).
    Values are strings; floats with 3 decimals."""
    values = dict(head)
    for fault in Fault:
        if fault is Fault.BAD_LAYOUT:  # the rejections, umbrella first, then by kind
            values["chunks_rejected"] = counts.get("chunks_rejected", 0)
            values.update({f"chunks_{k}": v for k, v in sorted(counts.items()) if k.startswith("rejected_")})
            values["lost_audio_s"] = float(lost_audio_s)
        if not fault.rejects:
            values.update({k: counts.get(k, 0) for k in fault.shown})
    values.update(tail)
    return [(k, f"{v:.3f}" if isinstance(v, float) else str(v)) for k, v in values.items()]


def diagnostic_keys() -> list:
    """Every fault counter key /diagnostics may show (``chunks_rejected_<kind>`` once per rejection kind)."""
    keys = ["chunks_rejected", "lost_audio_s"] + [f"chunks_{f.events}" for f in REJECTIONS]
    return keys + [k for f in Fault if not f.rejects for k in f.shown]


class Throttle:
    """Log one kind of warning at most once per period, with the count suppressed meanwhile.

    ``flush()`` (called periodically) reports suppressed counts even when no later warning of the kind comes, so a
    burst never hides behind its first line. ``logger`` needs only ``warning(text)``."""

    def __init__(self, logger, period_s: float):
        self.logger, self.period_s = logger, period_s
        self._last: dict[str, float] = {}
        self._suppressed: collections.Counter = collections.Counter()
        self._latest: dict[str, str] = {}
        self._lock = threading.Lock()

    def warn(self, kind: str, text: str) -> None:
        kind = getattr(kind, "value", kind)
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(kind, -1e9) >= self.period_s:
                n = self._suppressed.pop(kind, 0)
                extra = f" ({n} similar suppressed)" if n else ""
                self._last[kind] = now
            else:
                self._suppressed[kind] += 1
                self._latest[kind] = text
                return
        self.logger.warning(f"{text}{extra}")

    def flush(self, force: bool = False) -> None:
        """Log the suppressed count of every kind whose period has passed (or all, with ``force``)."""
        now = time.monotonic()
        lines = []
        with self._lock:
            for kind in list(self._suppressed):
                if force or now - self._last.get(kind, -1e9) >= self.period_s:
                    n = self._suppressed.pop(kind)
                    lines.append(f"{n} similar warnings suppressed ({kind}); latest: {self._latest.pop(kind, '')}")
                    self._last[kind] = now
        for line in lines:
            self.logger.warning(line)

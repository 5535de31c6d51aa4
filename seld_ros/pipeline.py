"""The ROS-free streaming pipeline: audio chunks in, tracked sound events out.

    chunk (any layout, any rate, running sample index, stamp)
      -> validate + convert: FOA layouts to ACN/SN3D (4 ch), stereo kept as L, R (2 ch)   (seld_ros.audio.formats)
      -> ring buffer: gaps zero-filled, overlaps dropped, both reported   (seld_ros.audio.RingBuffer)
      -> resample to 24 kHz, streaming              (seld_ros.audio.StreamingResampler)
      -> streaming features of the bundle's front end (FOA or stereo)   (seld_ros.features)
      -> network inference per 100 ms hop          (seld_ros.engine): incremental (a causal bundle: one
         hop in, one frame out, state carried over) or a sliding window (older, non-causal bundles)
      -> decoder (thresholds, same-class merging)   (seld_ros.decode)
      -> tracker (persistent ids)                   (seld_ros.tracking)
      -> OutputFrame(frame_index, stamp_ns = audio time of the frame, events)

The ROS node and the offline bag evaluation both drive this class, so what the node
publishes and what `seld-eval-bag` scores are computed by the same code.

Front ends: the bundle decides. An FOA bundle takes the 4-channel layouts (ACN/SN3D, FuMa, tetrahedral A-format);
a stereo bundle (``Bundle.front_end == "stereo"``) takes ``stereo`` (left, right). Audio of the other family is
rejected chunk by chunk (``bad_layout``), so a miswired topic is reported and the node keeps running. A stereo
pair cannot tell front from back (nor up from down): a stereo bundle's directions are front-folded, projected to
the front half of the horizontal plane (x >= 0, z = 0; azimuth in [-90, 90] deg, elevation 0), and every output
frame says so (``OutputFrame.doa_front_folded``): a source behind the array is reported at its mirror image in
front.

Time: every output carries the acquisition time of the audio it describes, derived
from the input stamps and sample counts (never the wall clock). Sample indices are
trusted for order and continuity; stamps only anchor indices to time. Output stamps
never go backwards within a stream: a stamp of 0 (unset), an impossible one (negative,
or within a day of the int32-seconds limit of builtin_interfaces/Time) or one that goes
backwards is reported and replaced by the sample-count time; outputs saturate at the
largest representable time.

Input level: samples are float PCM in [-1.0, 1.0] (full scale). Larger magnitudes are
counted and reported (``out_of_range``), near-full-scale runs as ``clipped``; NaN/Inf
samples are replaced by 0 and counted (``non_finite``); the chunk is kept. Gaps in the
sample index are filled by a linear ramp between the samples around them (no click)
and output frames with more than 5 % filled audio are published without events
(``concealed_frames``): filled audio never makes events.

Losses: ``stats()["lost_audio_s"]`` is the audio (in seconds of input) that never
reached the network as received samples, or never became a frame: gaps, rejected chunks,
skips after live-mode drops (also before the stream started), the forward jump of a
restart, the start of a stream that never arrived (``start_gap``) and the incomplete last
frame of a segment (``segment_tail``). Each span is counted once.
"""
from __future__ import annotations

import bisect
import collections
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seld_ros.audio import (
    AudioDtypeError,
    AudioFormatError,
    ChannelCountError,
    EmptyAudioError,
    NonFiniteAudioError,
    RingBuffer,
    SampleRateError,
    StreamingResampler,
    UnknownLayoutError,
    to_acn_sn3d,
)
from seld_ros.audio.formats import LAYOUT_INPUT_CHANNELS
from seld_ros.constants import FOA_LAYOUTS, FRONT_END_CHANNELS, LABEL_HOP_S, NS, SAMPLE_RATE, STEREO
from seld_ros.decode import fold_front
from seld_ros.engine.stream import StreamOpenError, StreamOptions, open_stream
from seld_ros.event_tags import open_event_tagger
from seld_ros.features import make_streaming_extractor
from seld_ros.features.config import FeatureConfigError
from seld_ros.health import Fault, FaultCounter
from seld_ros.tracking import TrackedEvent, Tracker, TrackerConfig

log = logging.getLogger(__name__)

INTERNAL_RATE = SAMPLE_RATE  # the pipeline's name for it
DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "default.pt"


class PipelineError(RuntimeError):
    """The pipeline cannot be built (model bundle, backend, configuration)."""


class InputError(ValueError):
    """One audio chunk was rejected; ``kind`` (a seld_ros.health.Fault) names the problem for counters and logs."""

    def __init__(self, kind: Fault, message: str):
        super().__init__(message)
        self.kind = kind


_ERROR_KINDS = (
    (UnknownLayoutError, Fault.BAD_LAYOUT),
    (ChannelCountError, Fault.BAD_CHANNELS),
    (EmptyAudioError, Fault.EMPTY),
    (NonFiniteAudioError, Fault.NON_FINITE),
    (AudioDtypeError, Fault.BAD_DTYPE),
    (SampleRateError, Fault.BAD_RATE),
    (AudioFormatError, Fault.BAD_AUDIO),
)


@dataclass
class AudioChunk:
    """One input chunk: ``samples`` is (samples, channels), interleaved order as received."""

    samples: np.ndarray
    sample_rate: int
    channels: int
    layout: str
    first_sample_index: int
    stamp_ns: int
    frame_id: str = ""
    received_monotonic: float = 0.0
    # set by a live consumer that dropped the chunks before this one to catch up with real time:
    # skip ahead (restart the stream here) instead of zero-filling and processing the dropped span
    after_drop: bool = False
    # first_sample_index of the first of those dropped chunks (None: unknown): the span it starts is lost audio,
    # also when the drops came before the stream started
    dropped_from_index: int | None = None
    # who published it, as far as the transport can tell ("" unknown): a chunk from another source while the
    # current one has gone quiet is a publisher restart (a new segment at once); while both send, it is a second
    # stream on the topic and the first is kept
    source: str = ""


@dataclass
class InputIssue:
    kind: Fault  # a str: gap, overlap, restart, stamp_zero, non_finite, ... (seld_ros.health.Fault)
    message: str

# Full scale of float PCM input: samples are expected in [-FULL_SCALE, FULL_SCALE].
FULL_SCALE = 1.0
CLIP_LEVEL = 0.999  # |x| at or above this counts as a clipped (full-scale) sample
CLIP_REPORT_MIN = 3  # a chunk with fewer clipped samples is not reported (isolated peaks)
# Largest representable builtin_interfaces/Time: int32 seconds + nanoseconds.
MAX_STAMP_NS = (2**31 - 1) * NS + (NS - 1)
# Input stamps later than this are treated as impossible (a stream would overflow within a day).
STAMP_LIMIT_NS = MAX_STAMP_NS - 86400 * NS
# A source silent for this long (or for SOURCE_SILENT_CHUNKS of its own chunk durations, if longer) is gone: a chunk
# from another source then starts a new segment at once (a restarted driver), instead of being taken for a second
# stream. A restarted process needs well over a second to be publishing again.
SOURCE_SILENT_S = 0.5
SOURCE_SILENT_CHUNKS = 3
# A sample index back below this (seconds) from beyond it is a counter restarted by its driver: a new stream.
NEAR_ZERO_S = 1.0
# Output frames with more than this fraction of gap-filled audio are published without events (even scattered
# short gaps distort the spectrum enough to make false events: measured with the default model).
CONCEAL_FRACTION = 0.05


@dataclass
class OutputFrame:
    frame_index: int  # label frame index since stream start (input sample index // samples per frame)
    stamp_ns: int  # acquisition time of the frame's first sample
    duration_ns: int
    events: list[TrackedEvent]  # confirmed tracks active in this frame (what the node publishes)
    detections: list = field(default_factory=list)  # raw decoder events before tracking
    outputs: dict = field(default_factory=dict)  # the network's raw outputs for this frame (name -> array)
    # algorithmic delay: audio received after this frame's end before it could be emitted (look-ahead; 0 when
    # incremental). The node's latency from audio stamp to publication is latency_ns(now) at publish time.
    algorithmic_delay_ns: int = 0
    # the events' directions are front-folded (stereo bundle): x >= 0, z = 0; a source at azimuth a behind the
    # array (|a| > 90 deg) is reported at its mirror image 180 deg - a in front
    doa_front_folded: bool = False
    # AudioSet tags of the events' tracks (track_id -> ((display name, score), ...), best first) and the watch-list
    # events heard outside the model's classes (seld_ros.event_tags); empty while tagging is off
    tags: dict = field(default_factory=dict)
    watch_events: list = field(default_factory=list)

    @property
    def end_stamp_ns(self) -> int:
        """Acquisition time just after the frame's last sample."""
        return self.stamp_ns + self.duration_ns

    def latency_ns(self, now_ns: int) -> int:
        """Audio stamp -> ``now_ns`` (publication time, same clock as the input stamps): how long after the
        frame's last sample was captured its output goes out."""
        return int(now_ns) - self.end_stamp_ns


@dataclass
class PushResult:
    frames: list[OutputFrame] = field(default_factory=list)
    issues: list[InputIssue] = field(default_factory=list)


@dataclass
class PipelineConfig:
    model_file_path: str = ""  # empty: the shipped default model
    backend: str = "auto"
    context_seconds: float = 2.0  # network window per hop
    lookahead_frames: int = 0  # label frames of right context before a frame is emitted (+100 ms latency each)
    num_threads: int = 1
    engine_file_path: str = ""
    force_engine_update: bool = False
    enable_fp16: bool = True
    tensorrt_workspace_mb: int = 1024
    onnx_cache_dir: str = ""  # where exported ONNX files are kept (empty: seld_ros.engine.default_cache_dir())
    merge_angle_deg: float = 20.0
    max_gap_s: float = 5.0  # longer gaps (or jumps back) restart the stream instead of zero-filling
    stamp_tolerance_s: float = 0.02  # stamps further off their sample-count prediction are reported
    verify_model: bool = True  # a bundle that does not match its recorded digest is refused (False: warned)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    # the node's tags.* and watch_list.* parameters (seld_ros.event_tags.open_event_tagger); empty: no AudioSet tags
    event_tags: dict = field(default_factory=dict)

    def stream_options(self) -> StreamOptions:
        return StreamOptions(
            backend=self.backend, context_seconds=self.context_seconds, lookahead_frames=self.lookahead_frames,
            num_threads=self.num_threads, cache_dir=self.onnx_cache_dir, engine_file_path=self.engine_file_path,
            force_engine_update=self.force_engine_update, enable_fp16=self.enable_fp16,
            max_workspace_size=self.tensorrt_workspace_mb << 20,
        )


def _load_bundle(model_file_path: str, verify: bool = True) -> tuple:
    """(path, Bundle) of ``model_file_path`` (empty: the shipped default model); PipelineError says what is wrong.
    ``verify``: a bundle that does not match its recorded digest is refused (False: loaded with a warning)."""
    path = Path(model_file_path or DEFAULT_MODEL).expanduser()
    if not path.is_file():
        raise PipelineError(
            f"model bundle not found: {path}"
            + ("" if model_file_path else " (the default model ships with the package; reinstall it or set "
               "model_file_path)")
        )
    from seld_ros.model.bundle import BundleError, load_bundle  # imports torch: only when a pipeline is built

    if not verify:
        log.warning("verify_model is false: model bundle %s is loaded even if it does not match its recorded "
                    "digest", path)
    try:
        bundle = load_bundle(str(path), verify=verify)
    except BundleError as exc:
        raise PipelineError(f"cannot load model bundle {path}: {exc}") from None
    if bundle.integrity == "unrecorded":
        log.warning("model bundle %s records no digest (written before bundles carried one): its integrity cannot "
                    "be checked; re-save it with seld_ros.model.bundle.save_bundle", path)
    return path, bundle


def _feature_config(bundle, path: Path) -> tuple:
    """(feature config, front end "foa" | "stereo") of a bundle, which must run at the internal rate."""
    try:
        config, front_end = bundle.make_feature_config(), bundle.front_end
    except (FeatureConfigError, TypeError) as exc:
        raise PipelineError(f"model bundle {path}: unusable feature_config: {exc}") from None
    if config.sample_rate != INTERNAL_RATE:
        raise PipelineError(f"bundle features expect {config.sample_rate} Hz; the pipeline runs at "
                            f"{INTERNAL_RATE} Hz")
    return config, front_end


class SeldPipeline:
    def __init__(self, config: PipelineConfig | None = None):
        self.config = cfg = config or PipelineConfig()
        self.model_path, self.bundle = _load_bundle(cfg.model_file_path, cfg.verify_model)
        self.class_names = list(self.bundle.class_names)
        self.feature_config, self.front_end = _feature_config(self.bundle, self.model_path)
        # audio channels the front end takes after layout conversion: 4 (ACN/SN3D) or 2 (L, R)
        self.input_channels = FRONT_END_CHANNELS[self.front_end]
        self.doa_front_folded = bool(self.bundle.doa_front_folded)
        self._features = make_streaming_extractor(self.feature_config)
        try:  # the bundle decides: a causal network streams incrementally, any other one through the window
            self._stream, self._backend = open_stream(self.bundle, cfg.stream_options())
        except StreamOpenError as exc:
            raise PipelineError(str(exc)) from None
        self.mode = self._stream.mode  # "incremental" | "sliding window"
        self._decoder = self.bundle.make_decoder(cfg.merge_angle_deg)
        self._base_thresholds = np.asarray(self._decoder.thresholds, dtype=np.float64).copy()
        self._tracker = Tracker(cfg.tracker)
        self.tagger = open_event_tagger(cfg.event_tags, self.front_end, cfg.lookahead_frames, cfg.onnx_cache_dir)
        self._counters = FaultCounter()
        self._lost_s = 0.0
        self._next_frame_index = 0  # output frame numbers only go up, across segments (restarts, rate changes)
        self._source = ""  # who publishes the current segment ("" unknown)
        self._source_seen = 0.0  # received_monotonic of its latest chunk
        self._source_chunk_s = 0.0  # duration of its latest chunk
        self._reset_stream_state()

    # -- construction helpers -------------------------------------------------------------------
    @classmethod
    def from_settings(cls, values: dict) -> "SeldPipeline":
        """Build from the node's parameter dict (see seld_ros/ros/params.py)."""
        tracker = TrackerConfig(
            gate_deg=values["tracker.gate_deg"], birth_frames=values["tracker.birth_frames"],
            confirm_confidence=values.get("tracker.confirm_confidence", TrackerConfig.confirm_confidence),
            death_frames=values["tracker.death_frames"], alpha=values["tracker.alpha"], beta=values["tracker.beta"],
        )
        return cls(PipelineConfig(
            model_file_path=values["model_file_path"], backend=values["backend"],
            context_seconds=values["context_seconds"], num_threads=values["num_threads"],
            lookahead_frames=values["lookahead_frames"],
            engine_file_path=values["engine_file_path"], force_engine_update=values["force_engine_update"],
            enable_fp16=values["enable_fp16"], tensorrt_workspace_mb=values["tensorrt_workspace_mb"],
            verify_model=values.get("verify_model", True), tracker=tracker,
            event_tags={k: v for k, v in values.items() if k.startswith(("tags.", "watch_list."))},
        ))

    def _reset_stream_state(self) -> None:
        self._rate: int | None = None
        self._layout: str | None = None
        self._ring: RingBuffer | None = None
        self._resampler: StreamingResampler | None = None
        self._segment_start: int | None = None  # input sample index where the current segment began
        self._segment_first_frame = 0
        self._anchors_idx: list[int] = []
        self._anchors_ns: list[int] = []
        self._filled: collections.deque = collections.deque()  # [start, stop) input indices filled by a ramp
        # [start, stop) of the rejected chunks since the segment began: already lost (the latest 256 are kept)
        self._rejected: collections.deque = collections.deque(maxlen=256)
        self._last_stamp_out: int | None = None
        self._features.reset()
        self._stream.reset()
        self._tracker.reset()
        if self.tagger is not None:
            self.tagger.reset()

    # -- public API ----------------------------------------------------------------------------
    def info(self) -> dict:
        b = self._backend.info()
        return {"model": str(self.model_path), "backend": b.get("name", "?"), "backend_info": b,
                "classes": len(self.class_names), "context_seconds": self._stream.window_seconds,
                "inference_mode": self.mode, "front_end": self.front_end, "input_channels": self.input_channels,
                "doa_front_folded": self.doa_front_folded}

    def stats(self) -> dict:
        c = dict(self._counters)
        c["input_rate_hz"] = float(self._rate or 0)
        c["lost_audio_s"] = float(self._lost_s)
        if self.tagger is not None:
            c.update(self.tagger.stats())
        return c

    def set_thresholds(self, scale: float = 1.0, per_class=None) -> None:
        """Thresholds = (per_class or the bundle's calibrated ones) * scale, clipped to [0, 1]."""
        base = self._base_thresholds if per_class is None else np.asarray(per_class, dtype=np.float64)
        if base.shape != self._base_thresholds.shape:
            raise ValueError(f"class_thresholds needs {len(self.class_names)} values (one per class: "
                             f"{', '.join(self.class_names)}), got {base.size}")
        if not 0.0 < scale:
            raise ValueError(f"threshold scale must be positive, got {scale}")
        self._decoder.thresholds = np.clip(base * float(scale), 0.0, 1.0)

    def layout_mismatch(self, layout: str) -> str:
        """Why audio in ``layout`` would be rejected by this bundle's front end ('' if it fits or is not set)."""
        if not layout or (layout == STEREO) == (self.front_end == "stereo"):
            return ""
        need = STEREO if self.front_end == "stereo" else "an FOA layout (" + ", ".join(FOA_LAYOUTS) + ")"
        return (f"input_layout '{layout}' does not fit the model ({self.front_end} bundle, takes {need}): every "
                "audio chunk will be rejected (bad_layout)")

    def frame_stamp_ns(self, frame_index: int) -> int:
        """Acquisition time of the first sample of output frame ``frame_index``."""
        if self._rate is None or not self._anchors_idx:
            return 0
        return self._stamp_of_index(self._frame_start_index(frame_index))

    def push(self, chunk: AudioChunk) -> PushResult:
        """Process one chunk. Raises InputError (nothing consumed) for a chunk that cannot be used."""
        result = PushResult()
        try:
            audio = self._validate(chunk, result)
        except InputError:
            self._count_rejected(chunk)
            raise
        rate = int(chunk.sample_rate)
        idx = int(chunk.first_sample_index)
        new_stream = self._ring is None
        if self._ring is not None and self._is_new_stream(chunk, audio, idx):
            result.issues.append(InputIssue(Fault.PUBLISHER_RESTART, self._new_stream_reason(chunk, idx)))
            self._counters.add(Fault.PUBLISHER_RESTART)
            self._end_segment(result)
            new_stream = True
        if not chunk.source or chunk.source == self._source or new_stream:
            self._source, self._source_seen = chunk.source, chunk.received_monotonic
            self._source_chunk_s = audio.shape[1] / rate
        if self._rate is not None and (rate != self._rate or chunk.layout != self._layout):
            result.issues.append(InputIssue(Fault.RESTART, f"stream format changed ({self._layout} @ {self._rate} "
                                                           f"Hz -> {chunk.layout} @ {rate} Hz): restarting the stream"))
            self._counters.add(Fault.RESTART)
            self._end_segment(result)
        elif self._ring is not None:
            expected = self._ring.next_sample_index
            jump = idx - expected
            if chunk.after_drop and jump > 0:
                result.issues.append(InputIssue(Fault.SKIP, f"skipped {jump / rate:.2f} s of audio dropped to keep up "
                                                            "with real time"))
                self._counters.add(Fault.SKIP, jump)
                self._lost_s += self._not_yet_lost(expected, idx) / rate
                self._end_segment(result, flush=False)
            elif abs(jump) > self.config.max_gap_s * rate and (jump > 0 or idx + audio.shape[1] <= expected):
                what = "gap" if jump > 0 else "jump back"
                result.issues.append(InputIssue(Fault.RESTART, f"{what} of {abs(jump) / rate:.2f} s in "
                                                               f"first_sample_index (expected {expected}, got {idx}): "
                                                               "restarting the stream"))
                self._counters.add(Fault.RESTART, max(jump, 0))
                if jump > 0:
                    self._lost_s += self._not_yet_lost(expected, idx) / rate
                self._end_segment(result)
        if self._ring is None:
            if new_stream:
                self._count_start_loss(chunk, idx, rate, result)
            self._start_segment(rate, chunk.layout, idx)
        self._check_stamp(idx, int(chunk.stamp_ns), result)

        # split very long chunks so the ring buffer never wraps over unread audio
        step = self._ring.capacity // 2
        for start in range(0, audio.shape[1], step):
            part = audio[:, start:start + step]
            first = idx + start
            expected = self._ring.next_sample_index
            if first < expected:
                self._check_conflict(part, first, expected, result)
            status = self._ring.write(part, first)
            if status.gap_samples:
                self._counters.add(Fault.GAP, status.gap_samples)
                self._lost_s += self._not_yet_lost(first - status.gap_samples, first) / rate
                self._filled.append((first - status.gap_samples, first))
                result.issues.append(InputIssue(Fault.GAP, f"{status.gap_samples} samples "
                                                           f"({status.gap_samples / rate * 1e3:.1f} ms) missing before "
                                                           f"index {first}: concealed (filled by a ramp)"))
            if status.overlap_samples:
                kind = Fault.DUPLICATE if status.samples_written == 0 else Fault.OVERLAP
                self._counters.add(kind, status.overlap_samples)
                result.issues.append(InputIssue(kind, f"{status.overlap_samples} samples at index {first} "
                                                      "were already received: dropped"))
            fresh = status.gap_samples + status.samples_written
            if fresh:
                self._process(self._ring.latest(fresh), result)
        self._counters["samples_in"] += audio.shape[1]
        return result

    def flush(self) -> PushResult:
        """End of stream: emit what the look-ahead still holds; the audio of an incomplete last frame is counted
        as lost (``segment_tail``)."""
        result = PushResult()
        self._end_segment(result)
        return result

    def reset(self) -> None:
        """Forget the stream and start numbering frames from 0 again (a new recording)."""
        self._reset_stream_state()
        self._next_frame_index = 0
        self._source = ""

    # -- internals ------------------------------------------------------------------------------
    def _source_quiet(self, now: float) -> bool:
        """The current segment's source has sent nothing for long enough to count as gone."""
        return now - self._source_seen >= max(SOURCE_SILENT_S, SOURCE_SILENT_CHUNKS * self._source_chunk_s)

    def _is_new_stream(self, chunk: AudioChunk, audio: np.ndarray, idx: int) -> bool:
        """A restarted publisher: another source while the current one is quiet, or the sample index back near 0
        with samples that are not a resend of the ones held. Another source while the current one still sends
        is a second stream: not a new stream (the conflict rule keeps the first)."""
        if chunk.source and self._source and chunk.source != self._source:
            return self._source_quiet(chunk.received_monotonic)
        expected = self._ring.next_sample_index
        near_zero = NEAR_ZERO_S * int(chunk.sample_rate)
        if not (idx < near_zero < expected) or int(chunk.sample_rate) != self._rate:
            return False
        stop = min(expected, idx + audio.shape[1])
        lo = max(idx, self._ring.oldest_sample_index)
        return stop <= lo or not np.array_equal(self._ring.read(lo, stop - lo), audio[:, lo - idx:stop - idx])

    def _new_stream_reason(self, chunk: AudioChunk, idx: int) -> str:
        expected = self._ring.next_sample_index
        if chunk.source and self._source and chunk.source != self._source:
            quiet = chunk.received_monotonic - self._source_seen
            why = f"a new publisher while the previous one has been silent for {quiet:.2f} s"
        else:
            why = f"first_sample_index back to {idx} (expected {expected})"
        return f"publisher restart ({why}): starting a new segment at once; frame numbers continue"

    def _count_start_loss(self, chunk: AudioChunk, idx: int, rate: int, result: PushResult) -> None:
        """A stream (or a restarted publisher) whose first chunk here is not its first: the samples before it were
        published and never processed. Chunks dropped from the node's queue before it are counted as a skip; a
        stream whose index starts within max_gap_s of 0 lost the rest in transport (``start_gap``). A larger index
        is a stream joined late: nothing of it was meant for us."""
        first = idx
        if chunk.after_drop and chunk.dropped_from_index is not None and chunk.dropped_from_index < idx:
            first = int(chunk.dropped_from_index)
            self._counters.add(Fault.SKIP, idx - first)
            self._lost_s += self._not_yet_lost(first, idx) / rate
            result.issues.append(InputIssue(Fault.SKIP, f"skipped {(idx - first) / rate:.2f} s of audio dropped from "
                                                        "the queue before the stream started"))
        if 0 < first <= self.config.max_gap_s * rate:
            self._counters.add(Fault.START_GAP, first)
            self._lost_s += self._not_yet_lost(0, first) / rate
            result.issues.append(InputIssue(Fault.START_GAP, f"the stream starts at first_sample_index {first}: its "
                                                             f"first {first / rate:.2f} s never arrived (lost in "
                                                             "transport before the first message taken)"))

    def _count_rejected(self, chunk: AudioChunk) -> None:
        """A rejected chunk's audio is lost at once (also when no chunk follows it); the gap it leaves in the index
        is then not counted a second time (``_not_yet_lost``)."""
        rate = int(chunk.sample_rate) if 8000 <= int(chunk.sample_rate) <= 192000 else self._rate
        samples = getattr(chunk.samples, "size", 0) // max(int(chunk.channels), 1)
        if not rate or not samples:
            return
        start = int(chunk.first_sample_index)
        self._counters.add(Fault.REJECTED_AUDIO, samples)
        self._lost_s += self._not_yet_lost(start, start + samples) / rate
        self._rejected.append((start, start + samples))

    def _not_yet_lost(self, start: int, stop: int) -> int:
        """Samples of [start, stop) not already counted as lost with a rejected chunk (of this segment)."""
        counted = sum(max(0, min(b, stop) - max(a, start)) for a, b in self._rejected)
        return max(stop - start - counted, 0)

    def _end_segment(self, result: PushResult, flush: bool = True) -> None:
        """Close the current segment: emit what the look-ahead holds (``flush``), count the audio of its incomplete
        last frame as lost (``segment_tail``), forget the stream."""
        if self._ring is not None:
            if flush:
                self._flush_into(result)
            start, stop = self._frame_start_index(self._next_frame_index), self._ring.next_sample_index
            if stop > start:
                self._counters.add(Fault.SEGMENT_TAIL, stop - start)
                # gap-filled spans of the tail were counted lost as gaps (rejected ones with their chunk)
                filled = sum(max(0, min(b, stop) - max(a, start)) for a, b in self._filled)
                self._lost_s += max(stop - start - filled, 0) / self._rate
        self._reset_stream_state()

    def _validate(self, chunk: AudioChunk, result: PushResult) -> np.ndarray:
        samples = chunk.samples
        if not isinstance(samples, np.ndarray) or samples.ndim != 2:
            raise InputError(Fault.BAD_SHAPE, f"samples must be a 2-D (samples, channels) array, got "
                                              f"{getattr(samples, 'shape', type(samples))}")
        if self.front_end == "stereo":
            if chunk.layout != STEREO and chunk.layout in LAYOUT_INPUT_CHANNELS:
                raise InputError(Fault.BAD_LAYOUT, "this model is a stereo bundle and takes stereo (left, right) "
                                                   f"audio; {chunk.layout} input needs an FOA model bundle")
        elif chunk.layout == STEREO:
            raise InputError(Fault.BAD_LAYOUT, "this model takes FOA audio; stereo input needs a stereo model bundle")
        if chunk.layout in LAYOUT_INPUT_CHANNELS and int(chunk.channels) != LAYOUT_INPUT_CHANNELS[chunk.layout]:
            raise InputError(Fault.BAD_CHANNELS, f"layout {chunk.layout} has {LAYOUT_INPUT_CHANNELS[chunk.layout]} "
                                                 f"channels, the message says channels={chunk.channels}")
        if samples.shape[1] != int(chunk.channels):
            raise InputError(Fault.BAD_SHAPE, f"data length is not a multiple of channels={chunk.channels} "
                                              f"({samples.size} values)")
        if not 8000 <= int(chunk.sample_rate) <= 192000:
            raise InputError(Fault.BAD_RATE, f"sample_rate {chunk.sample_rate} Hz is outside 8000..192000 Hz")
        if samples.size and np.issubdtype(samples.dtype, np.floating):
            samples = self._check_level(samples, int(chunk.first_sample_index), result)
        try:
            return to_acn_sn3d(samples.T, chunk.layout, sample_rate=int(chunk.sample_rate))
        except AudioFormatError as exc:
            kind = next(k for cls, k in _ERROR_KINDS if isinstance(exc, cls))
            raise InputError(kind, str(exc)) from None

    def _check_level(self, samples: np.ndarray, idx: int, result: PushResult) -> np.ndarray:
        """Non-finite samples -> 0 (counted); magnitudes beyond full scale and clipping counted and reported."""
        finite = np.isfinite(samples)
        if not finite.all():
            bad = ~finite
            n_bad = int(bad.sum())
            where = np.argwhere(bad)[0]
            first_value = samples[where[0], where[1]]
            samples = np.where(finite, samples, 0).astype(samples.dtype)
            self._counters.add(Fault.NON_FINITE, n_bad)
            result.issues.append(InputIssue(Fault.NON_FINITE, f"audio contains NaN or Inf: {n_bad} values (first "
                                                              f"{first_value} at sample {idx + int(where[0])}, channel "
                                                              f"{int(where[1])}) replaced by 0; the chunk is kept"))
        mag = np.abs(samples)
        peak = float(mag.max())
        if peak > FULL_SCALE:
            n_out = int((mag > FULL_SCALE).sum())
            self._counters.add(Fault.OUT_OF_RANGE, n_out)
            result.issues.append(InputIssue(Fault.OUT_OF_RANGE, f"{n_out} samples beyond full scale (peak {peak:.3g}; "
                                                                f"expected float PCM in [-{FULL_SCALE:g}, "
                                                                f"{FULL_SCALE:g}]): scale the input; detections are "
                                                                "unreliable at this level"))
        elif peak >= CLIP_LEVEL:
            n_clip = int((mag >= CLIP_LEVEL).sum())
            if n_clip >= CLIP_REPORT_MIN:
                self._counters.add(Fault.CLIPPED, n_clip)
                result.issues.append(InputIssue(Fault.CLIPPED, f"{n_clip} samples at full scale (|x| >= {CLIP_LEVEL}) "
                                                               f"near index {idx}: the input is clipping"))
        return samples

    def _check_conflict(self, part: np.ndarray, first: int, expected: int, result: PushResult) -> None:
        """An overlapping chunk whose samples differ from those already received: another stream on the topic.

        Resent or duplicated data is bit-identical; concealed (gap-filled) spans are excluded, since the
        real samples arriving late there differ from the ramp by design."""
        stop = min(expected, first + part.shape[1])
        lo = max(first, self._ring.oldest_sample_index)
        if stop <= lo or any(a < stop and lo < b for a, b in self._filled):
            return
        held = self._ring.read(lo, stop - lo)
        if not np.array_equal(held, part[:, lo - first:stop - first]):
            self._counters.add(Fault.CONFLICT, stop - lo)
            result.issues.append(InputIssue(Fault.CONFLICT, f"samples {lo}..{stop - 1} arrived again with different "
                                                            "values: a second stream is publishing on the audio "
                                                            "topic; keeping the first one"))

    def _start_segment(self, rate: int, layout: str, idx: int) -> None:
        self._rate, self._layout = rate, layout
        # room for the longest gap we zero-fill plus a long chunk, at the input rate
        self._ring = RingBuffer(self.input_channels, int((self.config.max_gap_s + 12.0) * rate), gap_fill="linear")
        self._ring.reset(start_index=idx)
        self._resampler = None if rate == INTERNAL_RATE else StreamingResampler(rate, INTERNAL_RATE,
                                                                                channels=self.input_channels)
        self._segment_start = idx
        self._segment_first_frame = max(idx // int(round(rate * LABEL_HOP_S)), self._next_frame_index)
        self._next_frame_index = self._segment_first_frame

    def _frame_start_index(self, frame_index: int) -> int:
        per_frame = self._rate * LABEL_HOP_S
        return self._segment_start + int(round((frame_index - self._segment_first_frame) * per_frame))

    def _stamp_of_index(self, index: int) -> int:
        i = bisect.bisect_right(self._anchors_idx, index) - 1
        i = max(i, 0)
        ns = self._anchors_ns[i] + int(round((index - self._anchors_idx[i]) * NS / self._rate))
        return min(max(ns, 0), MAX_STAMP_NS)

    def _check_stamp(self, idx: int, stamp_ns: int, result: PushResult) -> None:
        if self._anchors_idx and idx <= self._anchors_idx[-1]:
            return  # overlapping/duplicate chunk: its samples are dropped, keep the anchors
        predicted = self._stamp_of_index(idx) if self._anchors_idx else None
        replace = None
        if stamp_ns == 0:
            replace = Fault.STAMP_ZERO, "header.stamp is 0 (unset)"
        elif stamp_ns < 0 or stamp_ns > STAMP_LIMIT_NS:
            replace = Fault.STAMP_INVALID, (f"header.stamp {stamp_ns / NS:.3f} s is impossible (negative or within a "
                                            "day of the int32-seconds limit of builtin_interfaces/Time)")
        elif predicted is not None:
            off = (stamp_ns - predicted) / NS
            if off < -self.config.stamp_tolerance_s:
                replace = Fault.STAMP_BACKWARDS, (f"stamp of sample {idx} goes back {-off * 1e3:.1f} ms against the "
                                                  "sample count")
            elif off > self.config.stamp_tolerance_s:
                self._counters.add(Fault.STAMP_JUMP)
                result.issues.append(InputIssue(Fault.STAMP_JUMP, f"stamp of sample {idx} is {off * 1e3:+.1f} ms off "
                                                                  "what the sample count predicts; re-anchoring time"))
        if replace is not None:
            kind, what = replace
            self._counters.add(kind)
            if predicted is None:  # nothing to continue from: time since the stream's sample 0
                stamp_ns = int(round(idx * NS / self._rate))
            else:
                stamp_ns = predicted
            result.issues.append(InputIssue(kind, f"{what}: replaced by the sample-count time "
                                                  f"{stamp_ns / NS:.3f} s; output stamps stay monotonic"))
            if predicted is not None:
                return  # nothing new to anchor: time continues from the previous anchor
        self._anchors_idx.append(idx)
        self._anchors_ns.append(stamp_ns)
        if len(self._anchors_idx) > 4096:  # keep memory bounded; old frames keep the oldest kept anchor
            del self._anchors_idx[:2048], self._anchors_ns[:2048]

    def _filled_fraction(self, start: int, stop: int) -> float:
        """Fraction of input samples [start, stop) that were gap-filled, not received."""
        while self._filled and self._filled[0][1] <= start:
            self._filled.popleft()  # frames are emitted in order: older spans are done with
        filled = sum(max(0, min(b, stop) - max(a, start)) for a, b in self._filled)
        return filled / max(stop - start, 1)

    def _process(self, audio: np.ndarray, result: PushResult) -> None:
        x = audio if self._resampler is None else self._resampler.push(np.ascontiguousarray(audio))
        self._process_internal_rate(x, result)

    def _process_internal_rate(self, x: np.ndarray, result: PushResult) -> None:
        if x.shape[1] == 0:
            return
        if self.tagger is not None:
            self.tagger.push_audio(x)
        feats = self._features.push(x)
        if feats.shape[1] == 0:
            return
        # One label frame per network run, whatever the chunking: a frame's output must not depend
        # on how the audio was cut into messages (the node and the offline evaluation must agree).
        hop = self.feature_config.frames_per_label
        for start in range(0, feats.shape[1], hop):
            self._emit(self._stream.push(feats[:, start:start + hop]), result)

    def _flush_into(self, result: PushResult) -> None:
        if self._ring is not None:
            if self._resampler is not None:
                # the resampler lags by its filter's half length: without its tail the last frame of a
                # 44.1/48 kHz stream would never be complete (5.0 s in, 49 of 50 frames out)
                self._process_internal_rate(self._resampler.flush(), result)
                self._resampler = StreamingResampler(self._rate, INTERNAL_RATE, channels=self.input_channels)
            self._emit(self._stream.flush(), result)

    def _emit(self, out, result: PushResult) -> None:
        if out is None:
            return
        per_frame = self._decoder.decode(out.outputs)
        for j, dets in enumerate(per_frame):
            frame_index = self._segment_first_frame + out.first_index + j
            self._next_frame_index = frame_index + 1
            start = self._frame_start_index(frame_index)
            concealed = bool(self._filled) and \
                self._filled_fraction(start, self._frame_start_index(frame_index + 1)) > CONCEAL_FRACTION
            if concealed:
                dets = []  # mostly filled audio: what the network says about it is not evidence
                self._counters.add(Fault.CONCEALED)
                # nor may it shape the frames after it: a network that has "heard" the fill takes the return of
                # the real sound for an onset (1.8 s of concealed steady noise used to give 3-4 false events)
                self._stream.forget_history()
            stamp = self._stamp_of_index(start)
            if self._last_stamp_out is not None and stamp <= self._last_stamp_out:
                self._counters.add(Fault.STAMP_CLAMPED)
                stamp = min(self._last_stamp_out + 1, MAX_STAMP_NS)
            self._last_stamp_out = stamp
            events = self._tracker.update(dets, frame_index, stamp)
            if self.doa_front_folded:
                # the tracker's alpha-beta prediction can carry a folded direction a little past +-90 deg
                for ev in events:
                    ev.doa = fold_front(ev.doa)
            tags, watch = self.tagger.tag_frame(out.first_index + j, frame_index, stamp, events, concealed) \
                if self.tagger is not None else ({}, [])
            result.frames.append(OutputFrame(
                frame_index=frame_index,
                stamp_ns=stamp,
                duration_ns=int(LABEL_HOP_S * NS),
                events=events,
                detections=dets,
                outputs={n: a[j] for n, a in out.outputs.items()},
                algorithmic_delay_ns=int(self._stream.latency_frames * LABEL_HOP_S * NS),
                doa_front_folded=self.doa_front_folded,
                tags=tags,
                watch_events=watch,
            ))
            self._counters["frames_out"] += 1

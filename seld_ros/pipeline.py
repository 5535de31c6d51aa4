"""The ROS-free streaming pipeline: audio chunks in, tracked sound events out.

    chunk (any layout, any rate, running sample index, stamp)
      -> validate + convert to ACN/SN3D            (seld_ros.audio.formats)
      -> ring buffer: gaps zero-filled, overlaps dropped, both reported   (seld_ros.audio.RingBuffer)
      -> resample to 24 kHz, streaming              (seld_ros.audio.StreamingResampler)
      -> streaming FOA features + normalisation     (seld_ros.features)
      -> network inference per 100 ms hop          (seld_ros.engine): incremental (a causal bundle: one
         hop in, one frame out, state carried over) or a sliding window (older, non-causal bundles)
      -> decoder (thresholds, same-class merging)   (seld_ros.decode)
      -> tracker (persistent ids)                   (seld_ros.tracking)
      -> OutputFrame(frame_index, stamp_ns = audio time of the frame, events)

The ROS node and the offline bag evaluation both drive this class, so what the node
publishes and what `seld-eval-bag` scores are computed by the same code.

Time: every output carries the acquisition time of the audio it describes, derived
from the input stamps and sample counts (never the wall clock). Sample indices are
trusted for order and continuity; stamps only anchor indices to time.
"""
from __future__ import annotations

import bisect
import collections
import logging
import os
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
from seld_ros.audio.formats import LAYOUT_INPUT_CHANNELS, STEREO
from seld_ros.tracking import TrackedEvent, Tracker, TrackerConfig

log = logging.getLogger(__name__)

INTERNAL_RATE = 24000
LABEL_HOP_S = 0.1
NS = 1_000_000_000
DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "default.pt"


class PipelineError(RuntimeError):
    """The pipeline cannot be built (model bundle, backend, configuration)."""


class InputError(ValueError):
    """One audio chunk was rejected; ``kind`` names the problem for counters and throttled logs."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


_ERROR_KINDS = (
    (UnknownLayoutError, "bad_layout"),
    (ChannelCountError, "bad_channels"),
    (EmptyAudioError, "empty"),
    (NonFiniteAudioError, "non_finite"),
    (AudioDtypeError, "bad_dtype"),
    (SampleRateError, "bad_rate"),
    (AudioFormatError, "bad_audio"),
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


@dataclass
class InputIssue:
    kind: str  # gap | overlap | duplicate | restart | skip | stamp_jump
    message: str


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
    onnx_cache_dir: str = ""  # where exported ONNX files are kept (empty: ~/.cache/seld_ros)
    merge_angle_deg: float = 20.0
    max_gap_s: float = 5.0  # longer gaps (or jumps back) restart the stream instead of zero-filling
    stamp_tolerance_s: float = 0.02  # stamps further off their sample-count prediction are reported
    tracker: TrackerConfig = field(default_factory=TrackerConfig)


class SeldPipeline:
    def __init__(self, config: PipelineConfig | None = None):
        self.config = cfg = config or PipelineConfig()
        from seld_ros.model.bundle import BundleError, bundle_hash, load_bundle

        path = Path(cfg.model_file_path or DEFAULT_MODEL).expanduser()
        if not path.is_file():
            raise PipelineError(
                f"model bundle not found: {path}"
                + ("" if cfg.model_file_path else " (the default model ships with the package; reinstall it or set "
                   "model_file_path)")
            )
        try:
            self.bundle = load_bundle(str(path))
        except BundleError as exc:
            raise PipelineError(f"cannot load model bundle {path}: {exc}") from None
        self.model_path = path
        self.class_names = list(self.bundle.class_names)
        from seld_ros.features.config import FeatureConfig
        from seld_ros.features.foa import StreamingFoaFeatures
        from seld_ros.features.stats import FeatureStats

        self.feature_config = FeatureConfig.from_dict(self.bundle.feature_config)
        if self.feature_config.sample_rate != INTERNAL_RATE:
            raise PipelineError(f"bundle features expect {self.feature_config.sample_rate} Hz; the pipeline runs at "
                                f"{INTERNAL_RATE} Hz")
        self._features = StreamingFoaFeatures(self.feature_config)
        from seld_ros.engine.incremental import IncrementalInference, is_causal, stateful_step
        from seld_ros.engine.streaming import StreamingInference

        # the bundle decides: a causal network streams incrementally, any other one through the window
        self.mode = "incremental" if is_causal(self.bundle.model) else "sliding window"
        if self.mode == "incremental":
            self._backend = self._make_backend(str(path), bundle_hash(str(path)),
                                               network=stateful_step(self.bundle.model))
            self._stream = IncrementalInference(self._backend)
            if cfg.lookahead_frames:
                log.warning("lookahead_frames=%d ignored: the causal bundle runs incrementally with no look-ahead",
                            cfg.lookahead_frames)
            log.info("inference mode: incremental (causal bundle %s: one 100 ms hop per network call, state "
                     "carried over, no look-ahead; backend %s)", path.name, self._backend.name)
        else:
            self._backend = self._make_backend(str(path), bundle_hash(str(path)))

        # The network normalises its raw-feature input itself (statistics in its state dict). Until the
        # window is full, its older part is padded with the mean feature: "average background", not silence.
        pad = 0.0
        if self.bundle.feature_stats:
            try:
                pad = FeatureStats.from_dict(self.bundle.feature_stats).mean.astype(np.float32)
            except (ValueError, KeyError):
                log.warning("bundle feature statistics unreadable; padding the stream start with zeros")
        if self.mode == "sliding window":
            try:
                self._stream = StreamingInference(self._backend, lookahead=cfg.lookahead_frames, pad_value=pad)
            except ValueError as exc:
                raise PipelineError(f"lookahead_frames: {exc}") from None
            log.info("inference mode: sliding window (non-causal bundle %s: %.1f s of context re-run every 100 ms "
                     "hop, look-ahead %d frames; backend %s)", path.name, self._stream.window_seconds,
                     cfg.lookahead_frames, self._backend.name)
        self._decoder = self.bundle.make_decoder(cfg.merge_angle_deg)
        self._base_thresholds = np.asarray(self._decoder.thresholds, dtype=np.float64).copy()
        self._tracker = Tracker(cfg.tracker)
        self._counters = collections.Counter()
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
            tracker=tracker,
        ))

    def _make_backend(self, path: str, digest: str, network=None):
        """The backend for the bundle's network, or for ``network`` (the stateful step of a causal one)."""
        from seld_ros.engine.base import BackendError
        from seld_ros.engine.factory import create_backend

        cfg = self.config
        labels = max(1, int(round(cfg.context_seconds / LABEL_HOP_S)))
        frames = labels * self.feature_config.frames_per_label
        stem = f"{digest[:16]}_{frames}"
        if network is not None:  # one hop per call; the state is explicit I/O
            frames, stem = self.feature_config.frames_per_label, f"{digest[:16]}_step"
        cache = Path(cfg.onnx_cache_dir or os.environ.get("SELD_CACHE_DIR", "~/.cache/seld_ros")).expanduser()
        onnx_path = None
        if cfg.backend in ("auto", "onnxruntime", "tensorrt"):
            cache.mkdir(parents=True, exist_ok=True)
            onnx_path = str(cache / f"{stem}.onnx")
        try:
            import torch

            torch.set_num_threads(cfg.num_threads)
            return create_backend(
                cfg.backend, model=network if network is not None else self.bundle.model, onnx_path=onnx_path,
                frames=frames,
                num_threads=cfg.num_threads, engine_file_path=cfg.engine_file_path,
                force_engine_update=cfg.force_engine_update, enable_fp16=cfg.enable_fp16,
                max_workspace_size=cfg.tensorrt_workspace_mb << 20, bundle_hash=digest, warmup=2,
            )
        except (BackendError, OSError, ValueError, RuntimeError) as exc:
            raise PipelineError(f"cannot start inference backend '{cfg.backend}': {exc}") from None

    def _reset_stream_state(self) -> None:
        self._rate: int | None = None
        self._layout: str | None = None
        self._ring: RingBuffer | None = None
        self._resampler: StreamingResampler | None = None
        self._segment_start: int | None = None  # input sample index where the current segment began
        self._segment_first_frame = 0
        self._anchors_idx: list[int] = []
        self._anchors_ns: list[int] = []
        self._features.reset()
        self._stream.reset()
        self._tracker.reset()

    # -- public API ----------------------------------------------------------------------------
    def info(self) -> dict:
        b = self._backend.info()
        return {"model": str(self.model_path), "backend": b.get("name", "?"), "backend_info": b,
                "classes": len(self.class_names), "context_seconds": self._stream.window_seconds,
                "inference_mode": self.mode}

    def stats(self) -> dict:
        c = dict(self._counters)
        c["input_rate_hz"] = float(self._rate or 0)
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

    def frame_stamp_ns(self, frame_index: int) -> int:
        """Acquisition time of the first sample of output frame ``frame_index``."""
        if self._rate is None or not self._anchors_idx:
            return 0
        return self._stamp_of_index(self._frame_start_index(frame_index))

    def push(self, chunk: AudioChunk) -> PushResult:
        """Process one chunk. Raises InputError (nothing consumed) for a chunk that cannot be used."""
        foa = self._validate(chunk)
        result = PushResult()
        rate = int(chunk.sample_rate)
        idx = int(chunk.first_sample_index)
        if self._rate is not None and (rate != self._rate or chunk.layout != self._layout):
            result.issues.append(InputIssue("restart", f"stream format changed ({self._layout} @ {self._rate} Hz -> "
                                                       f"{chunk.layout} @ {rate} Hz): restarting the stream"))
            self._flush_into(result)
            self._reset_stream_state()
        elif self._ring is not None:
            expected = self._ring.next_sample_index
            jump = idx - expected
            if chunk.after_drop and jump > 0:
                result.issues.append(InputIssue("skip", f"skipped {jump / rate:.2f} s of audio dropped to keep up "
                                                        "with real time"))
                self._counters["skips"] += 1
                self._reset_stream_state()
            elif abs(jump) > self.config.max_gap_s * rate and (jump > 0 or idx + foa.shape[1] <= expected):
                what = "gap" if jump > 0 else "jump back"
                result.issues.append(InputIssue("restart", f"{what} of {abs(jump) / rate:.2f} s in first_sample_index "
                                                           f"(expected {expected}, got {idx}): restarting the stream"))
                self._counters["restarts"] += 1
                self._flush_into(result)
                self._reset_stream_state()
        if self._ring is None:
            self._start_segment(rate, chunk.layout, idx)
        self._check_stamp(idx, int(chunk.stamp_ns), result)

        # split very long chunks so the ring buffer never wraps over unread audio
        step = self._ring.capacity // 2
        for start in range(0, foa.shape[1], step):
            part = foa[:, start:start + step]
            status = self._ring.write(part, idx + start)
            if status.gap_samples:
                self._counters["gaps"] += 1
                self._counters["gap_samples"] += status.gap_samples
                result.issues.append(InputIssue("gap", f"{status.gap_samples} samples "
                                                       f"({status.gap_samples / rate * 1e3:.1f} ms) missing before "
                                                       f"index {idx + start}: zero-filled"))
            if status.overlap_samples:
                self._counters["overlaps"] += 1
                self._counters["overlap_samples"] += status.overlap_samples
                kind = "duplicate" if status.samples_written == 0 else "overlap"
                result.issues.append(InputIssue(kind, f"{status.overlap_samples} samples at index {idx + start} "
                                                      "were already received: dropped"))
            fresh = status.gap_samples + status.samples_written
            if fresh:
                self._process(self._ring.latest(fresh), result)
        self._counters["samples_in"] += foa.shape[1]
        return result

    def flush(self) -> PushResult:
        """End of stream: emit what the look-ahead still holds."""
        result = PushResult()
        self._flush_into(result)
        return result

    def reset(self) -> None:
        self._reset_stream_state()

    # -- internals ------------------------------------------------------------------------------
    def _validate(self, chunk: AudioChunk) -> np.ndarray:
        samples = chunk.samples
        if not isinstance(samples, np.ndarray) or samples.ndim != 2:
            raise InputError("bad_shape", f"samples must be a 2-D (samples, channels) array, got "
                                          f"{getattr(samples, 'shape', type(samples))}")
        if chunk.layout == STEREO:
            raise InputError("bad_layout", "this model takes FOA audio; stereo input needs a stereo model bundle")
        if chunk.layout in LAYOUT_INPUT_CHANNELS and int(chunk.channels) != LAYOUT_INPUT_CHANNELS[chunk.layout]:
            raise InputError("bad_channels", f"layout {chunk.layout} has {LAYOUT_INPUT_CHANNELS[chunk.layout]} "
                                             f"channels, the message says channels={chunk.channels}")
        if samples.shape[1] != int(chunk.channels):
            raise InputError("bad_shape", f"data length is not a multiple of channels={chunk.channels} "
                                          f"({samples.size} values)")
        if not 8000 <= int(chunk.sample_rate) <= 192000:
            raise InputError("bad_rate", f"sample_rate {chunk.sample_rate} Hz is outside 8000..192000 Hz")
        try:
            return to_acn_sn3d(samples.T, chunk.layout, sample_rate=int(chunk.sample_rate))
        except AudioFormatError as exc:
            kind = next(k for cls, k in _ERROR_KINDS if isinstance(exc, cls))
            raise InputError(kind, str(exc)) from None

    def _start_segment(self, rate: int, layout: str, idx: int) -> None:
        self._rate, self._layout = rate, layout
        # room for the longest gap we zero-fill plus a long chunk, at the input rate
        self._ring = RingBuffer(4, int((self.config.max_gap_s + 12.0) * rate))
        self._ring.reset(start_index=idx)
        self._resampler = None if rate == INTERNAL_RATE else StreamingResampler(rate, INTERNAL_RATE, channels=4)
        self._segment_start = idx
        self._segment_first_frame = idx // int(round(rate * LABEL_HOP_S))

    def _frame_start_index(self, frame_index: int) -> int:
        per_frame = self._rate * LABEL_HOP_S
        return self._segment_start + int(round((frame_index - self._segment_first_frame) * per_frame))

    def _stamp_of_index(self, index: int) -> int:
        i = bisect.bisect_right(self._anchors_idx, index) - 1
        i = max(i, 0)
        return self._anchors_ns[i] + int(round((index - self._anchors_idx[i]) * NS / self._rate))

    def _check_stamp(self, idx: int, stamp_ns: int, result: PushResult) -> None:
        if self._anchors_idx:
            if idx <= self._anchors_idx[-1]:
                return  # overlapping/duplicate chunk: its samples are dropped, keep the anchors
            predicted = self._stamp_of_index(idx)
            off = (stamp_ns - predicted) / NS
            if abs(off) > self.config.stamp_tolerance_s:
                self._counters["stamp_jumps"] += 1
                result.issues.append(InputIssue("stamp_jump", f"stamp of sample {idx} is {off * 1e3:+.1f} ms off what "
                                                              "the sample count predicts; re-anchoring time"))
        self._anchors_idx.append(idx)
        self._anchors_ns.append(stamp_ns)
        if len(self._anchors_idx) > 4096:  # keep memory bounded; old frames keep the oldest kept anchor
            del self._anchors_idx[:2048], self._anchors_ns[:2048]

    def _process(self, foa: np.ndarray, result: PushResult) -> None:
        x = foa if self._resampler is None else self._resampler.push(np.ascontiguousarray(foa))
        self._process_internal_rate(x, result)

    def _process_internal_rate(self, x: np.ndarray, result: PushResult) -> None:
        if x.shape[1] == 0:
            return
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
                self._resampler = StreamingResampler(self._rate, INTERNAL_RATE, channels=4)
            self._emit(self._stream.flush(), result)

    def _emit(self, out, result: PushResult) -> None:
        if out is None:
            return
        per_frame = self._decoder.decode(out.outputs)
        for j, dets in enumerate(per_frame):
            frame_index = self._segment_first_frame + out.first_index + j
            events = self._tracker.update(dets, frame_index)
            result.frames.append(OutputFrame(
                frame_index=frame_index,
                stamp_ns=self._stamp_of_index(self._frame_start_index(frame_index)),
                duration_ns=int(LABEL_HOP_S * NS),
                events=events,
                detections=dets,
                outputs={n: a[j] for n, a in out.outputs.items()},
                algorithmic_delay_ns=int(self._stream.latency_frames * LABEL_HOP_S * NS),
            ))
            self._counters["frames_out"] += 1

"""Offline evaluation of a bag: every audio message, in bag order, through the same ROS-free pipeline the node
runs (:class:`seld_ros.pipeline.SeldPipeline`), as fast as the CPU allows, then ``flush()``.

Deterministic and lossless: no real-time pacing, no queue, no drops; the only audio not processed is what the
pipeline itself rejects (reported). Outputs (all optional, under ``out_dir``):

* ``results/``           rosbag2 with ``/seld_node/events`` (SoundEventArray, every output frame, empty ones
                         too) and ``/seld_node/markers`` (MarkerArray, frames with events) -- what the node
                         publishes, bag time = header stamp = audio time of the frame;
* ``pred/<name>.csv``    the tracked events, DCASE 2024 format ``frame,class,source,azimuth,elevation,distance``:
                         source = track id, degrees with 2 decimals, distance in **centimetres** (the DCASE 2024
                         unit; score with ``seld-score ref pred --pred-distance-unit cm``); a model without a
                         distance output writes the 5-column direction-only format;
* ``ref/<name>.csv``     the bag's ground truth in the same format (integer degrees / cm), when it has one;
* ``metrics.json`` + ``metrics.txt``  DCASE 2024 frame-level scores and the per-class table (ground truth only);

Stereo bundles (front-folded directions, ``SeldPipeline.doa_front_folded``) are scored with the DCASE 2025 stereo
metric (``mode="dcase2025"``: azimuth folded to [-90, 90] deg, distance) and their CSVs are written in the DCASE 2025
stereo format ``frame,class,source,azimuth,distance,onscreen`` (integer degrees, cm). The reference is the bag's
ground-truth topic or, with ``reference_csv``, a DCASE label CSV (e.g. a DCASE 2025 stereo metadata file; its frame
0 is the bag's first audio frame): audio_common recordings carry no ground-truth topic.
* ``<name>_doa.png``     azimuth / elevation against time, reference and prediction per class; with tags on, the
                         watch-list events as stars (one per AudioSet label) and each track's top tag;
* ``summary.json``       frames, events and tracks per class, timing (x real time), input issues, paths.
"""
from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seld_ros.bag.audio import PcmFormat, bag_path_name, iter_audio, pick_audio_topic
from seld_ros.bag.convert import DEFAULT_GT_TOPIC, _pad_labels
from seld_ros.bag.io import BagError, BagWriter, connections_for, iter_messages, open_bag
from seld_ros.bag.messages import (
    EVENTS_MSGTYPE,
    MARKERS_MSGTYPE,
    build_markers,
    events_msgs_to_labels,
    frame_to_events_msg,
    time_to_ns,
    watch_points_from_msgs,
)
from seld_ros.bag.plot import WatchPoint, doa_figure, save_figure
from seld_ros.constants import LABEL_HOP_S
from seld_ros.data.dcase import format_dcase2022, format_dcase2024, format_dcase2025, read_labels
from seld_ros.data.labels import LabelError, SceneLabels
from seld_ros.health import FaultCounter, watched_counts
from seld_ros.metrics.seld import MetricsError, score_scenes
from seld_ros.pipeline import InputError, PipelineConfig, PipelineError, SeldPipeline

log = logging.getLogger(__name__)

EVENTS_TOPIC = "/seld_node/events"
MARKERS_TOPIC = "/seld_node/markers"


@dataclass
class MarkerOptions:
    """As the node's ``markers.*`` parameters (config/seld.yaml defaults)."""

    enable: bool = True
    arrow_length: str = "confidence"
    scale: float = 1.0
    lifetime_s: float = 0.3
    show_text: bool = True


@dataclass
class EvalResult:
    bag: str
    bundle: str
    class_names: tuple[str, ...]
    audio_topic: str
    sample_rate: int
    layout: str
    audio_seconds: float
    audio_messages: int
    frame_offset: int  # stream label frame of the first audio sample (CSV frame 0)
    frames: list  # every pipeline OutputFrame, in order
    prediction: object  # SceneLabels of the tracked events (source = track id), frame 0 = first audio frame
    reference: object | None  # SceneLabels from the ground-truth topic, or None
    scores: object | None  # SeldScores when there is a reference
    eval_dist: bool
    wall_seconds: float  # read + pipeline + write, the whole pass over the bag
    pipeline_seconds: float  # inside SeldPipeline.push / flush only
    rejected: Counter = field(default_factory=Counter)  # rejected chunks by kind (seld_ros.health.Fault)
    issues: list[str] = field(default_factory=list)
    faults: dict = field(default_factory=dict)  # the watched fault counters that are not 0 (as in /diagnostics)
    outputs: dict[str, str] = field(default_factory=dict)
    backend: str = ""
    metric_mode: str = "dcase2024"  # dcase2024 (FOA bundles) | dcase2025 (stereo bundles: folded azimuth)
    front_end: str = "foa"
    doa_front_folded: bool = False
    received_seconds: float = 0.0  # audio in the bag's messages, rejected chunks included (audio_seconds: processed)
    reference_watch: list = field(default_factory=list)  # WatchPoints on the ground-truth topic (a node recording)

    @property
    def x_realtime(self) -> float:
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else math.inf

    @property
    def x_realtime_pipeline(self) -> float:
        return self.audio_seconds / self.pipeline_seconds if self.pipeline_seconds > 0 else math.inf

    def events_per_class(self) -> dict[str, int]:
        """Event-frames (one event in one 100 ms frame) per class, over the published (tracked) events."""
        c = Counter(ev.class_name for f in self.frames for ev in f.events)
        return {n: c[n] for n in self.class_names if c[n]}

    def tracks_per_class(self) -> dict[str, int]:
        ids: dict[str, set] = {}
        for f in self.frames:
            for ev in f.events:
                ids.setdefault(ev.class_name, set()).add(ev.track_id)
        return {n: len(ids[n]) for n in self.class_names if n in ids}

    def watch_events(self) -> dict[str, int]:
        """Watch-list events (AudioSet labels outside the model's classes, tags on) per label: distinct events."""
        ids: dict[str, set] = {}
        for f in self.frames:
            for w in getattr(f, "watch_events", ()):
                ids.setdefault(w.class_name, set()).add(w.track_id)
        return {n: len(v) for n, v in sorted(ids.items())}

    def doa_figure(self, title: str = ""):
        """The ``<name>_doa.png`` figure: reference and prediction per class, the watch-list events (the pipeline's
        and the reference's) as stars, each track's top AudioSet tag (seld_ros.bag.plot.doa_figure)."""
        return doa_figure(self.prediction, self.reference, title, self.audio_seconds, watch=self.watch_points(),
                          reference_watch=self.reference_watch, track_tags=self.top_tag_per_track())

    def watch_points(self) -> list:
        """The watch-list events of every output frame as plot points (the prediction's time axis)."""
        return [WatchPoint((f.frame_index - self.frame_offset + 0.5) * LABEL_HOP_S, w.class_name, w.doa)
                for f in self.frames for w in getattr(f, "watch_events", ())]

    def _first_tags(self):
        """(event, its track's first AudioSet tag) of every event-frame that has tags."""
        for f in self.frames:
            for ev in f.events:
                top = (getattr(f, "tags", None) or {}).get(ev.track_id)
                if top:
                    yield ev, top[0][0]

    def top_tags_per_class(self) -> dict[str, str]:
        """Per model class, the AudioSet tag most often first on its event-frames (tags on), with its share."""
        tags: dict[str, Counter] = {}
        for ev, tag in self._first_tags():
            tags.setdefault(ev.class_name, Counter())[tag] += 1
        return {n: f"{c.most_common(1)[0][0]} ({c.most_common(1)[0][1] / sum(c.values()):.0%})"
                for n, c in tags.items()}

    def top_tag_per_track(self) -> dict[int, str]:
        """Per track id, the AudioSet tag most often first on its event-frames (tags on)."""
        tags: dict[int, Counter] = {}
        for ev, tag in self._first_tags():
            tags.setdefault(int(ev.track_id), Counter())[tag] += 1
        return {k: c.most_common(1)[0][0] for k, c in tags.items()}

    def to_dict(self) -> dict:
        return {
            "bag": self.bag, "bundle": self.bundle, "backend": self.backend, "audio_topic": self.audio_topic,
            "sample_rate": self.sample_rate, "layout": self.layout, "audio_seconds": self.audio_seconds,
            "audio_messages": self.audio_messages, "received_seconds": self.received_seconds,
            "frames": len(self.frames), "frame_offset": self.frame_offset,
            "events_per_class": self.events_per_class(), "tracks_per_class": self.tracks_per_class(),
            "watch_events": self.watch_events(), "top_tags_per_class": self.top_tags_per_class(),
            "wall_seconds": self.wall_seconds, "pipeline_seconds": self.pipeline_seconds,
            "x_realtime": self.x_realtime, "x_realtime_pipeline": self.x_realtime_pipeline,
            "rejected_chunks": dict(self.rejected), "faults": self.faults, "issues": self.issues[:100], "num_issues": len(self.issues),
            "has_reference": self.reference is not None, "eval_dist": self.eval_dist,
            "metric_mode": self.metric_mode, "front_end": self.front_end, "doa_front_folded": self.doa_front_folded,
            "scores": self.scores.to_dict() if self.scores is not None else None, "outputs": self.outputs,
        }

    def summary(self) -> str:
        received = max(self.received_seconds, self.audio_seconds)
        lines = [f"bag {self.bag}: {received:.1f} s of {self.layout} audio @ {self.sample_rate} Hz on "
                 f"{self.audio_topic} ({self.audio_messages} messages) -> {len(self.frames)} output frames"
                 + (f" ({self.audio_seconds:.1f} s of it processed)" if self.audio_seconds < received - 1e-6 else "")]
        if self.doa_front_folded:
            lines.append(f"{self.front_end} model: directions are front-folded (azimuth in [-90, 90] deg, elevation "
                         "0; a source behind is reported at its mirror image in front)")
        ev, tr = self.events_per_class(), self.tracks_per_class()
        if self.audio_messages and not self.audio_seconds:
            lines.append(f"NO AUDIO PROCESSED: all {self.audio_messages} audio chunks were rejected by the pipeline "
                         "(" + ", ".join(f"{k} {v}" for k, v in self.rejected.items()) + ")")
        elif ev:
            lines.append("events per class (event-frames / tracks): "
                         + ", ".join(f"{n} {ev[n]}/{tr.get(n, 0)}" for n in ev))
        else:
            lines.append("no events detected")
        if self.top_tags_per_class():
            lines.append("top AudioSet tag per class: "
                         + ", ".join(f"{n}: {t}" for n, t in self.top_tags_per_class().items()))
        if any(getattr(f, "tags", None) for f in self.frames) or self.watch_events():
            watch = self.watch_events()
            lines.append("watch-list events (outside the model's classes): "
                         + (", ".join(f"{n} {k}" for n, k in watch.items()) if watch else "none"))
        nothing_processed = self.audio_messages and not self.audio_seconds  # seld-eval-bag says why, once
        if self.rejected and not nothing_processed:
            lines.append("rejected chunks: " + ", ".join(f"{k} {v}" for k, v in self.rejected.items()))
        if self.faults and not nothing_processed:
            lines.append("input faults: " + ", ".join(f"{k} {v}" for k, v in self.faults.items()))
        if self.issues and not nothing_processed:
            lines.append(f"input issues: {len(self.issues)} (first: {self.issues[0]})")
        if self.scores is not None:
            lines.append(f"metric: {self.metric_mode}" + (" (DCASE 2025 stereo: folded azimuth + distance)"
                                                          if self.metric_mode == "dcase2025" else ""))
            lines.append(self.scores.table())
        else:
            lines.append("no ground truth in the bag: no metrics")
        lines.append(f"processed in {self.wall_seconds:.2f} s: {self.x_realtime:.1f}x real time end to end "
                     f"(pipeline alone {self.x_realtime_pipeline:.1f}x; backend {self.backend})")
        for k, v in self.outputs.items():
            lines.append(f"  {k:<12} {v}")
        return "\n".join(lines)


def _count_messages(path, topic) -> int:
    with open_bag(path) as reader:
        return sum(int(c.msgcount or 0) for c in connections_for(reader, topic))


def read_reference(path, topic: str, class_names, frame_offset: int = 0):
    """The ground-truth topic (SoundEventArray) as SceneLabels (frame 0 = ``frame_offset``), or None if absent."""
    return _reference_labels(read_reference_messages(path, topic), path, topic, class_names, frame_offset)


def read_reference_messages(path, topic: str) -> list:
    """The SoundEventArray messages of the ground-truth topic (none if the bag has no such topic)."""
    with open_bag(path) as reader:
        conns = connections_for(reader, topic)
        if not conns:
            return []
        if conns[0].msgtype != EVENTS_MSGTYPE:
            raise BagError(f"ground-truth topic {topic} in {path} is {conns[0].msgtype}, not {EVENTS_MSGTYPE}")
        return [m for _, _, m in iter_messages(reader, conns, path)]


def _reference_labels(msgs, path, topic: str, class_names, frame_offset: int):
    if not msgs:
        return None
    try:
        return events_msgs_to_labels(msgs, class_names, frame_offset)
    except LabelError as exc:
        raise BagError(f"ground truth on {topic} in {path}: {exc}") from None


def frames_to_labels(frames, class_names, frame_offset: int = 0, num_frames: int | None = None):
    """Tracked events of OutputFrames -> SceneLabels (source id = track id, distance m, NaN unknown)."""
    last = max((f.frame_index for f in frames), default=frame_offset - 1) - frame_offset
    t = last + 1 if num_frames is None else int(num_frames)
    m = max([1] + [len(f.events) for f in frames])
    lab = SceneLabels.empty(max(t, 0), class_names, m)
    for f in frames:
        k = f.frame_index - frame_offset
        if not 0 <= k < t:
            continue
        for j, ev in enumerate(f.events):
            lab.class_id[k, j] = ev.class_id
            lab.source_id[k, j] = ev.track_id
            lab.doa[k, j] = ev.doa
            lab.distance[k, j] = ev.distance
    return lab


def _all_distances(labels) -> bool:
    return bool(np.all(np.isfinite(labels.distance[labels.active])))


def write_prediction_csv(path, labels, mode: str = "dcase2024") -> str:
    """DCASE 2024 CSV, distance in cm (2 decimals on angles); direction-only (5 columns) without distances.
    ``mode="dcase2025"`` (stereo): the DCASE 2025 stereo CSV (folded azimuth, integer degrees, cm) when every
    event has a distance."""
    if mode == "dcase2025" and _all_distances(labels):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(format_dcase2025(labels))
        return "dcase2025 (stereo: folded azimuth, distance cm)"
    rows_have_dist = labels.active.any() and _all_distances(labels)
    if labels.active.any() and not rows_have_dist:
        text, fmt = _format_dcase2022_float(labels), "dcase2022 (no distance)"
    else:
        text, fmt = format_dcase2024(labels, distance_unit="cm", integer=False), "dcase2024 (distance cm)"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)
    return fmt


def _format_dcase2022_float(labels) -> str:
    return "".join(f"{fr},{c},{s},{az:.2f},{el:.2f}\n" for fr, c, s, az, el, _ in labels.to_rows())


def write_reference_csv(path, labels, mode: str = "dcase2024") -> str:
    if mode == "dcase2025" and _all_distances(labels):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(format_dcase2025(labels))
        return "dcase2025 (stereo: folded azimuth, distance cm)"
    if labels.active.any() and not bool(np.all(np.isfinite(labels.distance[labels.active]))):
        text, fmt = format_dcase2022(labels), "dcase2022 (no distance)"
    else:
        text, fmt = format_dcase2024(labels, distance_unit="cm", integer=True), "dcase2024 (distance cm)"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)
    return fmt


def evaluate_bag(bag, bundle: str | None = None, out_dir=None, *, audio_topic: str | None = None,
                 gt_topic: str = DEFAULT_GT_TOPIC, backend: str = "auto", context_seconds: float = 2.0,
                 num_threads: int = 1, pcm: PcmFormat | None = None, layout: str | None = None,
                 frame_id: str = "", progress: bool = False, results_bag: bool = True, plot: bool = True,
                 storage: str = "mcap", eval_dist: bool | None = None, markers: MarkerOptions | None = None,
                 pipeline=None, overwrite: bool = True, metric: str = "auto", reference_csv=None,
                 reference_format: str = "auto") -> EvalResult:
    """Run the pipeline over every audio message of ``bag`` and score it against the bag's ground truth.

    bundle: model bundle path (None: the shipped default). pipeline: an existing SeldPipeline to use instead
    (it is reset first). out_dir: where the outputs listed in the module docstring go (None: nothing written).
    pcm / layout: for audio_common topics (raw PCM) and layout overrides. eval_dist: score distances (default:
    when both the model and the reference have them). metric: ``auto`` (dcase2025 for a front-folded, i.e.
    stereo, bundle, else dcase2024), ``dcase2024`` or ``dcase2025``. reference_csv / reference_format: score
    against a DCASE label CSV (frame 0 = the first audio frame) instead of the ground-truth topic.
    Raises BagError for unreadable bags.
    """
    if metric not in ("auto", "dcase2024", "dcase2025"):
        raise BagError(f"metric must be auto, dcase2024 or dcase2025, got {metric!r}")

    bag = str(bag)
    with open_bag(bag) as reader:
        audio_topic, _ = pick_audio_topic(reader, audio_topic, bag)
    total = _count_messages(bag, audio_topic)
    if pipeline is None:
        try:
            pipeline = SeldPipeline(PipelineConfig(model_file_path=bundle or "", backend=backend,
                                                   context_seconds=context_seconds, num_threads=num_threads))
        except PipelineError as exc:
            raise BagError(f"cannot build the pipeline: {exc}") from None
    else:
        pipeline.reset()
    stats_before = pipeline.stats()  # the pipeline's counters run on over bags: this bag's faults are the change
    names = tuple(pipeline.class_names)
    markers = markers or MarkerOptions()
    out = Path(out_dir) if out_dir is not None else None
    name = bag_path_name(bag)

    writer = None

    def results_writer():
        """The results bag, opened at the first output frame: a bag whose every chunk is rejected gets none."""
        nonlocal writer
        if writer is None:
            writer = BagWriter(out / "results", storage, overwrite=overwrite).__enter__()
            writer.add(EVENTS_TOPIC, EVENTS_MSGTYPE)
            if markers.enable:
                writer.add(MARKERS_TOPIC, MARKERS_MSGTYPE)
        return writer

    frames: list = []
    rejected: Counter = Counter()
    counts = FaultCounter()
    issues: list[str] = []
    first = None
    n_msgs = 0
    audio_samples = 0
    received_s = 0.0  # audio in the bag's messages, processed or rejected
    pipe_s = 0.0
    fid = frame_id

    def publish(result):
        for fr in result.frames:
            frames.append(fr)
            if out is None or not results_bag:
                continue
            msg = frame_to_events_msg(fr, fid)
            t = time_to_ns(msg.header.stamp)
            results_writer().write(EVENTS_TOPIC, t, msg)
            if markers.enable and msg.events:
                results_writer().write(MARKERS_TOPIC, t, build_markers(
                    msg, len(names), markers.arrow_length, markers.scale, markers.lifetime_s, markers.show_text))
        issues.extend(f"{i.kind}: {i.message}" for i in result.issues)

    bar = None
    if progress and total >= 300:  # long bags only (>= 30 s in 100 ms messages)
        from tqdm import tqdm

        bar = tqdm(total=total, unit="msg", desc=f"seld-eval-bag {name}", leave=False, mininterval=0.5)
    t_start = time.perf_counter()
    try:
        for chunk in iter_audio(bag, audio_topic, pcm, layout):
            if first is None:
                first = chunk
                fid = frame_id or chunk.frame_id or "mic_array"
            n_msgs += 1
            received_s += chunk.samples.shape[0] / max(int(chunk.sample_rate), 1)
            t0 = time.perf_counter()
            try:
                result = pipeline.push(chunk.to_audio_chunk())
            except InputError as exc:
                rejected[exc.kind] += 1
                counts.add(exc.kind)
                issues.append(f"rejected ({exc.kind}) at sample index {chunk.first_sample_index}: {exc}")
                continue
            finally:
                pipe_s += time.perf_counter() - t0
            audio_samples += chunk.samples.shape[0]
            publish(result)
            if bar is not None:
                bar.update(1)
        if first is None:
            raise BagError(f"bag {bag} has no messages on {audio_topic}")
        t0 = time.perf_counter()
        result = pipeline.flush()
        pipe_s += time.perf_counter() - t0
        publish(result)
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.__exit__(None, None, None)
    wall = time.perf_counter() - t_start

    rate = first.sample_rate
    per_frame = int(round(rate * LABEL_HOP_S))
    frame_offset = first.first_sample_index // per_frame
    reference_watch: list = []
    if reference_csv is not None:
        try:
            reference = read_labels(reference_csv, reference_format, names)
        except (LabelError, OSError) as exc:
            raise BagError(f"cannot read the reference {reference_csv}: {exc}") from None
    else:
        gt_msgs = read_reference_messages(bag, gt_topic)
        reference = _reference_labels(gt_msgs, bag, gt_topic, names, frame_offset)
        reference_watch = watch_points_from_msgs(gt_msgs, frame_offset)
    folded = bool(getattr(pipeline, "doa_front_folded", False))
    mode = metric if metric != "auto" else ("dcase2025" if folded else "dcase2024")
    n_audio_frames = -(-audio_samples // per_frame)
    num_frames = max(n_audio_frames, reference.num_frames if reference is not None else 0)
    if reference is not None and reference.num_frames < num_frames:  # silence up to the end is ground truth too

        reference = _pad_labels(reference, num_frames)
    prediction = frames_to_labels(frames, names, frame_offset, num_frames)

    scores = None
    has_dist = "distance" in pipeline.bundle.output_names
    if reference is not None:
        ref_dist = bool(reference.active.any()) and bool(np.all(np.isfinite(reference.distance[reference.active])))
        if eval_dist is None:
            eval_dist = has_dist and ref_dist
        try:
            scores = score_scenes([reference], [prediction], mode=mode, eval_dist=bool(eval_dist), names=[name])
        except MetricsError as exc:
            raise BagError(f"cannot score {bag}: {exc}") from None
    stats = pipeline.stats()
    counts.update({k: v - stats_before.get(k, 0) for k, v in stats.items() if isinstance(v, int)})
    res = EvalResult(bag=bag, bundle=str(pipeline.model_path), class_names=names, audio_topic=audio_topic,
                     sample_rate=rate, layout=first.layout, audio_seconds=audio_samples / rate,
                     audio_messages=n_msgs, received_seconds=received_s, frame_offset=frame_offset, frames=frames,
                     prediction=prediction,
                     reference=reference, scores=scores, eval_dist=bool(eval_dist), wall_seconds=wall,
                     pipeline_seconds=pipe_s, rejected=rejected, issues=issues,
                     faults={k: v for k, v in watched_counts(counts).items() if v},
                     backend=str(pipeline.info().get("backend", "")), metric_mode=mode,
                     front_end=str(getattr(pipeline, "front_end", "foa")), doa_front_folded=folded,
                     reference_watch=reference_watch)
    if out is not None and audio_samples:
        _write_outputs(res, out, name, results_bag, plot)
    elif out is not None:  # nothing processed: no empty CSV, plot or results bag, only the summary saying why
        out.mkdir(parents=True, exist_ok=True)
        res.outputs["summary"] = str(out / "summary.json")
        (out / "summary.json").write_text(json.dumps(res.to_dict(), indent=1, default=_json_default))
    return res


def _write_outputs(res: EvalResult, out: Path, name: str, results_bag: bool, plot: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if results_bag:
        res.outputs["results_bag"] = str(out / "results")
    fmt = write_prediction_csv(out / "pred" / f"{name}.csv", res.prediction, res.metric_mode)
    res.outputs["pred_csv"] = str(out / "pred" / f"{name}.csv")
    res.outputs["pred_format"] = fmt
    if res.reference is not None:
        write_reference_csv(out / "ref" / f"{name}.csv", res.reference, res.metric_mode)
        res.outputs["ref_csv"] = str(out / "ref" / f"{name}.csv")
        (out / "metrics.json").write_text(json.dumps({"bag": res.bag, "bundle": res.bundle,
                                                      "scores": res.scores.to_dict()}, indent=1))
        (out / "metrics.txt").write_text(res.scores.table() + "\n")
        res.outputs["metrics"] = str(out / "metrics.json")
    if plot:
        title = f"{name}: reference (pale squares) and prediction (dots)" if res.reference is not None else name
        res.outputs["plot"] = str(save_figure(res.doa_figure(title), out / f"{name}_doa.png"))
    res.outputs["summary"] = str(out / "summary.json")
    (out / "summary.json").write_text(json.dumps(res.to_dict(), indent=1, default=_json_default))


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")

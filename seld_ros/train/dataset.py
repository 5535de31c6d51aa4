"""Feature cache and chunked SELD datasets.

Features are computed once per dataset split and cached next to the data as
``<root>/cache/<feature-hash>/<split>/<clip>.npz`` (float16 features plus the
label arrays), so CPU training never touches the STFT again. The cache key
hashes the feature config: changing the front end makes a new cache.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .augment import FeatureAugment, StereoFeatureAugment, feature_layout
from .targets import build_targets

from seld_ros.data.dcase import iter_dataset, read_wav
from seld_ros.features import feature_config_from_dict, make_extractor
from seld_ros.features.config import StereoFeatureConfig
from seld_ros.features.stats import FeatureStats


@dataclass
class Clip:
    name: str
    features: np.ndarray      # (C, T, F) float16, T = 5 * num label frames
    class_id: np.ndarray      # (L, M)
    source_id: np.ndarray
    doa: np.ndarray           # (L, M, 3)
    distance: np.ndarray      # (L, M)

    @property
    def num_labels(self) -> int:
        return self.class_id.shape[0]


def feature_hash(feature_config: dict) -> str:
    return hashlib.sha1(json.dumps(feature_config, sort_keys=True).encode()).hexdigest()[:10]


def cache_dir(root, feature_config: dict) -> Path:
    return Path(root) / "cache" / f"features_{feature_hash(feature_config)}"


def build_cache(root, split: str, feature_config: dict, class_names, progress: bool = True) -> Path:
    """Compute (or reuse) cached features + labels for ``<root>/foa_<split>`` (FOA feature config) or, for a stereo
    one (``front_end: stereo``), ``<root>/stereo_<split>`` with the DCASE 2025 labels of
    ``<root>/metadata_stereo_<split>`` (azimuth folded to [-90, 90] deg, elevation 0: the DOA targets are
    (cos az, sin az, 0); distances as written there)."""
    fcfg = feature_config_from_dict(feature_config)
    out = cache_dir(root, feature_config) / split
    out.mkdir(parents=True, exist_ok=True)
    (out.parent / "feature_config.json").write_text(json.dumps(feature_config, indent=1, sort_keys=True))
    extractor = make_extractor(fcfg)
    if isinstance(fcfg, StereoFeatureConfig):
        layout = {"fmt": "dcase2025", "audio_prefix": "stereo", "metadata_prefix": "metadata_stereo"}
    else:
        layout = {}
    items = list(iter_dataset(root, split, class_names=list(class_names), **layout))
    todo = sum(1 for name, _, _ in items if not (out / f"{name}.npz").exists())
    if todo and progress:  # the first run over a data set computes every clip's features once: say so
        print(f"computing features of {todo} {split} clips once (cached in {out}; about a second per minute of "
              "audio)", flush=True)
    try:
        from tqdm import tqdm
        it = tqdm(items, desc=f"features {split}", disable=not progress)
    except ImportError:
        it = items
    k = fcfg.frames_per_label
    for name, wav, labels in it:
        dst = out / f"{name}.npz"
        if dst.exists() and dst.stat().st_mtime >= max(os.path.getmtime(wav), 0):
            continue
        audio, _ = read_wav(wav, fcfg.sample_rate)
        feats = extractor.compute(audio[:extractor.input_channels])
        n_lab = feats.shape[1] // k
        feats = feats[:, : n_lab * k]
        lab = labels.with_num_frames(n_lab)
        tmp = out / f"{name}.tmp.npz"
        np.savez(tmp, features=feats.astype(np.float16), class_id=lab.class_id, source_id=lab.source_id,
                 doa=lab.doa, distance=lab.distance)
        os.replace(tmp, dst)
    return out


def load_cached(split_dir) -> list[Clip]:
    clips = []
    for p in sorted(Path(split_dir).glob("*.npz")):
        if p.name.endswith(".tmp.npz"):
            continue
        with np.load(p, allow_pickle=False) as z:
            clips.append(Clip(p.stem, z["features"], z["class_id"], z["source_id"], z["doa"], z["distance"]))
    if not clips:
        raise FileNotFoundError(f"no cached clips in {split_dir}")
    return clips


def compute_stats(clips: list[Clip]):
    c, _, f = clips[0].features.shape
    st = FeatureStats(c, f)
    for cl in clips:
        st.update(cl.features.astype(np.float32))
    return st


class _Lab:  # SceneLabels-shaped view over arrays
    def __init__(self, cid, sid, doa, dist):
        self.class_id, self.source_id, self.doa, self.distance = cid, sid, doa, dist


def clip_targets(clip: Clip, num_classes: int, num_tracks: int) -> dict:
    return build_targets(_Lab(clip.class_id, clip.source_id, clip.doa, clip.distance), num_classes, num_tracks)


_DOA_KEYS = ("doa", "acc_doa")


class SeldChunks(torch.utils.data.Dataset):
    """Fixed-length chunks of ``chunk_labels`` label frames.

    ``train=True``: ``len`` random chunks per epoch (call :meth:`set_epoch`),
    clip chosen proportionally to length, random start, augmentation.
    ``train=False``: every clip cut into consecutive chunks (last one padded).
    Items: dict with ``features`` (C, 5*chunk, F) float32 and the target arrays.

    Features with YAMNet channels (``feature_config.yamnet``, FOA or stereo): the augmentation rotates (FOA) or
    swaps, equalises (stereo) and masks only the spatial channels and applies one gain to the dB log-mels and,
    exactly, to the YAMNet channels (``seld_ros.train.semantic_cache``); the L <-> R swap leaves the YAMNet channels
    of the mid as they are, the stereo EQ does not reach them. With ``semantic`` (per clip, YAMNet's cached fixed
    part (G, L, *D) at the gains ``gains_db``) that gain is drawn from ``gains_db`` (0 dB without augmentation and
    for validation) and items also carry ``semantic`` (chunk, *D) float32 for that gain.
    """

    def __init__(self, clips: list[Clip], num_classes: int, num_tracks: int, chunk_labels: int,
                 train: bool, augment: dict | None = None, seed: int = 0, chunks_per_epoch: int | None = None,
                 frames_per_label: int = 5, feature_config=None, semantic: list | None = None,
                 gains_db=None):
        self.clips, self.K, self.N = clips, num_classes, num_tracks
        self.chunk, self.train, self.seed, self.fpl = chunk_labels, train, seed, frames_per_label
        self.aug_cfg = augment or {}
        self.targets = [clip_targets(c, num_classes, num_tracks) for c in clips]
        self.epoch = 0
        lens = np.array([c.num_labels for c in clips], dtype=np.float64)
        self.p = lens / lens.sum()
        if train:
            self.n = chunks_per_epoch or max(1, int(lens.sum() // chunk_labels))
            self.index = None
        else:
            self.index = [(i, s) for i, c in enumerate(clips) for s in range(0, c.num_labels, chunk_labels)]
            self.n = len(self.index)
        C = clips[0].features.shape[0]
        # stereo features get their own augmentation (FOA channel swapping would scramble them)
        self.stereo = feature_config if isinstance(feature_config, StereoFeatureConfig) else None
        if self.stereo is not None and self.stereo.num_channels != C:
            raise ValueError(f"stereo feature config has {self.stereo.num_channels} channels, the clips {C}")
        self.layout = None if self.stereo is not None else feature_layout("", C)
        # with YAMNet: the channels from ``spatial`` on are YAMNet log-mel (raw, gain-only augmentation)
        self.spatial = getattr(feature_config, "spatial_channels", C)
        self.semantic = semantic
        self.gains_db = [float(g) for g in gains_db] if gains_db is not None else None
        if semantic is not None:
            if self.gains_db is None or 0.0 not in self.gains_db:
                raise ValueError("semantic= needs gains_db including 0 (validation and unaugmented chunks)")
            if len(semantic) != len(clips):
                raise ValueError(f"{len(semantic)} cached semantic arrays for {len(clips)} clips")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def _slice(self, i: int, start: int):
        clip, tg = self.clips[i], self.targets[i]
        stop = start + self.chunk
        feats = clip.features[:, start * self.fpl: stop * self.fpl].astype(np.float32)
        t = {k: v[start:stop] for k, v in tg.items()}
        pad = self.chunk - feats.shape[1] // self.fpl
        if pad > 0:  # pad with the clip's quietest frame value, labels empty
            fill = np.broadcast_to(feats.min(axis=1, keepdims=True), (feats.shape[0], pad * self.fpl, feats.shape[2]))
            feats = np.concatenate([feats, fill], axis=1)
            for k, v in t.items():
                padv = -1 if k == "cls" else (np.nan if k == "dist" else 0)
                t[k] = np.concatenate([v, np.full((pad,) + v.shape[1:], padv, dtype=v.dtype)])
        return feats, t

    def _augment_with_yamnet(self, feats: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray, float]:
        """Spatial channels: the front end's augmentation without its gain (FOA: ACS + SpecAugment; stereo: swap,
        EQ, SpecAugment); then one gain for the dB log-mels and the YAMNet channels."""
        from .semantic_cache import gain_yamnet_log_mel
        no_gain = dict(self.aug_cfg, gain_db=0)
        if self.stereo is not None:
            spatial, R = StereoFeatureAugment(no_gain, self.stereo, rng)(feats[:self.spatial])
            db = list(self.stereo.logmel_channels)  # mid, L, R log-mel in dB
        else:
            spatial, R = FeatureAugment(no_gain, self.layout, rng)(feats[:self.spatial], [])
            db = [0, 1, 2, 3]  # W, Y, Z, X log-mel in dB
        if self.gains_db is not None:
            gain = self.gains_db[int(rng.integers(len(self.gains_db)))]
        else:
            gain = float(rng.uniform(-1, 1) * self.aug_cfg.get("gain_db", 0))
        spatial = spatial.copy()
        spatial[db] += gain
        return np.concatenate([spatial, gain_yamnet_log_mel(feats[self.spatial:], gain)]), R, gain

    def _semantic(self, i: int, start: int, gain: float) -> np.ndarray:
        a = self.semantic[i][self.gains_db.index(gain), start:start + self.chunk].astype(np.float32)
        if a.shape[0] < self.chunk:  # past the clip's end (labels empty there): zeros
            a = np.concatenate([a, np.zeros((self.chunk - a.shape[0],) + a.shape[1:], np.float32)])
        return a

    def __getitem__(self, idx: int) -> dict:
        gain = 0.0
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch, idx])
            i = int(rng.choice(len(self.clips), p=self.p))
            start = int(rng.integers(0, max(1, self.clips[i].num_labels - self.chunk + 1)))
            feats, t = self._slice(i, start)
            if self.aug_cfg.get("enabled", True):
                if self.spatial < feats.shape[0]:
                    feats, R, gain = self._augment_with_yamnet(feats, rng)
                elif self.stereo is not None:
                    feats, R = StereoFeatureAugment(self.aug_cfg, self.stereo, rng)(feats)
                else:
                    feats, R = FeatureAugment(self.aug_cfg, self.layout, rng)(feats, [])
                for k in _DOA_KEYS:
                    t[k] = (t[k] @ R.T).astype(np.float32)
        else:
            i, start = self.index[idx]
            feats, t = self._slice(i, start)
        out = {"features": torch.from_numpy(np.ascontiguousarray(feats))}
        if self.semantic is not None:
            out["semantic"] = torch.from_numpy(self._semantic(i, start, gain))
        for k, v in t.items():
            out[k] = torch.from_numpy(np.ascontiguousarray(v))
        return out

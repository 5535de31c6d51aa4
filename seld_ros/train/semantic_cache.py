"""Cache of YAMNet's fixed part per scene, label frame and gain, so training costs only the trainable modules.

With ``semantic: yamnet`` and a YAMNet whose weights stay fixed (``yamnet.train: frozen``, or the layers below the
trainable ones with ``partial``), what YAMNet computes for a label frame depends only on the audio, so it is computed
once (:meth:`YamnetStream.encode` on every hop's causal window, from the whole scene: the window of a label frame
holds the scene's real 0.96 s before it, as in the node) and read back in every epoch::

    <feature cache>/yamnet_<digest>/<split>/<clip>.npy    float16 (G, L, *encoded_shape), G = len(gains_db)

``digest`` covers YAMNet's weights, where the network is cut (frozen vs. partial), whether logits are kept and the
gain list, so changing any of them makes a new cache. The feature cache (``seld_ros.train.dataset``) it sits in
already names the scenes and the front end.

Gain augmentation: YAMNet's input is ln(mel + 0.001) of a *magnitude* spectrum, so a gain of g dB on the audio is
exactly x -> ln((e^x - 0.001) 10^(g/20) + 0.001) on the cached YAMNet channels (:func:`gain_yamnet_log_mel`), the
same +g on the dB log-mels of the spatial stream, and no change to the level-free IV and phase channels. A chunk drawn
for training takes one of the cached gains for all three.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from seld_ros.features.yamnet import YAMNET_LOG_OFFSET

DEFAULT_GAINS_DB = (-20.0, -10.0, 0.0, 10.0, 20.0)


def gain_yamnet_log_mel(x: np.ndarray, gain_db: float) -> np.ndarray:
    """YAMNet log-mel ln(m + 0.001) of a signal -> that of the signal scaled by ``gain_db`` (exact: m is a
    magnitude, so it scales by 10^(g/20))."""
    if gain_db == 0:
        return x
    magnitude = np.maximum(np.exp(x.astype(np.float32)) - np.float32(YAMNET_LOG_OFFSET), 0.0)
    return np.log(magnitude * np.float32(10.0 ** (gain_db / 20.0)) + np.float32(YAMNET_LOG_OFFSET)).astype(np.float32)


def semantic_digest(yamnet_stream, gains_db) -> str:
    """Digest of what a cached entry depends on besides the scene: YAMNet's fixed weights, the cut, logits, gains."""
    h = hashlib.sha256()
    sd = yamnet_stream.net.state_dict()
    for name in sorted(sd):
        h.update(name.encode())
        h.update(sd[name].detach().cpu().contiguous().numpy().tobytes())
    h.update(json.dumps({"cut": yamnet_stream.cut, "use_logits": yamnet_stream.use_logits,
                         "gains_db": [float(g) for g in gains_db]}, sort_keys=True).encode())
    return h.hexdigest()[:12]


@torch.inference_mode()
def encode_clip(yamnet_stream, yamnet_channels: np.ndarray, gain_db: float = 0.0, batch: int = 64) -> np.ndarray:
    """A clip's two YAMNet channels (2, T, 64), T a multiple of 5 -> (L, *encoded_shape) float32, L = T // 5:
    YAMNet's fixed part on every label frame's causal window, from silence before the clip."""
    device = next(yamnet_stream.parameters()).device  # the trainer's device (GPU when there is one)
    x = gain_yamnet_log_mel(np.asarray(yamnet_channels, np.float32), gain_db)
    frames = yamnet_stream.frames_of(torch.from_numpy(np.ascontiguousarray(x))[None].to(device))
    state = torch.zeros(yamnet_stream.state_shape(x.shape[2]), device=device)
    windows, _ = yamnet_stream.windows(frames, state)            # (1, L, 96, 64)
    was_training = yamnet_stream.training
    yamnet_stream.eval()
    try:
        parts = [yamnet_stream.encode(windows[:, i:i + batch]) for i in range(0, windows.shape[1], batch)]
    finally:
        yamnet_stream.train(was_training)
    return torch.cat(parts, dim=1)[0].float().cpu().numpy()


def semantic_cache_dir(feature_cache: Path, yamnet_stream, gains_db) -> Path:
    return Path(feature_cache) / f"yamnet_{semantic_digest(yamnet_stream, gains_db)}"


def build_semantic_cache(clips, yamnet_stream, yamnet_channels, out_dir: Path, gains_db=DEFAULT_GAINS_DB,
                         progress: bool = True, log=print) -> Path:
    """Encode every clip (``seld_ros.train.dataset.Clip``, features with the YAMNet channels ``yamnet_channels``)
    at every gain into ``out_dir/<clip>.npy`` (float16 (G, L, *D)); clips already cached are skipped."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir.parent / "semantic.json").write_text(json.dumps(
        {"gains_db": [float(g) for g in gains_db], "cut": yamnet_stream.cut, "use_logits": yamnet_stream.use_logits,
         "encoded_shape": list(yamnet_stream.encoded_shape())}, indent=1))
    todo = [c for c in clips if _stale(out_dir, c.name)]
    if todo:
        log(f"YAMNet cache: encoding {len(todo)} of {len(clips)} clips x {len(gains_db)} gains into {out_dir}")
    try:
        from tqdm import tqdm
        it = tqdm(todo, desc=f"YAMNet {out_dir.name}", disable=not progress)
    except ImportError:
        it = todo
    ch = list(yamnet_channels)
    # torch's depthwise convolutions are ~3x faster on CPU in channels-last memory (measured: 7.9 -> 2.2 ms per
    # patch, batch 64, one thread); a copy, so the network being trained keeps its layout
    encoder = copy.deepcopy(yamnet_stream).to(memory_format=torch.channels_last) if todo else yamnet_stream
    for clip in it:
        yam = clip.features[ch].astype(np.float32)
        enc = np.stack([encode_clip(encoder, yam, g) for g in gains_db]).astype(np.float16)
        tmp = out_dir / f"{clip.name}.tmp.npy"
        np.save(tmp, enc)
        os.replace(tmp, out_dir / f"{clip.name}.npy")
    return out_dir


def _stale(out_dir: Path, name: str) -> bool:
    """No cached entry, or one older than the clip's cached features (re-rendered scene): encode again."""
    entry = out_dir / f"{name}.npy"
    if not entry.exists():
        return True
    features = out_dir.parent.parent / out_dir.name / f"{name}.npz"  # <feature cache>/<split>/<clip>.npz
    return features.exists() and features.stat().st_mtime > entry.stat().st_mtime


def load_semantic_cache(out_dir: Path, clips) -> list[np.ndarray]:
    """The cached (G, L, *D) array of every clip, in ``clips`` order, memory-mapped (a cache of hours of scenes
    stays on disk)."""
    arrays = []
    for clip in clips:
        path = Path(out_dir) / f"{clip.name}.npy"
        if not path.exists():
            raise FileNotFoundError(f"YAMNet cache lacks {path}: rebuild it (delete {out_dir} and rerun)")
        a = np.load(path, mmap_mode="r", allow_pickle=False)
        if a.shape[1] != clip.num_labels:
            raise ValueError(f"{path}: {a.shape[1]} label frames cached, the clip has {clip.num_labels}")
        arrays.append(a)
    return arrays

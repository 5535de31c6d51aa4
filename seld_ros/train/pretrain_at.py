"""Clip-level audio-tagging pretraining of the semantic backbone (``seld-pretrain-at`` parses the arguments).

Mono mixtures of 1-3 events drawn from a sound bank (:func:`make_mixtures`), optionally with unlabelled distractors
and a real ambience background, are tagged multi-label (BCE on the PANNs-style max+mean pooled clip logits,
:func:`train_backbone`); the clip-level mAP is measured on real-only mixtures of held-out sources
(:func:`heldout_map`). The log-mel front end is the SELD one (the W channel of ``FoaFeatures``), so the weights
transfer as they are. Optimiser, schedule and checkpoint writing are the SELD trainer's (seld_ros.train.optim).
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from seld_ros.constants import SAMPLE_RATE as FS
from seld_ros.data.bank import MixedBank, RealBank, draw_info, make_bank
from seld_ros.data.labels import LabelError
from seld_ros.features.config import FeatureConfig
from seld_ros.features.foa import FoaFeatures
from seld_ros.metrics.tagging import mean_average_precision
from seld_ros.model import full_config
from seld_ros.model.panns import PannsBackbone
from seld_ros.train.optim import adamw, one_cycle, save_checkpoint
from seld_ros.train.trainer import load_config


def _add_at(mix: np.ndarray, x: np.ndarray, start: int, gain: float) -> None:
    seg = x[: len(mix) - start]
    mix[start:start + len(seg)] += gain * seg


def make_mixtures(bank, class_names, n_clips, seconds, seed, feature_config, progress=True, distractor_prob=0.0,
                  ambience_prob=0.0, level_db=None, draw_classes=None):
    """-> (features (n, 1, T, F) float16, targets (n, K) float32).

    Each mixture: 1-3 labelled events of ``draw_classes`` (default: every class; the label column is the index
    in ``class_names``), with probability ``distractor_prob`` 1-2 unlabelled distractors, with probability
    ``ambience_prob`` an ambience background at 5-30 dB below the mixture, a -70..-40 dB noise floor, and (when
    ``level_db`` = (LO, HI) is given) a final peak level of LO..HI dBFS.
    """
    fcfg = FeatureConfig.from_dict({**feature_config, "feature_set": "logmel"})
    fx = FoaFeatures(fcfg)
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    K = len(class_names)
    draw = list(draw_classes) if draw_classes is not None else list(class_names)
    col = {c: class_names.index(c) for c in draw}
    has_d = getattr(bank, "has_distractors", False) and distractor_prob > 0
    has_a = getattr(bank, "has_ambience", False) and ambience_prob > 0
    feats, tg = [], np.zeros((n_clips, K), np.float32)
    it = tqdm(range(n_clips), desc="AT mixtures", disable=not progress)
    for i in it:
        mix = np.zeros(n, np.float32)
        for _ in range(int(rng.integers(1, 4))):
            c = draw[int(rng.integers(len(draw)))]
            x = draw_info(bank, c, rng)[0][:n]
            start = int(rng.integers(0, max(1, n - len(x) // 2)))
            gain = 10 ** (rng.uniform(-12, 0) / 20) / (np.abs(x).max() + 1e-9) * 0.5
            _add_at(mix, x, start, gain)
            tg[i, col[c]] = 1.0
        if has_d and rng.random() < distractor_prob:
            for _ in range(int(rng.integers(1, 3))):
                x = bank.draw_distractor(rng)[0][:n]
                start = int(rng.integers(0, max(1, n - len(x) // 2)))
                gain = 10 ** (rng.uniform(-12, 0) / 20) / (np.abs(x).max() + 1e-9) * 0.5
                _add_at(mix, x, start, gain)
        if has_a and rng.random() < ambience_prob:
            a = bank.draw_ambience(rng, max_seconds=seconds)[0]
            a = np.tile(a, -(-n // max(1, len(a))))[:n]
            p_mix = float(np.mean(mix ** 2)) + 1e-12
            a = a / (np.sqrt(np.mean(a ** 2)) + 1e-12) * math.sqrt(p_mix / 10 ** (rng.uniform(5, 30) / 10))
            mix += a.astype(np.float32)
        if level_db is not None:
            mix *= 10 ** (rng.uniform(*level_db) / 20) / (np.abs(mix).max() + 1e-9)
        mix += 10 ** (rng.uniform(-70, -40) / 20) * rng.standard_normal(n).astype(np.float32)
        audio = np.zeros((4, n), np.float32)
        audio[0] = mix
        feats.append(fx.compute(audio)[:1].astype(np.float16))
    return np.stack(feats), tg


def _cache_key(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _manifest_stamp(spec: str | None) -> str:
    """Manifest mtime and size of a real bank spec (so a rebuilt bank invalidates cached mixtures)."""
    if not spec or spec == "procedural":
        return ""
    root = spec.split(":", 1)[1] if spec.startswith(("real:", "mix:")) else spec
    if spec.startswith("mix:"):
        root = root.rpartition(":")[0]
    p = Path(root) / "manifest.csv"
    return f"{p.stat().st_mtime_ns}:{p.stat().st_size}" if p.is_file() else ""


def clip_scores(net, X: np.ndarray, mean, std, batch: int = 64) -> np.ndarray:
    """Sigmoid clip scores (n, K) of the backbone's AT head."""
    net.eval()
    out = []
    with torch.no_grad():
        for j in range(0, len(X), batch):
            x = torch.from_numpy((X[j:j + batch].astype(np.float32) - mean) / std)
            out.append(torch.sigmoid(net(x)).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def train_backbone(net, X: np.ndarray, Y: np.ndarray, class_names, *, epochs: int, batch_size: int, lr: float,
                   seed: int, max_minutes: float | None = None, log=print) -> tuple:
    """Multi-label BCE on the clip logits with a light SpecAugment (one frequency mask per batch); the first tenth
    of the mixtures is held back for the per-epoch validation (exact match, mAP). The features are normalised per
    mel bin as the SELD network normalises its input. Returns (per-epoch rows, mean, std)."""
    mean = X.astype(np.float32).mean(axis=(0, 2), keepdims=True)
    std = X.astype(np.float32).std(axis=(0, 2), keepdims=True) + 1e-5
    n_val = max(1, len(X) // 10)
    Xt = torch.from_numpy(((X.astype(np.float32) - mean) / std))
    Yt = torch.from_numpy(Y)
    opt = adamw(net.parameters(), lr, weight_decay=1e-4)
    sched = one_cycle(opt, lr, epochs * math.ceil((len(X) - n_val) / batch_size))
    g = torch.Generator().manual_seed(seed)
    t0, rows = time.time(), []
    for ep in range(epochs):
        net.train()
        perm = torch.randperm(len(X) - n_val, generator=g) + n_val
        tot = 0.0
        for j in range(0, len(perm), batch_size):
            idx = perm[j:j + batch_size]
            x = Xt[idx]
            # light SpecAugment
            f0 = int(torch.randint(0, x.shape[-1] - 8, (1,), generator=g))
            x = x.clone()
            x[..., f0:f0 + int(torch.randint(0, 8, (1,), generator=g))] = 0
            loss = F.binary_cross_entropy_with_logits(net(x), Yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(idx)
        net.eval()
        with torch.no_grad():
            pv = torch.sigmoid(net(Xt[:n_val]))
        acc = float(((pv > 0.5).float() == Yt[:n_val]).all(dim=1).float().mean())
        row = {"epoch": ep + 1, "train_bce": tot / max(1, len(perm)), "val_exact_match": acc,
               "val_map": mean_average_precision(Y[:n_val], pv.numpy(), class_names)[0],
               "minutes": (time.time() - t0) / 60}
        rows.append(row)
        log(json.dumps(row))
        if max_minutes and row["minutes"] > max_minutes:
            break
    return rows, mean, std


def heldout_map(net, heldout: dict, mean, std, class_names, log=print) -> dict:
    """{split: {map, clips, classes, ap_per_class}} of real-only mixtures of held-out sources."""
    out = {}
    for split, (Xe, Ye) in heldout.items():
        m, per = mean_average_precision(Ye, clip_scores(net, Xe, mean, std), class_names)
        present = [c for c, v in per.items() if v is not None]
        out[split] = {"map": m, "clips": len(Xe), "classes": present, "ap_per_class": {c: per[c] for c in present}}
        log(f"held-out {split} ({len(Xe)} real mixtures, {len(present)} classes): clip-level mAP {m:.3f}")
    return out


def pretrain(config_path, out, *, bank_spec: str = "procedural", real_ratio=None, clips: int = 2000,
             seconds: float = 4.0, epochs: int = 10, batch_size: int = 32, lr: float = 2e-3, seed: int = 0,
             max_minutes: float | None = None, distractor_prob: float = 0.5, ambience_prob: float = 0.5,
             level_db=None, eval_splits=("val", "test"), eval_clips: int = 300, progress: bool = True, log=print,
             warn=print) -> dict:
    """Pretrain the backbone of the SELD config ``config_path`` and write ``out`` (a PANNs-format checkpoint that
    ``model.pretrained_backbone`` loads) and ``<out>.metrics.json``; returns the metrics. Mixtures are cached beside
    ``out``. Raises LabelError for an unusable bank."""
    bank = make_bank(bank_spec, split="train", real_ratio=real_ratio)
    real = bank if isinstance(bank, RealBank) else bank.real if isinstance(bank, MixedBank) else None
    level_db = tuple(level_db) if level_db else ((-30.0, -1.0) if real is not None else None)
    torch.manual_seed(seed)
    cfg = load_config(config_path)
    fcfg = cfg["data"]["features"]
    class_names = list(bank.class_names)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    mix_kw = dict(distractor_prob=distractor_prob, ambience_prob=ambience_prob, level_db=level_db)

    def mixtures(b, n, mix_seed, tag, **kw):
        key = _cache_key(bank_spec, _manifest_stamp(bank_spec), real_ratio, tag, n, mix_seed, seconds, fcfg, mix_kw,
                         kw)
        cache = out.with_suffix(f".mix_{tag}_{key}.npz")
        if cache.exists():
            with np.load(cache) as z:
                return z["X"], z["Y"]
        X, Y = make_mixtures(b, class_names, n, seconds, mix_seed, fcfg, progress, **mix_kw, **kw)
        np.savez(cache, X=X, Y=Y)
        return X, Y

    X, Y = mixtures(bank, clips, seed, "train")
    heldout = {}
    if real is not None:
        for split in eval_splits:
            try:
                eb = RealBank(real.root, split, class_names)
            except LabelError as exc:
                warn(f"no held-out mAP on {split}: {exc}")
                continue
            if not eb.class_names:
                warn(f"no held-out mAP on {split}: no target clips of the trained classes")
                continue
            heldout[split] = mixtures(eb, eval_clips, seed + 1000 + len(heldout), f"eval_{split}",
                                      draw_classes=eb.class_names)
    bcfg = dict(full_config(cfg["model"])["backbone"], in_channels=1, num_at_classes=len(class_names))
    net = PannsBackbone(bcfg)
    t0 = time.time()
    rows, mean, std = train_backbone(net, X, Y, class_names, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                                     max_minutes=max_minutes, log=log)
    metrics = {"bank": bank_spec, "real_ratio": real_ratio, "train_clips": len(X) - max(1, len(X) // 10),
               "epochs_trained": len(rows), "minutes": round((time.time() - t0) / 60, 2),
               "val_map_train_distribution": rows[-1]["val_map"],
               "heldout": heldout_map(net, heldout, mean, std, class_names, log)}
    if metrics["heldout"]:
        metrics["heldout_map"] = float(np.mean([v["map"] for v in metrics["heldout"].values()]))
    save_checkpoint(out, {"model": net.state_dict(), "backbone_config": bcfg, "class_names": class_names,
                          "log": rows, "metrics": metrics})
    mpath = out.with_suffix(".metrics.json")
    mpath.write_text(json.dumps(metrics, indent=1, default=float))
    log(f"wrote {out} and {mpath}")
    return metrics

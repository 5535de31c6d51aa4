"""seld-pretrain-at: clip-level audio-tagging pretraining of the semantic backbone.

Mono mixtures of 1-3 events drawn from the sound bank are tagged multi-label (BCE on the PANNs-style max+mean
pooled clip logits). The bank is procedural by default; ``--bank real:DIR`` (a bank built by
``seld-bank build-real``) or ``--bank mix:DIR:RATIO`` draws from the real bank's **train** split (real with
probability RATIO per event, procedural otherwise). With a real bank, mixtures also carry unlabelled
distractors (``--distractor-prob``) and a real ambience background (``--ambience-prob``), at levels spread over
``--level-db``, and the clip-level mAP is measured on real-only mixtures of the held-out sources (the bank's
``--eval-splits``, val and test by default), written into the checkpoint and beside it (``<out>.metrics.json``).

The log-mel front end is the SELD one (the W channel of ``FoaFeatures``), normalised per mel bin as the SELD
network normalises its input, so the weights transfer as they are. Output: a PANNs-format checkpoint
``{"model": state_dict, ...}`` that ``model.pretrained_backbone`` (or ``load_panns_state_dict``) loads.

    seld-pretrain-at --config config/train/at2seld_default.yaml --clips 2000 --epochs 10 \\
        --out runs/at_pretrain/backbone.pt
    seld-pretrain-at --config config/train/at2seld_default.yaml --bank mix:/data/real_bank:0.7 \\
        --clips 20000 --epochs 30 --out runs/at_pretrain_real/backbone.pt
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from seld_ros.cli import add_alias
from seld_ros.constants import SAMPLE_RATE as FS


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
    from seld_ros.data.bank import draw_info
    from seld_ros.features.config import FeatureConfig
    from seld_ros.features.foa import FoaFeatures
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
    it = range(n_clips)
    try:
        from tqdm import tqdm
        it = tqdm(it, desc="AT mixtures", disable=not progress)
    except ImportError:
        pass
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
    import torch
    net.eval()
    out = []
    with torch.no_grad():
        for j in range(0, len(X), batch):
            x = torch.from_numpy((X[j:j + batch].astype(np.float32) - mean) / std)
            out.append(torch.sigmoid(net(x)).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="seld-pretrain-at", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="seld-train YAML: its model.backbone is pretrained (required)")
    ap.add_argument("--out", required=True, help="backbone checkpoint to write (.pt) (required)")
    ap.add_argument("--bank", default=None,
                    help="procedural (default), real:DIR, mix:DIR:RATIO (a seld-bank build-real bank; its train "
                         "split is used) or a folder root/<class>/*.wav (default: procedural)")
    ap.add_argument("--real-ratio", type=float, default=None,
                    help="fraction of events from the real bank (overrides mix:...:RATIO; default: the bank spec's)")
    ap.add_argument("--distractor-prob", type=float, default=0.5,
                    help="probability that a mixture carries 1-2 unlabelled distractors, real banks (default: %(default)s)")
    ap.add_argument("--ambience-prob", type=float, default=0.5,
                    help="probability of a real ambience background, real banks (default: %(default)s)")
    ap.add_argument("--level-db", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                    help="mixture peak level range in dBFS (default -30 -1 with a real bank, none otherwise)")
    ap.add_argument("--eval-splits", nargs="*", default=["val", "test"],
                    help="real bank splits (held-out sources) on which clip-level mAP is measured (default: val test)")
    ap.add_argument("--eval-clips", type=int, default=300, help="mixtures per evaluation split (default: %(default)s)")
    ap.add_argument("--clips", type=int, default=2000, help="training mixtures (default: %(default)s)")
    ap.add_argument("--seconds", type=float, default=4.0, help="mixture length in seconds (default: %(default)s)")
    ap.add_argument("--epochs", type=int, default=10, help="training epochs (default: %(default)s)")
    ap.add_argument("--batch-size", type=int, default=32, help="mixtures per batch (default: %(default)s)")
    ap.add_argument("--lr", type=float, default=2e-3, help="learning rate (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads, 0 = torch's choice (default: %(default)s)")
    ap.add_argument("--max-minutes", type=float, default=None, help="stop training after this many minutes (default: no limit)")
    ap.add_argument("--quiet", action="store_true", help="no progress output (default: off)")
    add_alias(ap, "--no-progress", "--quiet")
    add_alias(ap, "--bank-dir", "--bank")
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)

    import torch
    import torch.nn.functional as F

    from seld_ros.data.bank import MixedBank, RealBank, make_bank
    from seld_ros.data.labels import LabelError
    from seld_ros.metrics.tagging import mean_average_precision
    from seld_ros.model import full_config
    from seld_ros.model.panns import PannsBackbone
    from seld_ros.train.trainer import load_config

    spec = args.bank or "procedural"
    for name in ("distractor_prob", "ambience_prob"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            ap.error(f"--{name.replace('_', '-')} must be in [0, 1]")
    if args.clips < 2 or args.epochs < 1:
        ap.error("--clips must be >= 2 and --epochs >= 1")
    try:
        bank = make_bank(spec, split="train", real_ratio=args.real_ratio)
    except LabelError as exc:
        print(f"seld-pretrain-at: error: {exc}", file=sys.stderr)
        return 2
    real = bank if isinstance(bank, RealBank) else bank.real if isinstance(bank, MixedBank) else None
    level_db = tuple(args.level_db) if args.level_db else ((-30.0, -1.0) if real is not None else None)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = load_config(args.config)
    fcfg = cfg["data"]["features"]
    class_names = list(bank.class_names)
    progress = not args.quiet
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    mix_kw = dict(distractor_prob=args.distractor_prob, ambience_prob=args.ambience_prob, level_db=level_db)

    def mixtures(b, n, seed, tag, **kw):
        key = _cache_key(spec, _manifest_stamp(spec), args.real_ratio, tag, n, seed, args.seconds, fcfg, mix_kw, kw)
        cache = out.with_suffix(f".mix_{tag}_{key}.npz")
        if cache.exists():
            with np.load(cache) as z:
                return z["X"], z["Y"]
        X, Y = make_mixtures(b, class_names, n, args.seconds, seed, fcfg, progress, **mix_kw, **kw)
        np.savez(cache, X=X, Y=Y)
        return X, Y

    X, Y = mixtures(bank, args.clips, args.seed, "train")
    heldout = {}
    if real is not None:
        for split in args.eval_splits:
            try:
                eb = RealBank(real.root, split, class_names)
            except LabelError as exc:
                print(f"seld-pretrain-at: no held-out mAP on {split}: {exc}", file=sys.stderr)
                continue
            if not eb.class_names:
                print(f"seld-pretrain-at: no held-out mAP on {split}: no target clips of the trained classes",
                      file=sys.stderr)
                continue
            heldout[split] = mixtures(eb, args.eval_clips, args.seed + 1000 + len(heldout), f"eval_{split}",
                                      draw_classes=eb.class_names)
    # the SELD network feeds the backbone the normalised W log-mel: do the same
    mean = X.astype(np.float32).mean(axis=(0, 2), keepdims=True)
    std = X.astype(np.float32).std(axis=(0, 2), keepdims=True) + 1e-5
    mc = full_config(cfg["model"])
    bcfg = dict(mc["backbone"], in_channels=1, num_at_classes=len(class_names))
    net = PannsBackbone(bcfg)
    n_val = max(1, len(X) // 10)
    Xt = torch.from_numpy(((X.astype(np.float32) - mean) / std))
    Yt = torch.from_numpy(Y)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * math.ceil((len(X) - n_val) / args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=max(1, steps), pct_start=0.1)
    g = torch.Generator().manual_seed(args.seed)
    t0, log = time.time(), []
    for ep in range(args.epochs):
        net.train()
        perm = torch.randperm(len(X) - n_val, generator=g) + n_val
        tot = 0.0
        for j in range(0, len(perm), args.batch_size):
            idx = perm[j:j + args.batch_size]
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
        log.append(row)
        print(json.dumps(row))
        if args.max_minutes and row["minutes"] > args.max_minutes:
            break
    metrics = {"bank": spec, "real_ratio": args.real_ratio, "train_clips": len(X) - n_val,
               "epochs_trained": len(log), "minutes": round((time.time() - t0) / 60, 2),
               "val_map_train_distribution": log[-1]["val_map"], "heldout": {}}
    maps = []
    for split, (Xe, Ye) in heldout.items():
        m, per = mean_average_precision(Ye, clip_scores(net, Xe, mean, std), class_names)
        present = [c for c, v in per.items() if v is not None]
        metrics["heldout"][split] = {"map": m, "clips": len(Xe), "classes": present,
                                     "ap_per_class": {c: per[c] for c in present}}
        maps.append(m)
        print(f"held-out {split} ({len(Xe)} real mixtures, {len(present)} classes): clip-level mAP {m:.3f}")
    if maps:
        metrics["heldout_map"] = float(np.mean(maps))
    torch.save({"model": net.state_dict(), "backbone_config": bcfg, "class_names": class_names,
                "log": log, "metrics": metrics}, out)
    mpath = out.with_suffix(".metrics.json")
    mpath.write_text(json.dumps(metrics, indent=1, default=float))
    print(f"wrote {out} and {mpath}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

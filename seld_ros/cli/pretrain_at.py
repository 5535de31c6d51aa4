"""seld-pretrain-at: clip-level audio-tagging pretraining of the semantic backbone.

Mono mixtures of 1-3 events drawn from the sound bank (procedural by default,
or ``--bank-dir root/<class>/*.wav``) are tagged multi-label (BCE on the
PANNs-style max+mean pooled clip logits). The log-mel front end is the SELD
one (the W channel of ``FoaFeatures``), normalised per mel bin as the SELD
network normalises its input, so the weights transfer as they are. Output: a
PANNs-format checkpoint ``{"model": state_dict, ...}`` that
``model.pretrained_backbone`` (or ``load_panns_state_dict``) loads.

    seld-pretrain-at --config config/train/at2seld_default.yaml --clips 2000 --epochs 10 \
        --out runs/at_pretrain/backbone.pt
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

FS = 24000


def make_mixtures(bank, class_names, n_clips, seconds, seed, feature_config, progress=True):
    """-> (features (n, 1, T, F) float16, targets (n, K) float32)."""
    from seld_ros.features.config import FeatureConfig
    from seld_ros.features.foa import FoaFeatures
    fcfg = FeatureConfig.from_dict({**feature_config, "feature_set": "logmel"})
    fx = FoaFeatures(fcfg)
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    K = len(class_names)
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
            k = int(rng.integers(K))
            x = bank.draw(class_names[k], rng)[:n]
            start = int(rng.integers(0, max(1, n - len(x) // 2)))
            seg = x[: n - start]
            gain = 10 ** (rng.uniform(-12, 0) / 20) / (np.abs(seg).max() + 1e-9) * 0.5
            mix[start:start + len(seg)] += gain * seg
            tg[i, k] = 1.0
        mix += 10 ** (rng.uniform(-70, -40) / 20) * rng.standard_normal(n).astype(np.float32)
        audio = np.zeros((4, n), np.float32)
        audio[0] = mix
        feats.append(fx.compute(audio)[:1].astype(np.float16))
    return np.stack(feats), tg


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="seld-pretrain-at", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="seld-train YAML: its model.backbone is pretrained")
    ap.add_argument("--out", required=True, help="backbone checkpoint to write (.pt)")
    ap.add_argument("--bank-dir", help="folder bank root/<class>/*.wav (default: procedural bank)")
    ap.add_argument("--clips", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--max-minutes", type=float, default=None)
    args = ap.parse_args(argv)

    import torch
    import torch.nn.functional as F

    from seld_ros.data.bank import FolderBank, ProceduralBank
    from seld_ros.model import full_config
    from seld_ros.model.panns import PannsBackbone
    from seld_ros.train.trainer import load_config

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = load_config(args.config)
    bank = FolderBank(args.bank_dir) if args.bank_dir else ProceduralBank()
    class_names = list(bank.class_names)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cache = out.with_suffix(f".mix{args.clips}_{args.seed}.npz")
    if cache.exists():
        with np.load(cache) as z:
            X, Y = z["X"], z["Y"]
    else:
        X, Y = make_mixtures(bank, class_names, args.clips, args.seconds, args.seed, cfg["data"]["features"])
        np.savez(cache, X=X, Y=Y)
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
            tot += float(loss) * len(idx)
        net.eval()
        with torch.no_grad():
            pv = torch.sigmoid(net(Xt[:n_val]))
        acc = float(((pv > 0.5).float() == Yt[:n_val]).all(dim=1).float().mean())
        row = {"epoch": ep + 1, "train_bce": tot / len(perm), "val_exact_match": acc,
               "minutes": (time.time() - t0) / 60}
        log.append(row)
        print(json.dumps(row))
        if args.max_minutes and row["minutes"] > args.max_minutes:
            break
    torch.save({"model": net.state_dict(), "backbone_config": bcfg, "class_names": class_names,
                "log": log}, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

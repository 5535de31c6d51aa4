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
import sys

import torch

from seld_ros.cli import add_alias
from seld_ros.data.labels import LabelError
from seld_ros.train.pretrain_at import pretrain


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
    for name in ("distractor_prob", "ambience_prob"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            ap.error(f"--{name.replace('_', '-')} must be in [0, 1]")
    if args.clips < 2 or args.epochs < 1:
        ap.error("--clips must be >= 2 and --epochs >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        pretrain(args.config, args.out, bank_spec=args.bank or "procedural", real_ratio=args.real_ratio,
                 clips=args.clips, seconds=args.seconds, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                 seed=args.seed, max_minutes=args.max_minutes, distractor_prob=args.distractor_prob,
                 ambience_prob=args.ambience_prob, level_db=args.level_db, eval_splits=args.eval_splits,
                 eval_clips=args.eval_clips, progress=not args.quiet,
                 warn=lambda text: print(f"seld-pretrain-at: {text}", file=sys.stderr))
    except LabelError as exc:
        print(f"seld-pretrain-at: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

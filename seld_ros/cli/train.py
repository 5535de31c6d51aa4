"""seld-train: train a SELD network from a YAML config, calibrate, write a bundle.

    seld-train --config config/train/at2seld_default.yaml [--set training.epochs=5 ...]
    torchrun --nproc_per_node=2 -m seld_ros.cli.train --config ...   # DDP, same config
"""
from __future__ import annotations

import argparse
import sys

from seld_ros.cli import add_alias


def _apply_set(cfg: dict, items):
    import yaml
    for it in items or []:
        key, _, val = it.partition("=")
        d = cfg
        parts = key.split(".")
        for p in parts[:-1]:
            d = d.setdefault(p, {})
        d[parts[-1]] = yaml.safe_load(val)
    return cfg


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="seld-train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True,
                    help="YAML with data / model / training / inference sections (required)")
    ap.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="override a config value, e.g. training.epochs=3; repeatable (default: none)")
    ap.add_argument("--out-bundle", default=None,
                    help="where to write the calibrated bundle (default: <out_dir>/bundle.pt)")
    add_alias(ap, "--bundle", "--out-bundle")  # was an output here, while every other tool reads --bundle
    ap.add_argument("--no-train", action="store_true",
                    help="only calibrate + bundle from the best checkpoint (default: train first)")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from seld_ros.train.trainer import Trainer, load_config  # imports torch: not for --help
    cfg = _apply_set(load_config(args.config), args.set)
    cmd = "seld-train " + " ".join(argv if argv is not None else sys.argv[1:])
    tr = Trainer(cfg, command=cmd)
    if not args.no_train:
        tr.fit()
    tr.finalize(args.out_bundle)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""seld-bank: look at the sound bank.

    seld-bank render [--out docs/img] [--examples 3] [--seed 0] [--bank procedural|DIR]
        writes docs/img/bank_<class>.png: log spectrograms of a few draws per class
    seld-bank list [--bank DIR]
    seld-bank build-real OUT [--cache DIR] [--mapping FILE] [--classes C ...] [--packages P ...]
                             [--max-clips-per-source N] [--seed S]
        builds the real-recording bank from Debian packages (apt-get download + dpkg-deb -x into the cache,
        default <OUT>/../deb_cache); see docs/data.md
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from seld_ros.classes import STARSS23_CLASSES
from seld_ros.constants import SAMPLE_RATE
from seld_ros.data.bank import FolderBank, MixedBank, RealBank, make_bank
from seld_ros.data.labels import LabelError
from seld_ros.data.realbank.build import BuildConfig, build_real_bank
from seld_ros.data.realbank.decode import ToolMissingError
from seld_ros.data.realbank.mapping import MappingError, load_mapping


def render(bank, out: Path, examples: int, seed: int, dpi: int = 60) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.signal import stft

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ci, name in enumerate(bank.class_names):
        fig, axes = plt.subplots(1, examples, figsize=(3.0 * examples, 2.2), squeeze=False)
        for k in range(examples):
            rng = np.random.default_rng([seed, ci, k])
            x = bank.draw(name, rng)
            f, t, z = stft(x, fs=SAMPLE_RATE, nperseg=512, noverlap=384)
            db = 20 * np.log10(np.abs(z) + 1e-6)
            ax = axes[0, k]
            ax.pcolormesh(t, f / 1000, db, vmin=db.max() - 80, vmax=db.max(), shading="auto", cmap="magma")
            ax.set_title(f"{name} #{k} ({len(x) / SAMPLE_RATE:.1f} s)", fontsize=8)
            ax.set_xlabel("s", fontsize=7)
            ax.tick_params(labelsize=6)
            if k == 0:
                ax.set_ylabel("kHz", fontsize=7)
        fig.tight_layout()
        p = out / f"bank_{name}.png"
        fig.savefig(p, dpi=dpi)
        plt.close(fig)
        paths.append(p)
    return paths


DEFAULT_MAPPING = Path(__file__).resolve().parents[2] / "config" / "real_bank" / "mapping.yaml"


def build_real(args) -> int:
    out = Path(args.out).resolve()
    cache = Path(args.cache).resolve() if args.cache else out.parent / "deb_cache"
    try:
        mapping = load_mapping(args.mapping)
        unknown = sorted(set(args.packages or []) - set(mapping.packages))
        if unknown:
            raise MappingError(f"--packages not in the mapping: {unknown}")
        known = set(STARSS23_CLASSES) | {"distractor", "ambience"}
        bad = sorted(set(args.classes or []) - known)
        if bad:
            raise MappingError(f"--classes: unknown {bad} (classes of the vocabulary, or distractor/ambience)")
        if args.max_clips_per_source < 1:
            raise MappingError("--max-clips-per-source must be >= 1")
        cfg = BuildConfig(out=out, cache=cache, mapping=mapping, classes=args.classes, packages=args.packages,
                          max_clips_per_source=args.max_clips_per_source, seed=args.seed,
                          log=lambda m: print(m, flush=True))
        info = build_real_bank(cfg)
    except (MappingError, ToolMissingError) as exc:
        print(f"seld-bank: error: {exc}", file=sys.stderr)
        return 2
    print(f"seld-bank: {info['clips']} clips, {info['bank_bytes'] / 1e6:.1f} MB, "
          f"{info['wall_time_s']:.0f} s; dropped {info['dropped']}")
    return 0


BANK_HELP = ("'procedural', real:DIR or mix:DIR:RATIO (a seld-bank build-real bank), or a folder bank/<class>/*.wav "
             "(default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="seld-bank", description="Inspect a sound bank, or build the real-recording bank.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render", help="spectrogram PNGs of a few draws per class")
    r.add_argument("--out", default="docs/img", help="folder for bank_<class>.png (default: %(default)s)")
    r.add_argument("--examples", type=int, default=3, help="draws per class (default: %(default)s)")
    r.add_argument("--seed", type=int, default=0, help="random seed of the draws (default: %(default)s)")
    r.add_argument("--bank", default="procedural", help=BANK_HELP)
    r.add_argument("--split", choices=("train", "val", "test"), default="train",
                   help="split of a real bank (default: %(default)s)")
    r.add_argument("--dpi", type=int, default=60, help="image resolution (default: %(default)s)")
    ls = sub.add_parser("list", help="classes and number of clips")
    ls.add_argument("--bank", default="procedural", help=BANK_HELP)
    ls.add_argument("--split", choices=("train", "val", "test"), default="train",
                    help="split of a real bank (default: %(default)s)")
    b = sub.add_parser("build-real", help="build the real-recording bank from Debian packages")
    b.add_argument("out", help="bank folder to write (replaced atomically when the build finishes)")
    b.add_argument("--cache", default=None, help="deb/unpack/rule cache (default: OUT/../deb_cache)")
    b.add_argument("--mapping", default=str(DEFAULT_MAPPING), help="mapping file (default: %(default)s)")
    b.add_argument("--classes", nargs="+", default=None,
                   help="only these classes/roles, e.g. knock distractor (default: all)")
    b.add_argument("--packages", nargs="+", default=None, help="only these packages (default: all in the mapping)")
    b.add_argument("--max-clips-per-source", type=int, default=120,
                   help="cap on clips cut from one source (default: %(default)s)")
    b.add_argument("--seed", type=int, default=0, help="random seed of splits and sequencing (default: %(default)s)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.cmd == "build-real":
        return build_real(args)

    try:
        bank = make_bank(args.bank, STARSS23_CLASSES, split=args.split)
    except LabelError as exc:
        print(f"seld-bank: error: {exc}", file=sys.stderr)
        return 2
    if args.cmd == "list":
        real = bank.real if isinstance(bank, MixedBank) else bank
        for c in bank.class_names:
            if isinstance(real, RealBank) and c in real.targets:
                n = f"{len(real.targets[c])} clips ({args.split})"
            elif isinstance(bank, FolderBank):
                n = len(bank.files[c])
            else:
                n = "procedural"
            print(f"{c:16s} {n}")
        if isinstance(real, RealBank):
            print(f"{'(distractors)':16s} {len(real.distractors)} clips\n{'(ambiences)':16s} {len(real.ambiences)} clips")
        return 0
    for p in render(bank, Path(args.out), args.examples, args.seed, args.dpi):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())

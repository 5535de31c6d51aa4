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
import logging


def add_alias(parser, old: str, new: str) -> None:
    """Accept ``old`` as a hidden (not in --help) alias of the already defined option ``new``."""
    target = next(a for a in parser._actions if new in a.option_strings)
    if isinstance(target, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        parser.add_argument(old, dest=target.dest, action="store_const", const=target.const,
                            default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    else:
        parser.add_argument(old, dest=target.dest, type=target.type, choices=target.choices, nargs=target.nargs,
                            metavar=target.metavar, default=argparse.SUPPRESS, help=argparse.SUPPRESS)




def setup_logging(prog: str) -> None:
    """Warnings from every library on stderr as ``<tool>: warning: ...``, and seld_ros's own progress lines (INFO:
    a first-start ONNX export says what it does and how long it took) as ``<tool>: ...``. Called again (tests call
    main() repeatedly), it replaces its handlers instead of adding more."""
    import logging

    class ToolFormatter(logging.Formatter):
        def format(self, record):
            text = record.getMessage()
            return f"{prog}: {text}" if record.levelno < logging.WARNING else \
                f"{prog}: {record.levelname.lower()}: {text}"

    for name, level in (("", logging.WARNING), ("seld_ros", logging.INFO)):
        logger = logging.getLogger(name)
        for h in [h for h in logger.handlers if getattr(h, "seld_tool", False)]:
            logger.removeHandler(h)
        handler = _CurrentStderrHandler()
        handler.seld_tool = True
        handler.setFormatter(ToolFormatter())
        handler.setLevel(level)
        if name:  # seld_ros's progress lines here; its warnings propagate to the root handler
            handler.addFilter(lambda record: record.levelno < logging.WARNING)
        logger.addHandler(handler)
    logging.getLogger().setLevel(min(logging.getLogger().level or logging.WARNING, logging.WARNING))
    logging.getLogger("seld_ros").setLevel(logging.INFO)


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record comes (a test's capture, later the real one), never to a
    stream that was replaced and closed meanwhile."""

    @property
    def stream(self):
        import sys

        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass

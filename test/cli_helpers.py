"""Helpers shared by the command-line, bag and export tests: a tiny model bundle, noise, running a CLI in a
fresh interpreter."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from model_helpers import make_tiny_bundle


REPO = Path(__file__).resolve().parents[1]
FS = 24000
START_NS = 1_700_000_000 * 10**9


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    return make_tiny_bundle(d / "tiny.pt", thresholds=0.001)


def noise(seconds, rate=FS, channels=4, seed=0):
    return (np.random.default_rng(seed).standard_normal((channels, int(round(seconds * rate)))) * 0.05
            ).astype(np.float32)


def run_cli(module: str, args, env=None, cwd=None, pre=""):
    code = f"import sys\n{pre}\nfrom {module} import main\nsys.exit(main({list(map(str, args))!r}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, **(env or {})), cwd=cwd)


"""What every benchmark records beside its figures: the CPU it ran on and the commit it measured."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Benchmarks write nothing into the user's home: the ONNX/engine cache of every pipeline and node they start
# (node processes inherit the environment) goes to a repo-local, git-ignored folder unless the caller chose one.
os.environ.setdefault("SELD_CACHE_DIR", str(REPO / "benchmarks" / "cache" / "onnx"))


def cpu_model() -> str:
    """lscpu's model name (e.g. "AMD EPYC"), or what platform knows."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine()


def git_commit(*paths: str) -> str:
    """Short HEAD sha, with "-dirty" when any of ``paths`` (the measured code) has uncommitted changes."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        if paths:
            dirty = subprocess.run(["git", "status", "--porcelain", "--", *paths], cwd=REPO, capture_output=True,
                                   text=True, timeout=10).stdout
            sha += "-dirty" if dirty.strip() else ""
        return sha
    except (OSError, subprocess.SubprocessError):
        return "unknown"

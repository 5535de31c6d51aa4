"""File digests shared by the rooms that check what they load (bundles, wheels, ONNX graphs, engines).

The bottom floor: imports nothing of the package and nothing heavy, so ``seld_ros.engine`` stays light to import
(no torch) while ``seld_ros.model`` uses the same function."""
from __future__ import annotations

import hashlib


def file_sha256(path: str, chunk: int = 1 << 20) -> str:
    """sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


__all__ = ["file_sha256"]

"""Per-channel, per-bin normalisation statistics accumulated over a dataset, stored as JSON or .npz (never pickle).

Accumulation merges each file's (count, mean, M2) into the running totals with Chan et al.'s parallel update, in
float64, so a dataset of hours of 13-channel features does not lose precision the way sum/sum-of-squares would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_MIN_STD = 1e-5  # floor for channels that are constant over the dataset (e.g. silent bands)


class FeatureStatsError(ValueError):
    """Statistics that are empty, malformed, or do not match the features they are applied to."""


class FeatureStats:
    """Mean and standard deviation of features (C, T, B) over all frames, per channel and bin: arrays (C, B)."""

    def __init__(self, num_channels: int, num_bins: int, min_std: float = DEFAULT_MIN_STD) -> None:
        self.num_channels, self.num_bins, self.min_std = int(num_channels), int(num_bins), float(min_std)
        self.count = 0
        self._mean = np.zeros((self.num_channels, self.num_bins))
        self._m2 = np.zeros((self.num_channels, self.num_bins))

    def update(self, features: np.ndarray) -> None:
        """Add one file's (or batch's) features (C, T, B) to the running statistics."""
        features = np.asarray(features)
        if features.ndim != 3 or features.shape[0] != self.num_channels or features.shape[2] != self.num_bins:
            raise FeatureStatsError(
                f"expected features of shape ({self.num_channels}, T, {self.num_bins}), got {features.shape}"
            )
        n = features.shape[1]
        if n == 0:
            return
        batch = features.astype(np.float64)
        batch_mean = batch.mean(axis=1)
        batch_m2 = ((batch - batch_mean[:, None, :]) ** 2).sum(axis=1)
        total = self.count + n
        delta = batch_mean - self._mean
        self._mean = self._mean + delta * (n / total)
        self._m2 = self._m2 + batch_m2 + delta**2 * (self.count * n / total)
        self.count = total

    def _require_data(self) -> None:
        if self.count == 0:
            raise FeatureStatsError("no frames accumulated yet: call update() with features first")

    @property
    def mean(self) -> np.ndarray:
        self._require_data()
        return self._mean.astype(np.float32)

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation, floored at ``min_std``."""
        self._require_data()
        return np.maximum(np.sqrt(self._m2 / self.count), self.min_std).astype(np.float32)

    def apply(self, features: np.ndarray) -> np.ndarray:
        """(features - mean) / std, broadcast over frames: (C, T, B) or (batch, C, T, B) -> same shape, float32."""
        self._require_data()
        features = np.asarray(features)
        if features.ndim < 3 or features.shape[-3] != self.num_channels or features.shape[-1] != self.num_bins:
            raise FeatureStatsError(
                f"statistics are for ({self.num_channels}, T, {self.num_bins}) features, got {features.shape}"
            )
        # In float64: a float32 mean of large-offset features (e.g. -60 dB +/- 0.1) would itself be off by a few
        # percent of a standard deviation.
        std = np.maximum(np.sqrt(self._m2 / self.count), self.min_std)
        return ((features - self._mean[:, None, :]) / std[:, None, :]).astype(np.float32)

    # --- persistence: plain dicts (model bundles), JSON files, or .npz (allow_pickle=False) ---

    def to_dict(self) -> dict[str, Any]:
        self._require_data()
        return {
            "num_channels": self.num_channels,
            "num_bins": self.num_bins,
            "count": self.count,
            "min_std": self.min_std,
            "mean": self._mean.tolist(),
            "m2": self._m2.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureStats:
        required = {"num_channels", "num_bins", "count", "mean", "m2"}
        missing = sorted(required - set(data))
        if missing:
            raise FeatureStatsError(f"feature statistics dict lacks keys {missing}")
        stats = cls(int(data["num_channels"]), int(data["num_bins"]), float(data.get("min_std", DEFAULT_MIN_STD)))
        shape = (stats.num_channels, stats.num_bins)
        mean, m2 = np.asarray(data["mean"], dtype=np.float64), np.asarray(data["m2"], dtype=np.float64)
        if mean.shape != shape or m2.shape != shape:
            raise FeatureStatsError(f"mean/m2 shapes {mean.shape}/{m2.shape} do not match {shape}")
        stats.count, stats._mean, stats._m2 = int(data["count"]), mean, m2
        return stats

    def save(self, path: str | Path) -> None:
        """Write to ``path``: ``.json`` or ``.npz`` by suffix."""
        path = Path(path)
        data = self.to_dict()
        if path.suffix == ".json":
            path.write_text(json.dumps(data))
        elif path.suffix == ".npz":
            np.savez(path, **{k: np.asarray(v) for k, v in data.items()})
        else:
            raise FeatureStatsError(f"unsupported statistics file type {path.suffix!r} (use .json or .npz)")

    @classmethod
    def load(cls, path: str | Path) -> FeatureStats:
        path = Path(path)
        if path.suffix == ".json":
            return cls.from_dict(json.loads(path.read_text()))
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                return cls.from_dict({k: archive[k] for k in archive.files})
        raise FeatureStatsError(f"unsupported statistics file type {path.suffix!r} (use .json or .npz)")

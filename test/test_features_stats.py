"""FeatureStats: running accumulation over files equals statistics of the concatenation; storage without pickle."""

from __future__ import annotations

import numpy as np
import pytest

from seld_ros.features import FeatureStats, FeatureStatsError


def files(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    # Large offsets and small spreads: where a sum/sum-of-squares accumulator in float32 would lose the variance.
    return [(1000.0 + rng.standard_normal((3, int(n), 8)) * 0.01).astype(np.float32) for n in rng.integers(1, 400, 12)]


def test_accumulation_over_files_equals_concatenated_statistics():
    stats = FeatureStats(num_channels=3, num_bins=8)
    for f in files():
        stats.update(f)
    everything = np.concatenate(files(), axis=1).astype(np.float64)
    assert stats.count == everything.shape[1]
    np.testing.assert_allclose(stats.mean, everything.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(stats.std, everything.std(axis=1), rtol=1e-4)


def test_apply_standardises():
    stats = FeatureStats(3, 8)
    for f in files():
        stats.update(f)
    normalised = stats.apply(np.concatenate(files(), axis=1))
    np.testing.assert_allclose(normalised.mean(axis=1), 0.0, atol=2e-3)
    np.testing.assert_allclose(normalised.std(axis=1), 1.0, atol=2e-3)
    batched = stats.apply(np.stack([files()[0]] * 2))  # (batch, C, T, B) broadcasts too
    np.testing.assert_allclose(batched[1], stats.apply(files()[0]))


def test_constant_channel_std_is_floored():
    stats = FeatureStats(1, 2, min_std=1e-3)
    stats.update(np.full((1, 10, 2), 5.0, np.float32))
    np.testing.assert_allclose(stats.std, [[1e-3, 1e-3]], rtol=1e-6)
    assert np.all(np.isfinite(stats.apply(np.zeros((1, 3, 2)))))


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_save_and_load_round_trip(tmp_path, suffix):
    stats = FeatureStats(3, 8)
    for f in files(1):
        stats.update(f)
    path = tmp_path / f"stats{suffix}"
    stats.save(path)
    loaded = FeatureStats.load(path)
    assert loaded.count == stats.count
    np.testing.assert_array_equal(loaded.mean, stats.mean)
    np.testing.assert_array_equal(loaded.std, stats.std)
    # Continuing to accumulate after loading gives the same result as never having stopped.
    extra = files(2)[0]
    loaded.update(extra)
    stats.update(extra)
    np.testing.assert_allclose(loaded.std, stats.std, rtol=1e-7)


def test_bad_uses():
    stats = FeatureStats(3, 8)
    with pytest.raises(FeatureStatsError, match="no frames accumulated yet"):
        stats.apply(np.zeros((3, 1, 8)))
    with pytest.raises(FeatureStatsError, match=r"expected features of shape \(3, T, 8\), got \(4, 5, 8\)"):
        stats.update(np.zeros((4, 5, 8)))
    stats.update(np.zeros((3, 5, 8)))
    with pytest.raises(FeatureStatsError, match=r"statistics are for \(3, T, 8\) features"):
        stats.apply(np.zeros((3, 5, 64)))
    with pytest.raises(FeatureStatsError, match="unsupported statistics file type '.pkl'"):
        stats.save("stats.pkl")
    with pytest.raises(FeatureStatsError, match=r"lacks keys \['m2'\]"):
        FeatureStats.from_dict({k: v for k, v in stats.to_dict().items() if k != "m2"})
    with pytest.raises(FeatureStatsError, match="do not match"):
        FeatureStats.from_dict(stats.to_dict() | {"mean": [[0.0]]})

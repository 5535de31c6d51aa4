"""RingBuffer: fixed memory, exact sample indexing, gaps zero-filled and overlaps dropped, both reported."""

from __future__ import annotations

import numpy as np
import pytest

from seld_ros.audio import ChannelCountError, EmptyAudioError, NonFiniteAudioError, RingBuffer


def ramp(start: int, n: int, channels: int = 3) -> np.ndarray:
    """Sample value = its running index (+ 0.25 * channel), so any misplacement is visible."""
    idx = np.arange(start, start + n, dtype=np.float32)
    return np.stack([idx + 0.25 * c for c in range(channels)])


def test_arbitrary_chunk_sizes_keep_the_latest_samples():
    rng = np.random.default_rng(0)
    buf = RingBuffer(channels=3, capacity=1000)
    memory = buf._data.nbytes
    written = 0
    for _ in range(300):
        n = int(rng.choice([1, 2, 7, 480, 999, 1000, 1001, 2500]))
        status = buf.write(ramp(written, n), first_sample_index=written)
        assert status.ok and status.samples_written == n
        written += n
        assert buf.next_sample_index == written and buf.available == min(1000, written)
        k = int(rng.integers(1, buf.available + 1))
        np.testing.assert_array_equal(buf.latest(k), ramp(written - k, k))
    assert buf._data.nbytes == memory  # fixed memory: never reallocated


def test_latest_is_a_view_not_a_copy():
    buf = RingBuffer(channels=2, capacity=100)
    buf.write(ramp(0, 170, 2))
    view = buf.latest(100)
    assert np.shares_memory(view, buf._data) and not view.flags.writeable
    np.testing.assert_array_equal(view, ramp(70, 100, 2))


def test_gap_is_zero_filled_and_reported():
    buf = RingBuffer(channels=3, capacity=100)
    buf.write(ramp(0, 10), first_sample_index=0)
    status = buf.write(ramp(15, 5), first_sample_index=15)
    assert (status.gap_samples, status.overlap_samples, status.samples_written) == (5, 0, 5) and not status.ok
    assert buf.next_sample_index == 20 and buf.total_gap_samples == 5
    np.testing.assert_array_equal(buf.read(10, 5), np.zeros((3, 5)))
    np.testing.assert_array_equal(buf.read(15, 5), ramp(15, 5))
    np.testing.assert_array_equal(buf.read(5, 5), ramp(5, 5))


def test_gap_longer_than_capacity_clears_the_buffer():
    buf = RingBuffer(channels=3, capacity=50)
    buf.write(ramp(0, 50), first_sample_index=0)
    status = buf.write(ramp(10_000, 10), first_sample_index=10_000)
    assert status.gap_samples == 9_950 and buf.next_sample_index == 10_010
    np.testing.assert_array_equal(buf.latest(50)[:, :40], np.zeros((3, 40)))
    np.testing.assert_array_equal(buf.latest(10), ramp(10_000, 10))


def test_overlap_is_dropped_and_reported():
    buf = RingBuffer(channels=3, capacity=100)
    buf.write(ramp(0, 20), first_sample_index=0)
    resent = ramp(15, 10)
    resent[:, :5] = -1.0  # the overlapping part must not overwrite what was already stored
    status = buf.write(resent, first_sample_index=15)
    assert (status.overlap_samples, status.samples_written, status.gap_samples) == (5, 5, 0)
    np.testing.assert_array_equal(buf.read(0, 25), ramp(0, 25))
    duplicate = buf.write(ramp(0, 10), first_sample_index=0)  # entirely old
    assert (duplicate.overlap_samples, duplicate.samples_written) == (10, 0) and buf.next_sample_index == 25


def test_first_chunk_defines_the_stream_position():
    buf = RingBuffer(channels=3, capacity=10)
    status = buf.write(ramp(5000, 4), first_sample_index=5000)
    assert status.ok and buf.oldest_sample_index == 5000 and buf.next_sample_index == 5004


def test_bad_requests_and_chunks():
    buf = RingBuffer(channels=3, capacity=10)
    buf.write(ramp(0, 5))
    with pytest.raises(ValueError, match=r"latest\(6\): only 5 samples available"):
        buf.latest(6)
    with pytest.raises(ValueError, match=r"buffer holds \[0, 5\)"):
        buf.read(3, 4)
    with pytest.raises(ChannelCountError, match="expected 3 channels, got 4"):
        buf.write(np.zeros((4, 5), np.float32))
    with pytest.raises(EmptyAudioError, match="ring buffer chunk: empty"):
        buf.write(np.zeros((3, 0), np.float32))
    with pytest.raises(NonFiniteAudioError, match="NaN or Inf"):
        buf.write(np.full((3, 2), np.nan, np.float32))
    with pytest.raises(ValueError, match="first_sample_index must be >= 0"):
        buf.write(ramp(0, 2), first_sample_index=-3)
    with pytest.raises(ValueError, match="channels and capacity must be positive"):
        RingBuffer(channels=0, capacity=10)

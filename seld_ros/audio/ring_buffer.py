"""Fixed-memory multichannel ring buffer indexed by the producer's running sample index.

Every chunk from the driver carries ``first_sample_index`` (samples since stream start). The buffer compares it with
the index it expects next:

- equal:   appended;
- larger:  a gap (dropped packets): the missing samples are filled (zeros, or with ``gap_fill="linear"`` a straight
           ramp from the last sample before the gap to the first one after it, which adds no click), so time stays
           aligned, and the gap is reported in the returned ``WriteStatus``;
- smaller: an overlap (duplicate or re-sent data): the samples already held are dropped from the chunk, reported.

Nothing is ever silently stitched: the buffer's sample index always equals the producer's.

Memory is mirrored (each sample is stored at position p and p + capacity), so the most recent ``n <= capacity``
samples are always one contiguous slice and ``latest(n)`` returns a view without copying. Writes cost O(chunk).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seld_ros.audio.errors import AudioFormatError, validate_audio


@dataclass(frozen=True)
class WriteStatus:
    """What one ``RingBuffer.write`` did, in samples (per channel)."""

    first_sample_index: int  # index of the chunk's first sample as sent by the producer
    samples_written: int  # new audio samples stored (after dropping overlap)
    gap_samples: int = 0  # zeros inserted before the chunk because the producer skipped ahead
    overlap_samples: int = 0  # leading samples of the chunk dropped because they were already written

    @property
    def ok(self) -> bool:
        """True when the chunk followed the previous one exactly."""
        return self.gap_samples == 0 and self.overlap_samples == 0


class RingBuffer:
    """Holds the most recent ``capacity`` samples of a ``channels``-channel float32 stream."""

    def __init__(self, channels: int, capacity: int, gap_fill: str = "zeros") -> None:
        if channels <= 0 or capacity <= 0:
            raise ValueError(f"channels and capacity must be positive, got channels={channels}, capacity={capacity}")
        if gap_fill not in ("zeros", "linear"):
            raise ValueError(f"gap_fill must be 'zeros' or 'linear', got {gap_fill!r}")
        self.gap_fill = gap_fill
        self.channels = int(channels)
        self.capacity = int(capacity)
        self._data = np.zeros((self.channels, 2 * self.capacity), dtype=np.float32)
        self.reset()

    def reset(self, start_index: int | None = None) -> None:
        """Forget everything. The next write defines the stream position unless ``start_index`` is given."""
        self._data[:] = 0.0
        self._write_pos = 0  # position in [0, capacity) where the next sample goes
        self._next_index = start_index  # running sample index of the next sample; None = not started
        self._stored = 0  # valid samples held, <= capacity
        self.total_gap_samples = 0
        self.total_overlap_samples = 0

    @property
    def next_sample_index(self) -> int:
        """Running index of the next sample expected (= samples since stream start, gaps included)."""
        return 0 if self._next_index is None else self._next_index

    @property
    def available(self) -> int:
        """Samples currently held (at most ``capacity``)."""
        return self._stored

    @property
    def oldest_sample_index(self) -> int:
        return self.next_sample_index - self._stored

    def _append(self, block: np.ndarray) -> None:
        """Write (channels, n) samples at the write position, keeping the mirror in sync."""
        n = block.shape[1]
        if n >= self.capacity:  # only the last `capacity` samples can survive
            block = block[:, n - self.capacity :]
            n = self.capacity
        pos, cap = self._write_pos, self.capacity
        first = min(n, cap - pos)
        for base in (0, cap):  # primary and mirror copy
            self._data[:, base + pos : base + pos + first] = block[:, :first]
        rest = n - first
        if rest:
            for base in (0, cap):
                self._data[:, base : base + rest] = block[:, first:]
        self._write_pos = (pos + n) % cap
        self._stored = min(cap, self._stored + n)

    def _append_fill(self, n: int, after: np.ndarray) -> None:
        """Fill a gap of ``n`` samples; ``after`` (channels,) is the first sample following it."""
        # A gap longer than the buffer wipes it; filling more than `capacity` samples would be wasted work.
        m = min(n, self.capacity)
        if self.gap_fill == "zeros":
            self._append(np.zeros((self.channels, m), dtype=np.float32))
            return
        before = self.latest(1)[:, 0] if self._stored else np.zeros(self.channels, np.float32)
        # sample k (1..n) of the gap lies at k / (n + 1) between `before` and `after`; only the last m are kept
        t = (np.arange(n - m + 1, n + 1, dtype=np.float64) / (n + 1))[None, :]
        ramp = before[:, None] * (1.0 - t) + after.astype(np.float64)[:, None] * t
        self._append(ramp.astype(np.float32))

    def write(self, chunk: np.ndarray, first_sample_index: int | None = None) -> WriteStatus:
        """Store a (channels, n) chunk. ``first_sample_index`` None means "right after the previous chunk"."""
        chunk = validate_audio(chunk, self.channels, what="ring buffer chunk")
        if first_sample_index is None:
            first_sample_index = self.next_sample_index
        first_sample_index = int(first_sample_index)
        if first_sample_index < 0:
            raise AudioFormatError(f"first_sample_index must be >= 0, got {first_sample_index}")
        if self._next_index is None:  # first chunk: the producer's index defines where the stream is
            self._next_index = first_sample_index
        gap = max(0, first_sample_index - self._next_index)
        overlap = min(chunk.shape[1], max(0, self._next_index - first_sample_index))
        if gap:
            self._append_fill(gap, chunk[:, 0])
            self._next_index += gap
        new = chunk[:, overlap:]
        if new.shape[1]:
            self._append(new)
            self._next_index += new.shape[1]
        self.total_gap_samples += gap
        self.total_overlap_samples += overlap
        return WriteStatus(first_sample_index, new.shape[1], gap, overlap)

    def latest(self, n: int) -> np.ndarray:
        """The most recent ``n`` samples, (channels, n), as a read-only view (valid until the next write)."""
        if not 0 <= n <= self._stored:
            raise ValueError(f"latest({n}): only {self._stored} samples available (capacity {self.capacity})")
        end = self._write_pos + self.capacity
        view = self._data[:, end - n : end]
        view.flags.writeable = False
        return view

    def read(self, start_index: int, n: int) -> np.ndarray:
        """Samples [start_index, start_index + n) by running index, as a read-only view."""
        stop = start_index + n
        if n < 0 or start_index < self.oldest_sample_index or stop > self.next_sample_index:
            raise ValueError(
                f"read([{start_index}, {stop})): buffer holds [{self.oldest_sample_index}, {self.next_sample_index})"
            )
        return self.latest(self.next_sample_index - start_index)[:, :n]

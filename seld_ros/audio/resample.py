"""Resampling to the internal rate (24 kHz), once, at the edge.

Batch: ``resample_to(audio, rate_in)`` = scipy ``resample_poly`` with an explicit Kaiser-windowed FIR.
Streaming: ``StreamingResampler`` runs the *same* polyphase filter statefully over chunks of any size. Its output is
the batch output sample for sample (exactly the same arithmetic, float64) except that it lags by ``latency_samples``
output samples: the batch version centres its filter on each output sample and needs that much look-ahead.
``flush()`` returns the tail, after which the concatenated stream equals the batch output of the whole signal.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy.signal import firwin, resample_poly, upfirdn

from seld_ros.audio.errors import SampleRateError, validate_audio
from seld_ros.constants import SAMPLE_RATE

INTERNAL_SAMPLE_RATE = SAMPLE_RATE  # the name seld_ros.audio exports


def _ratio(rate_in: int, rate_out: int) -> tuple[int, int]:
    for name, rate in (("input", rate_in), ("output", rate_out)):
        if int(rate) != rate or rate <= 0:
            raise SampleRateError(f"{name} sample rate must be a positive integer in Hz, got {rate}")
    ratio = Fraction(int(rate_out), int(rate_in))
    if max(ratio.numerator, ratio.denominator) > 1000:
        # 44.1k->24k is 80/147; anything much beyond that means a typo (e.g. 44100 vs 4410) or an unsupported rate.
        raise SampleRateError(
            f"resampling {rate_in} Hz -> {rate_out} Hz needs ratio {ratio.numerator}/{ratio.denominator}; "
            "ratios with terms above 1000 are not supported"
        )
    return ratio.numerator, ratio.denominator


def design_resampling_filter(up: int, down: int) -> np.ndarray:
    """The low-pass FIR scipy's resample_poly designs by default (Kaiser beta 5, 10 zero crossings per side)."""
    max_rate = max(up, down)
    half_len = 10 * max_rate
    return firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0))


def resample_to(audio: np.ndarray, rate_in: int, rate_out: int = INTERNAL_SAMPLE_RATE) -> np.ndarray:
    """(channels, N) float audio at ``rate_in`` -> (channels, ceil(N*rate_out/rate_in)) float32 at ``rate_out``."""
    audio = validate_audio(audio, None, what="audio to resample")
    up, down = _ratio(rate_in, rate_out)
    if up == down == 1:
        return audio
    out = resample_poly(audio.astype(np.float64), up, down, axis=1, window=design_resampling_filter(up, down))
    return out.astype(np.float32)


class StreamingResampler:
    """Stateful polyphase resampler for chunked audio; see the module docstring for its relation to ``resample_to``.

    ``push((channels, n)) -> (channels, m)`` returns every output sample whose input support is complete.
    """

    def __init__(self, rate_in: int, rate_out: int = INTERNAL_SAMPLE_RATE, channels: int = 4) -> None:
        self.up, self.down = _ratio(rate_in, rate_out)
        self.rate_in, self.rate_out, self.channels = int(rate_in), int(rate_out), int(channels)
        h = design_resampling_filter(self.up, self.down) * self.up
        half_len = (len(h) - 1) // 2
        # Same zero pre-padding as resample_poly, so output index m of upfirdn(h, x) maps to batch index m - pre_remove.
        pre_pad = self.down - half_len % self.down
        self._h = np.concatenate([np.zeros(pre_pad), h])
        self.latency_samples = (half_len + pre_pad) // self.down
        self.reset()

    def reset(self) -> None:
        self._history = np.zeros((self.channels, 0))  # input samples from index self._history_start on
        self._history_start = 0
        self._inputs_seen = 0
        self._next_full_index = self.latency_samples  # next upfirdn output index to emit (earlier ones are padding)
        self.samples_emitted = 0

    def _emit_until(self, end_full_index: int) -> np.ndarray:
        """Outputs with upfirdn index in [self._next_full_index, end_full_index), from the held history."""
        start = self._next_full_index
        if end_full_index <= start:
            return np.zeros((self.channels, 0), dtype=np.float32)
        # upfirdn over history that starts at input index b (a multiple of `down`) yields full output indices
        # m = j + b*up/down; taps from inputs before b must not reach `start`, which the trim below guarantees.
        offset = self._history_start * self.up // self.down
        full = upfirdn(self._h, self._history, self.up, self.down, axis=1)
        out = full[:, start - offset : end_full_index - offset]
        self._next_full_index = end_full_index
        self.samples_emitted += out.shape[1]
        self._trim_history()
        return out.astype(np.float32)

    def _trim_history(self) -> None:
        # Oldest input still needed by output m: i >= (m*down - len(h) + 1) / up. Keep from a multiple of `down`.
        needed = (self._next_full_index * self.down - len(self._h) + 1) // self.up
        keep_from = max(0, needed) // self.down * self.down
        if keep_from > self._history_start:
            self._history = self._history[:, keep_from - self._history_start :]
            self._history_start = keep_from

    def push(self, chunk: np.ndarray) -> np.ndarray:
        chunk = validate_audio(chunk, self.channels, what="resampler chunk")
        self._history = np.concatenate([self._history, chunk.astype(np.float64)], axis=1)
        self._inputs_seen += chunk.shape[1]
        # Output m needs inputs up to floor(m*down/up); complete while that index < inputs seen.
        end = ((self._inputs_seen - 1) * self.up) // self.down + 1
        return self._emit_until(end)

    def flush(self) -> np.ndarray:
        """Remaining outputs, treating the future as silence; total output then equals ``resample_to`` of the stream."""
        total = -(-self._inputs_seen * self.up // self.down)  # ceil
        self._history = np.concatenate([self._history, np.zeros((self.channels, len(self._h) // self.up + 1))], axis=1)
        return self._emit_until(total + self.latency_samples)

"""Run the fixed-block network on a live stream, one 100 ms hop at a time.

Strategy: a **sliding context window**. The node delivers features in 100 ms hops (5 feature frames of
20 ms). :class:`StreamingInference` keeps the last ``W`` label frames of features (``5 W`` feature
frames, the block the network was exported for), and on every hop shifts the window, runs the backend
once and emits the newest label frame(s) — or, with ``lookahead = L``, the label frame ``L`` hops
older, which has ``L`` label frames of right-hand context inside the window.

Trade-off (measured by ``benchmarks/bench_streaming.py``; see docs/engine.md):

* cost: one full block per hop — the network recomputes ``W`` label frames to emit one (``W``x the
  offline cost per frame); it must fit the 100 ms hop budget with margin (the acceptance target is
  p50 <= 10 ms on one CPU core);
* accuracy: the emitted frame sees ``W-1-L`` frames of history and ``L`` frames of future, where the
  offline model sees the whole clip (bidirectional GRU / attention). ``L = 0`` gives the lowest
  latency (output after one hop + compute) but no future context; each extra lookahead frame buys
  right context for 100 ms of latency;
* start-up: until ``W`` label frames have arrived, the window's older part is padding (zeros, i.e.
  the normalised mean feature), so the first ``W`` outputs are computed with less history.

The alternative — a causal network carrying its recurrent state from hop to hop — costs one label
frame per hop instead of ``W``, but needs a unidirectional, causally-padded model trained for it and
state tensors as extra ONNX/TensorRT I/O; the window works with any network that meets the contract.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from seld_ros.constants import FEATURE_HOP_S, LABEL_HOP_FRAMES

from .base import InferenceBackend


def feature_block(features, channels: int, bins: int) -> np.ndarray:
    """Feature frames as float32 (C, n, F); (1, C, n, F) is accepted. Raises ValueError on other shapes."""
    f = np.asarray(features, dtype=np.float32)
    if f.ndim == 4:
        if f.shape[0] != 1:
            raise ValueError("batch must be 1")
        f = f[0]
    if f.ndim != 3 or f.shape[0] != channels or f.shape[2] != bins:
        raise ValueError(f"features must be (C={channels}, n, F={bins}), got {np.shape(features)}")
    return f


@dataclass
class StreamOutput:
    """Outputs for ``count`` consecutive label frames starting at stream label frame ``first_index``.

    ``outputs[name]`` has the label-frame axis first: (count, ...) — the batch axis is dropped.
    Label frame ``i`` covers stream feature frames ``[5 i, 5 i + 5)``, i.e. audio ``[0.1 i, 0.1 i + 0.1)`` s.
    """

    first_index: int
    count: int
    outputs: Dict[str, np.ndarray]


class StreamingInference:
    """Sliding-window streaming over a fixed-block backend (batch 1, features (1, C, 5W, F)).

    backend:    a loaded :class:`InferenceBackend` with a single (1, C, T, F) input.
    lookahead:  label frames of right context before a frame is emitted (latency = lookahead x 100 ms).
    time_axis:  label-frame axis of the network outputs (1 for (B, T, ...)).
    pad_value:  features for the not-yet-filled part of the window at stream start: a scalar, or per
                channel/bin values (C, F) — e.g. the normalisation mean, so that padding is "average
                background" for a network that normalises its raw input itself.
    """

    def __init__(self, backend: InferenceBackend, *, lookahead: int = 0, time_axis: int = 1,
                 label_hop: int = LABEL_HOP_FRAMES, pad_value=0.0):
        if len(backend.input_specs) != 1:
            raise ValueError(f"StreamingInference handles single-input networks; this one has "
                             f"{backend.input_names}")
        spec = backend.input_specs[0]
        if len(spec.shape) != 4 or spec.shape[0] != 1:
            raise ValueError(f"expected a (1, C, T, F) input, got {spec.shape}")
        self.backend = backend
        self.input_name = spec.name
        self.label_hop = int(label_hop)
        self.window_frames = int(spec.shape[2])
        if self.window_frames % self.label_hop:
            raise ValueError(f"block length {self.window_frames} is not a multiple of {self.label_hop}")
        self.window_labels = self.window_frames // self.label_hop
        self.lookahead = int(lookahead)
        if not 0 <= self.lookahead < self.window_labels:
            raise ValueError(f"lookahead must be in [0, {self.window_labels - 1}], got {lookahead}")
        self.time_axis = int(time_axis)
        self.channels, self.bins = int(spec.shape[1]), int(spec.shape[3])
        pad = np.asarray(pad_value, dtype=np.float32)
        if pad.ndim == 0:
            pad = np.full((self.channels, self.bins), pad, np.float32)
        pad = pad.reshape(-1, pad.shape[-1]) if pad.ndim == 3 else pad
        if pad.shape != (self.channels, self.bins):
            raise ValueError(f"pad_value must be a scalar or ({self.channels}, {self.bins}), got {pad.shape}")
        self._pad = pad[:, None, :]  # (C, 1, F), broadcast over frames
        self.reset()

    # -- state ----------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the stream (e.g. after a gap in the audio)."""
        self._window = np.ascontiguousarray(
            np.broadcast_to(self._pad[None], (1, self.channels, self.window_frames, self.bins)), np.float32)
        self._pending = np.zeros((self.channels, 0, self.bins), np.float32)  # < 1 label frame of features
        self._labels_in = 0      # label frames pushed into the window (real or flush padding)
        self._labels_real = 0    # label frames of real features
        self._emitted = 0        # next label frame index to emit

    @property
    def latency_frames(self) -> int:
        """Label frames between a frame's audio arriving complete and its output being emitted."""
        return self.lookahead

    @property
    def window_seconds(self) -> float:
        return self.window_labels * self.label_hop * FEATURE_HOP_S

    @property
    def mode(self) -> str:
        return "sliding window"

    # -- streaming ------------------------------------------------------------------------------
    def push(self, features: np.ndarray) -> Optional[StreamOutput]:
        """Add feature frames, (C, n, F) or (1, C, n, F); run once per completed chunk of label frames.

        Returns the newly final label frames (None if none completed yet). Leftover frames (< 5) wait.
        """
        f = feature_block(features, self.channels, self.bins)
        buf = np.concatenate([self._pending, f], axis=1) if self._pending.shape[1] else f
        whole = (buf.shape[1] // self.label_hop) * self.label_hop
        self._pending = np.array(buf[:, whole:], copy=True)
        return self._advance(buf[:, :whole], real=True)

    def flush(self) -> Optional[StreamOutput]:
        """End of stream: emit the last ``lookahead`` frames by pushing padding (incomplete frames dropped)."""
        self._pending = self._pending[:, :0]
        if self._emitted >= self._labels_real:
            return None
        pad = np.broadcast_to(self._pad, (self.channels, self.lookahead * self.label_hop, self.bins))
        return self._advance(pad, real=False)

    def _advance(self, frames: np.ndarray, real: bool) -> Optional[StreamOutput]:
        new_labels = frames.shape[1] // self.label_hop
        if new_labels == 0:
            return None
        pieces: List[StreamOutput] = []
        step = self.window_labels - self.lookahead  # the most label frames one run can emit
        done = 0
        while done < new_labels:
            k = min(step, new_labels - done)
            chunk = frames[:, done * self.label_hop:(done + k) * self.label_hop]
            m = chunk.shape[1]
            w = self._window
            w[0, :, :-m] = w[0, :, m:]
            w[0, :, -m:] = chunk
            self._labels_in += k
            if real:
                self._labels_real += k
            done += k
            last = min(self._labels_in - 1 - self.lookahead, self._labels_real - 1)
            if last < self._emitted:
                continue
            out = self.backend.infer({self.input_name: w})
            start_pos = self._emitted - (self._labels_in - self.window_labels)
            count = last - self._emitted + 1
            sel = {name: np.moveaxis(arr[0], self.time_axis - 1, 0)[start_pos:start_pos + count].copy()
                   for name, arr in out.items()}
            pieces.append(StreamOutput(self._emitted, count, sel))
            self._emitted = last + 1
        if not pieces:
            return None
        if len(pieces) == 1:
            return pieces[0]
        return StreamOutput(pieces[0].first_index, sum(p.count for p in pieces),
                            {n: np.concatenate([p.outputs[n] for p in pieces]) for n in pieces[0].outputs})

    def run_clip(self, features: np.ndarray, hop_frames: int = LABEL_HOP_FRAMES) -> Dict[str, np.ndarray]:
        """Stream a whole clip (C, T, F) hop by hop and return every label frame's outputs, (T/5, ...)."""
        self.reset()
        parts: List[StreamOutput] = []
        f = np.asarray(features, dtype=np.float32)
        if f.ndim == 4:
            f = f[0]
        for s in range(0, f.shape[1], hop_frames):
            o = self.push(f[:, s:s + hop_frames])
            if o is not None:
                parts.append(o)
        o = self.flush()
        if o is not None:
            parts.append(o)
        if not parts:
            return {}
        return {n: np.concatenate([p.outputs[n] for p in parts]) for n in parts[0].outputs}

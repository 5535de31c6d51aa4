"""Run a causal network incrementally: one 100 ms hop in, one label frame out, state carried over.

A causal bundle (``model_config.causal: true``, see :class:`seld_ros.model.AT2SELD`) exposes
``step(features, state) -> (outputs, new_state)``. The engine runs that step as a fixed-shape graph
with the state as explicit inputs and outputs:

    inputs:  features (1, C, 5, F), state_<name> ...      (one hop of features + the state before it)
    outputs: <the network's outputs> (1, 1, ...), next_state_<name> ...   (the label frame + the state after it)

:func:`stateful_step` builds that graph as an ``nn.Module`` following the model contract (so the torch
backend runs it and ``export_onnx`` exports it unchanged); :class:`IncrementalInference` feeds it
hop by hop and swaps the state. It has the same ``push / flush / reset / run_clip`` interface as the
sliding window (:class:`seld_ros.engine.streaming.StreamingInference`), which remains for networks
that are not causal. The network cost per hop is one label frame instead of the whole window, and
because offline inference is the same step from the zero state, streaming outputs equal offline ones
(to float rounding) for any chunking of the audio.

The state layout (names and shapes, in order) is part of the exported graph; :func:`state_layout`
makes a short digest of it for the ONNX export record and the TensorRT engine-cache key.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from seld_ros.constants import FEATURE_HOP_S, LABEL_HOP_FRAMES

from .base import InferenceBackend
from .streaming import StreamOutput, feature_block

STATE_PREFIX = "state_"
NEXT_PREFIX = "next_"


def is_causal(model) -> bool:
    """Does this network stream incrementally (``config['causal']`` and a ``step`` method)?"""
    cfg = getattr(model, "config", None) or {}
    return bool(cfg.get("causal", False)) and hasattr(model, "step") and hasattr(model, "state_specs")


def state_pairs(input_names: Sequence[str], output_names: Sequence[str]) -> List[Tuple[str, str]]:
    """[(state input, next-state output)] by the naming convention ``state_x`` -> ``next_state_x``."""
    outs = set(output_names)
    pairs = [(n, NEXT_PREFIX + n) for n in input_names if n.startswith(STATE_PREFIX)]
    missing = [o for _, o in pairs if o not in outs]
    if missing:
        raise ValueError(f"stateful graph lacks the state outputs {missing}")
    return pairs


def state_layout(specs: Sequence[Tuple[str, Sequence[int]]]) -> str:
    """Digest of a state layout [(name, shape)]: '' for a stateless network (one definition, in the model)."""
    from seld_ros.model.stateful import state_layout as _digest  # imports torch
    return _digest(specs)


def stateful_step(model):
    """The exported step module of a causal network (:class:`seld_ros.model.stateful.StatefulStep`)."""
    from seld_ros.model.stateful import StatefulStep  # imports torch
    return StatefulStep(model)


class IncrementalInference:
    """Hop-by-hop inference of a stateful step graph on any backend.

    backend: a loaded :class:`InferenceBackend` whose inputs are ``features`` (1, C, 5, F) and
             ``state_*`` tensors, and whose outputs include ``next_state_*`` (see module docstring).
    """

    def __init__(self, backend: InferenceBackend, *, time_axis: int = 1, label_hop: int = LABEL_HOP_FRAMES):
        self.backend = backend
        self.pairs = state_pairs(backend.input_names, backend.output_names)
        if not self.pairs:
            raise ValueError(f"backend inputs {backend.input_names} carry no state: not a stateful step graph")
        state_in = {a for a, _ in self.pairs}
        feats = [s for s in backend.input_specs if s.name not in state_in]
        if len(feats) != 1 or len(feats[0].shape) != 4 or feats[0].shape[0] != 1:
            raise ValueError(f"expected one (1, C, T, F) feature input besides the state, got "
                             f"{[s.as_dict() for s in feats]}")
        spec = feats[0]
        self.input_name = spec.name
        self.label_hop = int(label_hop)
        if spec.shape[2] != self.label_hop:
            raise ValueError(f"the step graph takes {spec.shape[2]} feature frames per call, expected one hop "
                             f"({self.label_hop})")
        self.channels, self.bins = int(spec.shape[1]), int(spec.shape[3])
        self.time_axis = int(time_axis)
        self._state_specs = {s.name: s for s in backend.input_specs if s.name in state_in}
        next_names = {b for _, b in self.pairs}
        self.output_names = [n for n in backend.output_names if n not in next_names]
        self.state_layout = state_layout([(s.name, s.shape) for s in backend.input_specs if s.name in state_in])
        self.lookahead = 0
        # a backend that can keep the state on its device (TensorRT: buffers swapped each step) does so
        self.device_state = callable(getattr(backend, "run_step", None))
        self.reset()

    # -- the same surface as StreamingInference -------------------------------------------------
    def reset(self) -> None:
        """Forget the stream: zero state (offline left zero padding), no pending frames."""
        self._state: Dict[str, np.ndarray] = {n: np.zeros(s.shape, np.float32) for n, s in self._state_specs.items()}
        if self.device_state:
            self.backend.reset_state()
        self._pending = np.zeros((self.channels, 0, self.bins), np.float32)
        self._emitted = 0

    @property
    def latency_frames(self) -> int:
        return 0

    @property
    def window_seconds(self) -> float:
        """Network input per call: one hop (the history lives in the state)."""
        return self.label_hop * FEATURE_HOP_S

    @property
    def mode(self) -> str:
        return "incremental"

    def state(self) -> Dict[str, np.ndarray]:
        """A copy of the current state (for tests and checkpoints)."""
        if self.device_state:
            return self.backend.read_state()
        return {k: v.copy() for k, v in self._state.items()}

    def step(self, hop: np.ndarray) -> Dict[str, np.ndarray]:
        """One hop of features (C, 5, F) -> that label frame's outputs (batch dropped, (1, ...)); state advanced."""
        feats = np.ascontiguousarray(hop[None], np.float32)
        if self.device_state:
            out = self.backend.run_step({self.input_name: feats})
            return {n: np.moveaxis(out[n][0], self.time_axis - 1, 0) for n in self.output_names}
        inputs = dict(self._state)
        inputs[self.input_name] = feats
        out = self.backend.infer(inputs)
        for a, b in self.pairs:
            self._state[a] = out[b]
        return {n: np.moveaxis(out[n][0], self.time_axis - 1, 0) for n in self.output_names}

    def push(self, features: np.ndarray) -> Optional[StreamOutput]:
        """Add feature frames (C, n, F) or (1, C, n, F); one network call per completed hop."""
        f = feature_block(features, self.channels, self.bins)
        buf = np.concatenate([self._pending, f], axis=1) if self._pending.shape[1] else f
        n = buf.shape[1] // self.label_hop
        self._pending = np.array(buf[:, n * self.label_hop:], copy=True)
        if n == 0:
            return None
        parts = [self.step(buf[:, k * self.label_hop:(k + 1) * self.label_hop]) for k in range(n)]
        first = self._emitted
        self._emitted += n
        return StreamOutput(first, n, {name: np.concatenate([p[name] for p in parts]) for name in self.output_names})

    def flush(self) -> Optional[StreamOutput]:
        """End of stream: nothing is held back (no look-ahead); incomplete hops are dropped."""
        self._pending = self._pending[:, :0]
        return None

    def run_clip(self, features: np.ndarray, hop_frames: int = LABEL_HOP_FRAMES) -> Dict[str, np.ndarray]:
        """Stream a whole clip (C, T, F) and return every label frame's outputs, (T // 5, ...)."""
        self.reset()
        f = np.asarray(features, dtype=np.float32)
        if f.ndim == 4:
            f = f[0]
        parts = [o for s in range(0, f.shape[1], hop_frames) if (o := self.push(f[:, s:s + hop_frames])) is not None]
        if not parts:
            return {}
        return {n: np.concatenate([p.outputs[n] for p in parts]) for n in self.output_names}

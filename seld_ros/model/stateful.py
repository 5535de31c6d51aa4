"""The streaming step of a causal network as a fixed-shape module with explicit state I/O.

    inputs:  features (1, C, 5, F), state_<name> ...            one 100 ms hop + the state before it
    outputs: <network outputs> (1, 1, ...), next_state_<name> ... that label frame + the state after it

It follows the model contract the engine relies on (``input_names``, ``output_names``,
``example_inputs``, ``forward`` returning a tuple, ``config``), so the torch backend runs it and the
ONNX exporter exports it like any network; the engine's ``IncrementalInference`` swaps the state.
"""
from __future__ import annotations

import hashlib

import torch

from seld_ros.constants import LABEL_HOP_FRAMES

NEXT_PREFIX = "next_"


def state_layout(specs) -> str:
    """Digest of a state layout [(name, shape)]: '' for a stateless network."""
    if not specs:
        return ""
    text = ";".join(f"{n}:{'x'.join(str(int(d)) for d in s)}" for n, s in specs)
    return "v1-" + hashlib.sha256(text.encode()).hexdigest()[:16]


class StatefulStep(torch.nn.Module):
    """features (1, C, 5, F) + state tensors -> outputs of one label frame + next state tensors."""

    def __init__(self, net):
        super().__init__()
        if not (getattr(net, "config", {}) or {}).get("causal") or not hasattr(net, "step"):
            raise ValueError("StatefulStep needs a causal network (model.causal: true)")
        self.net = net
        self.config = dict(net.config, stateful_step=True)
        self.specs = [(n, tuple(int(d) for d in s)) for n, s in net.state_specs(1)]
        self.state_names = [n for n, _ in self.specs]
        self.input_names = list(net.input_names) + self.state_names
        self.output_names = list(net.output_names) + [NEXT_PREFIX + n for n in self.state_names]
        self.state_layout = state_layout(self.specs)
        self.config["state_layout"] = self.state_layout

    def example_inputs(self, batch: int = 1, frames: int = LABEL_HOP_FRAMES):
        if batch != 1:
            raise ValueError("the stateful step runs at batch 1")
        feats = self.net.example_inputs(1, frames)
        # a small random state: the export parity check then also covers the state path
        return tuple(feats) + tuple(0.1 * torch.randn(s) for _, s in self.specs)

    def forward(self, features, *state):
        outs, new_state = self.net.step(features, list(state))
        return tuple(outs) + tuple(new_state)

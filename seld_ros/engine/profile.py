"""Model cost: multiply-accumulates per block, counted by torch's FLOP counter."""
from __future__ import annotations


def count_macs(model, frames: int) -> dict:
    """{'macs': int, 'params': int, 'by_op': {...}} for one (1, C, frames, F) block on CPU fp32.

    Uses ``torch.utils.flop_counter.FlopCounterMode`` (matmul / conv / attention FLOPs; 1 MAC = 2 FLOPs).
    Element-wise ops (activations, norms, GRU gate non-linearities) are not counted.
    """
    import copy
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    m = copy.deepcopy(model).eval().to("cpu", torch.float32)
    x = m.example_inputs(1, frames)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        m(*x)
    by_op = {str(k): int(v) // 2 for k, v in counter.get_flop_counts().get("Global", {}).items()}
    return {"macs": int(counter.get_total_flops()) // 2, "params": sum(p.numel() for p in m.parameters()),
            "by_op": by_op}

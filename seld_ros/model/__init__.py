"""SELD networks, the PANNs-compatible backbone and model bundles.

Every network here exposes ``input_names``, ``output_names``,
``example_inputs(batch, frames)``, ``forward(*inputs) -> tuple`` and a
JSON-able ``config`` from which :func:`build_model` rebuilds it.
"""
from __future__ import annotations

import copy

from .at2seld import AT2SELD, default_at2seld_config
from .baseline import BaselineCRNN, default_baseline_config
from .panns import PannsBackbone, PannsError, backbone_config, load_panns_state_dict
from .two_branch import TwoBranchSELD, default_two_branch_config

MODEL_REGISTRY = {"at2seld": (AT2SELD, default_at2seld_config),
                  "dcase_baseline": (BaselineCRNN, default_baseline_config),
                  "two_branch": (TwoBranchSELD, default_two_branch_config)}


def full_config(config: dict) -> dict:
    """Fill a partial config (e.g. from YAML) with the defaults of its ``name``."""
    config = copy.deepcopy(dict(config))
    name = config.get("name", "at2seld")
    if name not in MODEL_REGISTRY:
        raise ValueError(f"unknown model name {name!r}; known: {sorted(MODEL_REGISTRY)}")
    _, default = MODEL_REGISTRY[name]
    rest = {k: v for k, v in config.items() if k != "name"}
    if name in ("at2seld", "two_branch") and isinstance(rest.get("backbone"), dict):
        b = dict(rest["backbone"])
        rest["backbone"] = backbone_config(b.pop("arch", "slim"), **b)
    return default(**rest)


def build_model(config: dict):
    """Build a network from its ``config`` dict (as stored in ``model.config``)."""
    config = full_config(config)
    cls, _ = MODEL_REGISTRY[config["name"]]
    return cls(config)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["AT2SELD", "BaselineCRNN", "TwoBranchSELD", "PannsBackbone", "PannsError", "backbone_config",
           "build_model", "full_config", "count_parameters", "default_at2seld_config",
           "default_baseline_config", "default_two_branch_config", "load_panns_state_dict"]

"""model.init_from: fine-tune from an earlier bundle (e.g. a non-causal default turned causal)."""
import pytest
import torch

from model_helpers import make_tiny_bundle, tiny_at2seld_config, tiny_causal_config
from seld_ros.model import build_model
from seld_ros.train.trainer import init_weights_from_bundle


def test_a_causal_network_takes_every_weight_of_a_non_causal_bundle(tmp_path):
    uni = {"kind": "gru", "d_model": 32, "layers": 1, "bidirectional": False, "heads": 2}
    src = make_tiny_bundle(tmp_path / "b.pt", seed=5, config=tiny_at2seld_config(temporal=uni))  # as the old default
    cfg = tiny_at2seld_config(causal=True, temporal=uni)
    torch.manual_seed(0)
    m = build_model(cfg)
    assert init_weights_from_bundle(m, str(src)).endswith("tensors")
    from seld_ros.model.bundle import load_bundle
    ref = load_bundle(str(src)).model.state_dict()
    for k, v in m.state_dict().items():
        assert torch.equal(v, ref[k]), k


def test_a_bundle_of_another_shape_is_refused_by_name(tmp_path):
    src = make_tiny_bundle(tmp_path / "b.pt", seed=5)  # bidirectional 1-layer GRU
    m = build_model(tiny_causal_config())  # unidirectional 2-layer GRU: other tensors
    with pytest.raises(ValueError, match="does not match.*missing"):
        init_weights_from_bundle(m, str(src))

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


def test_a_yamnet_network_starts_from_an_old_bundle_but_keeps_its_pretrained_yamnet(tmp_path):
    """init_from_skip: the spatial stream, GRU and heads of a CNN-semantic bundle seed a YAMNet AT2SELD; the old CNN
    and cross-stitch units are left out, YAMNet keeps its own weights, and any other mismatch is still refused."""
    from model_helpers import tiny_yamnet_config
    from seld_ros.model.bundle import load_bundle

    src = make_tiny_bundle(tmp_path / "old.pt", seed=5, causal=True)
    torch.manual_seed(1)
    # proj_dim 128: YAMNet's frame vector as wide as the tiny CNN's, so the fusion layer keeps its shape (as in the
    # full-size networks: both 128)
    m = build_model(tiny_yamnet_config(yamnet={"width": 0.125, "proj_dim": 128}))
    yamnet_before = {k: v.clone() for k, v in m.state_dict().items() if k.startswith("yamnet.")}
    with pytest.raises(ValueError, match="does not match"):
        init_weights_from_bundle(m, str(src))  # without skip the old CNN and the YAMNet stream differ
    report = init_weights_from_bundle(m, str(src), skip=("backbone.", "yamnet.", "stitch."))
    assert "kept as they were" in report
    ref = load_bundle(str(src)).model.state_dict()
    copied = [k for k in m.state_dict() if not k.startswith("yamnet.")]
    assert copied and all(torch.equal(m.state_dict()[k], ref[k]) for k in copied)
    assert all(torch.equal(m.state_dict()[k], v) for k, v in yamnet_before.items())
    with pytest.raises(ValueError, match="does not match"):
        init_weights_from_bundle(m, str(src), skip=("yamnet.",))  # the old CNN's tensors are not skipped

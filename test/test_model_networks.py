"""Shapes, gradients and rebuild-from-config for every network / head mode."""
import pytest
import torch

from seld_ros.model import build_model, count_parameters

torch.set_num_threads(1)

TINY_BB = {"arch": "slim", "channels": [4, 8], "emb_dim": 16, "time_pool": [5, 1], "freq_pool": [4, 4],
           "num_at_classes": 5}
CASES = {
    "trackwise": {"backbone": TINY_BB, "spatial_channels": [4, 8], "fusion": {"after_blocks": [1, 2]},
                  "temporal": {"d_model": 16, "layers": 1}, "head": {"hidden": 16}},
    "trackwise_flatten_causal": {"backbone": TINY_BB, "spatial_channels": [4, 8], "spatial_pool": "flatten",
                                 "temporal": {"d_model": 16, "layers": 1, "bidirectional": False},
                                 "head": {"hidden": 16}},
    "trackwise_nodist_conformer": {"backbone": TINY_BB, "spatial_channels": [4, 8],
                                   "temporal": {"kind": "conformer", "d_model": 16, "layers": 1, "heads": 2},
                                   "head": {"distance": False, "hidden": 16}},
    "multi_accdoa": {"backbone": TINY_BB, "spatial_channels": [4, 8], "temporal": {"d_model": 16, "layers": 1},
                     "head": {"mode": "multi_accdoa", "hidden": 16}},
    "early_fusion": {"backbone": TINY_BB, "fusion": {"mode": "early"}, "temporal": {"d_model": 16, "layers": 1},
                     "head": {"hidden": 16}},
    "baseline": {"name": "dcase_baseline", "conv_channels": 8, "rnn_size": 16, "attn_heads": 2,
                 "fnn_size": 16, "in_channels": 13},
    "baseline_trackwise_dist": {"name": "dcase_baseline", "conv_channels": 8, "rnn_size": 16, "attn_heads": 2,
                                "fnn_size": 16, "head": {"mode": "trackwise", "num_tracks": 3, "distance": True}},
}
EXPECT = {"activity_logits": lambda B, L, N, K: (B, L, N, K), "doa": lambda B, L, N, K: (B, L, N, 3),
          "accdoa": lambda B, L, N, K: (B, L, N, K, 3)}


@pytest.mark.parametrize("name", sorted(CASES))
def test_shapes_and_gradients(name):
    torch.manual_seed(0)
    m = build_model(CASES[name])
    m.train()
    (x,) = m.example_inputs(2, 20)
    outs = m(x)
    assert isinstance(outs, tuple) and len(outs) == len(m.output_names)
    K, N = m.config["num_classes"], m.config["head"]["num_tracks"]
    for nm, o in zip(m.output_names, outs):
        if nm == "distance":
            exp = (2, 4, N) if m.config["head"]["mode"] == "trackwise" else (2, 4, N, K)
        else:
            exp = EXPECT[nm](2, 4, N, K)
        assert tuple(o.shape) == exp, (nm, o.shape)
        assert torch.isfinite(o).all()
    if "doa" in m.output_names:
        doa = outs[m.output_names.index("doa")]
        assert torch.allclose(doa.norm(dim=-1), torch.ones(doa.shape[:-1]), atol=1e-3)
    sum(o.float().pow(2).mean() for o in outs).backward()
    grads = [p.grad for p in m.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    # config is JSON-able and rebuilds the same architecture
    import json
    m2 = build_model(json.loads(json.dumps(m.config)))
    m2.load_state_dict(m.state_dict(), strict=True)
    assert count_parameters(m2) == count_parameters(m)


def test_spatial_pool_flatten_keeps_frequency_and_rejects_unknown():
    m = build_model(CASES["trackwise_flatten_causal"])
    # 8 channels x (64 mel / 4 / 4) bins reach the fusion layer, next to the 16-d semantic embedding
    assert m.pre[0].in_features == 16 + 8 * 4
    with pytest.raises(ValueError, match="spatial_pool"):
        build_model({**CASES["trackwise"], "spatial_pool": "sum"})


def test_default_models_sizes():
    a = build_model({})
    b = build_model({"name": "dcase_baseline"})
    assert count_parameters(a) < 2_000_000           # shipped model stays a few MB
    assert 0.70e6 < count_parameters(b) < 0.78e6     # DCASE baseline ~0.74 M


def test_frozen_backbone_has_no_grads():
    m = build_model({**CASES["trackwise"], "backbone_train": "frozen"})
    m.train()
    assert not m.backbone.bn0.training
    assert all(not p.requires_grad for p in m.backbone.parameters())
    assert any(p.requires_grad for p in m.spatial.parameters())
    m = build_model({**CASES["trackwise"], "backbone_train": "partial", "backbone_trainable_blocks": 1})
    assert any(p.requires_grad for p in m.backbone.conv_block2.parameters())
    assert not any(p.requires_grad for p in m.backbone.conv_block1.parameters())


def test_onnx_export_fixed_frames(tmp_path):
    pytest.importorskip("onnx")
    m = build_model(CASES["trackwise"]).eval()
    x = m.example_inputs(1, 20)
    try:
        torch.onnx.export(m, x, str(tmp_path / "m.onnx"), input_names=m.input_names,
                          output_names=m.output_names, dynamo=False)
    except TypeError:
        torch.onnx.export(m, x, str(tmp_path / "m.onnx"), input_names=m.input_names,
                          output_names=m.output_names)
    assert (tmp_path / "m.onnx").stat().st_size > 0

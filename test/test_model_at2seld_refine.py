"""AT2SELD with ``refine: {kind: yamnet}``: YAMNet beside a whole PANNs-style network (random narrow YAMNet, no wheel
needed). A refined network starts exactly as its base, trains only the refinement, streams exactly like offline
through the pipeline (torch and onnxruntime) and exports its one-hop step with YAMNet's window in the state."""
from __future__ import annotations

import pytest
import torch

from model_helpers import make_tiny_yamnet_bundle, tiny_causal_config
from seld_ros.features.config import FeatureConfig
from seld_ros.features.foa import FoaFeatures
from seld_ros.model import build_model
from seld_ros.model.yamnet_stream import YAMNET_CONTEXT_FRAMES
from seld_ros.pipeline import PipelineConfig, SeldPipeline
from seld_ros.train.trainer import network_config
from test_engine_incremental import assert_streams_like_offline, audio, export_step_and_compare, offline_outputs

torch.set_num_threads(1)
SPATIAL = FeatureConfig(feature_set="logmel+iv+phase", yamnet=True).spatial_channels


def refine_config(**over) -> dict:
    over = {"in_channels": SPATIAL, "refine": {"kind": "yamnet"}, "yamnet": {"width": 0.125, "proj_dim": 16}, **over}
    return tiny_causal_config(**over)


def test_a_refined_network_starts_as_its_base_and_trains_only_the_refinement():
    torch.manual_seed(0)
    base = build_model(tiny_causal_config(in_channels=SPATIAL)).eval()
    refined = build_model(refine_config())
    report = refined.load_state_dict(base.state_dict(), strict=False)
    assert not report.unexpected_keys
    assert all(k.startswith(("yamnet.", "refine.")) for k in report.missing_keys)
    feats = torch.from_numpy(FoaFeatures(FeatureConfig(feature_set="logmel+iv+phase", yamnet=True))
                             .compute(audio(1.0, seed=1))[None])
    refined.eval()
    with torch.no_grad():
        for a, b in zip(base(feats[:, :SPATIAL]), refined(feats)):
            assert torch.equal(a, b)  # the zero offset layer: the base's outputs exactly
    refined.train()
    trainable = {n.split(".")[0] for n, p in refined.named_parameters() if p.requires_grad}
    assert trainable == {"yamnet", "refine"}
    assert not any(p.requires_grad for p in refined.yamnet.net.parameters())  # YAMNet itself stays frozen
    assert not refined.backbone.training and not refined.head.training and refined.refine.training
    # training moves the activity logits only: directions and distances stay the base's
    opt = torch.optim.SGD([p for p in refined.parameters() if p.requires_grad], lr=0.5)
    act, doa, dist = refined(feats)
    (act.sigmoid().sum()).backward()
    opt.step()
    refined.eval()
    with torch.no_grad():
        out, ref = refined(feats), base(feats[:, :SPATIAL])
    assert float((out[0] - ref[0]).abs().max()) > 1e-3
    assert torch.equal(out[1], ref[1]) and torch.equal(out[2], ref[2])


def test_refine_configs_that_cannot_work_are_rejected():
    with pytest.raises(ValueError, match="refine"):
        build_model(refine_config(refine={"kind": "panns"}))
    with pytest.raises(ValueError, match="causal"):
        build_model(refine_config(causal=False, temporal={"kind": "gru", "d_model": 32, "layers": 2,
                                                          "bidirectional": True, "heads": 2}))
    with pytest.raises(ValueError, match="yamnet: true"):
        network_config({"name": "at2seld", "refine": {"kind": "yamnet"}}, FeatureConfig(), 13)


@pytest.fixture(scope="module")
def refined_bundle(tmp_path_factory):
    torch.manual_seed(3)
    model = build_model(refine_config()).eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.refine.weight, std=0.2)  # a refinement that changes the outputs
    return make_tiny_yamnet_bundle(tmp_path_factory.mktemp("refine") / "refined.pt", seed=3, model=model)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_pipeline_streams_a_refined_bundle_exactly_like_offline(refined_bundle, tmp_path_factory, backend):
    x = audio(2.4, seed=2)
    ref = offline_outputs(refined_bundle, x)
    pipe = SeldPipeline(PipelineConfig(model_file_path=str(refined_bundle), backend=backend,
                                       onnx_cache_dir=str(tmp_path_factory.mktemp("onnx"))))
    assert pipe.mode == "incremental"
    assert pipe._backend.input_specs[0].shape == (1, SPATIAL + 2, 5, 64)
    assert_streams_like_offline(pipe, x, ref, sample_by_sample=False)


def test_exported_refined_step_carries_the_yamnet_window_and_matches_torch(tmp_path):
    torch.manual_seed(1)
    m = build_model(refine_config()).eval()
    with torch.no_grad():
        torch.nn.init.normal_(m.refine.weight, std=0.2)
    feats = FoaFeatures(FeatureConfig(feature_set="logmel+iv+phase", yamnet=True)).compute(audio(1.6, seed=3))
    rep, _ = export_step_and_compare(m, feats, tmp_path / "step.onnx")
    assert rep.input_shapes["state_yamnet"] == [1, 1, YAMNET_CONTEXT_FRAMES, 64]
    assert rep.input_shapes["features"] == [1, SPATIAL + 2, 5, 64]
    assert "next_state_yamnet" in rep.output_names

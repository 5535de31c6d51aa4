"""AT2SELD with the YAMNet semantic stream (random narrow YAMNet, no wheel needed): feature channels, streaming =
offline through the pipeline (torch and onnxruntime), the exported one-hop step with its YAMNet state, old bundles."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from model_helpers import make_tiny_bundle, make_tiny_yamnet_bundle, tiny_causal_config, tiny_yamnet_config
from seld_ros.engine.incremental import is_causal
from seld_ros.features.config import FeatureConfig, FeatureConfigError
from seld_ros.features.foa import FoaFeatures, StreamingFoaFeatures
from seld_ros.features.yamnet import SILENCE_LOG_MEL, yamnet_log_mel
from seld_ros.model import build_model
from seld_ros.model.bundle import load_bundle
from seld_ros.model.yamnet_stream import YAMNET_CONTEXT_FRAMES
from seld_ros.pipeline import PipelineConfig, SeldPipeline
from test_engine_incremental import assert_streams_like_offline, audio, export_step_and_compare, offline_outputs

RATE = 24000
TOL = 1e-4
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def yamnet_bundle(tmp_path_factory):
    return make_tiny_yamnet_bundle(tmp_path_factory.mktemp("yamnet") / "yamnet.pt", seed=4)


def test_yamnet_channels_are_the_front_ends_frames_two_per_feature_frame_and_stream_exactly():
    cfg = FeatureConfig(yamnet=True)
    assert cfg.num_channels == 15 and cfg.spatial_channels == 13 and cfg.yamnet_channels == (13, 14)
    x = audio(1.37, seed=1)
    feats = FoaFeatures(cfg).compute(x)
    spatial = FoaFeatures(FeatureConfig()).compute(x)
    frames = yamnet_log_mel(x[0])
    T = spatial.shape[1]
    assert feats.shape == (15, T, 64)
    np.testing.assert_array_equal(feats[:13], spatial)
    # feature frame t holds YAMNet frames 2t - 1 (channel 13) and 2t (channel 14); frame -1 is silence
    np.testing.assert_array_equal(feats[13, 1:], frames[1:2 * T - 2:2])
    np.testing.assert_array_equal(feats[14], frames[0:2 * T:2])
    assert np.all(feats[13, 0] == np.float32(SILENCE_LOG_MEL))
    # streaming equals batch for any chunking, and every feature frame comes out as soon as its FOA audio is in
    for size in (1, 161, 480, 2400, 7919):
        xs = x if size > 1 else x[:, :4000]
        s = StreamingFoaFeatures(cfg)
        parts = [s.push(xs[:, i:i + size]) for i in range(0, xs.shape[1], size)]
        got = np.concatenate(parts, axis=1)
        assert got.shape == (15, xs.shape[1] // 480, 64), size
        assert float(np.max(np.abs(got - FoaFeatures(cfg).compute(xs)))) <= 1e-4, size


def test_feature_config_without_yamnet_is_unchanged_and_bad_values_are_rejected():
    old = {"sample_rate": 24000, "hop_length": 480, "win_length": 960, "n_fft": 1024, "n_mels": 64, "fmin": 0.0,
           "fmax": None, "feature_set": "logmel+iv+phase", "label_hop_length": 2400, "amin": 1e-10}
    assert FeatureConfig().to_dict() == old  # bundle dicts and feature-cache hashes as before the switch
    assert FeatureConfig.from_dict(old).num_channels == 13
    assert FeatureConfig.from_dict({**old, "yamnet": True}).to_dict()["yamnet"] is True
    with pytest.raises(FeatureConfigError, match="yamnet must be true or false"):
        FeatureConfig(yamnet="yes")
    with pytest.raises(FeatureConfigError, match="yamnet: true needs"):
        FeatureConfig(yamnet=True, hop_length=240, win_length=480, label_hop_length=2400)


def test_step_over_hops_equals_forward_with_the_yamnet_window_in_the_state():
    torch.manual_seed(0)
    m = build_model(tiny_yamnet_config()).eval()
    assert is_causal(m) and m.input_channels == 15
    names = [n for n, _ in m.state_specs()]
    assert names[-2:] == ["state_yamnet", "state_gru"] and not any(n.startswith("state_b") for n in names)
    assert dict(m.state_specs())["state_yamnet"] == (1, 1, YAMNET_CONTEXT_FRAMES, 64)
    x = torch.randn(1, 15, 60, 64)
    with torch.inference_mode():
        off = m(x)
        state, steps = m.initial_state(), []
        for k in range(12):
            out, state = m.step(x[:, :, 5 * k:5 * k + 5], state)
            steps.append(out)
    for i, name in enumerate(m.output_names):
        assert float((torch.cat([s[i] for s in steps], dim=1) - off[i]).abs().max()) <= TOL, name
    # the carried window is the last 86 YAMNet frames themselves (relative to silence)
    frames = x[0, 13:15].permute(1, 0, 2).reshape(-1, 64)
    assert float((state[-2][0, 0] - (frames[-YAMNET_CONTEXT_FRAMES:] - SILENCE_LOG_MEL)).abs().max()) <= 1e-5
    # a YAMNet frame older than 0.96 s no longer matters; a newer one does; causal throughout
    y = x.clone()
    y[:, 13:15, :5] += 3.0  # YAMNet frames 0..9: in the windows of label frames 0..9 only

    def per_hop(features):
        yam = m.yamnet
        wins, _ = yam.windows(yam.frames_of(features[:, 13:15]), torch.zeros(1, 1, YAMNET_CONTEXT_FRAMES, 64))
        return yam.encode(wins)[0]

    with torch.inference_mode():
        a, b = m(x)[0], m(y)[0]
        sem_x, sem_y = per_hop(x), per_hop(y)
    assert sem_x.shape == (12, m.yamnet.raw_dim)
    assert all(float((sem_x[k] - sem_y[k]).abs().max()) > 1e-4 for k in range(10))
    assert float((sem_x[10:] - sem_y[10:]).abs().max()) == 0.0
    z = x.clone()
    z[:, :, 30:] += 1.0
    with torch.inference_mode():
        c = m(z)[0]
    assert float((a[:, :6] - c[:, :6]).abs().max()) == 0.0


def test_yamnet_configs_that_cannot_work_are_rejected():
    with pytest.raises(ValueError, match="needs causal: true"):
        build_model(tiny_yamnet_config(causal=False, temporal={"kind": "gru", "d_model": 32, "layers": 1,
                                                               "bidirectional": False}))
    with pytest.raises(ValueError, match="fusion.mode early"):
        build_model(tiny_yamnet_config(fusion={"mode": "early"}))
    with pytest.raises(ValueError, match="yamnet.train"):
        build_model(tiny_yamnet_config(yamnet={"width": 0.125, "train": "some"}))
    with pytest.raises(ValueError, match="semantic"):
        build_model(tiny_causal_config(semantic="vggish"))


def test_training_modes_fix_the_right_yamnet_layers():
    frozen = build_model(tiny_yamnet_config())
    assert not any(p.requires_grad for p in frozen.yamnet.net.parameters())
    assert all(p.requires_grad for p in frozen.yamnet.proj.parameters())
    partial = build_model(tiny_yamnet_config(yamnet={"width": 0.125, "train": "partial", "trainable_layers": 2}))
    trainable = {n.rsplit(".", 1)[0] for n, p in partial.yamnet.net.named_parameters() if p.requires_grad}
    assert trainable == {"layers.12.depthwise", "layers.12.pointwise", "layers.13.depthwise",
                         "layers.13.pointwise", "classifier"}
    assert partial.yamnet.encoded_shape() == (partial.yamnet.net.layer_channels[11], 6, 4)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_pipeline_streams_a_yamnet_bundle_exactly_like_offline(yamnet_bundle, tmp_path_factory, backend, caplog):
    x = audio(2.4, seed=2)
    ref = offline_outputs(yamnet_bundle, x)
    with caplog.at_level(logging.INFO, logger="seld_ros"):
        pipe = SeldPipeline(PipelineConfig(model_file_path=str(yamnet_bundle), backend=backend,
                                           onnx_cache_dir=str(tmp_path_factory.mktemp("onnx"))))
    assert pipe.mode == "incremental" and "inference mode: incremental" in caplog.text
    assert pipe._backend.input_specs[0].shape == (1, 15, 5, 64)
    # every label frame as soon as its audio is in: the YAMNet channels never hold one back
    assert_streams_like_offline(pipe, x, ref, sample_by_sample=backend == "torch")


def test_exported_step_carries_the_yamnet_window_and_matches_torch(tmp_path):
    torch.manual_seed(1)
    m = build_model(tiny_yamnet_config()).eval()
    feats = FoaFeatures(FeatureConfig(yamnet=True)).compute(audio(1.6, seed=3))  # real YAMNet log-mel, 16 hops
    rep, _ = export_step_and_compare(m, feats, tmp_path / "step.onnx")
    assert rep.input_shapes["features"] == [1, 15, 5, 64]
    assert rep.input_shapes["state_yamnet"] == [1, 1, YAMNET_CONTEXT_FRAMES, 64]
    assert "next_state_yamnet" in rep.output_names


def test_bundles_without_yamnet_load_and_run_as_before(tmp_path):
    path = make_tiny_bundle(tmp_path / "old.pt", seed=1, causal=True)
    raw = torch.load(str(path), weights_only=True)
    assert "yamnet" not in raw["feature_config"]
    b = load_bundle(str(path))
    assert b.model.yamnet is None and b.model.input_channels == 13
    assert b.model.config["semantic"] == "panns"
    assert [n for n, _ in b.model.state_specs()][0] == "state_b1c1"
    # a model_config saved before the semantic switch existed builds the same network
    old_cfg = {k: v for k, v in b.model_config.items() if k not in ("semantic", "yamnet")}
    rebuilt = build_model(old_cfg)
    rebuilt.load_state_dict(b.model.state_dict(), strict=True)


@pytest.mark.parametrize("train", ["frozen", "partial", "all"])
def test_cached_fixed_part_then_trainable_part_equals_yamnet_live(train):
    """What the cache stores (encode) finished by the trainable layers (decode) is YAMNet run whole."""
    torch.manual_seed(2)
    m = build_model(tiny_yamnet_config(yamnet={"width": 0.125, "proj_dim": 16, "train": train,
                                               "trainable_layers": 3})).eval()
    x = torch.randn(2, 15, 20, 64)
    with torch.inference_mode():
        wins, _ = m.yamnet.windows(m.yamnet.frames_of(x[:, 13:15]), torch.zeros(2, 1, YAMNET_CONTEXT_FRAMES, 64))
        encoded = m.yamnet.encode(wins)
        assert tuple(encoded.shape[2:]) == m.yamnet.encoded_shape()
        logits, emb = m.yamnet.net(wins.reshape(8, 1, 96, 64))
        whole = torch.cat([emb, logits], dim=1).reshape(2, 4, -1)
        assert float((m.yamnet.decode(encoded) - whole).abs().max()) <= 1e-5
        live, cached = m(x), m(x, semantic=encoded)
    for a, b in zip(live, cached):
        assert float((a - b).abs().max()) <= 1e-5
    with pytest.raises(ValueError, match="semantic= is for networks with YAMNet"):
        build_model(tiny_causal_config())(torch.randn(1, 13, 5, 64), semantic=encoded[:1, :1])

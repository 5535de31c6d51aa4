"""Stereo SELD (issue 17), the model/data half: the stereo training data path (stereo variant of a rendered FOA set,
DCASE 2025 labels, feature cache), stereo augmentation on arrays, the three stereo networks (shapes, ONNX export
with parity) and a tiny stereo network that must overfit three clips end to end (cache -> train -> calibrate ->
bundle)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from test_train_overfit import CLASSES, make_dataset

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def stereo_root(tmp_path_factory):
    from seld_ros.data.synth import write_stereo_variant

    root = tmp_path_factory.mktemp("stereo_data")
    clips = make_dataset(root)
    for split in ("train", "val"):
        assert write_stereo_variant(root, split) == len(clips)
    return root, clips


def test_stereo_variant_audio_and_folded_labels(stereo_root):
    from seld_ros.data.dcase import iter_dataset, read_wav
    from seld_ros.data.geometry import xyz_to_azel

    root, clips = stereo_root
    items = list(iter_dataset(root, "train", fmt="dcase2025", audio_prefix="stereo",
                              metadata_prefix="metadata_stereo", class_names=CLASSES))
    assert [name for name, _, _ in items] == [name for name, _, _ in clips]
    for (name, wav, lab), (_, foa, ref) in zip(items, clips):
        stereo, _ = read_wav(wav)
        np.testing.assert_allclose(stereo[0] + stereo[1], foa[0], atol=1e-6)      # L + R = W
        np.testing.assert_allclose(stereo[0] - stereo[1], foa[1], atol=1e-6)      # L - R = Y
        lab = lab.with_num_frames(ref.num_frames)  # the CSV ends at the last active frame
        act = lab.active
        np.testing.assert_array_equal(act, ref.active)
        assert np.all(lab.doa[act][:, 0] >= -1e-6) and np.all(lab.doa[act][:, 2] == 0)   # front half, z = 0
        az_ref, _ = xyz_to_azel(ref.doa[act])
        az, _ = xyz_to_azel(lab.doa[act])
        folded = np.where(az_ref > 90, 180 - az_ref, np.where(az_ref < -90, -180 - az_ref, az_ref))
        assert np.abs(az - folded).max() <= 1.0                                       # integer-degree CSV
        np.testing.assert_allclose(lab.distance[act], 2.0)


def test_stereo_cache_holds_stereo_features_and_folded_targets(stereo_root, capsys):
    from seld_ros.features.config import StereoFeatureConfig
    from seld_ros.train.dataset import build_cache, load_cached

    root, _ = stereo_root
    fc = StereoFeatureConfig().to_dict()
    clips = load_cached(build_cache(root, "train", fc, CLASSES, progress=True))
    # a first-time step says what it does (issue 25); a second run finds the cache and says nothing
    assert "computing features of 3 train clips once (cached in" in capsys.readouterr().out
    build_cache(root, "train", fc, CLASSES, progress=True)
    assert "computing features" not in capsys.readouterr().out
    assert len(clips) == 3
    for c in clips:
        assert c.features.shape == (8, 5 * 40, 64) and c.class_id.shape[0] == 40
        act = c.class_id >= 0
        assert act.any() and np.all(c.doa[act][:, 0] >= -1e-6) and np.all(c.doa[act][:, 2] == 0)
    # the ablation's config (no stpACC) gets its own cache with 6 channels
    fc6 = StereoFeatureConfig(stpacc=False).to_dict()
    c6 = load_cached(build_cache(root, "train", fc6, CLASSES, progress=False))
    assert c6[0].features.shape[0] == 6
    np.testing.assert_array_equal(c6[0].features, clips[0].features[:6])


def test_stereo_augment_swap_gain_eq_and_no_acs():
    from seld_ros.features.config import StereoFeatureConfig
    from seld_ros.features.stereo import swap_stereo_features
    from seld_ros.train.augment import MIRROR_Y, StereoFeatureAugment

    cfg = StereoFeatureConfig()
    feats = np.random.default_rng(0).standard_normal((8, 50, 64)).astype(np.float32)
    # swap only: exactly the swapped features, DOA mirror y -> -y
    out, R = StereoFeatureAugment({"swap_prob": 1.0, "specaug": False}, cfg, np.random.default_rng(1))(feats)
    np.testing.assert_array_equal(out, swap_stereo_features(feats, cfg))
    np.testing.assert_array_equal(R, MIRROR_Y)
    doa = np.array([np.cos(0.5), np.sin(0.5), 0.0], np.float32)
    assert np.allclose(R @ doa, [np.cos(-0.5), np.sin(-0.5), 0.0])
    out, R = StereoFeatureAugment({"swap": False, "specaug": False}, cfg, np.random.default_rng(1))(feats)
    np.testing.assert_array_equal(out, feats)
    np.testing.assert_array_equal(R, np.eye(3))
    # gain + EQ move the mid/L/R log-mels by the same per-band curve; ILD, IPD and stpACC untouched
    out, _ = StereoFeatureAugment({"swap": False, "specaug": False, "gain_db": 6.0, "eq_db": 3.0}, cfg,
                                  np.random.default_rng(2))(feats)
    shift = out[:3] - feats[:3]
    assert np.ptp(shift[0][0]) > 0.1                                          # a curve over frequency, not a constant
    np.testing.assert_allclose(shift, np.broadcast_to(shift[0, :1], shift.shape), atol=1e-5)
    np.testing.assert_array_equal(out[3:], feats[3:])
    # time masks fill whole frames of every channel
    out, _ = StereoFeatureAugment({"swap": False, "time_masks": 1, "time_mask_width": 10, "freq_masks": 0}, cfg,
                                  np.random.default_rng(3))(feats)
    changed = np.any(out != feats, axis=(0, 2))
    assert 0 < changed.sum() <= 10


def test_stereo_chunks_mirror_their_targets_when_swapped(stereo_root):
    from seld_ros.features.config import StereoFeatureConfig
    from seld_ros.features.stereo import swap_stereo_features
    from seld_ros.train.dataset import SeldChunks, build_cache, load_cached

    root, _ = stereo_root
    cfg = StereoFeatureConfig()
    clips = load_cached(build_cache(root, "train", cfg.to_dict(), CLASSES, progress=False))
    kw = dict(num_classes=3, num_tracks=3, chunk_labels=40, train=True, seed=0, chunks_per_epoch=4,
              feature_config=cfg)
    plain = SeldChunks(clips, augment={"swap": False, "specaug": False}, **kw)
    swapped = SeldChunks(clips, augment={"swap_prob": 1.0, "specaug": False}, **kw)
    for i in range(4):
        a, b = plain[i], swapped[i]
        np.testing.assert_allclose(b["features"].numpy(), swap_stereo_features(a["features"].numpy(), cfg))
        np.testing.assert_allclose(b["doa"][..., 1].numpy(), -a["doa"][..., 1].numpy())
        np.testing.assert_allclose(b["doa"][..., [0, 2]].numpy(), a["doa"][..., [0, 2]].numpy())
    with pytest.raises(ValueError, match="stereo feature config has 6 channels, the clips 8"):
        SeldChunks(clips, augment={}, **{**kw, "feature_config": StereoFeatureConfig(stpacc=False)})


def _tiny_stereo_models():
    from seld_ros.model.panns import backbone_config

    bb = backbone_config("slim", channels=[8, 16], emb_dim=32, time_pool=[5, 1], freq_pool=[4, 4],
                         num_at_classes=3)
    return {
        "at2seld": {"name": "at2seld", "backbone": bb, "spatial_channels": [8, 16], "causal": True,
                    "temporal": {"kind": "gru", "d_model": 32, "layers": 1, "bidirectional": False},
                    "head": {"mode": "trackwise", "num_tracks": 3, "distance": True, "hidden": 32}},
        "two_branch": {"name": "two_branch", "backbone": bb, "detector": {"d_model": 32, "layers": 1},
                       "localiser": {"channels": [8, 16], "d_model": 32, "layers": 1, "heads": 2}},
        "dcase_baseline": {"name": "dcase_baseline", "conv_channels": 16, "rnn_size": 32, "attn_heads": 2,
                           "fnn_size": 32, "head": {"mode": "multi_accdoa", "num_tracks": 3, "distance": True}},
    }


@pytest.mark.parametrize("name", ["at2seld", "two_branch", "dcase_baseline"])
def test_stereo_networks_shapes_and_onnx_export(name, tmp_path):
    from seld_ros.engine.export import export_onnx
    from seld_ros.model import build_model

    cfg = {**_tiny_stereo_models()[name], "in_channels": 8, "num_classes": 3}
    model = build_model(cfg).eval()
    (x,) = model.example_inputs(2, 50)
    with torch.no_grad():
        outs = dict(zip(model.output_names, model(x)))
    if name == "at2seld":
        assert outs["activity_logits"].shape == (2, 10, 3, 3) and outs["doa"].shape == (2, 10, 3, 3)
        assert outs["distance"].shape == (2, 10, 3)
    else:
        assert outs["accdoa"].shape == (2, 10, 3, 3, 3) and outs["distance"].shape == (2, 10, 3, 3)
        assert float(outs["accdoa"].norm(dim=-1).max()) <= 1.0 + 1e-5 or name == "dcase_baseline"
    assert float(outs["distance"].min()) >= 0.0                                   # softplus metres
    report = export_onnx(model, str(tmp_path / f"{name}.onnx"), 20)
    assert (tmp_path / f"{name}.onnx").exists() and report.max_abs_diff <= 1e-3


def test_two_branch_rejects_a_layout_it_cannot_combine():
    from seld_ros.model import build_model

    with pytest.raises(ValueError, match="two_branch: head.mode must be multi_accdoa with distance: true"):
        build_model({"name": "two_branch", "head": {"mode": "trackwise", "num_tracks": 3, "distance": True}})


def test_tiny_stereo_two_branch_overfits_three_clips(stereo_root, tmp_path):
    from seld_ros.model.bundle import load_bundle
    from seld_ros.train.trainer import DEFAULTS, Trainer, merge

    root, _ = stereo_root
    model = _tiny_stereo_models()["two_branch"]
    cfg = merge(DEFAULTS, {
        "data": {"root": str(root), "train_split": "train", "val_split": "val", "class_names": CLASSES,
                 "features": {"front_end": "stereo"}, "chunk_seconds": 4.0},
        "model": {**model, "dropout": 0.0},
        "training": {"out_dir": str(tmp_path / "run"), "epochs": 60, "batch_size": 3, "lr": 5e-3,
                     "chunks_per_epoch": 3, "warmup_epochs": 0, "seed": 0, "progress": False, "threads": 1,
                     "loss": {"w_dist": 0.5}, "augment": {"enabled": False}, "select_metric": "macro_f_grid"},
        "inference": {"calibrate": True}})
    tr = Trainer(cfg, command="pytest", log=lambda *a: None)
    assert tr.metric_mode == "dcase2025"
    tr.fit()
    res = tr.finalize()
    val = res["metrics"]["val_calibrated"]
    assert val["macro_f"] > 0.8, val
    b = load_bundle(res["bundle"])
    assert b.front_end == "stereo" and b.doa_front_folded and b.make_feature_config().num_channels == 8
    assert b.output_names == ["accdoa", "distance"]


def test_shipped_stereo_default_bundle_loads_and_detects_a_clip():
    """seld_ros/models/stereo_default.pt: a stereo two-branch bundle whose network runs on stereo features and whose
    distance and direction outputs are in range (front half-plane after the decoder)."""
    from pathlib import Path

    from seld_ros.features import make_extractor
    from seld_ros.model.bundle import load_bundle

    path = Path(__file__).resolve().parents[1] / "seld_ros" / "models" / "stereo_default.pt"
    b = load_bundle(str(path))
    assert b.front_end == "stereo" and b.doa_front_folded and b.model_config["name"] == "two_branch"
    fcfg = b.make_feature_config()
    assert fcfg.num_channels == 8 == b.model_config["in_channels"] and fcfg.stpacc
    rng = np.random.default_rng(0)
    s = rng.standard_normal(2 * fcfg.sample_rate).astype(np.float32) * 0.1
    feats = make_extractor(fcfg).compute(np.stack([s, 0.5 * s]))               # louder left: a source at +y
    with torch.no_grad():
        acc, dist = b.model(torch.from_numpy(feats[None]))
    assert acc.shape == (1, 20, 3, 13, 3) and dist.shape == (1, 20, 3, 13)
    assert float(acc.norm(dim=-1).max()) <= 1.0 + 1e-5 and float(dist.min()) >= 0.0
    frames = b.make_decoder().decode({"accdoa": acc[0].numpy(), "distance": dist[0].numpy()})
    events = [e for f in frames for e in f]
    assert events                                                            # noise is something to this model
    doa = np.array([e.doa for e in events])
    assert np.all(doa[:, 0] >= -1e-6) and np.all(np.abs(doa[:, 2]) < 1e-6)   # front-folded, z = 0
    assert doa[:, 1].mean() > 0.05                                           # 6 dB louder left: placed left (+y)

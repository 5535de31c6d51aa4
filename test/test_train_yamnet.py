"""Training AT2SELD with the YAMNet semantic stream on a tiny generated FOA dataset (a narrow random YAMNet saved
as a converted-weights file on the spot; no wheel needed): the per-scene YAMNet cache, training on it gives the same
loss as running the frozen YAMNet live, gain augmentation from the cached gains, the bundle's provenance."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from test_train_overfit import CLASSES, make_dataset

torch.set_num_threads(1)
GAINS = [-10.0, 0.0, 10.0]


def write_converted_yamnet(path, seed=0, width=0.125):
    """A file in the format `seld-pretrained fetch yamnet` writes, holding a narrow random YAMNet."""
    from seld_ros.model.yamnet import YAMNet
    torch.manual_seed(seed)
    net = YAMNet(num_classes=521, width=width)
    torch.save({"format": "seld_ros.yamnet/1", "state_dict": net.state_dict(),
                "config": {"num_classes": 521, "width": width},
                "class_names": [f"c{i}" for i in range(521)], "class_mids": [f"/m/{i}" for i in range(521)],
                "provenance": {"model": "test YAMNet, random weights", "licence": {"weights": "Apache-2.0"}}},
               str(path))
    return net


def yamnet_cfg(root, out, yam_file, **training):
    return {
        "data": {"root": str(root), "train_split": "train", "val_split": "val", "class_names": CLASSES,
                 "features": {"feature_set": "logmel+iv", "yamnet": True}, "chunk_seconds": 2.0},
        "model": {"name": "at2seld", "semantic": "yamnet", "causal": True, "pretrained_yamnet": str(yam_file),
                  "yamnet": {"width": 0.125, "proj_dim": 16, "train": "frozen"},
                  "spatial_channels": [8, 16],
                  "temporal": {"kind": "gru", "d_model": 32, "layers": 1, "bidirectional": False},
                  "head": {"mode": "trackwise", "num_tracks": 3, "distance": True, "hidden": 32}, "dropout": 0.0},
        "training": {"out_dir": str(out), "epochs": 2, "batch_size": 3, "lr": 3e-3, "chunks_per_epoch": 6,
                     "warmup_epochs": 0, "seed": 0, "progress": False, "threads": 1,
                     "augment": {"enabled": True, "acs": True, "specaug": False},
                     "semantic_cache": {"enabled": True, "gains_db": GAINS}, **training},
        "inference": {"calibrate": True},
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from seld_ros.train.trainer import DEFAULTS, Trainer, merge
    tmp = tmp_path_factory.mktemp("yamnet_train")
    make_dataset(tmp / "data")
    yam_net = write_converted_yamnet(tmp / "yamnet.pt")
    logs = []
    tr = Trainer(merge(DEFAULTS, yamnet_cfg(tmp / "data", tmp / "run", tmp / "yamnet.pt")), command="pytest",
                 log=logs.append)
    return tr, yam_net, logs, tmp


def test_the_cache_holds_yamnet_per_label_frame_and_gain_and_the_weights_are_the_files(trained):
    from seld_ros.train.semantic_cache import encode_clip
    tr, yam_net, logs, _ = trained
    assert any("loaded YAMNet weights" in line for line in logs)
    for k, v in yam_net.state_dict().items():
        assert torch.equal(tr.model.yamnet.net.state_dict()[k], v)
    clip, cached = tr.train_clips[0], tr.train_semantic[0]
    assert cached.shape == (len(GAINS), clip.num_labels, tr.model.yamnet.raw_dim) and cached.dtype == np.float16
    yam = clip.features[list(tr.fcfg.yamnet_channels)].astype(np.float32)
    for gi, g in enumerate(GAINS):
        np.testing.assert_allclose(cached[gi], encode_clip(tr.model.yamnet, yam, g), atol=2e-2, rtol=2e-3)
    # +10 dB is not 0 dB: the cache really holds each gain
    assert float(np.abs(cached[2].astype(np.float32) - cached[1]).max()) > 1e-2


def _live_loss_with_context(tr, clip_index, start, feats, gain, targets):
    """The same chunk with YAMNet run live: its window state = the scene's (gained) frames before the chunk."""
    from seld_ros.train.losses import seld_loss
    from seld_ros.train.semantic_cache import gain_yamnet_log_mel
    m = tr.model
    yam = tr.train_clips[clip_index].features[list(tr.fcfg.yamnet_channels), :5 * start].astype(np.float32)
    before = m.yamnet.frames_of(torch.from_numpy(gain_yamnet_log_mel(yam, gain))[None])
    state = m.initial_state(1)
    if before.shape[2]:
        seq = torch.cat([state[-2] + np.log(np.float32(0.001)), before], dim=2)
        state[-2] = seq[:, :, -state[-2].shape[2]:] - np.log(np.float32(0.001))
    outs, _ = m.step(torch.from_numpy(feats)[None], state)
    return seld_loss(dict(zip(m.output_names, outs)), {k: v[None] for k, v in targets.items()}, tr.mode,
                     tr.cfg["training"]["loss"], tr.class_weights)[0]


def test_training_on_cached_yamnet_outputs_gives_the_loss_of_running_yamnet_live(trained):
    from seld_ros.train.dataset import SeldChunks
    from seld_ros.train.losses import seld_loss
    tr, *_ = trained
    tr.model.eval()
    ds = SeldChunks(tr.train_clips, len(CLASSES), tr.num_tracks, 20, True,
                    {"enabled": True, "acs": True, "specaug": False}, 0, 6, 5, tr.fcfg, tr.train_semantic, GAINS)
    items = [ds[j] for j in range(6)]
    batch = {k: torch.stack([it[k] for it in items]) for k in items[0]}
    with torch.inference_mode():
        cached = float(seld_loss(tr._forward(tr.model, batch), batch, tr.mode, tr.cfg["training"]["loss"],
                                 tr.class_weights)[0])
        live_batch = float(seld_loss(tr._forward(tr.model, {k: v for k, v in batch.items() if k != "semantic"}),
                                     batch, tr.mode, tr.cfg["training"]["loss"], tr.class_weights)[0])
        per_item_cached, per_item_live, gains = [], [], set()
        for j, it in enumerate(items):
            rng = np.random.default_rng([0, 0, j])  # the dataset's own draw: which clip, where
            i = int(rng.choice(len(tr.train_clips), p=ds.p))
            start = int(rng.integers(0, max(1, tr.train_clips[i].num_labels - 20 + 1)))
            clip_w = tr.train_clips[i].features[0, 5 * start:5 * (start + 20)].astype(np.float32)
            gain = float(np.round(np.median(it["features"][0].numpy() - clip_w)))  # W log-mel: + gain dB
            assert gain in GAINS
            gains.add(gain)
            one = {k: v[None] for k, v in it.items()}
            per_item_cached.append(float(seld_loss(tr._forward(tr.model, one), one, tr.mode,
                                                   tr.cfg["training"]["loss"], tr.class_weights)[0]))
            targets = {k: v for k, v in it.items() if k not in ("features", "semantic")}
            per_item_live.append(float(_live_loss_with_context(tr, i, start, it["features"].numpy(), gain,
                                                               targets)))
    assert len(gains) >= 2  # the gain augmentation draws from the cached gains
    np.testing.assert_allclose(per_item_cached, per_item_live, rtol=2e-3, atol=1e-4)
    # YAMNet live from silence at every chunk start is another input (no scene context before the chunk): the
    # cache holds what the node sees, the scene's own past
    assert np.isfinite(cached) and abs(cached - live_batch) > 1e-5


def test_train_finalize_bundle_carries_yamnet_and_its_provenance_and_resumes(trained):
    from seld_ros.model.bundle import load_bundle
    from seld_ros.train.trainer import DEFAULTS, Trainer, merge
    tr, yam_net, _, tmp = trained
    tr.model.train()
    tr.fit()
    res = tr.finalize()
    b = load_bundle(res["bundle"])
    assert b.model.yamnet is not None and b.feature_config["yamnet"] is True
    assert b.provenance["backbone"] == "yamnet"
    assert b.provenance["backbone_licence"] == {"weights": "Apache-2.0"}
    assert b.provenance["backbone_weights"]["path"] == str(tmp / "yamnet.pt")
    assert len(b.provenance["backbone_weights"]["sha256"]) == 64
    for k, v in yam_net.state_dict().items():  # frozen: the bundle's YAMNet is the file's
        assert torch.equal(b.model.yamnet.net.state_dict()[k], v)
    # a second trainer on the same run resumes at the end (the cache is reused, not rebuilt)
    logs = []
    tr2 = Trainer(merge(DEFAULTS, yamnet_cfg(tmp / "data", tmp / "run", tmp / "yamnet.pt")), command="pytest",
                  log=logs.append)
    tr2.fit()
    assert not any("encoding" in line for line in logs)
    assert any("resumed from" in line for line in logs)
    assert len((tmp / "run" / "metrics.csv").read_text().splitlines()) == 3


def test_partial_fine_tuning_caches_the_map_below_the_trainable_layers_and_trains_only_those(tmp_path):
    from seld_ros.train.trainer import DEFAULTS, Trainer, merge
    make_dataset(tmp_path / "data", n_clips=2)
    yam_net = write_converted_yamnet(tmp_path / "yamnet.pt", seed=3)
    cfg = yamnet_cfg(tmp_path / "data", tmp_path / "run", tmp_path / "yamnet.pt", epochs=1)
    cfg["model"]["yamnet"] = {"width": 0.125, "proj_dim": 16, "train": "partial", "trainable_layers": 1}
    tr = Trainer(merge(DEFAULTS, cfg), command="pytest", log=lambda *a: None)
    cached = tr.train_semantic[0]
    assert cached.shape == (len(GAINS), 40) + tr.model.yamnet.encoded_shape() == (len(GAINS), 40, 128, 3, 2)
    tr.fit()
    after = tr.model.yamnet.net.state_dict()
    for k, v in yam_net.state_dict().items():
        changed = not torch.equal(after[k], v)
        assert changed == (k.startswith("layers.13.") or k.startswith("classifier.")), k


def test_a_cache_entry_older_than_its_scenes_features_is_encoded_again(trained):
    import os
    from pathlib import Path
    from seld_ros.train.semantic_cache import _stale
    tr, *_ = trained
    split_dir = Path(tr.semantic_cache) / "train"
    name = tr.train_clips[0].name
    assert not _stale(split_dir, name)
    features = split_dir.parent.parent / "train" / f"{name}.npz"
    entry = split_dir / f"{name}.npy"
    os.utime(features, (entry.stat().st_mtime + 10, entry.stat().st_mtime + 10))
    assert _stale(split_dir, name)
    assert _stale(split_dir, "no_such_clip")

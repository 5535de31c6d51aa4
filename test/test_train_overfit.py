"""End to end on a tiny generated FOA dataset: cache -> train -> calibrate ->
bundle -> reload; a tiny AT2SELD must overfit 3 clips to F20 > 0.9.
Also: ACS on cached features equals features of the rotated audio, and the
rotated intensity vector follows the rotated label DOA."""
import numpy as np
import pytest
import torch

torch.set_num_threads(1)

CLASSES = ["low", "mid", "high"]
FS = 24000


def _band_noise(rng, n, f0):
    from scipy.signal import butter, sosfilt
    sos = butter(4, [f0 / 1.3, f0 * 1.3], btype="band", fs=FS, output="sos")
    x = sosfilt(sos, rng.standard_normal(n))
    return (x / (np.abs(x).max() + 1e-9) * 0.3).astype(np.float32)


def encode(s, doa):
    x, y, z = doa
    return np.stack([s, s * y, s * z, s * x]).astype(np.float32)  # ACN W Y Z X, SN3D


def _azel(az, el):
    a, e = np.radians(az), np.radians(el)
    return np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])


def make_dataset(root, splits=("train", "val"), n_clips=3, seconds=4.0, seed=0):
    from seld_ros.data.dcase import write_labels, write_wav
    from seld_ros.data.labels import SceneLabels
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    clips = []
    for c in range(n_clips):
        audio = 0.003 * rng.standard_normal((4, n)).astype(np.float32)
        rows = []
        for k, (cls, f0) in enumerate(zip(range(3), (400, 1500, 5000))):
            if (c + k) % 3 == 2:
                continue  # two of three classes per clip
            az, el = float(rng.uniform(-180, 180)), float(rng.uniform(-40, 40))
            on, off = int(rng.integers(0, 10)), int(rng.integers(25, 40))
            s = np.zeros(n, np.float32)
            s[on * 2400: off * 2400] = _band_noise(rng, (off - on) * 2400, f0)
            audio += encode(s, _azel(az, el))
            rows += [(f, cls, k, az, el, 2.0) for f in range(on, off)]
        clips.append((f"clip{c}", audio, SceneLabels.from_rows(rows, CLASSES, num_frames=int(seconds * 10))))
    for split in splits:
        for name, audio, lab in clips:
            write_wav(root / f"foa_{split}" / f"{name}.wav", audio)
            write_labels(root / f"metadata_{split}" / f"{name}.csv", lab)
    return clips


def test_acs_features_and_intensity(tmp_path):
    from seld_ros.features.config import FeatureConfig
    from seld_ros.features.foa import FoaFeatures
    from seld_ros.train.augment import acs_matrices, feature_layout, rotate_features, rotate_foa
    rng = np.random.default_rng(1)
    d = _azel(40.0, 25.0)
    audio = encode(_band_noise(rng, FS, 1000), d) + 1e-4 * rng.standard_normal((4, FS)).astype(np.float32)
    fx = FoaFeatures(FeatureConfig())
    f0 = fx.compute(audio)
    layout = feature_layout("logmel+iv+phase", 13)
    mats = acs_matrices()
    assert len({tuple(m.ravel()) for m in mats}) == 16
    for R in mats:
        assert np.allclose(R @ R.T, np.eye(3))
        ra = rotate_foa(audio, R)
        f1 = fx.compute(ra)
        assert np.allclose(rotate_features(f0, R, layout), f1, atol=1e-3, rtol=1e-4)
        # intensity DOA of the rotated audio = rotated label DOA
        iv = f1[[6, 4, 5]].mean(axis=(1, 2))  # IV channels are Y, Z, X
        iv = iv / np.linalg.norm(iv)
        assert np.degrees(np.arccos(np.clip(iv @ (R @ d), -1, 1))) < 5.0


def _tiny_cfg(root, out, mode):
    head = {"mode": mode, "num_tracks": 3, "distance": mode == "trackwise", "hidden": 32}
    return {
        "data": {"root": str(root), "train_split": "train", "val_split": "val", "class_names": CLASSES,
                 "features": {"feature_set": "logmel+iv+phase"}, "chunk_seconds": 4.0},
        "model": {"name": "at2seld",
                  "backbone": {"arch": "slim", "channels": [8, 16], "emb_dim": 32, "time_pool": [5, 1],
                               "freq_pool": [4, 4], "num_at_classes": 3},
                  "spatial_channels": [8, 16], "temporal": {"d_model": 32, "layers": 1}, "head": head,
                  "dropout": 0.0},
        "training": {"out_dir": str(out), "epochs": 120, "batch_size": 3, "lr": 5e-3, "chunks_per_epoch": 3,
                     "warmup_epochs": 0, "seed": 0, "progress": False, "threads": 1,
                     "augment": {"enabled": False}, "select_metric": "macro_f_grid"},
        "inference": {"calibrate": True},
    }


@pytest.mark.parametrize("mode", ["trackwise"])
def test_tiny_model_overfits_three_clips(tmp_path, mode):
    from seld_ros.model.bundle import load_bundle
    from seld_ros.train.trainer import DEFAULTS, Trainer, merge
    make_dataset(tmp_path / "data")
    cfg = merge(DEFAULTS, _tiny_cfg(tmp_path / "data", tmp_path / "run", mode))
    tr = Trainer(cfg, command="pytest", log=lambda *a: None)
    tr.fit()
    res = tr.finalize()
    f = res["metrics"]["val_calibrated"]["macro_f"]
    assert f > 0.9, res["metrics"]["val_calibrated"]
    b = load_bundle(res["bundle"])
    assert b.class_names == CLASSES and len(b.thresholds) == 3
    lines = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(lines) == 121
    # resume: a finished run restarts at the end and trains nothing more
    tr2 = Trainer(cfg, command="pytest", log=lambda *a: None)
    tr2.fit()
    assert len((tmp_path / "run" / "metrics.csv").read_text().splitlines()) == 121

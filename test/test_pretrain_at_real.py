"""seld-pretrain-at on a tiny real bank: trains on the train split's mixtures (real + procedural, distractors
unlabelled), reports clip-level mAP on the held-out sources (val and test splits), keeps the PANNs format."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from seld_ros.cli.pretrain_at import main
from seld_ros.train.pretrain_at import make_mixtures
from seld_ros.data.bank import RealBank
from seld_ros.model.panns import PannsBackbone, load_panns_state_dict

from bank_helpers import make_tiny_bank  # noqa: E402

TINY = """
data:
  features: {feature_set: logmel+iv}
model:
  name: at2seld
  backbone: {arch: slim, channels: [8, 16], emb_dim: 32, time_pool: [5, 1], freq_pool: [4, 4], num_at_classes: 13}
"""


@pytest.fixture(scope="module")
def bank_dir(tmp_path_factory):
    return make_tiny_bank(tmp_path_factory.mktemp("atbank"))


def test_pretrain_at_real_bank_reports_heldout_map(tmp_path, bank_dir):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    out = tmp_path / "at" / "backbone.pt"
    rc = main(["--config", str(cfg), "--out", str(out), "--bank", f"mix:{bank_dir}:0.7", "--clips", "24",
               "--seconds", "2", "--epochs", "1", "--eval-clips", "12", "--batch-size", "8", "--no-progress"])
    assert rc == 0
    metrics = json.loads(out.with_suffix(".metrics.json").read_text())
    assert set(metrics["heldout"]) == {"val", "test"}
    for split in ("val", "test"):
        h = metrics["heldout"][split]
        assert h["clips"] == 12 and set(h["classes"]) <= {"telephone", "maleSpeech", "clapping"} and h["classes"]
        assert 0.0 < h["map"] <= 1.0
    assert metrics["heldout_map"] == pytest.approx(np.mean([metrics["heldout"][s]["map"] for s in ("val", "test")]))
    ck = torch.load(out, map_location="cpu", weights_only=True)
    assert ck["metrics"]["heldout_map"] == pytest.approx(metrics["heldout_map"])
    assert len(ck["class_names"]) == 13  # the mixed bank fills every class procedurally
    net = PannsBackbone(ck["backbone_config"])
    load_panns_state_dict(net, str(out), strict_head=True)


def test_mixtures_label_targets_only(bank_dir):
    """Distractors and ambience add sound but no label: every mixture has 1-3 labels, all among the split's
    target classes; a vocabulary class the split lacks is never labelled."""
    bank = RealBank(bank_dir, "train")
    names = ["telephone", "maleSpeech", "clapping", "bell"]
    X, Y = make_mixtures(bank, names, 8, 1.0, 0, {"feature_set": "logmel+iv"}, progress=False,
                         distractor_prob=1.0, ambience_prob=1.0, level_db=(-30, -1),
                         draw_classes=bank.class_names)
    assert X.shape[:2] == (8, 1) and Y.shape == (8, 4)
    assert Y[:, 3].sum() == 0 and np.all(Y.sum(axis=1) >= 1) and np.all(Y.sum(axis=1) <= 3)
    assert np.isfinite(X.astype(np.float32)).all()


def test_pretrain_at_bad_bank(tmp_path, capsys):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    assert main(["--config", str(cfg), "--out", str(tmp_path / "b.pt"), "--bank", f"real:{tmp_path}/nope"]) == 2
    assert "no manifest.csv" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--config", str(cfg), "--out", str(tmp_path / "b.pt"), "--distractor-prob", "1.5"])

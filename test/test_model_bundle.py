"""Bundle save -> load -> identical outputs; clear errors for bad bundles."""
import pytest
import torch

from seld_ros.model import build_model
from seld_ros.model.bundle import BundleError, bundle_hash, load_bundle, save_bundle

torch.set_num_threads(1)
CFG = {"backbone": {"arch": "slim", "channels": [4, 8], "emb_dim": 16, "time_pool": [5, 1],
                    "freq_pool": [4, 4], "num_at_classes": 5},
       "spatial_channels": [4, 8], "temporal": {"d_model": 16, "layers": 1}, "head": {"hidden": 16}}
FEAT = {"sample_rate": 24000, "hop": 480, "win": 960, "nfft": 1024, "n_mels": 64,
        "feature_set": "logmel+iv+phase"}
NAMES = [f"c{i}" for i in range(13)]


def _save(path, model):
    return save_bundle(path, model, FEAT, {"mean": [0.0] * 13, "std": [1.0] * 13}, NAMES, [0.5] * 13,
                       provenance={"data": "test", "command": "pytest"}, metrics={"F20": 0.1})


def test_roundtrip_identical_outputs(tmp_path):
    torch.manual_seed(0)
    m = build_model(CFG)
    m.norm.set_stats(torch.randn(13), torch.rand(13) + 0.5)
    m.eval()
    x = m.example_inputs(1, 20)
    ref = m(*x)
    p = tmp_path / "b.pt"
    h = _save(p, m)
    assert h == bundle_hash(p) and len(h) == 64
    b = load_bundle(p)
    assert not b.model.training
    out = b.model(*x)
    for r, o in zip(ref, out):
        assert torch.equal(r, o)
    assert b.class_names == NAMES and b.output_mode == "trackwise"
    assert b.provenance["command"] == "pytest" and "git_commit" in b.provenance
    assert b.metrics["F20"] == pytest.approx(0.1)
    assert b.output_names == ["activity_logits", "doa", "distance"]
    dec = b.make_decoder()
    frames = dec.decode({n: o[0].detach().numpy() for n, o in zip(b.output_names, out)})
    assert len(frames) == 4
    raw = torch.load(p, weights_only=True)  # plain containers only
    assert raw["format"] == "seld_ros.bundle"


def test_bad_bundles(tmp_path):
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "missing.pt")
    p = tmp_path / "b.pt"
    _save(p, build_model(CFG))
    data = p.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="corrupt"):
        load_bundle(tmp_path / "trunc.pt")
    (tmp_path / "junk.pt").write_bytes(b"hello world")
    with pytest.raises(BundleError, match="corrupt"):
        load_bundle(tmp_path / "junk.pt")
    torch.save({"model": {}}, tmp_path / "ckpt.pt")
    with pytest.raises(BundleError, match="not a seld_ros model bundle"):
        load_bundle(tmp_path / "ckpt.pt")
    # architecture in the config differs from the weights
    raw = torch.load(p, weights_only=True)
    raw["model_config"]["temporal"]["d_model"] = 32
    torch.save(raw, tmp_path / "mismatch.pt")
    with pytest.raises(BundleError, match="shape mismatches"):
        load_bundle(tmp_path / "mismatch.pt")
    raw = torch.load(p, weights_only=True)
    raw["state_dict"].pop("head.doa.weight")
    raw["state_dict"]["extra.weight"] = torch.zeros(1)
    torch.save(raw, tmp_path / "keys.pt")
    with pytest.raises(BundleError, match="missing keys.*head.doa.weight.*unexpected keys.*extra.weight"):
        load_bundle(tmp_path / "keys.pt")

"""Bundle save -> load -> identical outputs; clear errors for bad bundles."""
import json

import pytest
import torch

from model_helpers import invert_bytes_in_largest_tensor
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
    # architecture in the config differs from the weights (a hand-made bundle: no digest recorded in it)
    raw = torch.load(p, weights_only=True)
    raw.pop("digest")
    raw["model_config"]["temporal"]["d_model"] = 32
    torch.save(raw, tmp_path / "mismatch.pt")
    with pytest.raises(BundleError, match="shape mismatches"):
        load_bundle(tmp_path / "mismatch.pt")
    raw = torch.load(p, weights_only=True)
    raw.pop("digest")
    raw["state_dict"].pop("head.doa.weight")
    raw["state_dict"]["extra.weight"] = torch.zeros(1)
    torch.save(raw, tmp_path / "keys.pt")
    with pytest.raises(BundleError, match="missing keys.*head.doa.weight.*unexpected keys.*extra.weight"):
        load_bundle(tmp_path / "keys.pt")


# -- issue 24, finding 4: a damaged model must not load silently ------------------------------------------------

def test_a_bundle_written_by_save_bundle_carries_a_content_digest_that_catches_damage(tmp_path, caplog):
    from seld_ros.model.bundle import BundleIntegrityError, content_digest

    p = tmp_path / "b.pt"
    _save(p, build_model(CFG))
    raw = torch.load(p, weights_only=True)
    digest = raw["digest"]["sha256"]
    assert raw["digest"]["algorithm"] == "sha256-content-v1" and content_digest(raw) == digest
    # the digest is of the content, not of the file: re-saving the same dict keeps it valid
    torch.save(raw, tmp_path / "resaved.pt")
    assert load_bundle(tmp_path / "resaved.pt").integrity == "verified"
    # damaged weight bytes: torch loads the file, the digest does not match
    invert_bytes_in_largest_tensor(p)
    torch.load(p, weights_only=True)  # the reader itself notices nothing
    with pytest.raises(BundleIntegrityError) as err:
        load_bundle(p)
    text = str(err.value)
    assert str(p) in text and digest in text and "damaged or altered" in text and "verify_model" in text
    actual = text.split("content sha256 ")[1].split()[0]
    assert len(actual) == 64 and actual != digest
    # altered metadata (a threshold) is caught as well
    raw["thresholds"][3] = 0.01
    torch.save(raw, tmp_path / "edited.pt")
    with pytest.raises(BundleIntegrityError, match="content sha256"):
        load_bundle(tmp_path / "edited.pt")
    # verify=False loads it, with a warning naming both digests
    with caplog.at_level("WARNING"):
        b = load_bundle(p, verify=False)
    assert b.integrity == "mismatch" and digest in caplog.text and "loaded anyway" in caplog.text


def test_the_shipped_model_is_checked_against_the_sha256_in_its_summary(tmp_path):
    import shutil

    from seld_ros.model.bundle import BundleIntegrityError
    from seld_ros.pipeline import DEFAULT_MODEL

    summary = DEFAULT_MODEL.with_suffix(".json")
    recorded = json.loads(summary.read_text())["sha256"]
    assert bundle_hash(DEFAULT_MODEL) == recorded  # the shipped pair agrees
    assert load_bundle(DEFAULT_MODEL).integrity == "verified"
    copy = tmp_path / "default.pt"
    shutil.copyfile(DEFAULT_MODEL, copy)
    shutil.copyfile(summary, tmp_path / "default.json")
    invert_bytes_in_largest_tensor(copy)
    with pytest.raises(BundleIntegrityError) as err:
        load_bundle(copy)
    text = str(err.value)
    assert str(copy) in text and recorded in text and bundle_hash(copy) in text and "default.json" in text

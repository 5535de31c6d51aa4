"""ONNX export at a fixed block, the automatic parity check, and the seld-export CLI."""
import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from seld_ros.cli import export as cli  # noqa: E402
from seld_ros.engine import bundle_adapter  # noqa: E402
from seld_ros.engine.export import ParityError, check_frames, export_onnx, onnx_is_current, parity_check  # noqa: E402
from seld_ros.engine.testing import NondeterministicNet, TinySeldNet  # noqa: E402


def test_frames_must_be_whole_label_frames():
    assert check_frames(100) == 100
    for bad in (0, 7, -5):
        with pytest.raises(ValueError, match="multiple of 5"):
            check_frames(bad)


def test_parity_failure_raises_and_leaves_no_file(tmp_path):
    out = tmp_path / "noisy.onnx"
    with pytest.raises(ParityError, match="max \\|onnxruntime - torch\\|"):
        export_onnx(NondeterministicNet(), str(out), 20)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def _tiny_bundle(tmp_path):
    """A real bundle file of a small AT2SELD (weights random) — the path seld-export takes."""
    model_mod = pytest.importorskip("seld_ros.model")
    bundle_mod = pytest.importorskip("seld_ros.model.bundle")
    cfg = model_mod.default_at2seld_config(
        temporal={"d_model": 32, "layers": 1}, head={"hidden": 32}, spatial_channels=[8, 8, 16, 16])
    try:
        model = model_mod.build_model(cfg).eval()
        path = str(tmp_path / "tiny_bundle.pt")
        bundle_mod.save_bundle(path, model, {"sample_rate": 24000}, {}, [f"c{i}" for i in range(13)], [0.5] * 13)
    except Exception as e:  # the bundle API belongs to seld_ros.model; skip rather than mis-test it
        pytest.skip(f"cannot make a bundle with seld_ros.model: {e}")
    return path, model


def test_cli_exports_bundle_with_parity_and_reports_missing_tensorrt(tmp_path, capsys):
    bundle, model = _tiny_bundle(tmp_path)
    out = str(tmp_path / "m.onnx")
    rc = cli.main(["--bundle", bundle, "--onnx", out, "--frames", "50", "--engine", str(tmp_path / "m.plan"),
                   "--fp16"])
    captured = capsys.readouterr()
    assert "max abs diff" in captured.out
    from seld_ros.engine.tensorrt_backend import probe
    if not probe()[0]:
        assert rc == 3 and "TensorRT" in captured.err
    else:  # pragma: no cover - on a TensorRT machine
        assert rc == 0
    assert os.path.isfile(out)
    meta = json.load(open(out + ".json"))
    assert meta["frames"] == 50 and meta["opset"] == 18 and meta["max_abs_diff"] <= 1e-4
    assert meta["bundle_hash"] == bundle_adapter.load_network(bundle).bundle_hash
    assert meta["output_shapes"]["doa"][:2] == [1, 10]
    assert onnx_is_current(out, 50, meta["bundle_hash"])[0]
    assert not onnx_is_current(out, 100, meta["bundle_hash"])[0]
    assert not onnx_is_current(out, 50, "another-bundle")[0]
    # the exported graph matches the bundle's network on fresh inputs too
    rng = np.random.default_rng(5)
    blocks = [{"features": rng.standard_normal((1, 13, 50, 64)).astype(np.float32) * 4}]
    assert max(parity_check(model, out, 50, inputs=blocks).values()) <= 1e-4


def test_cli_parity_failure_exits_nonzero(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bundle_adapter, "load_network",
                        lambda p: bundle_adapter.LoadedNetwork(model=NondeterministicNet(), bundle_hash="x"))
    out = tmp_path / "bad.onnx"
    rc = cli.main(["--bundle", "whatever.pt", "--onnx", str(out), "--frames", "20"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "parity check FAILED" in err and "tolerance" in err
    assert not out.exists()


def test_cli_bad_bundle_and_frames(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a bundle")
    assert cli.main(["--bundle", str(bad), "--onnx", str(tmp_path / "x.onnx")]) == 2
    assert "error" in capsys.readouterr().err
    monkeypatch.setattr(bundle_adapter, "load_network",
                        lambda p: bundle_adapter.LoadedNetwork(model=TinySeldNet(), bundle_hash="x"))
    assert cli.main(["--bundle", "b.pt", "--onnx", str(tmp_path / "x.onnx"), "--frames", "12"]) == 2
    assert "multiple of 5" in capsys.readouterr().err

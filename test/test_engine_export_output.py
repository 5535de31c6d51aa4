"""The ONNX export is quiet: no exporter chatter from the library or seld-export."""
from __future__ import annotations

from cli_helpers import run_cli, tiny  # noqa: F401 (tiny: a fixture)


def test_onnx_export_is_quiet(tiny, tmp_path, recwarn, capfd):
    from seld_ros.engine.bundle_adapter import load_network
    from seld_ros.engine.export import export_onnx

    export_onnx(load_network(str(tiny)).model, str(tmp_path / "m.onnx"), 20)
    assert not [str(w.message) for w in recwarn.list]
    out, err = capfd.readouterr()
    assert "warn" not in (out + err).lower(), (out + err)[-1500:]


def test_seld_export_prints_no_exporter_chatter(tiny, tmp_path):
    """seld-export logs at INFO; the exporter's libraries (onnxscript rewriter, onnx_ir passes, torchvision op
    registration when installed) must not flood that with dozens of internal lines."""
    r = run_cli("seld_ros.cli.export", ["--bundle", tiny, "--onnx", tmp_path / "m.onnx", "--frames", "20"])
    assert r.returncode == 0, r.stderr[-2000:]
    text = r.stdout + r.stderr
    for chatter in ("Replaced initializer", "onnx_ir", "constant folding", "torchvision", "Warning"):
        assert chatter not in text, text[-2000:]
    assert len(text.strip().splitlines()) <= 4, text


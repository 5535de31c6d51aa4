"""seld-eval-bag end to end: with no onnxscript, all chunks rejected, audio at other rates."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from seld_ros.bag.convert import from_dcase, sample_stamp_ns
from seld_ros.data.dcase import write_wav
from cli_helpers import FS, START_NS, noise, run_cli, tiny  # noqa: F401 (tiny: a fixture)


# -- no onnxscript --------------------------------------------------------------------------------------------
BLOCK_ONNXSCRIPT = "sys.modules['onnxscript'] = None  # as if `pip install onnxscript` was never run"


def test_without_onnxscript_export_falls_back_and_eval_bag_runs(tiny, tmp_path, monkeypatch, caplog):
    """The README's pip line without onnxscript and an EMPTY cache: the ONNX export falls back to the legacy
    TorchScript exporter (logged, parity-checked) instead of ModuleNotFoundError; seld-eval-bag exits 0."""
    import logging

    from seld_ros.engine.bundle_adapter import load_network
    from seld_ros.engine.export import export_onnx

    monkeypatch.setitem(sys.modules, "onnxscript", None)
    net = load_network(str(tiny))
    with caplog.at_level(logging.WARNING, logger="seld_ros.engine.export"):
        rep = export_onnx(net.model, str(tmp_path / "m.onnx"), 20)
    assert rep.extra["exporter"] == "torchscript" and rep.max_abs_diff < 1e-4
    assert "onnxscript is not installed" in caplog.text
    # the whole tool, in a fresh process, onnxruntime chosen by auto, nothing cached
    wav = tmp_path / "a.wav"
    write_wav(wav, noise(1.0), FS)
    from_dcase(wav, None, tmp_path / "bag")
    cache = tmp_path / "empty_cache"
    r = run_cli("seld_ros.cli.eval_bag", [tmp_path / "bag", "--bundle", tiny, "--out", tmp_path / "o",
                                           "--no-plot", "--quiet"],
                 env={"SELD_CACHE_DIR": str(cache)}, pre=BLOCK_ONNXSCRIPT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "backend onnxruntime" in r.stdout and "Traceback" not in r.stderr
    assert "legacy TorchScript exporter" in r.stderr
    assert list(cache.glob("*.onnx")), "the export went to SELD_CACHE_DIR"


# -- every chunk rejected -------------------------------------------------------------------------------------
def test_all_chunks_rejected_is_an_error_with_a_summary(tiny, tmp_path, capsys):
    from seld_ros.cli import eval_bag

    write_wav(tmp_path / "st.wav", noise(1.0, channels=2), FS)
    from_dcase(tmp_path / "st.wav", None, tmp_path / "stereo_bag")
    rc = eval_bag.main([str(tmp_path / "stereo_bag"), "--bundle", str(tiny), "--out", str(tmp_path / "o"),
                        "--quiet", "--no-plot", "--backend", "torch"])
    out, err = capsys.readouterr()
    assert rc == 3
    assert "NO AUDIO PROCESSED: all 10 audio chunks were rejected" in out and "bad_layout 10" in out
    assert "all 10 audio chunks were rejected (bad_layout: 10)" in err and "stereo" in err
    assert "no events detected" not in out


# -- 44.1 / 48 kHz: every frame ---------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [44100, 48000, 24000, 16000])
def test_5s_at_other_rates_gives_all_50_frames(tiny, rate):
    from seld_ros.pipeline import AudioChunk, PipelineConfig, SeldPipeline

    pipe = SeldPipeline(PipelineConfig(model_file_path=str(tiny), backend="torch"))
    x = np.ascontiguousarray(noise(5.0, rate).T)
    frames = []
    step = rate // 10
    for i in range(0, x.shape[0], step):
        frames += pipe.push(AudioChunk(x[i:i + step], rate, 4, "foa_acn_sn3d", i,
                                       sample_stamp_ns(START_NS, i, rate), "mic")).frames
    frames += pipe.flush().frames
    assert [f.frame_index for f in frames] == list(range(50))
    assert frames[-1].stamp_ns == START_NS + 49 * 100_000_000


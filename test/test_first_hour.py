"""What a new user meets in the first hour, without a ROS graph: the README's install rows and colcon note, what the
tools print (first-time steps, a bag whose every chunk is rejected, wav warnings), one help-text scheme, the deaf-node
watch. The node's side (Ctrl-C, --help, no audio, runtime parameters) is in test_node_lifecycle.py, over real DDS."""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _readme() -> str:
    return (REPO / "README.md").read_text()


# -- item 3: what PyPI's torch really pulls ---------------------------------------------------------------------------
def test_readme_gpu_rows_say_pypi_torch_is_cuda13_and_how_to_get_cuda12():
    """torch==2.13.0's wheel metadata on PyPI (x86-64 and aarch64, read with `pip install --dry-run --no-deps
    --report`) requires cuda-toolkit==13.0.3 and nvidia-*-cu13: the README must not promise CUDA 12 from PyPI, and
    must give the CUDA 12 route (PyTorch's cu126 index) for older drivers."""
    readme = _readme()
    rows = [line for line in readme.splitlines() if line.startswith("| x86-64 with an NVIDIA GPU")]
    assert len(rows) == 2, rows
    cuda13, cuda12 = rows
    assert "CUDA 12" not in cuda13.split("|")[2] and "CUDA 13" in cuda13 and "cuda-toolkit` 13.0.3" in cuda13
    assert "`pip install torch==2.13.0`" in cuda13
    assert "--index-url https://download.pytorch.org/whl/cu126" in cuda12 and "CUDA 12" in cuda12
    assert not re.search(r"bundles CUDA 12", readme)
    assert "nvidia-cudnn-cu13" in readme and "--dry-run --no-deps" in readme  # what it pulls, and how to check


# -- item 10: colcon with ROS from PyPI ---------------------------------------------------------------------------------
def test_readme_says_where_colcon_needs_the_venv_on_the_ament_path():
    readme = _readme()
    block = readme[readme.index("cd ~/seld_ws && colcon build"):]
    block = block[:block.index("```")]
    assert "No 'rosidl_typesupport_c' found" in block
    assert 'export AMENT_PREFIX_PATH="$VIRTUAL_ENV' in block


# -- item 5: seld-eval-bag on a bag whose every chunk is rejected ---------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from model_helpers import make_tiny_bundle

    return make_tiny_bundle(tmp_path_factory.mktemp("first_hour") / "tiny.pt", thresholds=0.001)


def _stereo_bag(tmp_path, seconds=3.0):
    import numpy as np

    from seld_ros.bag.convert import from_dcase
    from seld_ros.data.dcase import write_wav

    noise = (np.random.default_rng(0).standard_normal((2, int(seconds * 24000))) * 0.05).astype(np.float32)
    write_wav(tmp_path / "st.wav", noise, 24000)
    from_dcase(tmp_path / "st.wav", None, tmp_path / "stereo_bag")
    return tmp_path / "stereo_bag"


def test_eval_bag_all_rejected_says_the_length_and_reason_once_and_writes_no_results(tiny, tmp_path,
                                                                                                  capsys):
    from seld_ros.cli import eval_bag

    bag = _stereo_bag(tmp_path)
    out_dir = tmp_path / "o"
    rc = eval_bag.main([str(bag), "--bundle", str(tiny), "--out", str(out_dir), "--quiet", "--backend", "torch"])
    out, err = capsys.readouterr()
    assert rc == 3
    assert "3.0 s of stereo audio" in out and "(0.0 s of it processed)" in out  # the bag's length, not 0.0 s
    both = out + err
    assert both.count("rejected (bad_layout)") == 1 and "rejected (bad_layout)" in err, both  # once, not three times
    assert "all 30 audio chunks were rejected (bad_layout: 30), 3.0 s of stereo audio" in err
    assert not (out_dir / "results").exists() and not (out_dir / "pred").exists()
    assert not list(out_dir.glob("*.png"))
    assert (out_dir / "summary.json").is_file()


# -- item 4: the export on a first start is announced and timed -------------------------------------------------------
def test_first_start_export_is_announced_and_eval_bag_reports_total_time(tiny, tmp_path, capsys,
                                                                                      monkeypatch):
    import numpy as np

    from seld_ros.bag.convert import from_dcase
    from seld_ros.cli import eval_bag
    from seld_ros.data.dcase import write_wav

    monkeypatch.setenv("SELD_CACHE_DIR", str(tmp_path / "empty_cache"))
    write_wav(tmp_path / "foa.wav", (np.random.default_rng(1).standard_normal((4, 24000)) * 0.05).astype(np.float32))
    from_dcase(tmp_path / "foa.wav", None, tmp_path / "foa_bag")
    rc = eval_bag.main([str(tmp_path / "foa_bag"), "--bundle", str(tiny), "--out", str(tmp_path / "o"), "--quiet",
                        "--backend", "onnxruntime", "--no-plot"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "exporting the model to ONNX (once per bundle; typically 10-30 s" in err
    assert re.search(r"ONNX export done in \d+\.\d s", err)
    m = re.search(r"total (\d+\.\d) s: model start-up (\d+\.\d) s.* \+ bag (\d+\.\d) s", out)
    assert m, out
    assert float(m.group(1)) >= float(m.group(2)) > 0


# -- item 9: output hygiene ---------------------------------------------------------------------------------------------
def test_float_wav_from_soundfile_reads_without_scipy_warnings(tmp_path):
    import warnings

    import numpy as np
    import soundfile as sf

    from seld_ros.bag.convert import from_dcase

    x = (np.random.default_rng(2).standard_normal((4800, 4)) * 0.1).astype(np.float32)
    sf.write(tmp_path / "f.wav", x, 24000, subtype="FLOAT")  # soundfile adds a PEAK/fact chunk scipy does not know
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from_dcase(tmp_path / "f.wav", None, tmp_path / "bag")
    assert not [str(w.message) for w in caught if "Chunk" in str(w.message)]
    from seld_ros.data.dcase import read_wav

    got, _ = read_wav(tmp_path / "f.wav")
    np.testing.assert_array_equal(got, x.T)


def _parsers():
    sys.path.insert(0, str(REPO / "test"))
    from test_cli_options import _all_actions, _parser_for

    tools = sorted(set(re.findall(r'"(seld-[a-z-]+)=', (REPO / "setup.py").read_text())) | {"seld_replay"})
    return {t: _parser_for(t) for t in tools}, _all_actions


def test_help_texts_follow_one_scheme():
    """Fixed value sets are listed as choices in every tool; every required option says "(required)"; no tool has
    options only it has for the same thing (-v/--verbose); descriptions print as written (no joined lines)."""
    import argparse

    parsers, all_actions = _parsers()
    problems = []
    for tool, parser in parsers.items():
        for _, a in all_actions(parser):
            if a.help is argparse.SUPPRESS or isinstance(a, argparse._HelpAction):
                continue
            if set(a.option_strings) & {"--backend", "--sample-format", "--storage", "--metric"} and not a.choices:
                problems.append(f"{tool} {a.option_strings}: free text where other tools list the choices")
            if a.required and a.option_strings and "(required)" not in a.help:
                problems.append(f"{tool} {a.option_strings}: required but the help does not say so")
            if set(a.option_strings) & {"-v", "--verbose"}:
                problems.append(f"{tool} {a.option_strings}: -v/--verbose in this tool only")
        text = parser.format_help()
        joined = [line for line in text.splitlines() if re.search(r"\S {6,}--", line)]
        if joined:
            problems.append(f"{tool}: lines joined in the description: {joined}")
    assert not problems, "\n".join(problems)


def test_library_log_lines_reach_the_nodes_ros_logger():
    """The ONNX exporter's onnxscript fallback (and every seld_ros log line) logs through Python logging; in the node
    they go to its ROS logger. Real rclpy logger, no ROS graph needed."""
    from ros_helpers.ros_env import require_ros

    require_ros()
    import logging

    from seld_ros.ros.runtime import route_python_logging

    seen = []

    class Recorder:  # the rclpy logger interface the handler uses
        def info(self, m):
            seen.append(("info", m))

        def warning(self, m):
            seen.append(("warning", m))

        def error(self, m):
            seen.append(("error", m))

    root = logging.getLogger("seld_ros")
    saved = (list(root.handlers), root.level, root.propagate)
    handler = route_python_logging(Recorder())
    try:
        logging.getLogger("seld_ros.engine.export").warning("onnxscript is not installed: %s", "legacy exporter")
        logging.getLogger("seld_ros.engine.factory").info("exporting the model to ONNX")
        logging.getLogger("seld_ros.engine.factory").debug("not shown")
    finally:
        root.removeHandler(handler)
        root.handlers[:], root.level, root.propagate = saved
    assert seen == [("warning", "onnxscript is not installed: legacy exporter"),
                    ("info", "exporting the model to ONNX")]


# -- item 6: the deaf-node watch, ROS-free (the node over DDS: test_node_lifecycle.py) -----------------------------------
def test_no_audio_watch_levels_and_a_long_chunk_covers_its_duration():
    from seld_ros.health import Level, NoAudioWatch

    w = NoAudioWatch("/mic/foa", 5.0, now=100.0)
    assert w.update(104.9) == (Level.OK, "")
    assert w.update(105.0) == (Level.WARN, "no audio yet on /mic/foa for 5 s")
    assert w.update(130.0) == (Level.ERROR, "no audio yet on /mic/foa for 30 s")
    w.heard(10.0, now=131.0)  # one 10 s message: audio until 141 s
    assert w.update(145.9) == (Level.OK, "") and w.silent_s(140.0) == 0.0
    assert w.update(146.0) == (Level.WARN, "no audio on /mic/foa for 5 s")
    assert NoAudioWatch("/a", 0.0, now=0.0).update(1e6) == (Level.OK, "")  # 0: off


# -- long first-time steps: an engine build that runs for minutes says it is still at work --------------------------
def test_a_long_engine_build_logs_that_it_is_still_at_work(tmp_path, monkeypatch, caplog):
    """The TensorRT build itself prints nothing for minutes on a Jetson: the cache logs a line when it starts (what
    and roughly how long) and then every PROGRESS_EVERY_S. The build here is a slow callable (no GPU here); the cache,
    its files and its log lines are the real ones."""
    import logging

    import onnx
    from onnx import TensorProto, helper

    from seld_ros.engine import cache

    model = helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                                                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                                                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])]))
    onnx_path = tmp_path / "m.onnx"
    onnx.save(model, onnx_path)
    monkeypatch.setattr(cache, "PROGRESS_EVERY_S", 0.1)
    params = cache.EngineParams(model_file_path=str(onnx_path), engine_file_path=str(tmp_path / "m.plan"))
    digest = cache.file_sha256(str(onnx_path))
    key = cache.EngineKey(bundle_hash=digest, onnx_sha256=digest, tensorrt_version="10.0.0",
                          gpu_name="test GPU", compute_capability="8.7", precision="fp16")

    def slow_build():
        time.sleep(0.45)
        return b"PLAN"

    with caplog.at_level(logging.INFO, logger="seld_ros.engine.cache"):
        data, check = cache.ensure_engine(params, key, slow_build)
    lines = [r.getMessage() for r in caplog.records]
    assert data == b"PLAN" and check.status == "missing"
    assert any("typically 1-5 min on a Jetson" in line for line in lines), lines
    ticks = [line for line in lines if "building TensorRT engine m.plan: still at work" in line]
    assert 2 <= len(ticks) <= 5, lines

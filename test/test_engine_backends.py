"""Backends behind one interface: parity, selection logic, clear errors."""
import logging

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from seld_ros.engine import BackendError, BackendUnavailableError, create_backend, factory  # noqa: E402
from seld_ros.engine.export import export_onnx  # noqa: E402
from seld_ros.engine.onnxruntime_backend import OnnxRuntimeBackend  # noqa: E402
from seld_ros.engine.testing import TinySeldNet  # noqa: E402
from seld_ros.engine.torch_backend import TorchBackend  # noqa: E402

FRAMES = 50


@pytest.fixture(scope="module")
def net():
    return TinySeldNet(seed=1)


@pytest.fixture(scope="module")
def onnx_file(net, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("onnx") / "tiny.onnx")
    export_onnx(net, path, FRAMES, bundle_hash="test-bundle")
    return path


def test_torch_vs_onnxruntime_parity_random_inputs(net, onnx_file):
    tb = TorchBackend().load(net, FRAMES)
    ob = OnnxRuntimeBackend().load(onnx_file, num_threads=1)
    assert tb.input_specs == ob.input_specs and tb.output_specs == ob.output_specs
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = {"features": rng.standard_normal((1, 13, FRAMES, 64)).astype(np.float32) * 3}
        a, b = tb.infer(x), ob.infer(x)
        assert set(a) == {"accdoa"}
        assert a["accdoa"].shape == (1, FRAMES // 5, 3 * 3 * 13)
        assert np.max(np.abs(a["accdoa"] - b["accdoa"])) <= 1e-4


def test_torch_vs_onnxruntime_parity_real_features(net, onnx_file):
    """Real FOA features when the feature extractor is available (else: skipped)."""
    feats = pytest.importorskip("seld_ros.features")
    try:
        fx = feats.FoaFeatures()
        rng = np.random.default_rng(3)
        t = np.arange(24000 * 2) / 24000.0
        src = np.sin(2 * np.pi * 440 * t) * (1 + rng.standard_normal(t.size) * 0.3)
        gains = np.array([1.0, 0.5, 0.1, 0.8])[:, None]  # W, Y, Z, X: a source front-left
        audio = (gains * src + rng.standard_normal((4, t.size)) * 0.01).astype(np.float32)
        f = np.asarray(fx.compute(audio), dtype=np.float32)
    except Exception as e:  # the features API is another module's; do not fail this test on it
        pytest.skip(f"could not compute features with FoaFeatures: {e}")
    if f.ndim == 3:
        f = f[None]
    if f.shape[1:2] != (13,) or f.shape[2] < FRAMES or f.shape[3] != 64:
        pytest.skip(f"feature shape {f.shape} is not (1, 13, T, 64)")
    x = {"features": np.ascontiguousarray(f[:, :, :FRAMES])}
    a = TorchBackend().load(net, FRAMES).infer(x)["accdoa"]
    b = OnnxRuntimeBackend().load(onnx_file).infer(x)["accdoa"]
    assert np.max(np.abs(a - b)) <= 1e-4


def test_info_and_warmup(net, onnx_file):
    b = OnnxRuntimeBackend().load(onnx_file)
    assert b.warmup(2) > 0
    info = b.info()
    assert info["backend"] == "onnxruntime" and info["device"] == "cpu" and info["precision"] == "fp32"
    assert info["block_frames"] == FRAMES and info["inputs"][0]["shape"] == [1, 13, FRAMES, 64]
    assert "onnxruntime" in info["versions"]


def test_wrong_block_shape_is_a_clear_error(net):
    b = TorchBackend().load(net, FRAMES)
    with pytest.raises(ValueError, match="fixed block"):
        b.infer({"features": np.zeros((1, 13, FRAMES + 5, 64), np.float32)})
    with pytest.raises(ValueError, match="do not match"):
        b.infer({"x": np.zeros((1, 13, FRAMES, 64), np.float32)})


def test_torch_bf16_cpu_close_to_fp32(net):
    x = {"features": np.random.default_rng(1).standard_normal((1, 13, FRAMES, 64)).astype(np.float32)}
    ref = TorchBackend().load(net, FRAMES).infer(x)["accdoa"]
    got = TorchBackend().load(net, FRAMES, precision="bf16").infer(x)["accdoa"]
    assert got.dtype == np.float32 and np.max(np.abs(got - ref)) < 0.1
    with pytest.raises(ValueError, match="fp16"):
        TorchBackend().load(net, FRAMES, precision="fp16")  # fp16 is GPU-only here


def test_cuda_paths_report_unavailable_without_gpu(net):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(BackendUnavailableError, match="cuda"):
        TorchBackend().load(net, FRAMES, device="cuda")


def test_corrupt_onnx_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a protobuf\x00\x01" * 10)
    with pytest.raises(BackendError, match="cannot load"):
        OnnxRuntimeBackend().load(str(bad))
    with pytest.raises(BackendError, match="not found"):
        OnnxRuntimeBackend().load(str(tmp_path / "missing.onnx"))


# -- selection --------------------------------------------------------------------------------------

def test_auto_without_gpu_picks_cpu_backend_and_logs_why(net, onnx_file, caplog, monkeypatch):
    monkeypatch.setattr(factory, "_torch_has_cuda", lambda: False)
    with caplog.at_level(logging.INFO, logger="seld_ros.engine.factory"):
        b = create_backend("auto", model=net, onnx_path=onnx_file, frames=FRAMES)
    assert b.name == "onnxruntime" and b.device == "cpu"
    msg = " ".join(r.getMessage() for r in caplog.records)
    assert "picked onnxruntime" in msg and "tensorrt" in msg.lower()


def test_auto_falls_back_to_torch_cpu_without_onnxruntime(net, monkeypatch):
    real = factory.probe_backends
    monkeypatch.setattr(factory, "_torch_has_cuda", lambda: False)
    monkeypatch.setattr(factory, "probe_backends",
                        lambda: {**real(), "onnxruntime": (False, "onnxruntime is not importable (test)")})
    b = create_backend("auto", model=net, frames=FRAMES)
    assert b.name == "torch" and b.device == "cpu"


def test_auto_prefers_tensorrt_when_probe_says_so(net, onnx_file, monkeypatch):
    calls = {}
    real = factory.probe_backends

    def fake_load(name, **kw):
        calls["name"] = name
        return "loaded-" + name

    monkeypatch.setattr(factory, "probe_backends", lambda: {**real(), "tensorrt": (True, "fake TensorRT on fake GPU")})
    monkeypatch.setattr(factory, "_load", fake_load)
    assert create_backend("auto", model=net, onnx_path=onnx_file, frames=FRAMES) == "loaded-tensorrt"


def test_forced_tensorrt_unavailable_raises_clear_error(onnx_file):
    from seld_ros.engine.tensorrt_backend import probe
    if probe()[0]:
        pytest.skip("TensorRT is available here")
    with pytest.raises(BackendUnavailableError) as ei:
        create_backend("tensorrt", onnx_path=onnx_file)
    msg = str(ei.value)
    assert "tensorrt" in msg and "not importable" in msg


def test_unknown_backend_name():
    with pytest.raises(ValueError, match="unknown backend"):
        create_backend("tflite")


def test_package_import_is_light():
    import subprocess
    import sys
    code = ("import sys, seld_ros.engine; "
            "bad=[m for m in ('torch','onnxruntime','tensorrt','pycuda') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_open_stream_honours_xdg_cache_home_and_refuses_a_shared_cache_dir(tmp_path, monkeypatch):
    from seld_ros.engine import StreamOpenError, StreamOptions, default_cache_dir, open_stream

    monkeypatch.delenv("SELD_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == str(tmp_path / "xdg" / "seld_ros")
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)

    class _Bundle:  # the refusal comes before anything of the bundle's network is used
        sha256, path, model = "0" * 64, "b.pt", object()

    with pytest.raises(StreamOpenError, match="ONNX/engine cache refused: .*writable by group or others"):
        open_stream(_Bundle(), StreamOptions(backend="onnxruntime", cache_dir=str(shared)))


def test_open_stream_exports_into_a_private_cache_dir_and_matches_torch(tmp_path, monkeypatch):
    import stat

    from seld_ros.engine import StreamingInference, StreamOptions, open_stream

    model_mod = pytest.importorskip("seld_ros.model")
    bundle_mod = pytest.importorskip("seld_ros.model.bundle")
    cfg = model_mod.default_at2seld_config(temporal={"d_model": 32, "layers": 1}, head={"hidden": 32},
                                           spatial_channels=[8, 8, 16, 16])
    model = model_mod.build_model(cfg).eval()
    path = str(tmp_path / "b.pt")
    bundle_mod.save_bundle(path, model, {"sample_rate": 24000}, {}, [f"c{i}" for i in range(13)], [0.5] * 13)
    monkeypatch.setattr(factory, "_torch_has_cuda", lambda: False)
    bundle = bundle_mod.load_bundle(path)
    stream, backend = open_stream(bundle, StreamOptions(context_seconds=1.0, cache_dir=str(tmp_path / "cache"),
                                                        warmup=1))
    assert backend.name == "onnxruntime" and backend.block_frames == 50
    assert isinstance(stream, StreamingInference) and stream.mode == "sliding window" and stream.window_seconds == 1.0
    onnx_files = list((tmp_path / "cache").glob("*.onnx"))
    assert [f.name for f in onnx_files] == [f"{bundle.sha256[:16]}_50.onnx"]
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700
    assert (tmp_path / "cache" / "trusted.json").is_file()  # the export is recorded as ours
    ref = TorchBackend().load(bundle.model, 50)
    x = {"features": np.random.default_rng(0).standard_normal((1, 13, 50, 64)).astype(np.float32) * 10}
    for name, v in ref.infer(x).items():
        assert np.max(np.abs(v - backend.infer(x)[name])) <= 1e-4

"""TensorRT backend: imports and reports 'unavailable' here; its control flow runs against a fake TensorRT.

The fake implements the slice of the TensorRT 10 Python API the backend calls (Builder, OnnxParser,
BuilderConfig, Runtime, ICudaEngine named I/O tensors, IExecutionContext.set_tensor_address /
execute_async_v3) and computes with onnxruntime on the ONNX, so the whole build -> cache -> bind ->
run path is exercised without a GPU. It proves the wiring, not TensorRT itself.
"""
import importlib
import logging
import types

import numpy as np
import pytest

from seld_ros.engine import BackendUnavailableError

FRAMES = 50


def test_module_imports_and_reports_unavailable():
    trt_mod = importlib.import_module("seld_ros.engine.tensorrt_backend")
    ok, why = trt_mod.probe()
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    assert ok is False
    assert "tensorrt is not importable" in why
    assert trt_mod.TensorRTBackend.probe() == (ok, why)
    with pytest.raises(BackendUnavailableError, match="tensorrt is not importable"):
        trt_mod.TensorRTBackend().load("model.onnx", "model.plan")
    with pytest.raises(BackendUnavailableError):
        trt_mod.build_serialized_engine("model.onnx")


# -- a fake TensorRT 10 ---------------------------------------------------------------------------

MEMORY = {}  # fake device address -> numpy array


def make_fake_trt(version="10.3.0", log=None):
    import onnxruntime as ort
    log = log if log is not None else []
    trt = types.SimpleNamespace(__version__=version)

    class ILogger:
        INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

        def __init__(self):
            pass

    trt.ILogger = ILogger
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="WORKSPACE")
    trt.BuilderFlag = types.SimpleNamespace(FP16="FP16")
    trt.TensorIOMode = types.SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT")
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(EXPLICIT_BATCH=0)
    trt.DataType = types.SimpleNamespace(FLOAT="FLOAT")
    trt.nptype = lambda dt: {"FLOAT": np.float32}[dt]

    class Network:
        def __init__(self):
            self.path = None

        @property
        def num_inputs(self):
            return len(self.sess.get_inputs())

        def get_input(self, i):
            node = self.sess.get_inputs()[i]
            return types.SimpleNamespace(name=node.name, shape=tuple(node.shape))

    class OnnxParser:
        def __init__(self, network, logger):
            self.network = network
            self.num_errors = 0

        def parse_from_file(self, path):
            log.append(("parse", path))
            try:
                self.network.sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            except Exception as e:
                self.num_errors, self.err = 1, str(e)
                return False
            self.network.path = path
            return True

        def get_error(self, i):
            return self.err

    class Config:
        def __init__(self):
            self.flags, self.pools = set(), {}

        def set_memory_pool_limit(self, pool, size):
            self.pools[pool] = size

        def set_flag(self, flag):
            self.flags.add(flag)

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            log.append(("create_network", flags))
            return Network()

        def create_builder_config(self):
            return Config()

        def build_serialized_network(self, network, config):
            log.append(("build", sorted(config.flags), config.pools))
            return ("FAKEPLAN|" + version + "|" + network.path).encode()

    class Context:
        def __init__(self, engine):
            self.engine, self.addr = engine, {}

        def set_tensor_address(self, name, ptr):
            self.addr[name] = ptr
            return True

        def execute_async_v3(self, stream_handle):
            log.append(("execute_async_v3", stream_handle))
            ins = [n for n in self.engine.names if self.engine.get_tensor_mode(n) == "INPUT"]
            outs = self.engine.sess.run(None, {n: MEMORY[self.addr[n]] for n in ins})
            for node, val in zip(self.engine.sess.get_outputs(), outs):
                MEMORY[self.addr[node.name]][...] = val
            return True

    class Engine:
        def __init__(self, path):
            self.sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            self.names = [n.name for n in self.sess.get_inputs()] + [n.name for n in self.sess.get_outputs()]
            self.num_io_tensors = len(self.names)

        def get_tensor_name(self, i):
            return self.names[i]

        def _node(self, name):
            return {n.name: n for n in self.sess.get_inputs() + self.sess.get_outputs()}[name]

        def get_tensor_mode(self, name):
            return "INPUT" if name in [n.name for n in self.sess.get_inputs()] else "OUTPUT"

        def get_tensor_shape(self, name):
            return tuple(self._node(name).shape)

        def get_tensor_dtype(self, name):
            return "FLOAT"

        def create_execution_context(self):
            return Context(self)

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            parts = bytes(data).split(b"|")
            log.append(("deserialize", len(data)))
            if len(parts) != 3 or parts[0] != b"FAKEPLAN" or parts[1].decode() != version:
                return None
            return Engine(parts[2].decode())

    trt.Builder, trt.OnnxParser, trt.Runtime = Builder, OnnxParser, Runtime
    return trt, log


class FakeBuffers:
    """Stands in for the pycuda / torch-CUDA buffers: 'device' arrays live in MEMORY."""

    via = "fake"

    def __init__(self, specs, device_index=0):
        self.arrays = {s.name: np.zeros(s.shape, np.dtype(s.dtype)) for s in specs}
        for a in self.arrays.values():
            MEMORY[id(a)] = a

    def address(self, name):
        return id(self.arrays[name])

    def run(self, context, inputs, output_names):
        for n, x in inputs.items():
            self.arrays[n][...] = x  # "memcpy_htod_async"
        assert context.execute_async_v3(1234)
        return {n: self.arrays[n].copy() for n in output_names}

    def swap(self, a, b):
        self.arrays[a], self.arrays[b] = self.arrays[b], self.arrays[a]

    def zero(self, name):
        self.arrays[name][...] = 0

    def read(self, name):
        return self.arrays[name].copy()

    def close(self):
        for a in self.arrays.values():
            MEMORY.pop(id(a), None)


@pytest.fixture
def fake_env(monkeypatch):
    mod = importlib.import_module("seld_ros.engine.tensorrt_backend")
    state = {"version": "10.3.0", "log": []}

    def set_version(v):
        state["version"] = v
        trt, _ = make_fake_trt(v, state["log"])
        monkeypatch.setattr(mod, "import_tensorrt", lambda: (trt, f"tensorrt {v}"))
        monkeypatch.setattr(mod, "_TRT_LOGGER", None)

    set_version("10.3.0")
    monkeypatch.setattr(mod, "gpu_info", lambda device_index=0: (
        {"name": "Orin (fake)", "compute_capability": "8.7", "via": "torch"}, "ok"))
    monkeypatch.setattr(mod, "torch_cuda", lambda: (object(), "fake torch CUDA"))
    monkeypatch.setattr(mod, "_TorchBuffers", FakeBuffers)
    state["set_version"] = set_version
    state["mod"] = mod
    return state


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    pytest.importorskip("torch")
    from seld_ros.engine.export import export_onnx
    from seld_ros.engine.testing import TinySeldNet
    net = TinySeldNet(seed=2)
    path = str(tmp_path_factory.mktemp("trt") / "tiny.onnx")
    export_onnx(net, path, FRAMES)
    return net, path


def test_fake_tensorrt_build_cache_bind_run(fake_env, tiny_onnx, tmp_path, caplog):
    from seld_ros.engine.torch_backend import TorchBackend
    mod = fake_env["mod"]
    net, onnx = tiny_onnx
    plan = str(tmp_path / "tiny.fp16.plan")
    ok, why = mod.probe()
    assert ok, why
    b = mod.TensorRTBackend().load(onnx, plan, enable_fp16=True, bundle_hash="bundle-1", buffers="torch")
    assert b.cache_check.status == "missing"
    build = [e for e in fake_env["log"] if e[0] == "build"][0]
    assert build[1] == ["FP16"] and build[2] == {"WORKSPACE": 1 << 30}
    assert ("create_network", 0) in fake_env["log"]
    assert b.input_names == ["features"] and b.output_names == ["accdoa"]
    x = {"features": np.random.default_rng(0).standard_normal((1, 13, FRAMES, 64)).astype(np.float32)}
    got = b.infer(x)["accdoa"]
    ref = TorchBackend().load(net, FRAMES).infer(x)["accdoa"]
    assert np.max(np.abs(got - ref)) < 1e-4
    info = b.info()
    assert info["backend"] == "tensorrt" and info["precision"] == "fp16" and info["versions"]["tensorrt"] == "10.3.0"
    assert info["versions"]["gpu"] == "Orin (fake)" and info["cache"] == "missing"
    b.close()

    # second load: cache hit, no build
    n_builds = sum(e[0] == "build" for e in fake_env["log"])
    b = mod.TensorRTBackend().load(onnx, plan, enable_fp16=True, bundle_hash="bundle-1", buffers="torch")
    assert b.cache_check.ok and sum(e[0] == "build" for e in fake_env["log"]) == n_builds
    b.close()

    # TensorRT upgraded: stale engine rebuilt, with a log line naming the reason
    fake_env["set_version"]("10.7.0")
    with caplog.at_level(logging.WARNING, logger="seld_ros.engine.tensorrt_backend"):
        b = mod.TensorRTBackend().load(onnx, plan, enable_fp16=True, bundle_hash="bundle-1", buffers="torch")
    assert b.cache_check.status == "stale"
    assert any("tensorrt_version" in r.getMessage() for r in caplog.records)
    assert np.max(np.abs(b.infer(x)["accdoa"] - ref)) < 1e-4
    b.close()


def test_fake_tensorrt_corrupt_engine_rebuilt(fake_env, tiny_onnx, tmp_path, caplog):
    mod = fake_env["mod"]
    _, onnx = tiny_onnx
    plan = tmp_path / "tiny.plan"
    mod.TensorRTBackend().load(onnx, str(plan), enable_fp16=False, buffers="torch").close()
    plan.write_bytes(b"garbage" * 10)  # sidecar hash no longer matches
    with caplog.at_level(logging.WARNING):
        b = mod.TensorRTBackend().load(onnx, str(plan), enable_fp16=False, buffers="torch")
    assert b.cache_check.status == "corrupt" and b.precision == "fp32"
    assert plan.read_bytes().startswith(b"FAKEPLAN")
    assert any("corrupt" in r.getMessage() for r in caplog.records)
    b.close()


def test_fake_tensorrt_engine_only_and_bad_onnx(fake_env, tiny_onnx, tmp_path):
    from seld_ros.engine import BackendError
    mod = fake_env["mod"]
    _, onnx = tiny_onnx
    plan = str(tmp_path / "only.plan")
    mod.TensorRTBackend().load(onnx, plan, buffers="torch").close()
    b = mod.TensorRTBackend().load("", plan, buffers="torch")  # engine only: sidecar must match here
    assert b.cache_check.ok
    b.close()
    with pytest.raises(BackendError, match="no model_file_path"):
        mod.TensorRTBackend().load("", plan, enable_fp16=False, buffers="torch")  # precision differs
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(BackendError, match="could not parse ONNX"):
        mod.TensorRTBackend().load(str(bad), str(tmp_path / "bad.plan"), buffers="torch")
    assert not (tmp_path / "bad.plan").exists()


def test_fake_tensorrt_stateful_step_keeps_the_state_on_the_device(fake_env, tmp_path):
    """A causal bundle's step engine: named state I/O, state buffers swapped (and re-bound by name) each
    step instead of copied; outputs and carried state equal the torch step; the cache key holds the layout."""
    import json
    import torch
    from model_helpers import tiny_causal_config
    from seld_ros.engine.export import export_onnx
    from seld_ros.engine.incremental import IncrementalInference, stateful_step
    from seld_ros.engine.torch_backend import TorchBackend
    from seld_ros.model import build_model

    mod = fake_env["mod"]
    torch.manual_seed(4)
    step = stateful_step(build_model(tiny_causal_config()).eval())
    onnx = str(tmp_path / "step.onnx")
    export_onnx(step, onnx, 5)
    plan = str(tmp_path / "step.plan")
    b = mod.TensorRTBackend().load(onnx, plan, enable_fp16=False, buffers="torch")
    assert [a for a, _ in b.state_pairs] == step.state_names
    assert json.load(open(plan + ".json"))["key"]["state_layout"] == step.state_layout
    inc = IncrementalInference(b)
    assert inc.device_state
    ref = IncrementalInference(TorchBackend().load(step, 5))
    feats = np.random.default_rng(1).standard_normal((13, 40, 64)).astype(np.float32)
    got, want = inc.run_clip(feats), ref.run_clip(feats)
    for name in want:
        assert np.max(np.abs(got[name] - want[name])) < 1e-4
    for name, v in ref.state().items():
        assert np.max(np.abs(inc.state()[name] - v)) < 1e-4
    inc.reset()  # zeroed on the device: the next clip starts from the initial state
    assert all(not v.any() for v in inc.state().values())
    assert np.max(np.abs(inc.run_clip(feats)["doa"] - want["doa"])) < 1e-4
    # TensorRT 8.6 (JetPack 5): same named-tensor path; the network is created explicit-batch
    fake_env["set_version"]("8.6.1")
    b8 = mod.TensorRTBackend().load(onnx, str(tmp_path / "step86.plan"), enable_fp16=False, buffers="torch")
    assert ("create_network", 1) in fake_env["log"]
    inc8 = IncrementalInference(b8)
    assert np.max(np.abs(inc8.run_clip(feats)["doa"] - want["doa"])) < 1e-4
    b8.close()
    with pytest.raises(ValueError, match="run_step takes"):
        b.run_step({"features": feats[None, :, :5], "state_gru": np.zeros((2, 1, 32), np.float32)})
    b.close()

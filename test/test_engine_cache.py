"""Engine cache: key computation, stale / foreign / corrupt detection, atomic writes (no TensorRT needed)."""
import json
import logging
import os

import pytest

from seld_ros.engine import cache
from seld_ros.engine.cache import EngineParams, atomic_write_bytes, check_engine, compute_key, ensure_engine, \
    write_engine


@pytest.fixture
def onnx(tmp_path):
    p = tmp_path / "m.onnx"
    p.write_bytes(b"fake onnx graph v1")
    return str(p)


def key(onnx, **over):
    kw = dict(bundle_hash="bundle-abc", onnx_path=onnx, tensorrt_version="10.3.0", gpu_name="Orin",
              compute_capability=(8, 7), precision="fp16")
    kw.update(over)
    return compute_key(**kw)


def test_key_fields_and_determinism(onnx):
    k = key(onnx)
    assert k == key(onnx)
    assert k.compute_capability == "8.7" and k.precision == "fp16" and k.gpu_name == "Orin"
    assert len(k.onnx_sha256) == 64
    assert key(onnx, bundle_hash=None).bundle_hash == "onnx:" + k.onnx_sha256
    for field, value in [("tensorrt_version", "10.7.0"), ("gpu_name", "NVIDIA H100"), ("compute_capability", "9.0"),
                         ("precision", "fp32"), ("bundle_hash", "other")]:
        assert key(onnx, **{field: value}) != k
    with pytest.raises(ValueError):
        key(onnx, precision="int8")


def test_ok_then_stale_foreign_corrupt(tmp_path, onnx):
    eng = str(tmp_path / "m.plan")
    k = key(onnx)
    assert check_engine(eng, k).status == "missing"
    write_engine(eng, b"ENGINE" * 100, k)
    assert check_engine(eng, k).ok
    meta = json.load(open(eng + ".json"))
    assert meta["key"]["tensorrt_version"] == "10.3.0" and meta["engine_bytes"] == 600

    c = check_engine(eng, key(onnx, tensorrt_version="10.7.0"))
    assert c.status == "stale" and "tensorrt_version" in c.reason and "10.3.0" in c.reason
    assert check_engine(eng, key(onnx, precision="fp32")).status == "stale"
    assert check_engine(eng, key(onnx, bundle_hash="new-weights")).status == "stale"
    c = check_engine(eng, key(onnx, gpu_name="NVIDIA H100", compute_capability="9.0"))
    assert c.status == "foreign" and "GPU" in c.reason

    # ONNX changed since the engine was built -> stale
    with open(onnx, "ab") as f:
        f.write(b" v2")
    assert check_engine(eng, key(onnx)).status == "stale"


def test_corrupt_engine_and_sidecar(tmp_path, onnx):
    eng = str(tmp_path / "m.plan")
    k = key(onnx)
    write_engine(eng, b"E" * 1000, k)
    with open(eng, "r+b") as f:  # same size, flipped bytes
        f.write(b"X")
    assert check_engine(eng, k).status == "corrupt"
    with open(eng, "wb") as f:  # truncated
        f.write(b"E" * 10)
    c = check_engine(eng, k)
    assert c.status == "corrupt" and "truncated" in c.reason
    write_engine(eng, b"E" * 1000, k)
    with open(eng + ".json", "w") as f:
        f.write("{not json")
    assert check_engine(eng, k).status == "corrupt"
    os.unlink(eng + ".json")
    c = check_engine(eng, k)
    assert c.status == "corrupt" and "unknown provenance" in c.reason


def test_ensure_engine_builds_hits_and_rebuilds_with_log(tmp_path, onnx, caplog):
    eng = str(tmp_path / "sub" / "m.plan")
    params = EngineParams(model_file_path=onnx, engine_file_path=eng, enable_fp16=True)
    builds = []

    def build():
        builds.append(1)
        return b"PLAN-%d" % len(builds)

    data, c = ensure_engine(params, key(onnx), build)
    assert data == b"PLAN-1" and c.status == "missing" and len(builds) == 1
    data, c = ensure_engine(params, key(onnx), build)
    assert data == b"PLAN-1" and c.ok and len(builds) == 1  # cache hit
    with caplog.at_level(logging.WARNING, logger="seld_ros.engine.cache"):
        data, c = ensure_engine(params, key(onnx, tensorrt_version="10.4.0"), build)
    assert c.status == "stale" and data == b"PLAN-2"
    assert any("building TensorRT engine" in r.getMessage() and "stale" in r.getMessage() for r in caplog.records)
    params.force_engine_update = True
    data, c = ensure_engine(params, key(onnx, tensorrt_version="10.4.0"), build)
    assert c.status == "forced" and data == b"PLAN-3"


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "engine.plan"
    atomic_write_bytes(str(target), b"old complete engine")

    def boom(fd):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(cache.os, "fsync", boom)
    with pytest.raises(OSError, match="simulated"):
        atomic_write_bytes(str(target), b"new engine that never lands")
    monkeypatch.undo()
    assert target.read_bytes() == b"old complete engine"
    assert [p.name for p in tmp_path.iterdir()] == ["engine.plan"]  # no temp file left behind
    atomic_write_bytes(str(target), b"new")
    assert target.read_bytes() == b"new"


def test_isaac_ros_parameter_names():
    p = EngineParams()
    for name in ("model_file_path", "engine_file_path", "force_engine_update", "enable_fp16", "max_workspace_size"):
        assert hasattr(p, name)
    assert EngineParams(enable_fp16=False).precision == "fp32"

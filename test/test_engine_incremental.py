"""Causal AT2SELD run incrementally: streaming equals offline, exported state I/O, mode chosen from the bundle."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from model_helpers import make_tiny_bundle, tiny_at2seld_config, tiny_causal_config
from seld_ros.engine.cache import check_engine, compute_key, write_engine
from seld_ros.engine.export import export_onnx, onnx_is_current
from seld_ros.engine.factory import create_backend
from seld_ros.engine.incremental import IncrementalInference, is_causal, state_layout, stateful_step
from seld_ros.features.config import FeatureConfig
from seld_ros.features.foa import FoaFeatures
from seld_ros.model import build_model
from seld_ros.model.bundle import load_bundle
from seld_ros.pipeline import DEFAULT_MODEL, AudioChunk, PipelineConfig, SeldPipeline

RATE = 24000
TOL = 1e-4


@pytest.fixture(scope="module")
def causal_bundle(tmp_path_factory):
    return make_tiny_bundle(tmp_path_factory.mktemp("causal") / "causal.pt", seed=3, causal=True)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx_cache")


def audio(seconds, seed=0):
    """FOA with a moving tone burst over noise, so the network sees onsets and changing directions."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    x = rng.standard_normal((4, n)).astype(np.float32) * 0.02
    env = ((t > 0.37) & (t < 1.43)).astype(np.float32)
    az = 2.0 * t
    s = np.sin(2 * np.pi * 700 * t) * env * 0.3
    x[0] += s
    x[1] += s * np.sin(az)
    x[3] += s * np.cos(az)
    return x.astype(np.float32)


def offline_outputs(bundle_path, x):
    b = load_bundle(str(bundle_path))
    feats = FoaFeatures(FeatureConfig.from_dict(b.feature_config)).compute(x)
    feats = feats[:, :feats.shape[1] // 5 * 5]
    with torch.inference_mode():
        outs = b.model(torch.from_numpy(np.ascontiguousarray(feats[None], np.float32)))
    return {n: o[0].numpy() for n, o in zip(b.model.output_names, outs)}


def stream(pipe, x, size):
    pipe.reset()
    frames = []
    for i in range(0, x.shape[1], size):
        part = np.ascontiguousarray(x[:, i:i + size].T)
        frames += pipe.push(AudioChunk(part, RATE, 4, "foa_acn_sn3d", i, 10**18 + i * 10**9 // RATE)).frames
    return frames + pipe.flush().frames


def test_step_over_hops_equals_the_offline_forward_and_the_state_layout_is_fixed():
    torch.manual_seed(0)
    m = build_model(tiny_causal_config()).eval()
    assert is_causal(m)
    x = torch.randn(1, 13, 40, 64)
    with torch.inference_mode():
        off = m(x)
        state = m.initial_state()
        steps = []
        for k in range(8):
            out, state = m.step(x[:, :, 5 * k:5 * k + 5], state)
            steps.append(out)
        # two hops at once from a mid-stream state equal two single hops
        _, s4 = m.step(x[:, :, :20], m.initial_state())
        two, _ = m.step(x[:, :, 20:30], s4)
    for i, name in enumerate(m.output_names):
        st = torch.cat([s[i] for s in steps], dim=1)
        assert st.shape == off[i].shape
        assert float((st - off[i]).abs().max()) <= TOL, name
        assert float((two[i] - off[i][:, 4:6]).abs().max()) <= TOL, name
    names = [n for n, _ in m.state_specs()]
    assert names == ["state_b1c1", "state_b1c2", "state_b2c1", "state_b2c2",
                     "state_s1c1", "state_s1c2", "state_s2c1", "state_s2c2", "state_gru"]
    assert [tuple(t.shape) for t in state] == [s for _, s in m.state_specs()]
    # causal: a later input never changes an earlier output
    y = x.clone()
    y[:, :, 25:] += 5.0
    with torch.inference_mode():
        a, b = m(x)[0], m(y)[0]
    assert float((a[:, :5] - b[:, :5]).abs().max()) == 0.0
    assert float((a[:, 5:] - b[:, 5:]).abs().max()) > 1e-3


def test_non_causal_configs_are_rejected_for_streaming():
    with pytest.raises(ValueError, match="bidirectional"):
        build_model(tiny_causal_config(temporal={"kind": "gru", "d_model": 32, "layers": 1, "bidirectional": True}))
    from model_helpers import tiny_at2seld_config
    m = build_model(tiny_at2seld_config())
    assert not is_causal(m)
    with pytest.raises(ValueError, match="needs a causal network"):
        stateful_step(m)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_pipeline_streaming_equals_offline_for_any_chunking(causal_bundle, cache_dir, backend, caplog):
    x = audio(2.4)
    ref = offline_outputs(causal_bundle, x)
    with caplog.at_level(logging.INFO, logger="seld_ros"):
        pipe = SeldPipeline(PipelineConfig(model_file_path=str(causal_bundle), backend=backend,
                                           onnx_cache_dir=str(cache_dir)))
    assert pipe.mode == "incremental" and pipe.info()["inference_mode"] == "incremental"
    assert "inference mode: incremental" in caplog.text
    assert pipe._backend.input_specs[0].shape == (1, 13, 5, 64)  # one hop per call
    assert_streams_like_offline(pipe, x, ref, sample_by_sample=backend == "torch")


def assert_streams_like_offline(pipe, x, ref, sample_by_sample=False):
    """Chunkings of 20 ms, 100 ms, an odd 7919 samples and the whole clip (and sample by sample, on a shorter
    stretch): every label frame comes out as soon as its audio is in, with the offline outputs ``ref``."""
    for size in [480, 2400, 7919, x.shape[1]] + ([1] if sample_by_sample else []):
        xs = x if size > 1 else x[:, :int(0.6 * RATE)]
        frames = stream(pipe, xs, size)
        n = xs.shape[1] // 2400
        assert [f.frame_index for f in frames] == list(range(n)), size
        for name in ("activity_logits", "doa", "distance"):
            got = np.stack([f.outputs[name] for f in frames])
            assert float(np.max(np.abs(got - ref[name][:n]))) <= TOL, (size, name)
        assert all(f.algorithmic_delay_ns == 0 for f in frames)


def export_step_and_compare(m, feats, onnx_path):
    """Export the stateful step of causal ``m``, run ``feats`` (C, T, F) through it hop by hop in onnxruntime (odd
    push sizes) and in torch: every output frame and the carried state agree. Returns (export report, step)."""
    step = stateful_step(m)
    rep = export_onnx(step, str(onnx_path), 5)
    assert rep.max_abs_diff <= TOL
    assert rep.state_layout == step.state_layout == state_layout(m.state_specs())
    assert rep.input_names == ["features"] + [n for n, _ in m.state_specs()]
    ort = IncrementalInference(create_backend("onnxruntime", onnx_path=str(onnx_path), num_threads=1))
    ref = IncrementalInference(create_backend("torch", model=step, frames=5))
    a, b = ort.run_clip(feats, hop_frames=7), ref.run_clip(feats)
    for name in m.output_names:
        assert a[name].shape[0] == feats.shape[1] // 5
        assert float(np.max(np.abs(a[name] - b[name]))) <= TOL
    for k, v in ort.state().items():  # the carried state agrees too (relative to its scale)
        assert float(np.max(np.abs(v - ref.state()[k]))) <= TOL * max(1.0, float(np.abs(v).max()))
    return rep, step


def test_exported_step_runs_in_onnxruntime_like_torch(tmp_path):
    torch.manual_seed(1)
    m = build_model(tiny_causal_config()).eval()
    feats = np.random.default_rng(0).standard_normal((13, 60, 64)).astype(np.float32)
    rep, step = export_step_and_compare(m, feats, tmp_path / "step.onnx")
    assert rep.output_names[-1] == "next_state_gru"
    assert rep.input_shapes["state_gru"] == [2, 1, 32]
    # the export record pins the state layout: another layout makes the ONNX stale
    assert onnx_is_current(str(tmp_path / "step.onnx"), 5, None, step.state_layout)[0]
    ok, why = onnx_is_current(str(tmp_path / "step.onnx"), 5, None, "v1-other")
    assert not ok and "state layout" in why


def test_engine_cache_key_changes_with_the_state_layout(tmp_path):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"graph")
    kw = dict(bundle_hash="b", onnx_path=str(onnx), tensorrt_version="10.3.0", gpu_name="Orin",
              compute_capability=(8, 7), precision="fp16")
    k1 = compute_key(**kw, state_layout="v1-aaaa")
    k2 = compute_key(**kw, state_layout="v1-bbbb")
    assert k1 != k2 and set(k1.diff(k2)) == {"state_layout"}
    engine = str(tmp_path / "m.plan")
    write_engine(engine, b"plan", k1)
    assert check_engine(engine, k1).ok
    check = check_engine(engine, k2)
    assert check.status == "stale" and "state_layout" in check.reason
    # an engine cached before state layouts existed (no field in its sidecar) is stale for a stateful graph
    import json
    meta = json.loads(open(engine + ".json").read())
    del meta["key"]["state_layout"]
    open(engine + ".json", "w").write(json.dumps(meta))
    assert check_engine(engine, compute_key(**kw)).ok
    assert check_engine(engine, k1).status == "stale"


def test_old_non_causal_bundles_run_in_sliding_window_mode_and_say_so(tmp_path, caplog):
    from seld_ros.model import default_baseline_config
    from seld_ros.model.bundle import save_bundle
    from seld_ros.classes import STARSS23_CLASSES

    torch.manual_seed(0)
    cfg = default_baseline_config(conv_channels=8, rnn_size=16, attn_heads=2)
    base = build_model(cfg).eval()
    fcfg = FeatureConfig.from_dict({**FeatureConfig().to_dict(), "feature_set": "logmel+iv"})
    assert cfg["in_channels"] == fcfg.num_channels == 7
    bpath = str(tmp_path / "baseline.pt")
    save_bundle(bpath, base, fcfg.to_dict(), {}, list(STARSS23_CLASSES), [0.5] * 13)
    # an AT2SELD of the previous default's kind: unidirectional GRU, but time-symmetric convs (not causal)
    at2seld_old = str(make_tiny_bundle(tmp_path / "at2seld_noncausal.pt", seed=2, config=tiny_at2seld_config(
        temporal={"kind": "gru", "d_model": 32, "layers": 1, "bidirectional": False, "heads": 2})))
    x = audio(1.2)
    for path in (at2seld_old, bpath):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="seld_ros"):
            pipe = SeldPipeline(PipelineConfig(model_file_path=path, backend="torch", context_seconds=1.0))
        assert pipe.mode == "sliding window"
        assert "inference mode: sliding window" in caplog.text
        frames = stream(pipe, x, 2400)
        assert [f.frame_index for f in frames] == list(range(12))
        assert all(f.outputs for f in frames)


def test_lookahead_is_ignored_with_a_warning_for_a_causal_bundle(causal_bundle, cache_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="seld_ros"):
        pipe = SeldPipeline(PipelineConfig(model_file_path=str(causal_bundle), backend="torch", lookahead_frames=2,
                                           onnx_cache_dir=str(cache_dir)))
    assert "lookahead_frames=2 ignored" in caplog.text
    frames = stream(pipe, audio(0.5), 2400)  # no frame held back: every frame out as soon as its audio is in
    assert [f.frame_index for f in frames] == list(range(5))
    assert pipe.info()["context_seconds"] == pytest.approx(0.1)


def test_the_shipped_default_is_causal_and_the_node_streams_it_exactly_like_offline(cache_dir, caplog):
    """What the node publishes is what offline evaluation scores: the shipped bundle run as the node runs it
    (onnxruntime, one 100 ms hop per call, any chunking) equals the whole-clip forward pass."""
    assert is_causal(load_bundle(str(DEFAULT_MODEL)).model)
    x = audio(3.0, seed=5)
    ref = offline_outputs(DEFAULT_MODEL, x)
    with caplog.at_level(logging.INFO, logger="seld_ros"):
        pipe = SeldPipeline(PipelineConfig(model_file_path=str(DEFAULT_MODEL), backend="onnxruntime",
                                           onnx_cache_dir=str(cache_dir)))
    assert pipe.mode == "incremental" and "inference mode: incremental" in caplog.text
    for size in (2400, 7919, x.shape[1]):
        frames = stream(pipe, x, size)
        assert [f.frame_index for f in frames] == list(range(30)), size
        for name in ("activity_logits", "doa", "distance"):
            got = np.stack([f.outputs[name] for f in frames])
            assert float(np.max(np.abs(got - ref[name][:30]))) <= TOL, (size, name)

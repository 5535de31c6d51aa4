"""The package's import graph: the node starts with only the documented node dependencies (requirements/node.txt,
torch, ROS) — no rosbags, no bag tools, no training code — and ros/ imports neither cli/ nor bag/."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import seld_ros

PACKAGE = Path(seld_ros.__file__).resolve().parent
# third-party packages the node set (requirements/node.txt, README) does not contain (tqdm is not listed: torch
# imports it where it is installed)
NOT_IN_THE_NODE_SET = ("rosbags", "matplotlib", "soundfile", "pyroomacoustics", "sklearn", "pandas")
# rooms of the package the node has no use for
NOT_FOR_THE_NODE = ("seld_ros.bag", "seld_ros.cli", "seld_ros.train", "seld_ros.data", "seld_ros.metrics")


def _closure(code: str, env=None) -> dict:
    """Run ``code`` in a fresh interpreter; the top-level third-party and the seld_ros modules it imported."""
    probe = code + (
        "\nimport sys, json\n"
        "mods = sorted(sys.modules)\n"
        "print(json.dumps({'top': sorted({m.split('.')[0] for m in mods}), "
        "'seld': [m for m in mods if m.startswith('seld_ros.')]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, **(env or {})))
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _check(found: dict) -> None:
    assert not set(NOT_IN_THE_NODE_SET) & set(found["top"]), set(NOT_IN_THE_NODE_SET) & set(found["top"])
    strays = [m for m in found["seld"] if m.startswith(NOT_FOR_THE_NODE)]
    assert not strays, f"the node imports {strays}"


def test_the_node_module_imports_nothing_outside_the_node_dependencies():
    pytest.importorskip("rclpy", reason="ROS overlay not sourced")
    found = _closure("import seld_ros.ros.node")
    assert "rclpy" in found["top"] and "seld_ros.ros.node" in found["seld"]
    _check(found)


def test_a_running_pipeline_with_the_onnx_backend_imports_nothing_outside_the_node_dependencies(bundle, tmp_path):
    """What the node loads at start-up beyond its module: the bundle, the ONNX export, onnxruntime."""
    pytest.importorskip("onnxruntime")
    found = _closure(
        "from seld_ros.pipeline import PipelineConfig, SeldPipeline\n"
        f"SeldPipeline(PipelineConfig(model_file_path={str(bundle)!r}, backend='onnxruntime'))\n",
        env={"SELD_CACHE_DIR": str(tmp_path / "cache")})
    assert "onnxruntime" in found["top"] and "torch" in found["top"]
    _check(found)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "_msg" not in p.parts}


def _imports_of(path: Path) -> set:
    """Every seld_ros module ``path`` imports, at module level or inside functions (relative imports resolved;
    ``from package import submodule`` counts as importing the submodule)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    package = ".".join(parts[:-1])  # what a relative import is relative to (for __init__.py: the package itself)
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("seld_ros"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = package.split(".")
                base = ".".join(pkg[:len(pkg) - node.level + 1] + ([base] if base else []))
            if base.startswith("seld_ros"):
                subs = {f"{base}.{a.name}" for a in node.names} & set(MODULES)
                out.update(subs or {base})
    return out - {_module_name(path)}


def _module_graph() -> dict:
    return {m: sorted(i for i in _imports_of(p) if i in MODULES) for m, p in MODULES.items()}


def _room(module: str) -> str:
    """seld_ros.engine.stream -> engine (a sub-package or a top-level module of the package)."""
    return module.split(".")[1] if "." in module else module


def _room_graph() -> dict:
    graph: dict = {}
    for m, deps in _module_graph().items():
        graph.setdefault(_room(m), set()).update(_room(d) for d in deps if _room(d) != _room(m))
    return {k: sorted(v) for k, v in graph.items()}


def _cycles(graph=None) -> list:
    """Strongly connected components (more than one node) of an import graph (Tarjan); default: the modules."""
    graph = _module_graph() if graph is None else graph
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_circle():
    assert not _cycles(), f"import circles: {_cycles()}"


def test_the_rooms_stack_in_floors():
    """Between rooms (sub-packages and top-level modules) too, every arrow points one way (docs/architecture.md)."""
    graph = _room_graph()
    assert not _cycles(graph), f"rooms importing each other: {_cycles(graph)}"
    assert "ros" not in graph["pipeline"] and "bag" not in graph["pipeline"] and "cli" not in graph["bag"]


def test_ros_imports_neither_cli_nor_bag():
    offenders = {}
    for path in sorted((PACKAGE / "ros").glob("*.py")):
        bad = sorted(m for m in _imports_of(path) if m.startswith(("seld_ros.cli", "seld_ros.bag")))
        if bad:
            offenders[path.name] = bad
    assert not offenders, f"ros/ imports cli/ or bag/: {offenders}"


def test_the_node_stays_a_thin_shell_and_the_pipeline_constructor_only_wires():
    """The node only wires ROS (parameters, QoS, subscriptions, worker, timers, publishing): at most 350 lines.
    SeldPipeline.__init__ only wires the stages (the bundle opens through engine.open_stream): at most 40 lines."""
    node = Path(seld_ros.__file__).parent / "ros" / "node.py"
    assert len(node.read_text().splitlines()) <= 350, "ros/node.py grew past 350 lines: move logic out of the node"
    tree = ast.parse((Path(seld_ros.__file__).parent / "pipeline.py").read_text())
    init = next(f for c in ast.walk(tree) if isinstance(c, ast.ClassDef) and c.name == "SeldPipeline"
                for f in c.body if isinstance(f, ast.FunctionDef) and f.name == "__init__")
    assert init.end_lineno - init.lineno + 1 <= 40, "SeldPipeline.__init__ is more than wiring"

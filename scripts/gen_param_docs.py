#!/usr/bin/env python3
"""Regenerate config/seld.yaml and docs/parameters.md from seld_ros/ros/params.py (the one table).

    python scripts/gen_param_docs.py          # write both files
    python scripts/gen_param_docs.py --check  # exit 1 if either is out of date (used by the tests)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seld_ros.ros.params import PARAMS  # noqa: E402  (ROS-free module)


def _yaml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_yaml_value(x) for x in v) + "]"
    return repr(v)


def _constraint(p) -> str:
    parts = []
    if p.choices:
        parts.append("one of " + ", ".join(f"`{c}`" if c else '`""`' for c in p.choices))
    if p.min is not None:
        parts.append(f"{p.min} to {p.max}")
    return "; ".join(parts)


def render_yaml() -> str:
    out = [
        "# seld_node parameters: every parameter with its default and what it does.",
        "# Generated from seld_ros/ros/params.py by scripts/gen_param_docs.py; edit there.",
        "# Use: ros2 run seld_ros seld_node --ros-args --params-file config/seld.yaml",
        "/**:",
        "  ros__parameters:",
    ]
    current_group = None
    for p in PARAMS:
        group, _, leaf = p.name.rpartition(".")
        if group != current_group:
            if group:
                out.append(f"    {group}:")
            current_group = group
        indent = "      " if group else "    "
        note = p.description + (f" [{_constraint(p)}]" if _constraint(p) else "")
        note += " (changeable at run time)" if p.dynamic else ""
        out.append(f"{indent}# {note}")
        out.append(f"{indent}{leaf}: {_yaml_value(p.default)}")
    return "\n".join(out) + "\n"


def render_markdown() -> str:
    out = [
        "# seld_node parameters",
        "",
        "Generated from `seld_ros/ros/params.py` by `scripts/gen_param_docs.py` (edit there).",
        "Defaults are in `config/seld.yaml`. Parameters marked *dynamic* can be changed while the node runs",
        "(`ros2 param set /seld_node threshold_scale 1.2`); others are read at start-up. A value that is out of",
        "range, of the wrong type or not one of the choices is rejected with a reason (at start-up the node",
        "exits with a FATAL message).",
        "",
        "| name | default | constraints | dynamic | description |",
        "|---|---|---|---|---|",
    ]
    for p in PARAMS:
        out.append(f"| `{p.name}` | `{_yaml_value(p.default)}` | {_constraint(p)} | {'yes' if p.dynamic else ''} "
                   f"| {p.description} |")
    out += [
        "",
        "## Topics",
        "",
        "| topic | type | direction | notes |",
        "|---|---|---|---|",
        "| `~/audio` | `seld_ros/MultichannelAudio` | in | remap to your driver's topic; QoS per `mode`, "
        "`qos_reliability`, `qos_depth` |",
        "| `~/audio_stamped`, `~/audio_info` | `audio_common_msgs/AudioDataStamped`, `AudioInfo` | in | "
        "ros-drivers/audio_common, when that audio_common_msgs is installed (`audio_common.*`); raw PCM, sample "
        "index counted from the bytes |",
        "| `~/audio_stamped` | `audio_common_msgs/AudioStamped` | in | mgonzs13/audio_common, when that "
        "audio_common_msgs is installed (`audio_common.msg_type`); typed samples, format in every message, sample "
        "index counted from the samples; both stacks: docs/bags.md#audio_common-bags-two-ros-2-stacks-and-ros-1 |",
        "| `~/events` | `seld_ros/SoundEventArray` | out | one message per 100 ms output frame, stamped with audio time |",
        "| `~/markers` | `visualization_msgs/MarkerArray` | out | arrow + label per track, `ns` = class name |",
        "| `/diagnostics` | `diagnostic_msgs/DiagnosticArray` | out | input rate, gaps, drops, queue depth, "
        "latency p50/p99, backend, real-time factor |",
        "",
    ]
    return "\n".join(out)


def main() -> int:
    targets = {ROOT / "config" / "seld.yaml": render_yaml(), ROOT / "docs" / "parameters.md": render_markdown()}
    if "--check" in sys.argv:
        stale = [str(p.relative_to(ROOT)) for p, text in targets.items() if not p.exists() or p.read_text() != text]
        if stale:
            print("out of date (run scripts/gen_param_docs.py): " + ", ".join(stale))
            return 1
        return 0
    for path, text in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

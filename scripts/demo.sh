#!/usr/bin/env bash
# The one-command demo: set everything up, render a short FOA scene (five sources of different classes, one
# walking around the array) as a rosbag, start seld_node with the shipped default model, play the bag into it
# over DDS in real time, print the events as they arrive, then write the node's outputs, the offline evaluation
# of the same bag (metrics, DCASE CSV, azimuth/elevation plot) and the node-vs-offline comparison.
# Usage: bash scripts/demo.sh [--speed 1.0] [--bundle path.pt]   (outputs in demo_out/)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
# shellcheck disable=SC1091
source "$ROOT/scripts/env.sh"
cd "$ROOT"
OUT="$ROOT/demo_out"
mkdir -p "$OUT"
# own DDS domain, discovery on this host only: the demo never talks to other ROS graphs
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 90) + 5 ))}" ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export SELD_CACHE_DIR="${SELD_CACHE_DIR:-$OUT/cache}"

echo "== 1/3 rendering the demo scene (pyroomacoustics) and writing it as a rosbag"
python -m seld_ros.cli.demo_scene --out "$OUT/scene"
rm -rf "$OUT/scene_bag"
python -m seld_ros.cli.bag from-dcase "$OUT/scene.wav" "$OUT/scene.csv" "$OUT/scene_bag" --chunk-ms 100

echo "== 2/3 seld_node (default model) listening; playing the bag into it over DDS at 1x"
"$ROOT/ws/install/seld_ros/lib/seld_ros/seld_replay" "$OUT/scene_bag" --out "$OUT/replay" --start-node \
  --compare --speed 1.0 "$@"

echo "== 3/3 results"
python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
s = json.loads((out / "replay" / "replay_summary.json").read_text())
c = s["comparison"]
off = Path(c["offline_outputs"])
print(f"node frames: {s['frames_received']} / {s['expected_frames']}; events per class: {s['events_per_class']}")
table = off / "metrics.txt"
if table.exists():
    print("DCASE 2024 metrics of the node's events against the scene's ground truth:")
    print(table.read_text())
print(f"node vs offline: {'AGREE' if c['agree'] else 'DISAGREE'} "
      f"(count diff {c['max_relative_count_difference'] * 100:.1f} %, direction diff {c['max_direction_difference_deg']:.3f} deg)")
print(f"node outputs bag : {s['output_bag']}")
for p in sorted(off.glob("*")):
    print(f"offline output   : {p}")
PY

#!/usr/bin/env bash
# The synthetic dev set the shipped default model was trained on (docs/training.md):
# 200 train scenes (rooms 0-199), 10 val (rooms 10000-), 10 test (rooms 20000-), 60 s each, 24 kHz FOA.
# ~7 min on 2 cores; ~5 GB with the feature cache. Usage: bash scripts/make_dev_data.sh [root]
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-data/dev}
py=${PYTHON:-.venv/bin/python}
synth() { "$py" -m seld_ros.cli.synth --out "$root" --duration 60 --workers 2 --quiet "$@" >/dev/null; }
synth --split train --num-scenes 40 --seed 2024
synth --split val --num-scenes 10 --seed 2024
synth --split test --num-scenes 10 --seed 2024
# two more train batches in fresh rooms (40-119, 120-199), merged into the train split
synth --split trainb --num-scenes 80 --seed 2025 --rooms-from 40:10000
synth --split trainc --num-scenes 80 --seed 2026 --rooms-from 120:10000
for s in trainb trainc; do
  mv "$root/foa_$s"/* "$root/foa_train/" && mv "$root/metadata_$s"/* "$root/metadata_train/"
  rmdir "$root/foa_$s" "$root/metadata_$s"
done
echo "$root: $(ls "$root/foa_train" | wc -l) train, $(ls "$root/foa_val" | wc -l) val, $(ls "$root/foa_test" | wc -l) test scenes"

#!/usr/bin/env bash
# The stereo dev set of the stereo models (issue 17, docs/training.md "Stereo models"): DCASE 2025-style virtual
# stereo (L, R = (W +- Y) / 2, labels with the azimuth folded to [-90, 90] deg and distances) of real + procedural
# scenes (70 % of the events from the real-sound bank, absolute levels), 60 s each at 24 kHz: 100 train
# (rooms 0-99), 10 val (rooms 10000-), 10 test (rooms 20000-: rooms no training scene used); real sounds from
# the bank's own split per split. These are the scenes of the data/mix set in docs/data.md (same seeds).
#   bash scripts/make_stereo_data.sh [root] [real_bank]            render (FOA + stereo), ~3 min on 2 idle cores
#   FROM=data/mix bash scripts/make_stereo_data.sh data/stereo     stereo variant of an existing float FOA render
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-data/stereo}
bank=${2:-data/real_bank}
py=${PYTHON:-.venv/bin/python}
if [ -n "${FROM:-}" ]; then
  "$py" -c "import sys; from seld_ros.data.synth import write_stereo_variant as w
for s in ('train', 'val', 'test'): print(s, w(sys.argv[1], s, sys.argv[2]))" "$FROM" "$root"
  cp "$FROM"/rooms_*.json "$FROM"/summary_*.json "$root"/
else
  synth() { "$py" -m seld_ros.cli.synth --out "$root" --duration 60 --workers "${WORKERS:-2}" --quiet --stereo \
              --bank "mix:$bank:0.7" --level-db -20 20 "$@" >/dev/null; }
  synth --split train --num-scenes 100 --seed 7001
  synth --split val --num-scenes 10 --seed 7002
  synth --split test --num-scenes 10 --seed 7003
fi
echo "$root: $(ls "$root/stereo_train" | wc -l) train, $(ls "$root/stereo_val" | wc -l) val," \
     "$(ls "$root/stereo_test" | wc -l) test stereo scenes"

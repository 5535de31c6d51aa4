#!/usr/bin/env bash
# The real + procedural SELD training set of the default model (issue 14): procedural scenes (data/dev, made by
# scripts/make_dev_data.sh), scenes whose events come from the real-sound bank (70-80 % real, the rest procedural)
# with unlabelled real distractors, real diffuse ambience and source levels over +-20 dB, and distractor-only scenes
# (labels empty: the network learns to stay silent on non-target sounds). The bank's splits are by source, so val and
# test events come from packages/speakers never used in train.
#
#   bash scripts/make_real_data.sh [OUT=data/real_mix] [DEV=data/dev] [BANK=data/real_bank]
#
# Layout of OUT: parts/<name>/{foa,metadata}_<split> as seld-synth writes them, and OUT/{foa,metadata}_{train,val,test}
# holding prefixed symlinks to every part (dev_*, mix_*, mix2_*, noevt_*), the layout seld-train reads.
# Time on the 2-core VM: ~5 min (350 one-minute scenes). Needs a built bank (scripts/build_real_bank.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-data/real_mix}
dev=${2:-data/dev}
bank=${3:-data/real_bank}
py=${PYTHON:-.venv/bin/python}
[ -f "$bank/manifest.csv" ] || { echo "no real sound bank at $bank: bash scripts/build_real_bank.sh $bank" >&2; exit 2; }
[ -d "$dev/foa_train" ] || { echo "no procedural dev set at $dev: bash scripts/make_dev_data.sh $dev" >&2; exit 2; }
synth() { "$py" -m seld_ros.cli.synth --duration 60 --workers 2 --quiet --level-db -20 20 "$@" >/dev/null; }
p=$out/parts
[ -d "$p/mix/foa_test" ] || {
  synth --out "$p/mix" --split train --num-scenes 100 --seed 7001 --bank "mix:$bank:0.7"
  synth --out "$p/mix" --split val --num-scenes 10 --seed 7002 --bank "mix:$bank:0.7"
  synth --out "$p/mix" --split test --num-scenes 10 --seed 7003 --bank "mix:$bank:0.7"
}
[ -d "$p/mix2/foa_train" ] || synth --out "$p/mix2" --split train --num-scenes 200 --seed 7201 \
  --rooms-from 300:10000 --bank "mix:$bank:0.8" --bank-split train
[ -d "$p/noevt/foa_train" ] || synth --out "$p/noevt" --split train --num-scenes 40 --seed 7301 \
  --rooms-from 600:10000 --bank "real:$bank" --bank-split train --no-targets --distractors-per-min 15

link() {  # link PART_DIR PREFIX SPLIT: prefixed symlinks of one part's split into OUT
  local src=$1 prefix=$2 split=$3 kind f
  for kind in foa metadata; do
    mkdir -p "$out/${kind}_$split"
    for f in "$src/${kind}_$split"/*; do
      ln -sfn "$(realpath "$f")" "$out/${kind}_$split/${prefix}_$(basename "$f")"
    done
  done
}
for s in train val test; do link "$dev" dev $s; link "$p/mix" mix $s; done
link "$p/mix2" mix2 train
link "$p/noevt" noevt train
echo "$out: $(ls "$out/foa_train" | wc -l) train, $(ls "$out/foa_val" | wc -l) val, $(ls "$out/foa_test" | wc -l) test scenes"

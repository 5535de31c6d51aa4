#!/usr/bin/env bash
# One-shot GPU benchmark (docs/BENCHMARKS.md, "GPU"). Two verbs:
#
#   bash benchmarks/bench_gpu.sh prepare   # HERE, with registry access: writes .gpu_carry/ (git-ignored):
#                                          #   scene/ (a 30 s FOA scene bag with ground truth, mcap),
#                                          #   whl/ (rosbags + its binary deps for CPython 3.12 x86-64),
#                                          #   commit.txt; and checks the carry against the 64 MiB limit
#   bash benchmarks/bench_gpu.sh run [ARGS] # ON THE GPU MACHINE (or here, with --dry-run): installs the
#                                          #   carried wheels into /tmp, runs benchmarks/bench_gpu.py with a
#                                          #   hard timeout, writes $OUT/bench_gpu.json, bench_gpu.log,
#                                          #   nvidia_smi.txt (OUT defaults to benchmarks/results/)
#
# ARGS go to bench_gpu.py (--dry-run, --iters N, --budget-s S, --skip-pipeline, ...).
# Knobs: BENCH_GPU_TIMEOUT (hard limit for the bench_gpu.py run, s, default 330; bench_inference.py
# then runs as a cross-check, at most 100 s, if bench_gpu.py took under 300 s), PYTHON (interpreter).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARRY="$ROOT/.gpu_carry"
cd "$ROOT"
verb="${1:-}"
shift || true

pick_python() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"
  elif [ -x "$ROOT/.venv/bin/python" ]; then echo "$ROOT/.venv/bin/python"
  else echo python3
  fi
}

case "$verb" in
prepare)
  set -e
  PY="$(pick_python)"
  mkdir -p "$CARRY/whl"
  rm -rf "$CARRY/scene" "$CARRY/work"
  echo "[prepare] scene bag (30 s, seed 7) -> $CARRY/scene"
  mkdir -p "$CARRY/work"
  nice -n 10 "$PY" - "$CARRY" <<'EOF'
import sys, shutil
from pathlib import Path
sys.path.insert(0, ".")
from benchmarks.bench_eval_bag import make_bag   # the same scene generator bench_eval_bag uses
carry = Path(sys.argv[1])
bag = make_bag(carry / "work", 30.0, 7)
shutil.move(str(bag), str(carry / "scene"))
shutil.rmtree(carry / "work")
EOF
  echo "[prepare] wheels for the GPU machine (CPython 3.12, x86-64) -> $CARRY/whl"
  rm -f "$CARRY"/whl/*.whl
  # rosbags and its needs that the GPU image lacks (numpy and typing_extensions are there); versions = this venv's
  pins="$("$PY" -m pip freeze 2>/dev/null | grep -iE '^(rosbags|apsw|backports[.-]zstd|lz4|ruamel[.-]yaml)==' | tr '\n' ' ')"
  [ -n "$pins" ] || pins="rosbags==0.11.9 apsw backports.zstd lz4 ruamel.yaml"
  # shellcheck disable=SC2086
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$CARRY/whl" $pins \
    2> >(grep -v "is neither a file nor a directory" >&2)
  sha="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  [ -n "$(git status --porcelain -- seld_ros benchmarks/bench_gpu.py 2>/dev/null)" ] && sha="$sha-dirty"
  echo "$sha" > "$CARRY/commit.txt"
  ls -la "$CARRY/whl"
  carry_b=$(du -sb "$CARRY" | cut -f1)
  tree_b=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
  total=$((carry_b + tree_b))
  echo "[prepare] .gpu_carry $((carry_b / 1024)) KiB + tracked tree $((tree_b / 1024)) KiB = $((total / 1048576)) MiB (limit 64 MiB)"
  [ "$total" -lt $((64 * 1048576)) ] || { echo "[prepare] error: over the 64 MiB carry limit" >&2; exit 1; }
  echo "[prepare] done; device command: see docs/BENCHMARKS.md (GPU)"
  ;;
run)
  OUT="${OUT:-$ROOT/benchmarks/results}"
  mkdir -p "$OUT"
  LOG="$OUT/bench_gpu.log"
  case " $* " in *" --dry-run "*) LOG="$OUT/bench_gpu_dryrun.log" ;; esac
  PY="$(pick_python)"
  {
    echo "[run] $(date -u +%FT%TZ) host ${HOSTNAME:-?} python $("$PY" -c 'import sys; print(sys.version.split()[0])')"
    if "$PY" -c 'import rosbags' 2>/dev/null; then
      echo "[run] rosbags already importable: carried wheels not needed"
    elif compgen -G "$CARRY/whl/*.whl" >/dev/null; then
      rm -rf /tmp/seld_gpu_site
      if "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
           --target /tmp/seld_gpu_site "$CARRY"/whl/*.whl; then
        export PYTHONPATH="/tmp/seld_gpu_site${PYTHONPATH:+:$PYTHONPATH}"
        echo "[run] carried wheels installed: $(cd "$CARRY/whl" && ls ./*.whl | tr '\n' ' ')"
      else
        echo "[run] warning: carried wheels did not install; the pipeline step will say what is missing"
      fi
    else
      echo "[run] no carried wheels ($CARRY/whl): the pipeline step needs rosbags already installed"
    fi
    if command -v nvidia-smi >/dev/null 2>&1; then
      nvidia-smi > "$OUT/nvidia_smi.txt" 2>&1 || true
      nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv 2>&1
    else
      echo "[run] nvidia-smi: not found"
    fi
    t0=$SECONDS
    PYTHONUNBUFFERED=1 timeout --signal=INT --kill-after=20 "${BENCH_GPU_TIMEOUT:-330}" \
      "$PY" -u benchmarks/bench_gpu.py --out-dir "$OUT" "$@"
    rc=$?
    [ "$rc" -eq 124 ] && echo "[run] bench_gpu.py hit the ${BENCH_GPU_TIMEOUT:-330} s limit; $OUT holds what it measured"
    # the project's own per-backend benchmark on the same machine, as a cross-check, if time is left
    if [[ " $* " != *" --dry-run "* ]] && [ $((SECONDS - t0)) -lt 300 ]; then
      echo "[run] cross-check: benchmarks/bench_inference.py -> $OUT/bench_inference_gpu.json"
      PYTHONUNBUFFERED=1 timeout --signal=INT --kill-after=10 100 \
        "$PY" -u benchmarks/bench_inference.py --iters 200 --out "$OUT/bench_inference_gpu.json" \
        || echo "[run] bench_inference.py exit $? (not fatal)"
    fi
    echo "[run] exit $rc after $((SECONDS - t0)) s"
    exit "$rc"
  } 2>&1 | tee "$LOG"
  exit "${PIPESTATUS[0]}"
  ;;
*)
  sed -n '2,15p' "$0"
  exit 2
  ;;
esac

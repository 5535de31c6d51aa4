#!/usr/bin/env bash
# Build the real-recording sound bank from Debian packages, on a fresh Debian/Ubuntu machine, in one command:
#
#   bash scripts/build_real_bank.sh data/real_bank [--cache data/deb_cache] [other seld-bank build-real options]
#
# What it does:
#   - runs `apt-get update` only if the package index does not know the packages yet;
#   - installs nothing system-wide except the tools it needs and lacks: sox (GSM decoding) and fluidsynth
#     (rendering GM soundfonts), with `apt-get install -y --no-install-recommends` (needs root);
#   - downloads the listed packages with `apt-get download` into the cache (no install), unpacks them there with
#     `dpkg-deb -x`, and writes the bank (see docs/data.md, "Real-sound bank").
# The Python side needs the repo's environment (bash scripts/setup.sh) or numpy, scipy, soundfile and pyyaml.
set -euo pipefail
if [ $# -lt 1 ] || [[ "$1" == -* ]]; then
  echo "usage: $0 OUT [--cache DIR] [seld-bank build-real options]" >&2
  exit 2
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY="$(command -v python3)"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "build_real_bank: need root to run: $*" >&2; exit 2; fi; }

if ! apt-cache show fluid-soundfont-gm >/dev/null 2>&1; then
  echo "[build_real_bank] package index is empty or stale: apt-get update"
  as_root apt-get update
fi
missing=()
command -v sox >/dev/null || missing+=(sox)
command -v fluidsynth >/dev/null || missing+=(fluidsynth)
command -v dpkg-deb >/dev/null || { echo "build_real_bank: dpkg-deb missing (not a Debian system?)" >&2; exit 2; }
if [ ${#missing[@]} -gt 0 ]; then
  echo "[build_real_bank] installing decoding/rendering tools: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
"$PY" -c "import soundfile, numpy, scipy, yaml" 2>/dev/null || {
  echo "build_real_bank: python packages missing: run 'bash scripts/setup.sh' (or pip install soundfile numpy scipy pyyaml)" >&2
  exit 2; }
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec nice -n 10 "$PY" -m seld_ros.cli.bank build-real "$@"

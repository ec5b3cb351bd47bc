# Shared helpers for the provisioning scripts. Sourced, never executed.
# Everything downloaded lives under $CACHE (outside the clone) so repeated runs and fresh clones reuse it.
set -euo pipefail
CACHE="${OPENCLAW_PAIRING_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openclaw-pairing}"
NODE_WHEEL_VERSION="${NODE_WHEEL_VERSION:-24.19.0}"
OPENCLAW_VERSIONS="${OPENCLAW_VERSIONS:-2026.9.6 2026.2.26}"
mkdir -p "$CACHE"
log() { printf '\033[1m[%s]\033[0m %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# Serialize concurrent provisioning of the same cache (two make runs, or CI + a developer).
# (flock is util-linux; without it, e.g. on macOS, run unlocked.)
with_lock() {
  local name=$1; shift
  if command -v flock >/dev/null; then exec 9>"$CACHE/.$name.lock"; flock 9; fi
  "$@"
}

# Shared helpers for the provisioning scripts. Sourced, never executed.
# Everything downloaded lives under $CACHE (outside the clone) so repeated runs and fresh clones reuse it.
set -euo pipefail
CACHE="${OPENCLAW_PAIRING_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openclaw-pairing}"
NODE_WHEEL_VERSION="${NODE_WHEEL_VERSION:-24.19.0}"
# The OpenClaw release the stack runs unless OPENCLAW_VERSION (environment or compose/.env) says otherwise.
# The compose files repeat it as ${OPENCLAW_VERSION:-...}; tests/unit/test_compose_version.py keeps them equal.
OPENCLAW_PINNED_VERSION=2026.9.6
# The newest release of the JSON-identity era (identity/device.json, before 2026.8) that installs from npm:
# `make test` also runs the compose stack on it (tests/e2e/test_compose_versions.py).
OPENCLAW_COMPAT_VERSION=2026.7.35
# The npm releases `make test` provisions: the pinned one, the oldest supported (2026.2.26), and the two
# sides of the 2026.8 line where identity storage and the gateway config schema changed.
OPENCLAW_VERSIONS="${OPENCLAW_VERSIONS:-$OPENCLAW_PINNED_VERSION 2026.2.26 $OPENCLAW_COMPAT_VERSION 2026.8.1}"
mkdir -p "$CACHE"
log() { printf '\033[1m[%s]\033[0m %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# Serialize concurrent provisioning of the same cache (two make runs, or CI + a developer).
# (flock is util-linux; without it, e.g. on macOS, run unlocked.)
# The lock is fd 9 of this shell, and every child inherits it: a long-lived process started while the
# lock is held (dockerd, and through it containerd and every shim) would hold it for as long as it runs,
# and the next locked run would wait forever. Start such processes with `detach` (it closes fd 9), never
# with a plain `&`. tests/unit/test_scripts_lock.py checks both.
LOCK_FD=9
with_lock() {
  local name=$1; shift
  if command -v flock >/dev/null; then exec 9>"$CACHE/.$name.lock"; flock 9; fi
  "$@"
}
# detach LOG CMD...: start CMD in its own session, in the background, without the lock fd, stdin from
# /dev/null, stdout and stderr to LOG; $! is its PID.
detach() {
  local out=$1; shift
  setsid "$@" >"$out" 2>&1 </dev/null 9>&- &
}
# stack_openclaw_version ENV_FILE: the release the compose stack runs: OPENCLAW_VERSION from the
# environment (`make up OPENCLAW_VERSION=...`), else the OPENCLAW_VERSION= line of ENV_FILE (compose/.env),
# else the pinned one.
stack_openclaw_version() {
  if [ -n "${OPENCLAW_VERSION:-}" ]; then printf '%s\n' "$OPENCLAW_VERSION"; return; fi
  local v=""
  [ -f "$1" ] && v=$(sed -n 's/^OPENCLAW_VERSION=\([^[:space:]#]*\).*/\1/p' "$1" | tail -n 1)
  printf '%s\n' "${v:-$OPENCLAW_PINNED_VERSION}"
}

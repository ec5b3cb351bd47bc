#!/bin/sh
# The openclaw-gateway service's entrypoint (compose/docker-compose.yml): one gateway per state volume,
# the config this image's release accepts, the sidecar's unix socket, then the official command ("$@").
#
# Why the lock: OpenClaw 2026.9 records a "gateway owner lease" in its SQLite state (5 min, renewed every
# 30 s) and reclaims a dead owner's lease only when the owner's host name is its own (openclaw/openclaw
# #155644). A container's host name is its id, new on every recreate, so after a gateway that ended
# without releasing it (kill -9, OOM, engine or host crash) every recreate crash-looped for up to 5 min
# with "Another Gateway owner lease is still active". compose gives the service a fixed `hostname:`, so
# the successor sees its predecessor's process is gone and takes over at once. A fixed host name also
# makes two containers look like one host, though (each would call the other's pid dead): this lock is
# what keeps a second gateway container (say `docker compose run openclaw-gateway`) off a volume a live
# one uses. The gateway process holds it (fd 9 survives the exec) and the kernel drops it however the
# container ends, so it can never go stale.
set -eu
# Only the gateway server takes the lock and the socket: a one-off `docker compose run --rm
# openclaw-gateway node dist/index.js devices list` beside a live gateway must neither be refused nor
# take the live gateway's socket over. The server: `... gateway` followed by nothing, a flag, or `run`.
is_gateway_server() {
  after=""
  for arg in "$@"; do
    if [ -n "$after" ]; then
      case "$arg" in -*|run) return 0 ;; *) return 1 ;; esac
    fi
    [ "$arg" = gateway ] && after=1
  done
  [ -n "$after" ]
}
if ! is_gateway_server "$@"; then
  sh /etc/openclaw/install-config.sh
  exec "$@"
fi
state="${HOME:-/home/node}/.openclaw"
lock="$state/.gateway-container.lock"
if command -v flock >/dev/null 2>&1 && { command exec 9>>"$lock"; } 2>/dev/null; then
  if ! flock -n 9; then
    echo "[start-gateway] another gateway container is running on this state volume ($lock is locked):" \
      "not starting a second gateway on the same pairing database. Stop the other one first" \
      "(docker ps --filter volume=<the state volume>)." >&2
    exit 1
  fi
else
  echo "[start-gateway] WARNING: could not lock $lock (no flock, or the volume is not writable):" \
    "nothing stops a second gateway container on this state volume" >&2
fi
sh /etc/openclaw/install-config.sh
node /etc/openclaw/local-socket.mjs 9>&- &
exec "$@"

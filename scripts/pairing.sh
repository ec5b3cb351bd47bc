#!/usr/bin/env bash
# The fast pairing CLI against the compose stack that `make up` started, from the host:
#
#   scripts/pairing.sh list                 pending requests and paired devices
#   scripts/pairing.sh approve <requestId>  (also: reject <requestId>, remove <deviceId>, doctor, explain)
#
# It runs `openclaw-sidecar` inside the pairing-sidecar container, where the gateway sees a *local* client
# (through its forwarded socket) and the shared token carries its scopes. From the host the gateway only
# sees Docker's published port, a remote peer: a device-less client there gets no scopes ("missing scope:
# operator.pairing"). Equivalent by hand: cd compose && docker compose exec pairing-sidecar openclaw-sidecar list
set -euo pipefail
COMPOSE_DIR="$(cd "$(dirname "$0")/../compose" && pwd)"
[ -f "$COMPOSE_DIR/.env" ] || { echo "pairing.sh: no compose/.env: start the stack first with: make up" >&2; exit 3; }
tty=()
[ -t 0 ] && [ -t 1 ] || tty=(-T)
cd "$COMPOSE_DIR"
exec docker compose exec "${tty[@]}" pairing-sidecar openclaw-sidecar "$@"

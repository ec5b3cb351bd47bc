#!/usr/bin/env bash
# `make down`: stop the compose stack that `make up` started. Volumes are kept (the agent keeps its
# identity, the gateway its paired devices) unless --volumes (`make down V=1`) is given.
#   OPENCLAW_COMPOSE_OVERLAYS="dev" scripts/down.sh     # same overlays as the matching up
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
COMPOSE_DIR="$ROOT/compose"
VOLUMES=()
case "${1:-}" in
  --volumes | -v) VOLUMES=(--volumes) ;;
  "") ;;
  *) die "usage: $0 [--volumes]" ;;
esac

FILES=(-f "$COMPOSE_DIR/docker-compose.yml")
if [ -f "$ROOT/build/images.env" ]; then
  # shellcheck disable=SC1091
  source "$ROOT/build/images.env"
  [ "${OPENCLAW_IMAGES_LOCAL:-0}" = 1 ] && FILES+=(-f "$COMPOSE_DIR/docker-compose.local.yml")
fi
for o in ${OPENCLAW_COMPOSE_OVERLAYS:-}; do FILES+=(-f "$COMPOSE_DIR/docker-compose.$o.yml"); done
# down only needs the project's name and files; a missing compose/.env must not stop it.
[ -f "$COMPOSE_DIR/.env" ] || export OPENCLAW_GATEWAY_TOKEN=unused-by-down

t0=$(date +%s.%N)
docker compose --project-directory "$COMPOSE_DIR" "${FILES[@]}" down --remove-orphans -t 10 "${VOLUMES[@]}"
log "stack stopped in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }')"
if [ ${#VOLUMES[@]} -gt 0 ]; then
  log "volumes removed: the agent's identity and the gateway's paired devices are gone (next make up pairs anew)"
else
  log "volumes kept: next make up reuses the agent's identity and the gateway's pairing (make down V=1 removes them)"
fi

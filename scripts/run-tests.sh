#!/usr/bin/env bash
# `make test`: provision what the suite needs (idempotent, cached outside the clone), then run pytest
# inside a private network namespace with no route out, so the real gateway and everything the tests
# start can only ever talk to loopback, namespaces the tests create, and Docker networks they create.
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
t0=$(date +%s)
started_engine=0

scripts/provision-node.sh
if ! timeout 10 docker info >/dev/null 2>&1; then
  scripts/docker-engine.sh ensure && started_engine=1
fi
# Stop a dockerd we started, by its PID, whatever happens to the tests.
[ "$started_engine" = 1 ] && trap 'scripts/docker-engine.sh stop' EXIT
if timeout 10 docker info >/dev/null 2>&1; then
  scripts/docker-engine.sh compose
  # Tests never pull: the same locally built images on every machine (Debian base + the npm package),
  # for the pinned release and for the JSON-identity-era one the compose stack is also tested on.
  OPENCLAW_IMAGE_SOURCE="${OPENCLAW_IMAGE_SOURCE:-local}" OPENCLAW_VERSION=$OPENCLAW_PINNED_VERSION \
    scripts/build-images.sh
  OPENCLAW_IMAGE_SOURCE="${OPENCLAW_IMAGE_SOURCE:-local}" OPENCLAW_VERSION=$OPENCLAW_COMPAT_VERSION \
    OPENCLAW_IMAGES_ENV="build/images-$OPENCLAW_COMPAT_VERSION.env" scripts/build-images.sh
fi
log "provisioning took $(( $(date +%s) - t0 )) s"

pytest=(.venv/bin/python -m pytest "$@")
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
  # One namespace for pytest and the gateways it starts: loopback only, plus what tests add.
  unshare --net --fork --kill-child -- bash -c \
    'ip link set lo up && OPENCLAW_TEST_NETNS=1 exec "$@"' _ "${pytest[@]}"
else
  log "not root: running without a private network namespace (remote-peer and Docker-network tests skip)"
  "${pytest[@]}"
fi

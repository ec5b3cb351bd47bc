#!/usr/bin/env bash
# Build (or pull) the images `make up` and the e2e tests run, idempotently, and say what happened.
#
#   openclaw-pairing:local     this project (Dockerfile): always built here, with --network=none, from
#                              wheels downloaded on the host into $CACHE/wheels
#   OpenClaw gateway/CLI       the official image (openclaw/openclaw:<version>) when a registry answers,
#                              otherwise openclaw-local:<version> (compose/openclaw.Dockerfile), built
#                              offline from Node 24 (PyPI wheel) and the npm package in $CACHE
#
# An image is rebuilt only when its inputs changed: every image carries the label
# org.openclaw-pairing.content-hash (a hash of its Dockerfile, sources and base image id); a matching
# label means "skip".
#
# Switches (environment):
#   OPENCLAW_IMAGE_SOURCE=auto|local|registry
#       auto (default): use images already present; otherwise try `docker pull` once and fall back to local
#       builds when no registry answers (and say so). local: never pull. registry: pulls must work.
#   BASE_IMAGE=<image>          base of openclaw-pairing (default python:3.12-slim from a registry, else
#                               local/python:3.11-bookworm built from Debian packages)
#   OPENCLAW_VERSION=<release>  OpenClaw release of the gateway/agent image (default: OPENCLAW_VERSION in
#                               compose/.env, else the pinned release, OPENCLAW_PINNED_VERSION in lib.sh);
#                               the npm package is provisioned and openclaw-local:<release> built for it
#   OPENCLAW_OFFICIAL_IMAGE=... official image reference (default openclaw/openclaw:$OPENCLAW_VERSION)
#   OPENCLAW_PAIRING_IMAGE=...  tag of the project image (default openclaw-pairing:local)
#   PULL_TIMEOUT=60             seconds allowed for one `docker pull`
#   OPENCLAW_IMAGES_ENV=<file>  where to write the result (default build/images.env)
#
# Writes build/images.env (git-ignored): the release, the image references and whether they were built
# locally; scripts/up.sh and tests/e2e read it.
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OPENCLAW_VERSION=$(stack_openclaw_version "$ROOT/compose/.env")
IMAGES_ENV="${OPENCLAW_IMAGES_ENV:-$ROOT/build/images.env}"
IMAGE_SOURCE="${OPENCLAW_IMAGE_SOURCE:-auto}"
PAIRING_IMAGE="${OPENCLAW_PAIRING_IMAGE:-openclaw-pairing:local}"
OFFICIAL_IMAGE="${OPENCLAW_OFFICIAL_IMAGE:-openclaw/openclaw:$OPENCLAW_VERSION}"
LOCAL_OPENCLAW_IMAGE="openclaw-local:$OPENCLAW_VERSION"
REGISTRY_BASE="python:3.12-slim"
LOCAL_BASE="local/python:3.11-bookworm"
PULL_TIMEOUT="${PULL_TIMEOUT:-60}"
HASH_LABEL="org.openclaw-pairing.content-hash"
NODE_HOME="$CACHE/node-$NODE_WHEEL_VERSION"
[[ "$OPENCLAW_VERSION" =~ ^[0-9]{4}\.[0-9]{1,2}\.[0-9]+([-.][0-9A-Za-z.-]+)?$ ]] \
  || die "OPENCLAW_VERSION=$OPENCLAW_VERSION is not an OpenClaw release like $OPENCLAW_PINNED_VERSION (set it in compose/.env or the environment)"
case "$IMAGE_SOURCE" in auto | local | registry) ;; *) die "OPENCLAW_IMAGE_SOURCE must be auto, local or registry (got '$IMAGE_SOURCE')" ;; esac

T0=$(date +%s.%N)
SUMMARY=()
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }'; }
note() { SUMMARY+=("$*"); log "$*"; }
exists() { docker image inspect "$1" >/dev/null 2>&1; }
image_hash() { docker image inspect -f "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$1" 2>/dev/null || true; }
image_size() { docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1/1e6}'; }
sha() { if command -v sha256sum >/dev/null; then sha256sum; else shasum -a 256; fi | cut -c1-16; }

# One pull attempt per image; returns 1 quickly when no registry answers. In auto mode a failed pull is
# remembered for a day ($CACHE/registry-unreachable), so machines without a registry do not retry on
# every run (OPENCLAW_IMAGE_SOURCE=registry, or deleting that file, tries again).
NO_REGISTRY_STAMP="$CACHE/registry-unreachable"
NOT_PULLED="OPENCLAW_IMAGE_SOURCE=local: never pulling"
try_pull() {
  [ "$IMAGE_SOURCE" = local ] && return 1
  if [ "$IMAGE_SOURCE" = auto ] && [ -n "$(find "$NO_REGISTRY_STAMP" -mmin -1440 2>/dev/null)" ]; then
    NOT_PULLED="no registry answered during the last day ($NO_REGISTRY_STAMP)"
    log "not pulling $1: $NOT_PULLED"
    return 1
  fi
  log "pulling $1 (up to ${PULL_TIMEOUT} s)"
  if timeout "$PULL_TIMEOUT" docker pull -q "$1" >/dev/null 2>"$CACHE/pull.err"; then
    rm -f "$NO_REGISTRY_STAMP"
    return 0
  fi
  log "pull failed: $(tail -n 1 "$CACHE/pull.err")"
  NOT_PULLED="no image registry answered (docker pull $1 failed)"
  [ "$IMAGE_SOURCE" = registry ] && die "OPENCLAW_IMAGE_SOURCE=registry but $1 cannot be pulled"
  touch "$NO_REGISTRY_STAMP"
  return 1
}

# ---- base image of openclaw-pairing ---------------------------------------------------------------------
resolve_base() {
  local t; t=$(date +%s.%N)
  if [ -n "${BASE_IMAGE:-}" ]; then
    exists "$BASE_IMAGE" || try_pull "$BASE_IMAGE" || die "BASE_IMAGE=$BASE_IMAGE is neither present nor pullable"
    note "base image: $BASE_IMAGE (from BASE_IMAGE)"
    return
  fi
  if [ "$IMAGE_SOURCE" != local ] && { exists "$REGISTRY_BASE" || try_pull "$REGISTRY_BASE"; }; then
    BASE_IMAGE=$REGISTRY_BASE
    note "base image: $BASE_IMAGE (registry)"
    return
  fi
  BASE_IMAGE=$LOCAL_BASE
  if exists "$BASE_IMAGE"; then
    note "base image: $BASE_IMAGE (present; built earlier from Debian packages)"
  else
    [ "$IMAGE_SOURCE" = auto ] && log "no image registry answered: building the base image from Debian packages instead"
    BASE_TAG=$BASE_IMAGE "$ROOT/scripts/docker-engine.sh" base
    note "base image: $BASE_IMAGE built from Debian packages with mmdebstrap in $(since "$t")"
  fi
}

# Python version, machine and glibc of the base image decide which wheels fit (cached per image id).
probe_base() {
  local id probe
  id=$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")
  BASE_ID=$id
  probe="$CACHE/images/probe-${id#sha256:}"
  if [ ! -s "$probe" ]; then
    mkdir -p "$CACHE/images"
    docker run --rm --network=none --entrypoint python3 "$BASE_IMAGE" -c \
      'import platform, sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}", platform.machine(), platform.libc_ver()[1] or "2.17")' \
      >"$probe.tmp" && mv "$probe.tmp" "$probe"
  fi
  read -r PY_VERSION MACHINE GLIBC <"$probe"
}

# ---- wheels: the project's own wheel (fresh) + its dependencies (cached, downloaded once) ----------------
# The files that make up the Python package (tracked or new, never ignored ones), relative to $ROOT.
source_files() {
  local f
  { printf '%s\n' pyproject.toml README.md entrypoint.py
    (cd "$ROOT" && { git ls-files -co --exclude-standard -- sidecar 2>/dev/null || find sidecar -type f; }) | grep -v '__pycache__' | sort
  } | while read -r f; do [ -f "$ROOT/$f" ] && printf '%s\n' "$f"; done
}

host_python() { if [ -x "$ROOT/.venv/bin/python" ]; then echo "$ROOT/.venv/bin/python"; else echo python3; fi; }

# A small venv with the build backend (setuptools, wheel), created once: later builds of the project
# wheel need no network (`make test` rebuilds images from inside its network namespace).
build_python() {
  local venv="$CACHE/wheel-build-venv"
  if ! "$venv/bin/python" -c 'import setuptools, wheel' 2>/dev/null; then
    log "creating the wheel-building venv $venv (setuptools, wheel; once)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "setuptools>=68" wheel >&2
  fi
  echo "$venv/bin/python"
}

platform_args() {
  local minor=${GLIBC#2.} m
  printf -- '--platform %s ' "manylinux2014_$MACHINE" "linux_$MACHINE"
  for ((m = minor; m >= 17; m--)); do printf -- '--platform manylinux_2_%s_%s ' "$m" "$MACHINE"; done
}

build_wheels() {
  local ctx=$1 py t reqs tag dir stamp
  py=$(host_python)
  t=$(date +%s.%N)
  rm -rf "$ctx/wheels"; mkdir -p "$ctx/wheels"
  # Build in a scratch copy so the clone stays clean (no build/lib, no egg-info churn).
  local src="$ctx/src"
  rm -rf "$src"; mkdir -p "$src"
  source_files | tar -C "$ROOT" -cf - -T - | tar -C "$src" -xf -
  "$(build_python)" -m pip wheel -q --no-deps --no-build-isolation --no-index --disable-pip-version-check \
    -w "$ctx/wheels" "$src" >&2
  rm -rf "$src"
  reqs=$("$py" - "$ROOT/pyproject.toml" <<'EOF'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
# the image serves Docker and Kubernetes: the [kubernetes] extra is in it too
print("\n".join(project["dependencies"] + project["optional-dependencies"]["kubernetes"]))
EOF
)
  tag="cp${PY_VERSION/./}-$MACHINE-glibc$GLIBC"
  dir="$CACHE/wheels/$tag"
  stamp="$dir/.complete-$(printf '%s' "$reqs" | sha)"
  if [ ! -f "$stamp" ]; then
    mkdir -p "$dir"
    log "downloading dependency wheels for Python $PY_VERSION ($MACHINE, glibc $GLIBC) into $dir"
    # shellcheck disable=SC2046
    local rc=0
    printf '%s\n' "$reqs" | "$py" -m pip download -q --disable-pip-version-check -d "$dir" \
      --only-binary=:all: --implementation cp --python-version "$PY_VERSION" $(platform_args) -r /dev/stdin \
      >"$CACHE/pip-download.log" 2>&1 || rc=$?
    grep -v "^WARNING: Location 'file:" "$CACHE/pip-download.log" >&2 || true
    [ "$rc" = 0 ] || die "pip download of the dependency wheels failed (exit $rc, log above)"
    touch "$stamp"
    note "dependency wheels downloaded ($(ls "$dir"/*.whl | wc -l) files) in $(since "$t")"
  fi
  cp -l "$dir"/*.whl "$ctx/wheels/" 2>/dev/null || cp "$dir"/*.whl "$ctx/wheels/"
}

# ---- openclaw-pairing -----------------------------------------------------------------------------------
build_pairing() {
  local t hash ctx version revision
  t=$(date +%s.%N)
  resolve_base
  probe_base
  hash=$( {
    echo "$BASE_ID"
    cd "$ROOT"
    for f in Dockerfile $(source_files); do echo "$f"; cat "$f"; done
  } | sha)
  if [ "$(image_hash "$PAIRING_IMAGE")" = "$hash" ]; then
    note "$PAIRING_IMAGE is up to date (content hash $hash, $(image_size "$PAIRING_IMAGE"))"
    return
  fi
  ctx="$ROOT/build/context"
  build_wheels "$ctx"
  version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$ROOT/pyproject.toml" | head -1)
  revision=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  log "building $PAIRING_IMAGE from $BASE_IMAGE (Python $PY_VERSION) with --network=none"
  docker build -q --network=none -f "$ROOT/Dockerfile" \
    --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg VERSION="$version" --build-arg REVISION="$revision" \
    --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --label "$HASH_LABEL=$hash" -t "$PAIRING_IMAGE" "$ctx" >/dev/null 2>"$CACHE/build-pairing.log" \
    || { cat "$CACHE/build-pairing.log" >&2; die "docker build of $PAIRING_IMAGE failed (log above)"; }
  rm -rf "$ctx"
  note "built $PAIRING_IMAGE in $(since "$t") ($(image_size "$PAIRING_IMAGE"))"
}

# ---- the OpenClaw image ---------------------------------------------------------------------------------
build_openclaw_local() {
  local t hash ctx node_bin app="$CACHE/openclaw-$OPENCLAW_VERSION"
  t=$(date +%s.%N)
  if [ ! -f "$app/.complete" ] || ! [ -x "$NODE_HOME/bin/node" ]; then
    OPENCLAW_VERSIONS=$OPENCLAW_VERSION "$ROOT/scripts/provision-node.sh"
  fi
  node_bin=$(readlink -f "$NODE_HOME/bin/node")
  local base=$LOCAL_BASE
  exists "$base" || BASE_TAG=$base "$ROOT/scripts/docker-engine.sh" base
  hash=$( {
    docker image inspect -f '{{.Id}}' "$base"
    cat "$ROOT/compose/openclaw.Dockerfile" "$app/package-lock.json"
    echo "$OPENCLAW_VERSION $NODE_WHEEL_VERSION"
  } | sha)
  if [ "$(image_hash "$LOCAL_OPENCLAW_IMAGE")" = "$hash" ]; then
    note "OpenClaw image: $LOCAL_OPENCLAW_IMAGE, built locally earlier and up to date (content hash $hash, $(image_size "$LOCAL_OPENCLAW_IMAGE")); not the official image: $NOT_PULLED"
    return
  fi
  # Staging context of hard links (no copy of the 650 MB tree); plain copies across file systems.
  ctx="$CACHE/images/openclaw-$OPENCLAW_VERSION-context"
  rm -rf "$ctx"; mkdir -p "$ctx/app"
  cp -l "$node_bin" "$ctx/node" 2>/dev/null || cp "$node_bin" "$ctx/node"
  cp -al "$app/node_modules" "$app/package.json" "$app/package-lock.json" "$ctx/app/" 2>/dev/null \
    || cp -a "$app/node_modules" "$app/package.json" "$app/package-lock.json" "$ctx/app/"
  log "building $LOCAL_OPENCLAW_IMAGE (openclaw $OPENCLAW_VERSION, Node $NODE_WHEEL_VERSION) with --network=none; not the official image: $NOT_PULLED"
  docker build -q --network=none -f "$ROOT/compose/openclaw.Dockerfile" \
    --build-arg BASE_IMAGE="$base" --build-arg OPENCLAW_VERSION="$OPENCLAW_VERSION" \
    --build-arg NODE_VERSION="$NODE_WHEEL_VERSION" \
    --label "$HASH_LABEL=$hash" -t "$LOCAL_OPENCLAW_IMAGE" "$ctx" >/dev/null 2>"$CACHE/build-openclaw.log" \
    || { cat "$CACHE/build-openclaw.log" >&2; die "docker build of $LOCAL_OPENCLAW_IMAGE failed (log above)"; }
  rm -rf "$ctx"
  note "OpenClaw image: built $LOCAL_OPENCLAW_IMAGE from the npm package openclaw@$OPENCLAW_VERSION in $(since "$t") ($(image_size "$LOCAL_OPENCLAW_IMAGE")); not the official image: $NOT_PULLED"
}

resolve_openclaw() {
  if [ -n "${OPENCLAW_IMAGE:-}" ]; then
    exists "$OPENCLAW_IMAGE" || try_pull "$OPENCLAW_IMAGE" || die "OPENCLAW_IMAGE=$OPENCLAW_IMAGE is neither present nor pullable"
    note "OpenClaw image: $OPENCLAW_IMAGE (from OPENCLAW_IMAGE; it must contain OpenClaw $OPENCLAW_VERSION, the release OPENCLAW_VERSION names: identity-init writes that release's identity storage)"
    OPENCLAW_LOCAL=0
    return
  fi
  if [ "$IMAGE_SOURCE" != local ] && { exists "$OFFICIAL_IMAGE" || try_pull "$OFFICIAL_IMAGE"; }; then
    OPENCLAW_IMAGE=$OFFICIAL_IMAGE OPENCLAW_LOCAL=0
    note "OpenClaw image: $OPENCLAW_IMAGE (official)"
    return
  fi
  build_openclaw_local
  OPENCLAW_IMAGE=$LOCAL_OPENCLAW_IMAGE OPENCLAW_LOCAL=1
}

main() {
  command -v docker >/dev/null && docker info >/dev/null 2>&1 || die "no Docker engine answers (run: scripts/docker-engine.sh ensure)"
  build_pairing
  resolve_openclaw
  mkdir -p "$(dirname "$IMAGES_ENV")"
  cat >"$IMAGES_ENV" <<EOF
# written by scripts/build-images.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ); read by scripts/up.sh and tests/e2e
OPENCLAW_VERSION=$OPENCLAW_VERSION
OPENCLAW_IMAGE=$OPENCLAW_IMAGE
OPENCLAW_PAIRING_IMAGE=$PAIRING_IMAGE
OPENCLAW_IMAGES_LOCAL=$OPENCLAW_LOCAL
PAIRING_BASE_IMAGE=$BASE_IMAGE
EOF
  printf '\n' >&2
  log "done in $(since "$T0"):"
  for line in "${SUMMARY[@]}"; do printf '  - %s\n' "$line" >&2; done
}
with_lock images main

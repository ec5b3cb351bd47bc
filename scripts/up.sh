#!/usr/bin/env bash
# `make up`: run gateway + identity-init + pairing sidecar + example agent with docker compose, then tell
# the story of what happened, read from the containers' own logs and the sidecar's audit trail.
#
#   scripts/up.sh                      # the stack as shipped (+ docker-compose.local.yml when needed)
#   OPENCLAW_COMPOSE_OVERLAYS="dev" scripts/up.sh    # add compose/docker-compose.<name>.yml overlays
#
# Creates compose/.env from compose/.env.example on first use (random gateway token, trusted flag on:
# `make up` runs on your own machine). Images come from scripts/build-images.sh (build/images.env).
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
COMPOSE_DIR="$ROOT/compose"
ENV_FILE="$COMPOSE_DIR/.env"
STORY_TIMEOUT="${STORY_TIMEOUT:-90}"

ensure_env() {
  [ -f "$ENV_FILE" ] && return
  local token
  token=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
  sed -e "s|^OPENCLAW_GATEWAY_TOKEN=.*|OPENCLAW_GATEWAY_TOKEN=$token|" \
    -e 's|^OPENCLAW_TRUSTED_ENV=.*|OPENCLAW_TRUSTED_ENV=1 # set by make up: this machine is yours; 0 = observe only|' \
    "$COMPOSE_DIR/.env.example" >"$ENV_FILE"
  chmod 600 "$ENV_FILE"
  log "created compose/.env: a random gateway token, OPENCLAW_TRUSTED_ENV=1 (edit it to change either)"
}

# The compose command line, shared with down.sh: base file + local images overlay + requested overlays.
compose_files() {
  FILES=(-f "$COMPOSE_DIR/docker-compose.yml")
  if [ -f "$ROOT/build/images.env" ]; then
    # shellcheck disable=SC1091
    source "$ROOT/build/images.env"
    export OPENCLAW_PAIRING_IMAGE
    if [ "${OPENCLAW_IMAGES_LOCAL:-0}" = 1 ]; then
      FILES+=(-f "$COMPOSE_DIR/docker-compose.local.yml")
    else
      export OPENCLAW_IMAGE
    fi
  fi
  local o
  for o in ${OPENCLAW_COMPOSE_OVERLAYS:-}; do
    [ -f "$COMPOSE_DIR/docker-compose.$o.yml" ] || die "no overlay compose/docker-compose.$o.yml"
    FILES+=(-f "$COMPOSE_DIR/docker-compose.$o.yml")
  done
  if [ -z "${DOCKER_SOCKET_GID:-}" ] && [ -S "${DOCKER_SOCKET:-/var/run/docker.sock}" ]; then
    DOCKER_SOCKET_GID=$(stat -c %g "${DOCKER_SOCKET:-/var/run/docker.sock}")
    export DOCKER_SOCKET_GID
  fi
}
dc() { docker compose --project-directory "$COMPOSE_DIR" "${FILES[@]}" "$@"; }

main() {
  [ -f "$ROOT/build/images.env" ] || "$ROOT/scripts/build-images.sh"
  ensure_env
  compose_files
  local shown=()
  for ((i = 1; i < ${#FILES[@]}; i += 2)); do shown+=("$(basename "${FILES[$i]}")"); done
  log "docker compose up -d --wait (${shown[*]})"
  local t0 rc=0
  t0=$(date +%s.%N)
  dc up -d --wait --wait-timeout 180 || rc=$?
  if [ "$rc" != 0 ]; then
    log "compose up failed (exit $rc); last log lines of each service:"
    dc ps -a >&2 || true
    dc logs --tail 15 >&2 || true
    exit "$rc"
  fi
  log "stack is up in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }')"
  story
}

# Read the story from the containers: gateway readiness, the identity the agent got, its pairing request,
# the sidecar's decision (audit record), and whether the agent is connected. Restarts the agent once after
# an approval: OpenClaw's node host pauses after "pairing required" until it is restarted.
story() {
  local project
  project=$(dc config --format json | python3 -c 'import json, sys; print(json.load(sys.stdin)["name"])')
  python3 - "$project" "$STORY_TIMEOUT" "${FILES[@]}" <<'EOF'
import json, re, subprocess, sys, time

project, timeout, files = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def dc(*args, check=False):
    cmd = ["docker", "compose", "-p", project, *files, *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def logs(service):
    out = dc("logs", "--no-log-prefix", "--timestamps", service)
    return [ANSI.sub("", line) for line in (out.stdout + out.stderr).splitlines()]


def audit():
    records = []
    for line in dc("logs", "--no-log-prefix", "pairing-sidecar").stdout.splitlines():
        line = line.strip()
        if line.startswith("{") and '"action"' in line:
            try:
                records.append(json.loads(line))
            except ValueError:
                pass
    return records


def say(text):
    print(f"  {text}", flush=True)


def container(service):
    out = dc("ps", "-a", "-q", service).stdout.split()
    return out[0] if out else None


print(f"\nWhat happened (project {project}):", flush=True)
gw = logs("openclaw-gateway")
ready = [line for line in gw if "[gateway] ready" in line]
say("gateway ready" + (f" ({ready[-1].split()[0]})" if ready else " (no '[gateway] ready' line yet)"))
for line in logs("identity-init")[-3:]:
    if line.strip():
        say("identity-init: " + line.split(" ", 1)[-1].strip())

deadline = time.monotonic() + timeout
restarted = False
seen_request = set()
seen_audit = set()
connected = False
while time.monotonic() < deadline:
    agent_lines = logs("agent")
    for line in agent_lines:
        m = re.search(r"pairing required.*?\(requestId: ([0-9a-f-]+)\)", line)
        if m and m.group(1) not in seen_request:
            seen_request.add(m.group(1))
            say(f"agent requested pairing (request {m.group(1)[:8]}, the gateway holds it as pending)")
    for rec in audit():
        key = (rec.get("requestId"), rec.get("action"))
        if key in seen_audit:
            continue
        seen_audit.add(key)
        ev = rec.get("evidence") or {}
        req = ev.get("request") or {}
        who = (ev.get("workload") or {}).get("containerName") or req.get("displayName") or "a device"
        dev = (rec.get("deviceId") or "")[:12]
        took = ""
        if isinstance(req.get("ts"), int) and isinstance(rec.get("timeMs"), int):
            took = f" in {rec['timeMs'] - req['ts']} ms"
        how = f"({rec.get('mode')}: {rec.get('check')})" if rec.get("check") else f"({rec.get('mode')})"
        action = rec.get("action")
        if action == "approve":
            say(f"sidecar approved {who} device {dev}{took} {how}")
        elif action == "would-approve":
            say(f"sidecar WOULD approve {who} device {dev} {how} - observe-only: OPENCLAW_TRUSTED_ENV is off")
        else:
            say(f"sidecar: {action} {who} device {dev} {how}: {rec.get('reason')}")
    if any("gateway connected" in line for line in agent_lines):
        connected = True
        break
    approved = any(r.get("action") == "approve" for r in audit())
    if approved and seen_request and not restarted:
        say("restarting the agent: OpenClaw's node host waits for a restart after 'pairing required'")
        dc("restart", "agent")
        restarted = True
    time.sleep(1)

if connected:
    note = "with the identity it was approved for" if restarted else "with its existing identity, no new pairing request"
    say(f"agent connected to the gateway {note}")
    say("recreate it (docker compose up -d --force-recreate agent): same device, nothing to approve")
else:
    say(f"agent not connected after {timeout:.0f} s - see: docker compose -p {project} logs agent pairing-sidecar")
print(flush=True)
EOF
}

with_lock up main

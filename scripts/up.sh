#!/usr/bin/env bash
# `make up`: run gateway + identity-init + pairing sidecar + example agent with docker compose, then tell
# the story of what happened, read from the containers' own logs and the sidecar's audit trail.
#
#   scripts/up.sh                      # the stack as shipped (+ docker-compose.local.yml when needed)
#   OPENCLAW_COMPOSE_OVERLAYS="dev" scripts/up.sh    # add compose/docker-compose.<name>.yml overlays
#
# Creates compose/.env from compose/.env.example on first use (random gateway token, trusted flag on:
# `make up` runs on your own machine). Images come from scripts/build-images.sh (build/images.env).
# Keeps two lines of compose/.env in step with what it runs, so every `docker compose ...` command it
# prints works verbatim in compose/: OPENCLAW_VERSION (`make up OPENCLAW_VERSION=<release>` writes it) and
# COMPOSE_FILE (the base file plus docker-compose.local.yml and the overlays in use).
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

# set_env_line KEY VALUE WHY: make compose/.env say KEY=VALUE (replacing an earlier KEY= line, or
# appending one after a comment line WHY); says so when it changed anything.
set_env_line() {
  local changed
  changed=$(python3 - "$ENV_FILE" "$1" "$2" "$3" <<'PYTHON'
import os, sys
path, key, value, why = sys.argv[1:]
lines = open(path).read().splitlines()
want = f"{key}={value}"
hits = [i for i, line in enumerate(lines) if line.split("=", 1)[0].strip() == key and "=" in line]
if hits and lines[hits[-1]].split(" #", 1)[0].strip() == want:
    sys.exit(0)
if hits:
    lines[hits[-1]] = want
    for i in reversed(hits[:-1]):
        del lines[i]
else:
    lines += [f"# {why}", want]
tmp = path + ".tmp"
with open(tmp, "w") as fh:
    fh.write("\n".join(lines) + "\n")
os.chmod(tmp, 0o600)
os.replace(tmp, path)
print("changed")
PYTHON
)
  [ -z "$changed" ] || log "compose/.env: $1=$2"
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
  local names=() i
  for ((i = 1; i < ${#FILES[@]}; i += 2)); do names+=("$(basename "${FILES[$i]}")"); done
  COMPOSE_FILE_LINE=$(IFS=:; printf '%s' "${names[*]}")
  # The sidecar runs as uid 1000 and needs the socket's group. On Linux the host's socket is the one
  # containers see; Docker Desktop's VM has its own (root-owned), so the compose default (0) stays.
  if [ -z "${DOCKER_SOCKET_GID:-}" ] && [ "$(uname -s)" = Linux ] && [ -S "${DOCKER_SOCKET:-/var/run/docker.sock}" ]; then
    DOCKER_SOCKET_GID=$(python3 -c 'import os, sys; print(os.stat(sys.argv[1]).st_gid)' "${DOCKER_SOCKET:-/var/run/docker.sock}")
    export DOCKER_SOCKET_GID
  fi
}
dc() { docker compose --project-directory "$COMPOSE_DIR" "${FILES[@]}" "$@"; }

# The release: `make up OPENCLAW_VERSION=...` (environment), else compose/.env, else the pinned one. The
# images must be built for it (build/images.env names the release they were built for).
release() {
  OPENCLAW_VERSION=$(stack_openclaw_version "$ENV_FILE")
  export OPENCLAW_VERSION
  set_env_line OPENCLAW_VERSION "$OPENCLAW_VERSION" \
    "The OpenClaw release of the stack (images, identity storage); make up OPENCLAW_VERSION=<release> sets it"
  local built=""
  [ -f "$ROOT/build/images.env" ] && built=$(sed -n 's/^OPENCLAW_VERSION=//p' "$ROOT/build/images.env")
  if [ "$built" != "$OPENCLAW_VERSION" ]; then
    log "images were built for OpenClaw ${built:-(unknown)}, the stack runs $OPENCLAW_VERSION: building them"
    "$ROOT/scripts/build-images.sh"
  fi
  local own="${OPENCLAW_IMAGE:-}"
  [ -n "$own" ] || own=$(sed -n 's/^OPENCLAW_IMAGE=\([^[:space:]#]*\).*/\1/p' "$ENV_FILE" | tail -n 1)
  if [ -n "$own" ]; then
    log "OPENCLAW_IMAGE=$own: the stack takes it to contain OpenClaw $OPENCLAW_VERSION (OPENCLAW_VERSION)." \
      "identity-init writes the identity storage of $OPENCLAW_VERSION (identity/device.json up to 2026.7," \
      "state/openclaw.sqlite from 2026.8); if the image holds a release on the other side of 2026.8, its" \
      "agent makes its own key and is never approved (the sidecar's audit and the gateway log say so)." \
      "Set OPENCLAW_VERSION=<the image's release> in compose/.env."
  fi
}

# Whether the gateway's latest start was refused for a dead predecessor's owner lease (OpenClaw 2026.9).
lease_held() {
  dc logs --tail 30 openclaw-gateway 2>&1 | grep -q "owner lease is still active"
}

# The lease lasts 5 min after its owner's last heartbeat; the gateway's restart policy retries meanwhile.
wait_for_lease_expiry() {
  local deadline=$((SECONDS + 330)) cid status
  while [ "$SECONDS" -lt "$deadline" ]; do
    cid=$(dc ps -q openclaw-gateway 2>/dev/null | head -n 1)
    status=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$cid" 2>/dev/null || true)
    if [ "$status" = healthy ]; then
      log "the gateway is up: the old lease expired"
      return 0
    fi
    sleep 5
  done
  log "the gateway did not come up within 330 s"
}

main() {
  ensure_env
  release
  compose_files
  set_env_line COMPOSE_FILE "$COMPOSE_FILE_LINE" \
    "managed by make up: the compose files in use, so a plain \`docker compose ...\` in compose/ uses them too"
  if [ -n "${DOCKER_SOCKET_GID:-}" ]; then  # else a printed `docker compose up ...` recreated the sidecar
    set_env_line DOCKER_SOCKET_GID "$DOCKER_SOCKET_GID" \
      "managed by make up: the Docker socket's group here, so a plain \`docker compose ...\` keeps the sidecar's access"
  fi
  log "docker compose up -d --wait (${COMPOSE_FILE_LINE//:/ }; OpenClaw $OPENCLAW_VERSION); compose's own output goes to $CACHE/up.log"
  local t0 since rc=0
  t0=$(date +%s.%N)
  since=$(python3 -c 'from datetime import datetime, timezone; print(datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"))')
  dc up -d --wait --wait-timeout 180 >"$CACHE/up.log" 2>&1 || rc=$?
  if [ "$rc" != 0 ] && lease_held; then
    log "the gateway refuses to start: 'Another Gateway owner lease is still active'. A gateway that ended" \
      "without releasing its lease (kill -9, OOM, engine crash) under another host name left it (the stack" \
      "now gives the gateway a fixed one; doctor: gateway.owner-lease-held). OpenClaw lets it expire within" \
      "5 min of that gateway's last heartbeat: waiting for that, then compose up again"
    wait_for_lease_expiry
    rc=0
    dc up -d --wait --wait-timeout 180 >>"$CACHE/up.log" 2>&1 || rc=$?
  fi
  if [ "$rc" != 0 ]; then
    cat "$CACHE/up.log" >&2
    log "compose up failed (exit $rc); state and last log lines of each service:"
    dc ps -a >&2 || true
    dc logs --tail 15 >&2 || true
    exit "$rc"
  fi
  log "stack is up in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }')"
  story "$since"
}

# How to run compose by hand from where the user ran make: `cd <compose dir> && docker compose ...`.
hint_prefix() {
  local rel
  rel=$(python3 -c 'import os, sys; print(os.path.relpath(sys.argv[1]))' "$COMPOSE_DIR")
  case "$rel" in ../*) rel=$COMPOSE_DIR ;; esac
  printf 'cd %q && docker compose' "$rel"
}

# Read the story from the containers (only what happened since this `up` began): gateway readiness, the
# identity the agent got and its pre-pairing (identity-init), the sidecar's decisions from its audit
# trail (the device, then the node's commands), and whether the agent connected at its first attempt,
# with timings. Nothing is restarted: identity-init pre-pairs the device before the agent starts.
story() {
  local project
  project=$(dc config --format json | python3 -c 'import json, sys; print(json.load(sys.stdin)["name"])')
  python3 - "$project" "$STORY_TIMEOUT" "$1" "$(hint_prefix)" "${FILES[@]}" <<'PYTHON'
import json, re, subprocess, sys, time
from datetime import datetime

project, timeout, since, hint, files = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
CHECK_WORDS = {"identity": "key", "remote-ip": "ip"}
SURFACE = "capability surface is awaiting"


def dc(*args):
    return subprocess.run(["docker", "compose", "-p", project, *files, *args], capture_output=True, text=True)


def logs(service, *extra):
    out = dc("logs", "--no-log-prefix", "--no-color", *extra, service)
    return [ANSI.sub("", line) for line in (out.stdout + out.stderr).splitlines()]


def epoch(stamp):
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", stamp.strip())
    if not m:
        return None
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.fromisoformat(m.group(1) + (m.group(2) or ".0")[:7] + zone).timestamp()


def inspect(service):
    ids = dc("ps", "-a", "-q", service).stdout.split()
    out = subprocess.run(["docker", "inspect", ids[0]], capture_output=True, text=True).stdout if ids else ""
    return json.loads(out)[0] if out.strip() else {}


def audit():
    records = []
    for line in logs("pairing-sidecar", "--since", since):
        line = line.strip()
        if line.startswith("{") and '"action"' in line:
            try:
                records.append(json.loads(line))
            except ValueError:
                pass
    return records


def how(rec):
    """'(strict: key+label+ip)': which kinds of evidence the sidecar's passed checks cover."""
    ev = rec.get("evidence") or {}
    words = [CHECK_WORDS[c.get("check")] for c in ev.get("checksPassed") or [] if c.get("check") in CHECK_WORDS]
    if (ev.get("container") or {}).get("matchedLabels"):
        words.insert(1 if words[:1] == ["key"] else 0, "label")
    return f"({rec.get('mode')}: {'+'.join(words) or rec.get('check')})"


def say(text):
    print(f"  {text}", flush=True)


print(f"\nWhat happened (project {project}):", flush=True)
t_since = epoch(since)
started = epoch(inspect("openclaw-gateway").get("State", {}).get("StartedAt", ""))
ready = [epoch(l.split()[0]) for l in logs("openclaw-gateway", "--timestamps") if "[gateway] ready" in l]
if started and started < t_since:
    say("gateway was already running")
elif ready and started:
    say(f"gateway ready {ready[-1] - started:.1f} s after its container started")
else:
    say("gateway: no '[gateway] ready' line yet")
KEEP = ("identity ready", "waiting for approval", "approved after", "already paired", "error")
shown = set()
for line in logs("identity-init", "--since", since):
    line = line.strip().removeprefix("openclaw-entrypoint: ")
    kind = next((k for k in KEEP if k in line), None)
    if kind and (kind, line[:40]) not in shown:  # the first progress line of a request, not every one
        shown.add((kind, line[:40]))
        say("identity-init: " + line)

agent_started = epoch(inspect("agent").get("State", {}).get("StartedAt", ""))
if agent_started and agent_started < t_since:
    connected = any("gateway connected" in l for l in logs("agent"))
    say("agent was already running" + (" and is connected" if connected else ", not connected"))
    print(flush=True)
    sys.exit(0)

deadline = time.monotonic() + timeout
seen_audit, surface_done, connected_at = set(), False, None
while time.monotonic() < deadline:
    for rec in audit():
        key = (rec.get("kind"), rec.get("requestId"), rec.get("action"))
        if key in seen_audit:
            continue
        seen_audit.add(key)
        ev = rec.get("evidence") or {}
        req = ev.get("request") or {}
        who = (ev.get("container") or {}).get("containerName") or req.get("displayName") or "a device"
        dev = (rec.get("deviceId") or "")[:12]
        took = ""
        if isinstance(req.get("ts"), int) and isinstance(rec.get("timeMs"), int):
            took = f" {rec['timeMs'] - req['ts']} ms after the request"
        action, node = rec.get("action"), rec.get("kind") == "node"
        what = f"the command surface of {who} ({len(req.get('commands') or [])} commands)" if node else (
            f"{who}'s pre-pairing request (device {dev})"
        )
        if action == "approve":
            surface_done |= node
            say(f"sidecar approved {what}{took} {how(rec)}")
        elif action == "would-approve":
            say(f"sidecar WOULD approve {what} {how(rec)}: observe-only, OPENCLAW_TRUSTED_ENV is off")
        else:
            say(f"sidecar: {action} {what} ({rec.get('mode')}): {rec.get('reason')}")
    if connected_at is None:
        for line in logs("agent", "--since", since, "--timestamps"):
            if "gateway connected" in line:
                connected_at = epoch(line.split()[0])
                break
    if connected_at is not None and (surface_done or time.monotonic() > deadline - timeout / 2):
        break
    time.sleep(1)

agent_lines = logs("agent", "--since", since)
first_attempt = not any("pairing required" in line for line in agent_lines)
if connected_at is not None:
    took = f" {connected_at - t_since:.1f} s after compose up began" if t_since else ""
    if first_attempt:
        say(f"agent connected at its first attempt{took} (no 'pairing required' in its log)")
    else:
        say(f"agent connected{took}, but only after 'pairing required' (see {hint} logs agent)")
    if surface_done:
        say("agent's commands approved: its node surface is paired (no `openclaw nodes approve` needed)")
    elif any(SURFACE in line for line in agent_lines):
        say(f"agent's commands still await approval: {hint} logs pairing-sidecar says why")
    say(f"recreate it ({hint} up -d --force-recreate agent): same device and commands, nothing to approve")
else:
    say(f"agent not connected after {timeout:.0f} s; see: {hint} logs identity-init agent pairing-sidecar")
print(flush=True)
PYTHON
}

with_lock up main

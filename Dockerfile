# openclaw-pairing: one image for both halves of the project
#   openclaw-entrypoint  (entrypoint.py)  gives an agent container a stable OpenClaw device identity
#   openclaw-sidecar     (sidecar/)       approves pending pairing requests of known, labelled containers
#
# Build it with scripts/build-images.sh. The build context is a directory holding `wheels/`: the project's
# own wheel plus every dependency, downloaded on the host for the base image's Python and platform, so the
# build needs no network at all (`docker build --network=none`); pip inside a container cannot reach PyPI on
# machines whose HTTPS is intercepted. By hand:
#   pip wheel --no-deps -w ctx/wheels . && pip download -d ctx/wheels --only-binary=:all: \
#       --python-version 3.12 --platform manylinux2014_x86_64 ... ctx/wheels/openclaw_pairing-*.whl
#   docker build --network=none -f Dockerfile -t openclaw-pairing:local ctx
#
# BASE_IMAGE: any Debian-like image with python3 (>= 3.11) and its venv module. Production keeps the normal
# python:3.12-slim; machines without an image registry pass local/python:3.11-bookworm (built from Debian
# packages by scripts/docker-engine.sh base). No `# syntax=` line: it would make BuildKit fetch a frontend
# image from a registry.
ARG BASE_IMAGE=python:3.12-slim

# ---- build stage: a self-contained virtualenv, installed from local wheels only -------------------------
FROM ${BASE_IMAGE} AS build
COPY wheels /tmp/wheels
RUN set -eu; \
    python3 -m venv /opt/openclaw-pairing; \
    /opt/openclaw-pairing/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheels \
        --disable-pip-version-check --no-warn-script-location 'openclaw-pairing[kubernetes]'; \
    # the runtime needs neither pip nor setuptools: smaller image, fewer CVE scanner hits
    /opt/openclaw-pairing/bin/pip uninstall -q -y pip setuptools; \
    find /opt/openclaw-pairing -name '__pycache__' -path '*/pip/*' -prune -exec rm -rf {} +; \
    /opt/openclaw-pairing/bin/python -c 'import sidecar, entrypoint, kubernetes_asyncio'

# ---- runtime stage --------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}
ARG BASE_IMAGE
ARG VERSION=0.0.0
ARG REVISION=unknown
ARG CREATED=unknown

COPY --from=build /opt/openclaw-pairing /opt/openclaw-pairing

# uid/gid 1000 and HOME=/home/node match the official OpenClaw image's `node` user: a volume that this
# image creates first (identity-init runs before the agent) is then already owned by the agent's user, so
# nothing has to run as root, and the entrypoint's default state dir ($HOME/.openclaw) and published
# identity path are the agent's. Where ownership does need fixing (bind mounts, other uids) run the
# entrypoint as root with OPENCLAW_UID/OPENCLAW_GID: it fixes ownership, then drops to that uid/gid.
RUN set -eu; \
    groupadd --gid 1000 openclaw; \
    useradd --uid 1000 --gid openclaw --no-create-home --home-dir /home/node \
        --shell /usr/sbin/nologin openclaw; \
    install -d -o 1000 -g 1000 -m 0700 /var/lib/openclaw-pairing /var/lib/openclaw-identity; \
    install -d -o 1000 -g 1000 -m 0700 /home/node /home/node/.openclaw

ENV PATH=/opt/openclaw-pairing/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OPENCLAW_PAIRING_STATE_DIR=/var/lib/openclaw-pairing \
    OPENCLAW_IDENTITY_DIR=/var/lib/openclaw-identity

LABEL org.opencontainers.image.title="openclaw-pairing" \
      org.opencontainers.image.description="Stable OpenClaw device identities for containers (openclaw-entrypoint) and a sidecar that approves only provably known ones (openclaw-sidecar)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"

USER 1000:1000
WORKDIR /var/lib/openclaw-pairing
EXPOSE 9477

# The sidecar's liveness endpoint, probed with the image's own Python (no curl/wget in the image). The
# address follows OPENCLAW_PAIRING_LISTEN (the sidecar's default: 127.0.0.1:9477); a wildcard bind is
# probed on loopback; `off` turns the probe into a no-op. One-shot containers of
# this image (identity-init) should disable it (compose: `healthcheck: {disable: true}`).
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request as r; a = os.environ.get('OPENCLAW_PAIRING_LISTEN', '') or '127.0.0.1:9477'; h, _, p = a.rpartition(':'); h = h.strip('[]'); h = '127.0.0.1' if h in ('', '0.0.0.0', '::') else h; h = f'[{h}]' if ':' in h else h; a.lower() in ('off', 'none', 'false') or r.urlopen(f'http://{h}:{p}/healthz', timeout=2)"]

CMD ["openclaw-sidecar", "run"]

#!/usr/bin/env bash
# `make test-compat`: the compatibility matrix (docs/compatibility.md). Provisions the real npm release of
# every month in tests/harness/releases.py (MATRIX; cached like make test's, in $CACHE/openclaw-<version>),
# then runs tests/compat against each one's real gateway and clients inside a private network namespace
# with no route out (as scripts/run-tests.sh does), one gateway at a time, and writes the measured matrix
# into docs/compatibility.md. No Docker needed. OPENCLAW_TEST_RELEASES="2026.3.31 2026.9.6" narrows it.
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
t0=$(date +%s)
matrix=$(.venv/bin/python -c 'from tests.harness.releases import MATRIX; print(*MATRIX)')
releases=${OPENCLAW_TEST_RELEASES:-$matrix}
OPENCLAW_VERSIONS="$releases" scripts/provision-node.sh
log "provisioning took $(( $(date +%s) - t0 )) s"
report=build/compat-report.json
mkdir -p build
rm -f "$report"
pytest=(.venv/bin/python -m pytest tests/compat --compat-report "$report" "$@")
status=0
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
  OPENCLAW_TEST_RELEASES="$releases" unshare --net --fork --kill-child -- bash -c \
    'ip link set lo up && OPENCLAW_TEST_NETNS=1 exec "$@"' _ "${pytest[@]}" || status=$?
else
  log "the matrix needs root (private network namespaces for the gateways and their remote peers)"
  exit 1
fi
if [ -f "$report" ]; then
  .venv/bin/python -m tests.compat.render "$report"
  log "docs/compatibility.md written from $report"
fi
log "make test-compat took $(( $(date +%s) - t0 )) s (pytest exit $status)"
exit "$status"

#!/usr/bin/env bash
# `make bench`: every bench/bench_*.py (or the ones named), side by side with the approach users have
# today, inside the same kind of private network namespace as the tests (the real gateway never binds
# outside it). Results: printed tables, and JSON under bench/results/ (git-ignored).
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
scripts/provision-node.sh
mkdir -p bench/results
[ $# -gt 0 ] || set -- bench/bench_*.py
loop='for b in "$@"; do echo "[run-bench] $b" >&2; PYTHONPATH=. .venv/bin/python "$b" || exit 1; done'
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
  unshare --net --fork --kill-child -- bash -c "ip link set lo up && export OPENCLAW_TEST_NETNS=1 && $loop" _ "$@"
else
  bash -c "$loop" _ "$@"
fi

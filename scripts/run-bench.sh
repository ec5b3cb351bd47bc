#!/usr/bin/env bash
# `make bench`: bench/run.py measures everything BENCHMARKS.md shows in one run (real gateway 2026.9.6,
# real containers), side by side with the approaches users have today, inside the same kind of private
# network namespace as the tests (the real gateway never binds outside it), and writes BENCHMARKS.md,
# bench/results.json, bench/latency.png and the README's "Measured here" block.
#   scripts/run-bench.sh                     the full run (≈ 40 min on 2 cores)
#   scripts/run-bench.sh --smoke --out DIR   tiny sizes, results into DIR (make test's smoke)
#   scripts/run-bench.sh bench/bench_gateway.py ...   one of the older single benchmarks instead
# Sizes: BENCH_REQUESTS, BENCH_PACE_S, BENCH_BURSTS, BENCH_SIMULATED, BENCH_IDLE_S, BENCH_RECREATES,
# BENCH_CONNECT_RUNS (bench/run.py).
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
scripts/provision-node.sh
for image in openclaw-pairing:local "openclaw-local:$OPENCLAW_PINNED_VERSION" local/python:3.11-bookworm; do
  docker image inspect "$image" >/dev/null 2>&1 \
    || die "image $image missing: run 'OPENCLAW_IMAGE_SOURCE=local scripts/build-images.sh' (make test provisions it)"
done
mkdir -p bench/results
if [ $# -gt 0 ] && [[ "$1" == bench/*.py ]]; then
  loop='for b in "$@"; do echo "[run-bench] $b" >&2; PYTHONPATH=. .venv/bin/python "$b" || exit 1; done'
else
  loop='PYTHONPATH=. exec .venv/bin/python bench/run.py "$@"'
fi
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
  unshare --net --fork --kill-child -- bash -c "ip link set lo up && export OPENCLAW_TEST_NETNS=1 && $loop" _ "$@"
else
  bash -c "$loop" _ "$@"
fi

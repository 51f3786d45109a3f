#!/usr/bin/env bash
# Runs the Redis-store benchmark against the test server: starts Redis on
# 127.0.0.1:6379 if it is down (scripts/services), then
# `cargo bench -p fleche-redis`, which measures the hit, the miss, a raw GET
# through the same connection and 64 concurrent tasks, and runs
# `redis-benchmark -t get -c 64 -n 100000 -q` in the same run for the ratio.
# Extra arguments go to cargo bench.
set -euo pipefail
cd "$(dirname "$0")/../../.."
eval "$(scripts/services up)"
command -v redis-benchmark >/dev/null || {
  echo "run.sh: redis-benchmark is missing (apt-get install redis-tools)" >&2
  exit 1
}
exec cargo bench -p fleche-redis --bench redis "$@"

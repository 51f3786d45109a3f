#!/usr/bin/env bash
# Runs the job array of sweep.sbatch without SLURM: one process per task,
# SLURM_ARRAY_TASK_ID set as SLURM would, several at a time, all sharing
# the store named by FLECHE_CACHE (default: a file store in the temporary
# directory). Run it twice: the second time every task reads its result.
#
#   examples/slurm/run-local.sh                        # tasks 0-9, 4 at a time
#   ARRAY=0-99 PARALLEL=8 examples/slurm/run-local.sh
#   FLECHE_CACHE=postgres://127.0.0.1/test?schema=sweep FEATURES=postgres examples/slurm/run-local.sh
#
# It builds slurm_task without MPI (--no-default-features) and with the
# stores in FEATURES (postgres, redis, s3; none by default: file:// only).
set -euo pipefail
cd "$(dirname "$0")/../.."

array="${ARRAY:-0-9}"
parallel="${PARALLEL:-4}"
export FLECHE_CACHE="${FLECHE_CACHE:-file://${TMPDIR:-/tmp}/fleche-slurm-local}"

cargo build --quiet --release -p fleche-example-hpc --bin slurm_task \
  --no-default-features --features "${FEATURES:-}"
bin="${CARGO_TARGET_DIR:-target}/release/slurm_task"

# The URL without a password, if it has one.
shown=$(printf '%s' "$FLECHE_CACHE" | sed -E 's#//[^/@]*@#//***@#')
echo "run-local: array $array, $parallel at a time, FLECHE_CACHE=$shown" >&2
first="${array%-*}" last="${array#*-}"
seq "$first" "$last" |
  xargs -P "$parallel" -I{} env SLURM_ARRAY_TASK_ID={} "$bin" |
  awk '{ print } { for (i = 1; i <= NF; i++) { split($i, kv, "=");
                   if (kv[1] == "body_runs") runs += kv[2]; if (kv[1] == "hits") hits += kv[2] } n++ }
       END { printf "run-local: %d tasks, body_runs=%d hits=%d\n", n, runs, hits }'

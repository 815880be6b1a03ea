#!/usr/bin/env bash
# Issue 12's benchmarks, each figure beside its floor measured in the same run, as one table.
#   scripts/bench.sh                          # everything at the issue's sizes
#   scripts/bench.sh --scale 0.01             # every data size scaled (a quick smoke run)
#   scripts/bench.sh --only webhook,search    # auto-reply, webhook, round-trips, sync, search, analytics, cold-start
# Builds with the `perf` profile (the release profile with thin LTO; Cargo.toml) every binary it
# measures: pedro, the nineteen functions, the hello-world floor and the benchmark itself.
# Postgres: DATABASE_URL's server, else 127.0.0.1:5432 as `postgres`, else a private one it starts;
# it works in a database of its own (pedro_bench_<pid>) and drops it. Needs `pgbench` for the
# webhook's floor and `zip` for the functions' zips (the table says when one is missing).
# Details (plans, per-function figures, pgbench's output) go to target/bench/bench.log.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=perf
target="${CARGO_TARGET_DIR:-target}"
# Two builds: the benchmark's own dependencies (the test harness) would otherwise unify features
# into the binaries it measures, which are built here as they ship.
echo "building (profile $profile): pedro and the functions, then pedro-bench" >&2
cargo build --quiet --profile "$profile" -p pedro-cli -p pedro-functions
cargo build --quiet --profile "$profile" -p pedro-bench
exec "$target/$profile/pedro-bench" --bin-dir "$target/$profile" --out "$target/bench" "$@"

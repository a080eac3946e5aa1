#!/usr/bin/env bash
# Telephony benchmark (docs/benchmarks.md, "Telephony"). Builds nothing: it needs
#   $BUILD_DIR/bin/protectogram-edge, $BUILD_DIR/bin/protectogram-telephony, $BUILD_DIR/bin/protectogram-migrate,
#   $BUILD_DIR/tests/telephony_bench
# (BUILD_DIR defaults to build; `cmake --build build --target telephony_bench protectogram-edge
# protectogram-telephony protectogram-migrate`). In one run, on the durable benchmark Postgres of
# scripts/bench-pg.sh (fsync on, synchronous_commit on; tests/load/edge/common.sh):
#   1. the machine's ceiling: pgbench, one-row INSERT ... ON CONFLICT DO NOTHING per transaction
#      (tests/load/pgbench_inbox_insert.sql, the same baseline as "Edge ingest"), 64 clients;
#   2. telephony_bench on a freshly migrated database: FakeTelnyx, the real protectogram-edge and
#      protectogram-telephony, a fake incident service; PlaceCall -> dial at the fake, and the DTMF webhook
#      (call.gather.ended) at the edge -> OnCallOutcome at the fake incident service, at 50 calls/s for 20 s
#      (tests/load/telephony/bench_main.cc says how).
# and prints key=value lines, ending with the ratios to pgbench. Loopback only; bounded (pgbench
# PGBENCH_SECONDS, the bench is killed after 120 s). Knobs: CONNECTIONS (64), PGBENCH_SECONDS (10), BENCH_FLAGS
# (passed to telephony_bench, e.g. "--rate=50 --seconds=20 --time-scale=0.01"), and any TELEPHONY_*, EDGE_* or
# DB_POOL_SIZE variable (passed to the services).
set -euo pipefail
export PGOPTIONS="--client-min-messages=warning"
cd "$(dirname "$0")/../../.."
build=${BUILD_DIR:-build}
conns=${CONNECTIONS:-64}
pgbench_seconds=${PGBENCH_SECONDS:-10}
script=run.sh
source tests/load/edge/common.sh
require_files "$build/bin/protectogram-edge" "$build/bin/protectogram-telephony" "$build/bin/protectogram-migrate" \
  "$build/tests/telephony_bench"
require_tools pgbench psql bc timeout
bench_setup
log_dir=var/log/telephony-bench
mkdir -p "$log_dir"

fresh_db() {
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null
  psql "$admin_url" -qc "CREATE DATABASE $1" >/dev/null
}

load_at_start=$(cut -d' ' -f1 /proc/loadavg)  # before pgbench's 64 clients raise it

# 1. The ceiling.
fresh_db protectogram_pgbench
psql "$base_url/protectogram_pgbench" -q -f tests/load/pgbench_setup.sql >/dev/null
pgbench_out=$(pgbench -n -c "$conns" -j 2 -T "$pgbench_seconds" -f tests/load/pgbench_inbox_insert.sql \
  "$base_url/protectogram_pgbench" 2>&1)
pgbench_tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$pgbench_out" | head -1 | xargs printf "%.0f")
pgbench_latency=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' <<<"$pgbench_out" | head -1)
[[ -n $pgbench_tps && $pgbench_tps != 0 ]] || { echo "run.sh: no tps from pgbench: $pgbench_out" >&2; exit 1; }

# 2. The services.
db=protectogram_telephony_bench
fresh_db "$db"
"$build/bin/protectogram-migrate" up --database-url "$base_url/$db" >"$log_dir/migrate.log"
# shellcheck disable=SC2086 # BENCH_FLAGS is a list of flags
bench_out=$(timeout -k 5 120 "$build/tests/telephony_bench" \
  --edge-database-url="${base_url/postgres@/protectogram_edge@}/$db" \
  --telephony-database-url="${base_url/postgres@/protectogram_telephony@}/$db" --stats-url="$base_url/$db" \
  --edge-binary="$build/bin/protectogram-edge" --telephony-binary="$build/bin/protectogram-telephony" \
  --log-dir="$log_dir" ${BENCH_FLAGS:-} 2>"$log_dir/bench.log") || {
  echo "run.sh: telephony_bench failed; see $log_dir/bench.log" >&2
  tail -20 "$log_dir/bench.log" >&2
  echo "$bench_out" >&2
  exit 1
}
rate=$(sed -n 's/^offered_calls_per_s=//p' <<<"$bench_out")
dial_p99=$(sed -n 's/^dial_p99_ms=//p' <<<"$bench_out")
dtmf_p99=$(sed -n 's/^dtmf_to_outcome_p99_ms=//p' <<<"$bench_out")
echo "load_avg_1m_at_start=$load_at_start"
echo "pgbench_tps=$pgbench_tps"
echo "pgbench_latency_avg_ms=$pgbench_latency"
echo "$bench_out"
echo "calls_per_s_vs_pgbench_tps=$(echo "scale=6; $rate / $pgbench_tps" | bc | xargs printf "%.4f")"
echo "dial_p99_vs_pgbench_latency=$(echo "scale=4; $dial_p99 / $pgbench_latency" | bc | xargs printf "%.1f")"
echo "dtmf_p99_vs_pgbench_latency=$(echo "scale=4; $dtmf_p99 / $pgbench_latency" | bc | xargs printf "%.1f")"

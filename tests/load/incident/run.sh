#!/usr/bin/env bash
# Panic benchmark (docs/benchmarks.md, "Panic flow"). Builds nothing: it needs
#   $BUILD_DIR/bin/protectogram-{edge,incident,notification,telephony,migrate}, $BUILD_DIR/tests/incident_bench
# (BUILD_DIR defaults to build; `cmake --build build --target incident_bench`, which builds the services too).
# In one run, on the durable benchmark Postgres of scripts/bench-pg.sh (fsync on, synchronous_commit on;
# tests/load/edge/common.sh):
#   1. the machine's ceiling: pgbench, one-row INSERT ... ON CONFLICT DO NOTHING per transaction
#      (tests/load/pgbench_inbox_insert.sql, the same baseline as "Edge ingest" and "Telephony"), 64 clients;
#   2. incident_bench on a freshly migrated database: the real edge, incident, notification and telephony, the
#      Telegram and Telnyx fakes in the bench; 600 travelers x 3 guardians seeded in SQL; a /panic of a new
#      traveler every 50 ms for 30 s at the edge; panic -> first alert, -> first dial, DTMF 1 -> the traveler's
#      notice (tests/load/incident/bench_main.cc says how).
# and prints key=value lines, ending with the ratios to pgbench. Loopback only; bounded (pgbench
# PGBENCH_SECONDS, the bench is killed after 300 s). Knobs: CONNECTIONS (64), PGBENCH_SECONDS (10), BENCH_FLAGS
# (passed to incident_bench, e.g. "--rate=20 --seconds=30 --warmup=10"), and any EDGE_*, INCIDENT_*, PANIC_*,
# NOTIFY_*, TELEPHONY_* or DB_POOL_SIZE variable (passed to the services).
set -euo pipefail
export PGOPTIONS="--client-min-messages=warning"
cd "$(dirname "$0")/../../.."
build=${BUILD_DIR:-build}
conns=${CONNECTIONS:-64}
pgbench_seconds=${PGBENCH_SECONDS:-10}
script=run.sh
source tests/load/edge/common.sh
require_files "$build/bin/protectogram-edge" "$build/bin/protectogram-incident" \
  "$build/bin/protectogram-notification" "$build/bin/protectogram-telephony" "$build/bin/protectogram-migrate" \
  "$build/tests/incident_bench"
require_tools pgbench psql bc timeout
bench_setup
log_dir=var/log/incident-bench
mkdir -p "$log_dir"

fresh_db() {
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null
  psql "$admin_url" -qc "CREATE DATABASE $1" >/dev/null
}
role_url() { echo "${base_url/postgres@/protectogram_$1@}/$db"; }

load_at_start=$(cut -d' ' -f1 /proc/loadavg)  # before pgbench's 64 clients raise it

# 1. The ceiling.
fresh_db protectogram_pgbench
psql "$base_url/protectogram_pgbench" -q -f tests/load/pgbench_setup.sql >/dev/null
pgbench_out=$(pgbench -n -c "$conns" -j 2 -T "$pgbench_seconds" -f tests/load/pgbench_inbox_insert.sql \
  "$base_url/protectogram_pgbench" 2>&1)
pgbench_tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$pgbench_out" | head -1 | xargs printf "%.0f")
pgbench_latency=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' <<<"$pgbench_out" | head -1)
[[ -n $pgbench_tps && $pgbench_tps != 0 ]] || { echo "run.sh: no tps from pgbench: $pgbench_out" >&2; exit 1; }

# 2. The product.
db=protectogram_incident_bench
fresh_db "$db"
"$build/bin/protectogram-migrate" up --database-url "$base_url/$db" >"$log_dir/migrate.log"
bench_rc=0
# shellcheck disable=SC2086 # BENCH_FLAGS is a list of flags
bench_out=$(timeout -k 5 300 "$build/tests/incident_bench" --admin-url="$base_url/$db" \
  --edge-database-url="$(role_url edge)" --incident-database-url="$(role_url incident)" \
  --notification-database-url="$(role_url notification)" --telephony-database-url="$(role_url telephony)" \
  --edge-binary="$build/bin/protectogram-edge" --incident-binary="$build/bin/protectogram-incident" \
  --notification-binary="$build/bin/protectogram-notification" \
  --telephony-binary="$build/bin/protectogram-telephony" \
  --log-dir="$log_dir" ${BENCH_FLAGS:-} 2>"$log_dir/bench.log") || bench_rc=$?
if [[ -z $bench_out || $bench_out != *panics_incomplete=* ]]; then
  echo "run.sh: incident_bench failed (exit $bench_rc); see $log_dir/bench.log" >&2
  tail -20 "$log_dir/bench.log" >&2
  echo "$bench_out" >&2
  exit 1
fi
value() { sed -n "s/^$1=//p" <<<"$bench_out"; }
ratio() { echo "scale=6; $1 / $2" | bc | xargs printf "%.${3}f"; }
rate=$(value offered_panics_per_s)
echo "load_avg_1m_at_start=$load_at_start"
echo "pgbench_tps=$pgbench_tps"
echo "pgbench_latency_avg_ms=$pgbench_latency"
echo "$bench_out"
echo "panics_per_s_vs_pgbench_tps=$(ratio "$rate" "$pgbench_tps" 4)"
for what in alert dial dtmf_to_notice; do
  echo "${what}_p99_vs_pgbench_latency=$(ratio "$(value "${what}_p99_ms")" "$pgbench_latency" 1)"
done
echo "--- summary"
printf '%-16s %8s %8s %8s %8s %8s\n' path n p50_ms p90_ms p99_ms max_ms
for what in alert dial dtmf_to_notice; do
  printf '%-16s %8s %8s %8s %8s %8s\n' "$what" "$(value "${what}_n")" "$(value "${what}_p50_ms")" \
    "$(value "${what}_p90_ms")" "$(value "${what}_p99_ms")" "$(value "${what}_max_ms")"
done
echo "panics $(value panics), incomplete $(value panics_incomplete); targets (p99 <= $(value target_p99_ms) ms) met:" \
  "$(value targets_met), stretch (25 ms): $(value stretch_targets_met)"
echo "CPU ms per panic: edge $(value cpu_ms_per_panic_edge), incident $(value cpu_ms_per_panic_incident)," \
  "notification $(value cpu_ms_per_panic_notification), telephony $(value cpu_ms_per_panic_telephony)," \
  "Postgres $(value cpu_ms_per_panic_postgres), bench $(value cpu_ms_per_panic_bench);" \
  "machine busy $(value machine_busy), others $(value cpu_others_s) s"
echo "load average: $load_at_start at start, $(value load_avg_1m_after) after"
exit "$bench_rc"

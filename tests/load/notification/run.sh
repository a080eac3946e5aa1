#!/usr/bin/env bash
# Notification delivery benchmark (docs/benchmarks.md, "Notification delivery"). Builds nothing: it needs
#   $BUILD_DIR/bin/protectogram-notification, $BUILD_DIR/bin/protectogram-migrate, $BUILD_DIR/tests/notification_bench
# (BUILD_DIR defaults to build; `cmake --build build --target protectogram-notification protectogram-migrate
# notification_bench`). In one run, on the durable benchmark Postgres of scripts/bench-pg.sh (fsync on,
# synchronous_commit on; tests/load/edge/common.sh):
#   1. the machine's ceiling: pgbench, one-row INSERT ... ON CONFLICT DO NOTHING per transaction
#      (tests/load/pgbench_inbox_insert.sql, the same baseline as "Edge ingest"), 64 clients;
#   2. notification_bench on a freshly migrated database: the fake Bot API and two protectogram-notification
#      replicas with pacing lifted (NOTIFY_PACING=false); throughput (Send -> accepted by the fake) and the
#      latency at a fixed offered rate (tests/load/notification/bench_main.cc says how).
# and prints key=value lines, ending with the ratio of messages/s to pgbench's tps. Loopback only; bounded
# (pgbench PGBENCH_SECONDS, the bench is killed after 150 s). Knobs: CONNECTIONS (64), PGBENCH_SECONDS (10),
# BENCH_FLAGS (passed to notification_bench, e.g. "--messages=20000 --send-threads=8 --rate=1000"), and any
# NOTIFY_* or DB_POOL_SIZE variable (passed to the replicas).
set -euo pipefail
export PGOPTIONS="--client-min-messages=warning"
cd "$(dirname "$0")/../../.."
build=${BUILD_DIR:-build}
conns=${CONNECTIONS:-64}
pgbench_seconds=${PGBENCH_SECONDS:-10}
script=run.sh
source tests/load/edge/common.sh
require_files "$build/bin/protectogram-notification" "$build/bin/protectogram-migrate" \
  "$build/tests/notification_bench"
require_tools pgbench psql bc timeout
bench_setup
log_dir=var/log/notification-bench
mkdir -p "$log_dir"

fresh_db() {
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null
  psql "$admin_url" -qc "CREATE DATABASE $1" >/dev/null
}

# 1. The ceiling.
fresh_db protectogram_pgbench
psql "$base_url/protectogram_pgbench" -q -f tests/load/pgbench_setup.sql >/dev/null
pgbench_out=$(pgbench -n -c "$conns" -j 2 -T "$pgbench_seconds" -f tests/load/pgbench_inbox_insert.sql \
  "$base_url/protectogram_pgbench" 2>&1)
pgbench_tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$pgbench_out" | head -1 | xargs printf "%.0f")
[[ -n $pgbench_tps && $pgbench_tps != 0 ]] || { echo "run.sh: no tps from pgbench: $pgbench_out" >&2; exit 1; }

# 2. The service.
db=protectogram_notification_bench
fresh_db "$db"
"$build/bin/protectogram-migrate" up --database-url "$base_url/$db" >"$log_dir/migrate.log"
# shellcheck disable=SC2086 # BENCH_FLAGS is a list of flags
bench_out=$(timeout -k 5 150 "$build/tests/notification_bench" \
  --database-url="${base_url/postgres@/protectogram_notification@}/$db" --stats-url="$base_url/$db" \
  --binary="$build/bin/protectogram-notification" --log-dir="$log_dir" ${BENCH_FLAGS:-} 2>"$log_dir/bench.log") || {
  echo "run.sh: notification_bench failed; see $log_dir/bench.log" >&2
  tail -20 "$log_dir/bench.log" >&2
  exit 1
}
rate=$(sed -n 's/^throughput_messages_per_s=//p' <<<"$bench_out")
# Every message the fake accepted should be recorded as sent; one still pending was delivered but its outcome
# was not recorded, and would be sent again when its lease runs out.
unrecorded=$(psql "$base_url/$db" -tAc "SELECT count(*) FROM notification.outbox_messages WHERE status <> 'sent'")
echo "pgbench_tps=$pgbench_tps"
echo "$bench_out"
echo "rows_not_marked_sent=$unrecorded"
echo "throughput_vs_pgbench=$(echo "scale=4; $rate / $pgbench_tps" | bc | xargs printf "%.3f")"

#!/usr/bin/env bash
# Edge ingest benchmark (docs/benchmarks.md, "Edge ingest"). Builds nothing: it needs
#   $BUILD_DIR/bin/protectogram-edge, $BUILD_DIR/bin/protectogram-migrate, $BUILD_DIR/tests/edge_fake_services
# (BUILD_DIR defaults to build; `cmake --build build --target protectogram-edge protectogram-migrate
# edge_fake_services`). In one run, on the durable benchmark Postgres of scripts/bench-pg.sh (fsync on,
# synchronous_commit on):
#   1. the machine's ceiling: pgbench, one-row INSERT ... ON CONFLICT DO NOTHING per transaction, 64 clients;
#   2. "forwarding": the edge with its default configuration while wrk posts signed Telegram updates with
#      unique update_ids (64 connections, 20 s); its relay forwards every stored update to a trivial gRPC
#      receiver (edge_fake_services, run at nice 19: in production the services run elsewhere) during the
#      run, and the script waits until everything stored has been delivered;
#   3. "store_only": the same load on an edge whose relay is off (EDGE_RELAY_THREADS=0, the relay backs off
#      entirely), then an edge with its relay on delivers the backlog: nothing stored is lost.
# and prints one JSON line. Knobs: CONNECTIONS (64), DURATION (20s), PGBENCH_SECONDS (10), EDGE_PORT (18080),
# FAKE_PORT (18090), MODES ("forwarding store_only"), and any EDGE_* variable (passed to the edges).
set -euo pipefail
export PGOPTIONS="--client-min-messages=warning"
cd "$(dirname "$0")/../../.."
build=${BUILD_DIR:-build}
conns=${CONNECTIONS:-64}
duration=${DURATION:-20s}
pgbench_seconds=${PGBENCH_SECONDS:-10}
edge_port=${EDGE_PORT:-18080}
fake_port=${FAKE_PORT:-18090}
modes=${MODES:-forwarding store_only}
secret=bench-webhook-secret
script=run.sh
source tests/load/edge/common.sh
require_files "$build/bin/protectogram-edge" "$build/bin/protectogram-migrate" "$build/tests/edge_fake_services"
require_tools wrk pgbench psql curl bc
bench_setup

fresh_db() {
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null
  psql "$admin_url" -qc "CREATE DATABASE $1" >/dev/null
}
edge_sql() { psql "$db_url" -tAc "$1"; }
load_avg() { cut -d' ' -f1 /proc/loadavg; }

start_fake() {
  nice -n 19 "$build/tests/edge_fake_services" "$fake_port" >"$log_dir/fake.log" 2>&1 &
  fake_pid=$!
  pids+=("$fake_pid")
}
stop_fake() {  # sets `forwarded`: the number of chat events the receiver got
  kill -TERM "$fake_pid"
  wait "$fake_pid" || true
  forwarded=$(sed -n 's/.*"chat_events":\([0-9]*\).*/\1/p' "$log_dir/fake.log")
}
start_edge() {  # start_edge LOG ENV...
  local log=$1
  shift
  env APP_ENV=dev LOG_LEVEL="${LOG_LEVEL:-warn}" DATABASE_URL="$edge_url" HTTP_PORT="$edge_port" \
    TELEGRAM_BOT_TOKEN=110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw TELEGRAM_WEBHOOK_SECRET="$secret" \
    INCIDENT_ADDR="127.0.0.1:$fake_port" TELEPHONY_ADDR="127.0.0.1:$fake_port" \
    NOTIFICATION_ADDR="127.0.0.1:$fake_port" "$@" "$build/bin/protectogram-edge" >"$log" 2>&1 &
  edge_pid=$!
  pids+=("$edge_pid")
  for _ in $(seq 1 200); do
    curl -fs -o /dev/null "http://127.0.0.1:$edge_port/health/live" && return 0
    sleep 0.05
  done
  echo "run.sh: the edge did not start; see $log" >&2
  exit 1
}
stop_edge() {
  kill -TERM "$edge_pid"
  wait "$edge_pid" || true
}
mean_batch() {
  curl -fs "http://127.0.0.1:$edge_port/metrics" |
    awk '/^edge_ingest_batch_rows_sum /{s=$2} /^edge_ingest_batch_rows_count /{c=$2} END {if (c>0) printf "%.1f", s/c; else print 0}'
}
run_wrk() {
  local out
  out=$(EDGE_BENCH_SECRET=$secret wrk -t2 -c"$conns" -d"$duration" -s tests/load/edge/telegram.lua \
    "http://127.0.0.1:$edge_port" 2>&1)
  grep '^{' <<<"$out" | tail -1 | grep . || { echo "run.sh: no result from wrk: $out" >&2; exit 1; }
}
drain() {  # waits until nothing stored is undelivered (at most 10 min); prints the seconds it took
  local start
  start=$(date +%s.%N)
  for _ in $(seq 1 6000); do
    [[ $(edge_sql "SELECT count(*) FROM edge.inbox_events WHERE status = 'received'") == 0 ]] && break
    sleep 0.1
  done
  echo "$(date +%s.%N) - $start" | bc | xargs printf "%.1f"
}

# 1. The ceiling.
load_before=$(load_avg)
fresh_db protectogram_pgbench
psql "$base_url/protectogram_pgbench" -q -f tests/load/pgbench_setup.sql >/dev/null
pgbench_out=$(pgbench -n -c "$conns" -j 2 -T "$pgbench_seconds" -f tests/load/pgbench_inbox_insert.sql \
  "$base_url/protectogram_pgbench" 2>&1)
pgbench_tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$pgbench_out" | head -1 | xargs printf "%.0f")
pgbench_lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$pgbench_out" | head -1)
result="{\"pgbench_tps\":$pgbench_tps,\"pgbench_latency_avg_ms\":$pgbench_lat"

ratio() { echo "scale=2; $(sed -n 's/.*"accepted_per_s":\([0-9.]*\).*/\1/p' <<<"$1") / $pgbench_tps" | bc; }

for mode in $modes; do
  fresh_db protectogram_edge_bench
  "$build/bin/protectogram-migrate" up --database-url "$db_url" >"$log_dir/migrate.log"
  start_fake
  case $mode in
    forwarding)
      start_edge "$log_dir/edge-forwarding.log"
      wrk_json=$(run_wrk)
      stored=$(edge_sql "SELECT count(*) FROM edge.inbox_events")
      drain_s=$(drain)
      batch=$(mean_batch)
      stop_edge
      ;;
    store_only)
      start_edge "$log_dir/edge-store-only.log" EDGE_RELAY_THREADS=0
      wrk_json=$(run_wrk)
      stored=$(edge_sql "SELECT count(*) FROM edge.inbox_events")
      batch=$(mean_batch)
      stop_edge
      # The backlog goes out once an edge with a relay runs.
      start_edge "$log_dir/edge-drain.log"
      drain_s=$(drain)
      stop_edge
      ;;
    *)
      echo "run.sh: unknown mode $mode" >&2
      exit 1
      ;;
  esac
  stop_fake
  pids=()
  undelivered=$(edge_sql "SELECT count(*) FROM edge.inbox_events WHERE status = 'received'")
  result+=",\"$mode\":{\"wrk\":$wrk_json,\"ratio_to_pgbench\":$(ratio "$wrk_json"),\"stored\":$stored"
  result+=",\"forwarded\":${forwarded:-0},\"undelivered\":$undelivered,\"drain_s\":$drain_s"
  result+=",\"mean_rows_per_commit\":$batch}"
done
echo "$result,\"connections\":$conns,\"duration\":\"$duration\",\"load_avg_1m_before\":$load_before,\"load_avg_1m_after\":$(load_avg)}"

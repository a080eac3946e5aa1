#!/usr/bin/env bash
# Edge ingest benchmark (docs/benchmarks.md, "Edge ingest"). Builds nothing: it needs
#   $BUILD_DIR/bin/protectogram-edge, $BUILD_DIR/bin/protectogram-migrate, $BUILD_DIR/tests/edge_fake_services
# (BUILD_DIR defaults to build). In one run, on the durable benchmark Postgres of scripts/bench-pg.sh (fsync on,
# synchronous_commit on):
#   1. the machine's ceiling: pgbench, one-row INSERT ... ON CONFLICT DO NOTHING per transaction, 64 clients;
#   2. the edge: signed Telegram updates with unique update_ids, wrk at 64 connections for 20 s, the relay
#      forwarding every stored update to a trivial gRPC receiver (edge_fake_services) meanwhile;
# and prints one JSON line. Knobs: CONNECTIONS (64), DURATION (20s), PGBENCH_SECONDS (10), EDGE_PORT (18080),
# FAKE_PORT (18090), and any EDGE_* variable (passed to the edge).
set -euo pipefail
export PGOPTIONS="--client-min-messages=warning"
cd "$(dirname "$0")/../../.."
build=${BUILD_DIR:-build}
conns=${CONNECTIONS:-64}
duration=${DURATION:-20s}
pgbench_seconds=${PGBENCH_SECONDS:-10}
edge_port=${EDGE_PORT:-18080}
fake_port=${FAKE_PORT:-18090}
secret=bench-webhook-secret
for f in "$build/bin/protectogram-edge" "$build/bin/protectogram-migrate" "$build/tests/edge_fake_services"; do
  [[ -x "$f" ]] || { echo "run.sh: $f is missing; build it first (cmake --build $build --target ...)" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "run.sh: wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
command -v pgbench >/dev/null || { echo "run.sh: pgbench is missing" >&2; exit 1; }

log_dir=var/log/edge-bench
mkdir -p "$log_dir"
admin_url=$(scripts/bench-pg.sh)
base_url=${admin_url%/postgres}
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

fresh_db() {
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null
  psql "$admin_url" -qc "CREATE DATABASE $1" >/dev/null
}

# 1. The ceiling.
fresh_db protectogram_pgbench
psql "$base_url/protectogram_pgbench" -q -f tests/load/pgbench_setup.sql >/dev/null
pgbench_out=$(pgbench -n -c "$conns" -j 2 -T "$pgbench_seconds" -f tests/load/pgbench_inbox_insert.sql \
  "$base_url/protectogram_pgbench" 2>&1)
pgbench_tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$pgbench_out" | head -1)
pgbench_lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$pgbench_out" | head -1)

# 2. The edge, with a trivial receiver behind it.
fresh_db protectogram_edge_bench
"$build/bin/protectogram-migrate" up --database-url "$base_url/protectogram_edge_bench" >"$log_dir/migrate.log"
edge_url="${base_url/postgres@/protectogram_edge@}/protectogram_edge_bench"
"$build/tests/edge_fake_services" "$fake_port" >"$log_dir/fake.log" 2>&1 &
fake_pid=$!
pids+=("$fake_pid")
env APP_ENV=dev LOG_LEVEL="${LOG_LEVEL:-warn}" DATABASE_URL="$edge_url" HTTP_PORT="$edge_port" \
  TELEGRAM_BOT_TOKEN=110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw TELEGRAM_WEBHOOK_SECRET="$secret" \
  INCIDENT_ADDR="127.0.0.1:$fake_port" TELEPHONY_ADDR="127.0.0.1:$fake_port" \
  NOTIFICATION_ADDR="127.0.0.1:$fake_port" \
  "$build/bin/protectogram-edge" >"$log_dir/edge.log" 2>&1 &
edge_pid=$!
pids+=("$edge_pid")
for _ in $(seq 1 200); do
  curl -fs -o /dev/null "http://127.0.0.1:$edge_port/health/ready" && break
  sleep 0.05
done
curl -fs -o /dev/null "http://127.0.0.1:$edge_port/health/ready" || { echo "run.sh: edge not ready" >&2; exit 1; }

wrk_out=$(EDGE_BENCH_SECRET=$secret wrk -t2 -c"$conns" -d"$duration" -s tests/load/edge/telegram.lua \
  "http://127.0.0.1:$edge_port" 2>&1)
wrk_json=$(grep '^{' <<<"$wrk_out" | tail -1)
[[ -n "$wrk_json" ]] || { echo "run.sh: no result from wrk: $wrk_out" >&2; exit 1; }
edge_sql() { psql "$base_url/protectogram_edge_bench" -tAc "$1"; }
stored=$(edge_sql "SELECT count(*) FROM edge.inbox_events")
# Let the relay finish forwarding what was stored, then stop everything.
drain_start=$(date +%s.%N)
for _ in $(seq 1 600); do
  [[ $(edge_sql "SELECT count(*) FROM edge.inbox_events WHERE status = 'received'") == 0 ]] && break
  sleep 0.1
done
drain_s=$(echo "$(date +%s.%N) - $drain_start" | bc)
undelivered=$(edge_sql "SELECT count(*) FROM edge.inbox_events WHERE status = 'received'")
batch=$(curl -fs "http://127.0.0.1:$edge_port/metrics" |
  awk '/^edge_ingest_batch_rows_sum /{s=$2} /^edge_ingest_batch_rows_count /{c=$2} END {if (c>0) printf "%.1f", s/c; else print 0}')
kill -TERM "$edge_pid"
wait "$edge_pid" || true
kill -TERM "$fake_pid"
wait "$fake_pid" || true
pids=()
forwarded=$(sed -n 's/.*"chat_events":\([0-9]*\).*/\1/p' "$log_dir/fake.log")

accepted_per_s=$(sed -n 's/.*"accepted_per_s":\([0-9.]*\).*/\1/p' <<<"$wrk_json")
ratio=$(echo "scale=2; $accepted_per_s / $pgbench_tps" | bc)
echo "{\"pgbench_tps\":$pgbench_tps,\"pgbench_latency_avg_ms\":$pgbench_lat,\"edge\":$wrk_json,\"ratio_to_pgbench\":$ratio,\"stored\":$stored,\"forwarded\":${forwarded:-0},\"undelivered_after_drain\":$undelivered,\"drain_s\":$drain_s,\"mean_rows_per_commit\":$batch,\"connections\":$conns,\"duration\":\"$duration\"}"

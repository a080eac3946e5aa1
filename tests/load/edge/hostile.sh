#!/usr/bin/env bash
# The edge under hostile clients (docs/benchmarks.md, "Edge under hostile clients"). Builds nothing: it needs
#   $BUILD_DIR/bin/protectogram-edge, $BUILD_DIR/bin/protectogram-migrate, $BUILD_DIR/tests/edge_fake_services,
#   $BUILD_DIR/tests/edge_hostile_load
# (`cmake --build build --target protectogram-edge protectogram-migrate edge_fake_services edge_hostile_load`).
# On the benchmark Postgres of scripts/bench-pg.sh, one edge with its default configuration (relay forwarding to
# edge_fake_services at nice 19, as in run.sh), in one run:
#   1. baseline: a normal client (wrk, CLIENT_CONNECTIONS connections, signed Telegram updates with unique ids)
#      alone for DURATION;
#   2. hostile: the same normal client while HOSTILE connections (a third each: endless chunk extensions,
#      endless trailers, slowloris) attack for the same time, reconnecting whenever refused; the edge's RSS is
#      sampled every 100 ms;
#   3. unauthenticated CPU: for each route, UNAUTH_REQUESTS of its most expensive unauthenticated request, and
#      the edge's CPU time per request.
# Prints one JSON line. Knobs: HOSTILE (100), CLIENT_CONNECTIONS (8), DURATION (30, seconds), UNAUTH_REQUESTS
# (200), EDGE_PORT (18080), FAKE_PORT (18090).
set -euo pipefail
export PGOPTIONS="--client-min-messages=warning"
cd "$(dirname "$0")/../../.."
build=${BUILD_DIR:-build}
hostile=${HOSTILE:-100}
client_conns=${CLIENT_CONNECTIONS:-8}
duration=${DURATION:-30}
unauth_requests=${UNAUTH_REQUESTS:-200}
edge_port=${EDGE_PORT:-18080}
fake_port=${FAKE_PORT:-18090}
secret=bench-webhook-secret
script=hostile.sh
source tests/load/edge/common.sh
require_files "$build/bin/protectogram-edge" "$build/bin/protectogram-migrate" "$build/tests/edge_fake_services" \
  "$build/tests/edge_hostile_load"
require_tools wrk psql curl
bench_setup

psql "$admin_url" -qc "DROP DATABASE IF EXISTS protectogram_edge_bench WITH (FORCE)" >/dev/null
psql "$admin_url" -qc "CREATE DATABASE protectogram_edge_bench" >/dev/null
"$build/bin/protectogram-migrate" up --database-url "$db_url" >"$log_dir/migrate.log"
nice -n 19 "$build/tests/edge_fake_services" "$fake_port" >"$log_dir/fake.log" 2>&1 &
pids+=($!)
env APP_ENV=dev LOG_LEVEL=error DATABASE_URL="$edge_url" HTTP_PORT="$edge_port" \
  TELEGRAM_BOT_TOKEN=110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw TELEGRAM_WEBHOOK_SECRET="$secret" \
  TELNYX_PUBLIC_KEY=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo= \
  TWILIO_AUTH_TOKEN=test-auth-token-0123456789abcdef PUBLIC_BASE_URL=https://edge.example.org \
  WHATSAPP_APP_SECRET=test-app-secret WHATSAPP_VERIFY_TOKEN=meatyhamhock \
  INCIDENT_ADDR="127.0.0.1:$fake_port" TELEPHONY_ADDR="127.0.0.1:$fake_port" \
  NOTIFICATION_ADDR="127.0.0.1:$fake_port" "$build/bin/protectogram-edge" >"$log_dir/edge-hostile.log" 2>&1 &
edge_pid=$!
pids+=("$edge_pid")
for _ in $(seq 1 200); do
  curl -fs -o /dev/null "http://127.0.0.1:$edge_port/health/live" && break
  sleep 0.05
done

rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$edge_pid/status"; }
# Samples the edge's RSS every 100 ms until killed; prints the peak (KiB) on TERM.
sample_rss() {
  local peak=0 now
  trap 'echo $peak; exit 0' TERM
  while true; do
    now=$(rss_kib)
    ((now > peak)) && peak=$now
    sleep 0.1
  done
}
normal_client() {
  EDGE_BENCH_SECRET=$secret wrk -t1 -c"$client_conns" -d"${duration}s" -s tests/load/edge/telegram.lua \
    "http://127.0.0.1:$edge_port" 2>&1 | grep '^{' | tail -1
}
load_before=$(cut -d' ' -f1 /proc/loadavg)

# 1. The normal client alone.
rss_idle=$(rss_kib)
sample_rss >"$log_dir/rss-baseline" &
sampler=$!
baseline=$(normal_client)
kill -TERM "$sampler"
wait "$sampler" || true
rss_baseline_peak=$(cat "$log_dir/rss-baseline")

# 2. The normal client under attack.
rss_before=$(rss_kib)
sample_rss >"$log_dir/rss-hostile" &
sampler=$!
"$build/tests/edge_hostile_load" flood "$edge_port" "$hostile" "$duration" "$secret" >"$log_dir/flood.json" &
flood=$!
under_attack=$(normal_client)
wait "$flood"
kill -TERM "$sampler"
wait "$sampler" || true
rss_hostile_peak=$(cat "$log_dir/rss-hostile")
sleep 2
rss_after=$(rss_kib)

# 3. What an unauthenticated request can cost, route by route.
unauth=$("$build/tests/edge_hostile_load" unauth "$edge_port" "$edge_pid" "$unauth_requests")

echo "{\"normal_alone\":$baseline,\"normal_under_attack\":$under_attack,\"flood\":$(cat "$log_dir/flood.json")," \
  "\"rss_kib\":{\"idle\":$rss_idle,\"peak_normal_alone\":$rss_baseline_peak,\"before_attack\":$rss_before," \
  "\"peak_under_attack\":$rss_hostile_peak,\"after_attack\":$rss_after},\"unauthenticated\":$unauth," \
  "\"hostile_connections\":$hostile,\"client_connections\":$client_conns,\"seconds\":$duration," \
  "\"load_avg_1m_before\":$load_before,\"load_avg_1m_after\":$(cut -d' ' -f1 /proc/loadavg)}"

#!/usr/bin/env bash
# Foundation numbers for docs/benchmarks.md: each process's time from start to ready and idle RSS, against the
# benchmark Postgres (scripts/bench-pg.sh). Needs a built tree (make build). Prints one JSON line.
#   start_to_ready_ms: fork+exec until the process answers ready (gRPC health SERVING via its HTTP
#                      /health/ready on METRICS_PORT; the edge's /health/live), polled every 2 ms; median of 5.
#   idle_rss_kib:      RSS after 3 s idle; pss_kib (shared library pages divided among their users) and
#                      anon_kib (the process's own heap and stacks) beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/bin
admin_url=$(scripts/bench-pg.sh)
db_url="${admin_url%/postgres}/protectogram_bench"
psql "$admin_url" -qtAc "SELECT 1 FROM pg_database WHERE datname='protectogram_bench'" | grep -q 1 ||
  psql "$admin_url" -qc "CREATE DATABASE protectogram_bench"
"$bin/protectogram-migrate" up --database-url "$db_url" >/dev/null
role_url() { echo "${db_url/postgres@/protectogram_$1@}"; }

now_ms() { date +%s%3N; }
measure() {  # measure NAME READY_PORT ENV...
  local name=$1 port=$2
  shift 2
  local times=() rss=0
  for i in 1 2 3 4 5; do
    local t0 pid
    t0=$(now_ms)
    env APP_ENV=dev LOG_LEVEL=warn "$@" "$bin/protectogram-$name" >/dev/null 2>&1 &
    pid=$!
    until curl -fs -o /dev/null "http://127.0.0.1:$port/health/ready" 2>/dev/null; do sleep 0.002; done
    times+=($(($(now_ms) - t0)))
    if [[ $i -eq 5 ]]; then
      sleep 3
      rss=$(awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} /^Anonymous:/ {a=$2} END {printf "%s,\"pss_kib\":%s,\"anon_kib\":%s", r, p, a}' \
        "/proc/$pid/smaps_rollup")
    fi
    kill -TERM "$pid"
    wait "$pid" || true
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
  printf '"%s":{"start_to_ready_ms":%s,"idle_rss_kib":%s}' "$name" "$median" "$rss"
}
out="{"
out+=$(measure incident 19101 DATABASE_URL="$(role_url incident)" GRPC_PORT=50151 METRICS_PORT=19101)","
out+=$(measure notification 19102 DATABASE_URL="$(role_url notification)" GRPC_PORT=50152 METRICS_PORT=19102)","
out+=$(measure telephony 19103 DATABASE_URL="$(role_url telephony)" GRPC_PORT=50153 METRICS_PORT=19103)
if [[ -x "$bin/protectogram-edge" ]]; then
  out+=","$(measure edge 18080 DATABASE_URL="$(role_url edge)" HTTP_PORT=18080 \
    INCIDENT_ADDR=127.0.0.1:1 TELEPHONY_ADDR=127.0.0.1:1 NOTIFICATION_ADDR=127.0.0.1:1)
fi
out+="}"
echo "$out"

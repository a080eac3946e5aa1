#!/usr/bin/env bash
# `make run`: a whole local Protectogram on this machine.
#  - its own Postgres under var/pg (initdb on first run; as the `postgres` user when run as root),
#  - migrations applied with protectogram-migrate,
#  - the edge and the three services, each connecting with its own Postgres role,
#  - logs in var/log/<process>.log (JSON), and a summary of where everything listens.
# Ctrl-C (or SIGTERM) stops the processes gracefully, then Postgres.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin="$root/build/bin"
var="$root/var"
pg_port="${LOCAL_PG_PORT:-55432}"
pg_bin="$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)"
[[ -x "$pg_bin/initdb" ]] || pg_bin=/usr/lib/postgresql/15/bin
mkdir -p "$var/log" "$var/run"

as_pg=()
if [[ $(id -u) -eq 0 ]]; then
  as_pg=(runuser -u postgres --)
fi

if [[ ! -f "$var/pg/PG_VERSION" ]]; then
  echo "run: creating a local Postgres in var/pg"
  mkdir -p "$var/pg"
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$var/pg" "$var/run"
  chmod 700 "$var/pg"
  "${as_pg[@]}" "$pg_bin/initdb" -D "$var/pg" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$var/log/initdb.log"
fi
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$var/run"
if ! "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$var/pg" status >/dev/null 2>&1; then
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$var/pg" -l "$var/run/postgres.log" -w \
    -o "-p $pg_port -k $var/run -c listen_addresses=127.0.0.1" start >/dev/null
fi
admin_url="postgresql://postgres@127.0.0.1:$pg_port/postgres"
psql "$admin_url" -qtAc "SELECT 1 FROM pg_database WHERE datname='protectogram'" | grep -q 1 ||
  psql "$admin_url" -qc "CREATE DATABASE protectogram"
db="postgresql://postgres@127.0.0.1:$pg_port/protectogram"
"$bin/protectogram-migrate" up --database-url "$db"

role_url() { echo "postgresql://protectogram_$1@127.0.0.1:$pg_port/protectogram"; }

export APP_ENV="${APP_ENV:-dev}" LOG_LEVEL="${LOG_LEVEL:-info}" METRICS_ENABLED="${METRICS_ENABLED:-true}"
export ADMIN_TOKEN="${ADMIN_TOKEN:-dev-admin-token}"
export INCIDENT_ADDR=127.0.0.1:50051 NOTIFICATION_ADDR=127.0.0.1:50052 TELEPHONY_ADDR=127.0.0.1:50053

pids=()
start() {  # start NAME ENV...
  local name=$1
  shift
  env "$@" "$bin/protectogram-$name" >>"$var/log/$name.log" 2>&1 &
  pids+=($!)
  echo "run: started $name (pid $!, log var/log/$name.log)"
}
stop_all() {
  trap - INT TERM EXIT
  echo "run: stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$var/pg" -m fast stop >/dev/null 2>&1 || true
  echo "run: stopped"
  exit "${1:-0}"
}
trap 'stop_all 0' INT TERM
trap 'stop_all $?' EXIT

start incident DATABASE_URL="$(role_url incident)" GRPC_PORT=50051 METRICS_PORT=9101
start notification DATABASE_URL="$(role_url notification)" GRPC_PORT=50052 METRICS_PORT=9102
start telephony DATABASE_URL="$(role_url telephony)" GRPC_PORT=50053 METRICS_PORT=9103
start edge DATABASE_URL="$(role_url edge)" HTTP_PORT="${HTTP_PORT:-8080}"

for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:${HTTP_PORT:-8080}/health/ready" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
cat <<MSG
run: Protectogram is up
  edge          http://127.0.0.1:${HTTP_PORT:-8080}  (/health, /health/ready, /metrics)
  incident      grpc 127.0.0.1:50051   metrics http://127.0.0.1:9101/metrics
  notification  grpc 127.0.0.1:50052   metrics http://127.0.0.1:9102/metrics
  telephony     grpc 127.0.0.1:50053   metrics http://127.0.0.1:9103/metrics
  postgres      $db
  try: tools/node_modules/.bin/buf curl --protocol grpc --http2-prior-knowledge \\
         http://127.0.0.1:50051/grpc.health.v1.Health/Check
run: Ctrl-C to stop
MSG
wait -n "${pids[@]}" || true
echo "run: a process exited unexpectedly; see var/log/" >&2
exit 1

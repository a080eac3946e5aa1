#!/usr/bin/env bash
# `make run`: the whole of Protectogram on this machine, with every provider simulated, in about a minute.
#  - its own Postgres under var/pg (initdb on first run; as the `postgres` user when run as root), or the
#    database of DATABASE_URL when that is set;
#  - migrations applied with protectogram-migrate;
#  - the edge, the three services (each with its own Postgres role) and protectogram-sim (the Telegram, Telnyx,
#    Twilio, WhatsApp and ARI simulators and the sandbox console), APP_ENV=dev;
#  - the demo family (Анна and her guardians Борис, Вера, Глеб) registered through the bot, once;
#  - logs in var/log/<process>.log, and a summary of where everything is, the console first.
# Ctrl-C or SIGTERM (to this script alone or to its whole process group) stops everything, Postgres last, and
# exits 0. One run at a time per var folder (a lock); a port in use, a missing binary or a Postgres folder of
# another version is named in one line, exit 1.
#
# Settings (environment): RUN_VAR_DIR (var), BUILD_DIR (build), RUN_PORT_OFFSET (0: added to every port below),
# DATABASE_URL (an existing database instead of var/pg), RUN_TELEPHONY_PROVIDERS (telnyx; e.g. telnyx,twilio,ari
# for failover across the simulators), SIM_TIME_SCALE, SIM_PHONES, SIM_CHAT_FAULTS (see protectogram-sim --help),
# LOG_LEVEL. Ports: edge 8080, console 8090, simulators 8091-8095, gRPC 50051-50053, metrics 9101-9103,
# Postgres 55432.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build_dir="${BUILD_DIR:-build}"
[[ "$build_dir" == /* ]] || build_dir="$root/$build_dir"
bin="$build_dir/bin"
var="${RUN_VAR_DIR:-$root/var}"
[[ "$var" == /* ]] || var="$root/$var"
offset="${RUN_PORT_OFFSET:-0}"
say() { echo "run: $*"; }
die() {
  echo "run: $*" >&2
  exit 1
}

port() { echo $(($1 + offset)); }
edge_port=$(port 8080) console_port=$(port 8090) tg_port=$(port 8091) telnyx_port=$(port 8092)
twilio_port=$(port 8093) whatsapp_port=$(port 8094) ari_port=$(port 8095)
incident_port=$(port 50051) notification_port=$(port 50052) telephony_port=$(port 50053)
incident_metrics=$(port 9101) notification_metrics=$(port 9102) telephony_metrics=$(port 9103)
pg_port=$(port 55432)

# ---- What must be there ---------------------------------------------------------------------------------------
for tool in curl flock psql; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing: run \`make run\` (it installs what is missing) or scripts/install-deps.sh"
done
for b in edge incident notification telephony migrate sim; do
  [[ -x "$bin/protectogram-$b" ]] || die "$bin/protectogram-$b is missing: run \`make run\` (it builds first)"
done
mkdir -p "$var/log" "$var/run"

# One run per var folder. flock is released by the kernel when its holder dies, so a killed run leaves no
# lock behind; the processes it left are stopped below.
exec 9>"$var/run/run.lock"
if ! flock -n 9; then
  die "another \`make run\` is running with $var (pid $(cat "$var/run/run.pid" 2>/dev/null || echo '?')); stop it first (Ctrl-C)"
fi
echo $$ >"$var/run/run.pid"

# Processes a killed run left behind (their pids were written here), if they are still ours.
ours() { [[ -n "$1" ]] && grep -q protectogram "/proc/$1/cmdline" 2>/dev/null; }
if [[ -f "$var/run/children" ]]; then
  left=()
  while read -r pid; do
    if ours "$pid"; then
      left+=("$pid")
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done <"$var/run/children"
  ((${#left[@]})) && say "stopping ${#left[@]} processes an earlier, killed run left: ${left[*]}"
  for _ in $(seq 1 100); do  # their graceful shutdown takes well under 10 s
    alive=0
    for pid in "${left[@]}"; do ours "$pid" && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${left[@]}"; do ours "$pid" && kill -KILL "$pid" 2>/dev/null; done
  rm -f "$var/run/children"
fi

# ---- Ports --------------------------------------------------------------------------------------------------
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
check_port() {  # check_port PORT WHAT
  if in_use "$1"; then
    die "port $1 ($2) is already in use: stop what listens there, or set RUN_PORT_OFFSET (e.g. RUN_PORT_OFFSET=100)"
  fi
}
check_port "$edge_port" "the edge"
check_port "$console_port" "the sandbox console"
check_port "$tg_port" "the Telegram simulator"
check_port "$telnyx_port" "the Telnyx simulator"
check_port "$twilio_port" "the Twilio simulator"
check_port "$whatsapp_port" "the WhatsApp simulator"
check_port "$ari_port" "the ARI simulator"
check_port "$incident_port" "the incident service"
check_port "$notification_port" "the notification service"
check_port "$telephony_port" "the telephony service"
check_port "$incident_metrics" "the incident service's metrics"
check_port "$notification_metrics" "the notification service's metrics"
check_port "$telephony_metrics" "the telephony service's metrics"

# ---- Postgres -----------------------------------------------------------------------------------------------
as_pg=()
[[ $(id -u) -eq 0 ]] && as_pg=(runuser -u postgres --)
pg_bin="$(pg_config --bindir 2>/dev/null || true)"
[[ -x "$pg_bin/initdb" ]] || pg_bin=/usr/lib/postgresql/15/bin
own_pg=false
stop_pg() { :; }
if [[ -n "${DATABASE_URL:-}" ]]; then
  db="$DATABASE_URL"
  psql "$db" -qtAc "SELECT 1" >/dev/null 2>&1 || die "DATABASE_URL does not answer (psql \"\$DATABASE_URL\" -c 'SELECT 1')"
  role_url() { echo "$db"; }
else
  [[ -x "$pg_bin/initdb" ]] || die "PostgreSQL's server is missing (no initdb in $pg_bin): run scripts/install-deps.sh"
  version=$("$pg_bin/postgres" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)*.*/\1/')
  if [[ -f "$var/pg/PG_VERSION" && "$(cat "$var/pg/PG_VERSION")" != "$version" ]]; then
    die "$var/pg was made by PostgreSQL $(cat "$var/pg/PG_VERSION") and this machine has $version: move it away (rm -rf $var/pg starts afresh) or set DATABASE_URL"
  fi
  if [[ ! -f "$var/pg/PG_VERSION" ]]; then
    say "creating a local Postgres in $var/pg"
    rm -rf "$var/pg"
    mkdir -p "$var/pg"
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$var/pg"
    chmod 700 "$var/pg"
    "${as_pg[@]}" "$pg_bin/initdb" -D "$var/pg" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
      >"$var/log/initdb.log" 2>&1 || die "initdb failed: see $var/log/initdb.log"
  fi
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$var/run" "$var/log"
  if ! "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$var/pg" status >/dev/null 2>&1; then
    check_port "$pg_port" "Postgres"
    # pg_ctl removes a stale postmaster.pid by itself; the lock's fd is not passed on to Postgres.
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$var/pg" -l "$var/log/postgres.log" -w -t 30 \
      -o "-p $pg_port -k $var/run -c listen_addresses=127.0.0.1" start >/dev/null 9>&- ||
      die "Postgres did not start: see $var/log/postgres.log"
  fi
  own_pg=true
  stop_pg() { "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$var/pg" -m fast -w stop >/dev/null 2>&1 || true; }
  admin_url="postgresql://postgres@127.0.0.1:$pg_port/postgres"
  psql "$admin_url" -qtAc "SELECT 1 FROM pg_database WHERE datname='protectogram'" | grep -q 1 ||
    psql "$admin_url" -qc "CREATE DATABASE protectogram"
  db="postgresql://postgres@127.0.0.1:$pg_port/protectogram"
  role_url() { echo "postgresql://protectogram_$1@127.0.0.1:$pg_port/protectogram"; }
fi
"$bin/protectogram-migrate" up --database-url "$db" >>"$var/log/migrate.log" 2>&1 ||
  { stop_pg; die "migrations failed: see $var/log/migrate.log"; }

# ---- The processes ------------------------------------------------------------------------------------------
edge_url="http://127.0.0.1:$edge_port"
export APP_ENV="${APP_ENV:-dev}" LOG_LEVEL="${LOG_LEVEL:-info}" METRICS_ENABLED="${METRICS_ENABLED:-true}"
export ADMIN_TOKEN="${ADMIN_TOKEN:-dev-admin-token}"
export INCIDENT_ADDR="127.0.0.1:$incident_port" NOTIFICATION_ADDR="127.0.0.1:$notification_port"
export TELEPHONY_ADDR="127.0.0.1:$telephony_port" PUBLIC_BASE_URL="$edge_url"
export TELEGRAM_BOT_TOKEN="${TELEGRAM_BOT_TOKEN:-111111:SANDBOX}" TELEGRAM_BOT_USERNAME="${TELEGRAM_BOT_USERNAME:-protectogram_sandbox_bot}"
export TELEGRAM_WEBHOOK_SECRET="${TELEGRAM_WEBHOOK_SECRET:-dev-webhook-secret}"
# The simulators' credentials (libs/providers/*/fake_*.h): the Telnyx fake signs with RFC 8032's test key.
telnyx_env=(TELNYX_API_KEY=KEY0FAKE0TELNYX TELNYX_CONNECTION_ID=sandbox TELNYX_FROM_NUMBER=+15550000001
  TELNYX_API_BASE_URL="http://127.0.0.1:$telnyx_port")
twilio_env=(TWILIO_ACCOUNT_SID=AC00000000000000000000000000000000 TWILIO_AUTH_TOKEN=fake-auth-token
  TWILIO_FROM_NUMBER=+15550000002 TWILIO_API_BASE_URL="http://127.0.0.1:$twilio_port")
ari_env=(ARI_HTTP_URL="http://127.0.0.1:$ari_port" ARI_USERNAME=protectogram ARI_PASSWORD=secret)
providers="${RUN_TELEPHONY_PROVIDERS:-telnyx}"
telephony_env=(TELEPHONY_PROVIDERS="$providers")
[[ ",$providers," == *,telnyx,* ]] && telephony_env+=("${telnyx_env[@]}")
[[ ",$providers," == *,twilio,* ]] && telephony_env+=("${twilio_env[@]}")
[[ ",$providers," == *,ari,* ]] && telephony_env+=("${ari_env[@]}")

pids=()
names=()
stopping=false
start() {  # start NAME ENV...
  local name=$1
  shift
  env "$@" "$bin/protectogram-$name" >>"$var/log/$name.log" 2>&1 9>&- &
  pids+=($!)
  names+=("$name")
  echo $! >>"$var/run/children"
}
stop_all() {
  local code=$1
  trap - INT TERM EXIT
  $stopping && return
  stopping=true
  say "stopping"
  # Newest first: the simulator and the edge stop taking work before the services they feed.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    if ! wait "${pids[i]}" 2>/dev/null; then :; fi
  done
  rm -f "$var/run/children"
  $own_pg && stop_pg
  say "stopped"
  exit "$code"
}
trap 'stop_all 0' INT TERM
trap 'stop_all $?' EXIT

start incident DATABASE_URL="$(role_url incident)" GRPC_PORT="$incident_port" METRICS_PORT="$incident_metrics"
start notification DATABASE_URL="$(role_url notification)" GRPC_PORT="$notification_port" \
  METRICS_PORT="$notification_metrics" TELEGRAM_API_BASE_URL="http://127.0.0.1:$tg_port" \
  WHATSAPP_API_BASE_URL="http://127.0.0.1:$whatsapp_port"
start telephony DATABASE_URL="$(role_url telephony)" GRPC_PORT="$telephony_port" METRICS_PORT="$telephony_metrics" \
  "${telephony_env[@]}"
start edge DATABASE_URL="$(role_url edge)" HTTP_PORT="$edge_port" \
  TELNYX_PUBLIC_KEY=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo= TWILIO_AUTH_TOKEN=fake-auth-token
start sim SIM_CONSOLE_PORT="$console_port" SIM_TELEGRAM_PORT="$tg_port" SIM_TELNYX_PORT="$telnyx_port" \
  SIM_TWILIO_PORT="$twilio_port" SIM_WHATSAPP_PORT="$whatsapp_port" SIM_ARI_PORT="$ari_port" SIM_EDGE_URL="$edge_url"

# Up when every process answers its readiness (the sim's once the demo family is seeded).
wait_ready() {  # wait_ready NAME URL SECONDS
  local deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    curl -fsS -o /dev/null --max-time 1 "$2" 2>/dev/null && return 0
    for i in "${!pids[@]}"; do
      kill -0 "${pids[i]}" 2>/dev/null || { echo "run: ${names[i]} exited while starting; the end of var/log/${names[i]}.log:" >&2; tail -n 5 "$var/log/${names[i]}.log" >&2; stop_all 1; }
    done
    sleep 0.2
  done
  echo "run: $1 is not ready after $3 s ($2); see $var/log/$1.log" >&2
  stop_all 1
}
wait_ready edge "$edge_url/health/ready" 30
wait_ready incident "http://127.0.0.1:$incident_metrics/health/ready" 30
wait_ready notification "http://127.0.0.1:$notification_metrics/health/ready" 30
wait_ready telephony "http://127.0.0.1:$telephony_metrics/health/ready" 30
# The bot registers its webhook with the (simulated) Telegram, as in production: NotificationAdminService.
buf="$root/tools/node_modules/.bin/buf"
if [[ -x "$buf" ]]; then
  # Each bot's result carries its own "ok"/"error": the call succeeds even when a bot's setWebhook failed.
  if ! "$buf" curl --protocol grpc --http2-prior-knowledge -H "authorization: Bearer $ADMIN_TOKEN" -d '{}' \
    "http://127.0.0.1:$notification_port/protectogram.notification.v1.NotificationAdminService/SetWebhooks" \
    >"$var/log/set-webhooks.log" 2>&1 || grep -q '"error"' "$var/log/set-webhooks.log"; then
    say "SetWebhooks failed (see $var/log/set-webhooks.log); the simulator posts to the edge's /webhook/main"
  fi
fi
wait_ready sim "http://127.0.0.1:$console_port/health" 90

cat <<MSG
run: Protectogram is up — open the sandbox console:
  console       http://127.0.0.1:$console_port/   (Анна's and her guardians' Telegram and phones; press «🆘 Тревога»)
  edge          $edge_url  (/health, /health/ready, /metrics; webhooks)
  incident      grpc 127.0.0.1:$incident_port   metrics http://127.0.0.1:$incident_metrics/metrics
  notification  grpc 127.0.0.1:$notification_port   metrics http://127.0.0.1:$notification_metrics/metrics
  telephony     grpc 127.0.0.1:$telephony_port   metrics http://127.0.0.1:$telephony_metrics/metrics  (providers: $providers)
  simulators    telegram :$tg_port  telnyx :$telnyx_port  twilio :$twilio_port  whatsapp :$whatsapp_port  ari :$ari_port
  postgres      $db
  logs          $var/log/<process>.log
  try:          tools/node_modules/.bin/buf curl --protocol grpc --http2-prior-knowledge \\
                  -H 'authorization: Bearer $ADMIN_TOKEN' -d '{}' \\
                  http://127.0.0.1:$incident_port/protectogram.incident.v1.IncidentAdminService/ListIncidents
run: Ctrl-C to stop
MSG

# Until a signal (the trap) or a process dies by itself.
while true; do
  wait -n "${pids[@]}" || true
  $stopping && exit 0
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[i]}" 2>/dev/null; then
      echo "run: ${names[i]} exited unexpectedly; see $var/log/${names[i]}.log" >&2
      stop_all 1
    fi
  done
done

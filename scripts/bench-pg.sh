#!/usr/bin/env bash
# Starts (or reuses) a benchmark Postgres under var/bench-pg with production-like durability (fsync on,
# synchronous_commit on) and prints its URL. `scripts/bench-pg.sh stop` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
var="$(pwd)/var"
port="${BENCH_PG_PORT:-55433}"
pg_bin="$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)"
[[ -x "$pg_bin/initdb" ]] || pg_bin=/usr/lib/postgresql/15/bin
as_pg=()
[[ $(id -u) -eq 0 ]] && as_pg=(runuser -u postgres --)
mkdir -p "$var/log" "$var/bench-run"
if [[ "${1:-}" == stop ]]; then
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$var/bench-pg" -m fast stop >/dev/null 2>&1 || true
  exit 0
fi
if [[ ! -f "$var/bench-pg/PG_VERSION" ]]; then
  mkdir -p "$var/bench-pg"
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$var/bench-pg" "$var/bench-run"
  chmod 700 "$var/bench-pg"
  "${as_pg[@]}" "$pg_bin/initdb" -D "$var/bench-pg" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
fi
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$var/bench-run"
if ! "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$var/bench-pg" status >/dev/null 2>&1; then
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$var/bench-pg" -l "$var/bench-run/postgres.log" -w \
    -o "-p $port -k $var/bench-run -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB" \
    start >/dev/null
fi
echo "postgresql://postgres@127.0.0.1:$port/postgres"

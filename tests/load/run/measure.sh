#!/usr/bin/env bash
# Fresh clone -> sandbox console usable, and the idle memory of the whole local system (docs/benchmarks.md,
# "make run").
#   tests/load/run/measure.sh [warm|cold]...   (default: warm)
# Each mode clones this repository afresh into a temp folder and times `make run` there until the console
# answers ready (the demo family seeded): warm uses ccache as it is (CCACHE_BASEDIR makes the clone's paths hit
# the entries of this checkout's builds), cold disables it (CCACHE_DISABLE=1: every file compiled). Then, 10 s
# after the console is ready, it sums the proportional set size (PSS) of every process of the run: the edge,
# the three services, the simulator and Postgres with its backends.
set -euo pipefail
src=$(cd "$(dirname "$0")/../../.." && pwd)
modes=("$@")
((${#modes[@]})) || modes=(warm)
work=$(mktemp -d /tmp/protectogram-measure-XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

# mem_kb FIELDS PID...: the sum over the processes of smaps_rollup's FIELDS (a regex: "Pss" or
# "Private_(Clean|Dirty)"), in kB. PSS shares each shared page among the processes that map it (so it depends
# on what else runs: other Postgres clusters share its binary's pages); private memory is each process's own.
mem_kb() {
  local fields=$1 total=0 kb
  shift
  for pid in "$@"; do
    kb=$(awk -v f="^($fields):" '$0 ~ f {s += $2} END {print s + 0}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
    total=$((total + ${kb:-0}))
  done
  echo "$total"
}
pss_kb() { mem_kb Pss "$@"; }
private_kb() { mem_kb 'Private_Clean|Private_Dirty' "$@"; }

for mode in "${modes[@]}"; do
  clone="$work/clone-$mode"
  var="$work/var-$mode"
  git clone -q "$src" "$clone"
  ccache_env=()
  [[ "$mode" == cold ]] && ccache_env=(CCACHE_DISABLE=1)
  start=$(date +%s.%N)
  env "${ccache_env[@]}" RUN_VAR_DIR="$var" RUN_PORT_OFFSET=500 setsid make -C "$clone" run >"$work/$mode.out" 2>&1 &
  make_pid=$!
  until curl -fsS -o /dev/null --max-time 1 http://127.0.0.1:8590/health 2>/dev/null; do
    kill -0 "$make_pid" 2>/dev/null || { echo "measure: make run ($mode) exited:"; tail -20 "$work/$mode.out"; exit 1; }
    sleep 0.2
  done
  ready=$(date +%s.%N)
  sleep 10
  mapfile -t children <"$var/run/children"
  pg=$(head -1 "$var/pg/postmaster.pid")
  mapfile -t pg_all < <(echo "$pg"; ps -o pid= --ppid "$pg")
  services_kb=$(pss_kb "${children[@]}")
  pg_kb=$(pss_kb "${pg_all[@]}")
  services_private=$(private_kb "${children[@]}")
  pg_private=$(private_kb "${pg_all[@]}")
  total_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
  printf 'measure: %s: fresh clone -> console ready %.1f s\n' "$mode" "$(awk -v a="$ready" -v b="$start" 'BEGIN {print a - b}')"
  printf '  idle, PSS: processes %d MiB, postgres %d MiB (%d processes), total %d MiB (%.2f%% of the machine'"'"'s %d MiB)\n' \
    $((services_kb / 1024)) $((pg_kb / 1024)) "${#pg_all[@]}" $(((services_kb + pg_kb) / 1024)) \
    "$(awk -v a=$((services_kb + pg_kb)) -v b="$total_kb" 'BEGIN {print 100 * a / b}')" $((total_kb / 1024))
  printf '  idle, private: processes %d MiB, postgres %d MiB, total %d MiB\n' \
    $((services_private / 1024)) $((pg_private / 1024)) $(((services_private + pg_private) / 1024))
  for pid in "${children[@]}"; do
    printf '  %-28s PSS %4d MiB  private %4d MiB\n' "$(tr '\0' ' ' <"/proc/$pid/cmdline" | awk '{print $1}' | xargs basename)" \
      $(($(pss_kb "$pid") / 1024)) $(($(private_kb "$pid") / 1024))
  done
  kill -TERM "$(cat "$var/run/run.pid")"
  wait "$make_pid" 2>/dev/null || true
done

# Shared by the edge benchmarks (run.sh, hostile.sh); sourced, not run. The caller sets `build` and `script`
# (its name, for messages) and lists what it needs: `require_files FILE...`, `require_tools TOOL...`. Then
# `bench_setup` starts the benchmark Postgres (scripts/bench-pg.sh) and sets log_dir, admin_url, base_url,
# db_url (superuser, database protectogram_edge_bench) and edge_url (the protectogram_edge role), and `pids`,
# the background processes stopped on exit.
require_files() {
  for f in "$@"; do
    [[ -x "$f" ]] || { echo "$script: $f is missing; build it first" >&2; exit 1; }
  done
}
require_tools() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$script: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
  done
}
bench_cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
bench_setup() {
  log_dir=var/log/edge-bench
  mkdir -p "$log_dir"
  admin_url=$(scripts/bench-pg.sh)
  base_url=${admin_url%/postgres}
  db_url="$base_url/protectogram_edge_bench"
  edge_url="${base_url/postgres@/protectogram_edge@}/protectogram_edge_bench"
  pids=()
  trap bench_cleanup EXIT
}

#!/usr/bin/env bash
# Installs every Debian package and npm tool the build, the tests and `make run` need.
# Idempotent and quick when everything is present: it asks dpkg first and calls apt-get only for what is missing.
# Quiet: one line says what it installs; apt's and npm's own output goes to a log shown only when they fail.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libspdlog-dev libfmt-dev libpq-dev libssl-dev libcrypt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  postgresql-15 postgresql-client-15 postgresql-contrib
  clang-format clang-14 libclang-rt-14-dev
  prometheus wrk curl ca-certificates util-linux
  chromium
)

log_dir=var/log
mkdir -p "$log_dir"
log="$log_dir/install-deps.log"
# run LABEL CMD...: the command's output into the log; on failure the log's end and exit 1.
run() {
  local label=$1
  shift
  if ! "$@" >>"$log" 2>&1; then
    echo "install-deps: $label failed; the end of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
}

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

# Node and npm (for buf and the browser test) may come from elsewhere on the machine; Debian's only when
# there is none.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)

if ((${#missing[@]})); then
  echo "install-deps: installing ${#missing[@]} Debian packages: ${missing[*]} (log: $log)"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  run "apt-get update" "${sudo_cmd[@]}" apt-get update -q
  run "apt-get install" env DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q \
    --no-install-recommends "${missing[@]}"
fi

# npm tools, pinned in tools/package.json and its lock: buf (proto lint, `buf curl`), playwright-core (the
# console's browser test, with Debian's chromium), @kubernetes-models/validate and smol-toml (deployment
# checks). Reinstalled when the lock changed since the last install.
if [[ ! -f tools/node_modules/.package-lock.json || tools/package-lock.json -nt tools/node_modules/.package-lock.json ]]; then
  echo "install-deps: installing npm tools (buf, playwright-core, @kubernetes-models/validate, smol-toml) (log: $log)"
  run "npm install" bash -c 'cd tools && npm install --no-audit --no-fund'
  touch tools/node_modules/.package-lock.json
fi

#!/usr/bin/env bash
# Installs every Debian package and npm tool the build, the tests and `make run` need.
# Idempotent and quick when everything is present: it asks dpkg first and calls apt-get only for what is missing.
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
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

# Node and npm (for buf) may come from elsewhere on the machine; Debian's only when there is none.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# buf (proto lint, and `buf curl` as a grpcurl stand-in) comes from npm, pinned in tools/package.json.
if [[ ! -x tools/node_modules/.bin/buf ]]; then
  echo "install-deps: installing npm tools (buf)"
  (cd tools && npm install --no-audit --no-fund --silent)
fi

#!/usr/bin/env bash
# Fails when a tracked C++ file differs from what clang-format (with the checked-in .clang-format) would write.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.h' '*.cc' 2>/dev/null || true)
[[ -z "$files" ]] && exit 0
if ! echo "$files" | xargs clang-format --dry-run --Werror 2>/tmp/clang-format.out; then
  head -40 /tmp/clang-format.out
  echo "check-format: run 'make format'" >&2
  exit 1
fi

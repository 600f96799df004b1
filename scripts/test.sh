#!/usr/bin/env bash
# The README's test command: every test, on both backends. Builds (or reuses, from
# ~/.cache/kubectl-upgrade) the real control plane first: about 15 minutes the first time on
# 2 cores, seconds after that. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(scripts/real-control-plane.sh build | tail -1)"
export KUBECTL_UPGRADE_REAL_BIN="$bin"
exec cargo test --workspace --locked "$@"

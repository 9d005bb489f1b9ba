#!/usr/bin/env bash
# Runs every test of the workspace: installs what is missing, builds the binaries the
# end-to-end tests start, then runs the unit and end-to-end tests. Each end-to-end test
# starts its own Redis (with RedisJSON) on a free port.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

cargo build --workspace --bins --locked
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --profile ci
else
  cargo test --workspace --locked
fi

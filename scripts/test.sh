#!/usr/bin/env bash
# Runs every test of the workspace: installs what is missing, builds the binaries the
# end-to-end tests start, then runs the unit and end-to-end tests, then the browser tests
# (tests/browser: Chromium driving the web client). Each end-to-end test file starts its
# own Redis (with RedisJSON) on a free port.
set -euo pipefail
cd "$(dirname "$0")/.."
SETUP_BROWSER_TESTS=1 source scripts/setup.sh

cargo build --workspace --bins --locked
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --profile ci
else
  cargo test --workspace --locked
fi

# The browser client in Chromium, against the binaries built above.
node --test --test-concurrency=1 tests/browser/

#!/usr/bin/env bash
# Runs every test of the workspace: installs what is missing, checks formatting
# (cargo fmt) and lints (cargo clippy, warnings are errors), builds the binaries the
# end-to-end tests start, then runs the unit and end-to-end tests, the chat, game, room and
# worker suites once more on a Redis Cluster, then the browser tests (tests/browser:
# Chromium driving the web client). Each end-to-end test starts its own Redis (with
# RedisJSON) or Redis Cluster on free ports.
set -euo pipefail
cd "$(dirname "$0")/.."
SETUP_BROWSER_TESTS=1 source scripts/setup.sh

# The suites that run unchanged on a Redis Cluster (three masters, three replicas).
CLUSTER_SUITES='binary(chat) | binary(games) | binary(seats) | binary(rooms) | binary(workers)'

# Formatting and lints first: cheap, and a failure says exactly where.
if cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1; then
  cargo fmt --all --check
  cargo clippy --workspace --all-targets --locked -- -D warnings
else
  echo "test: rustfmt or clippy is not installed with this toolchain; skipping the format and lint checks" >&2
fi

# Modules depend one way: no module of a crate imports one that imports it back.
python3 scripts/check-modules.py

cargo build --workspace --bins --locked
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --profile ci
  E2E_REDIS=cluster cargo nextest run --workspace --locked --profile ci -E "$CLUSTER_SUITES"
else
  cargo test --workspace --locked
  E2E_REDIS=cluster cargo test --workspace --locked --test chat --test games --test seats --test rooms --test workers
fi

# The browser client in Chromium, against the binaries built above.
node --test --test-concurrency=1 tests/browser/

#!/usr/bin/env bash
# Runs every test of the workspace: installs what is missing, checks formatting
# (cargo fmt), lints (cargo clippy, warnings are errors), module cycles and the contract's
# documents, builds the binaries the end-to-end tests start, then runs the unit and
# end-to-end tests, the admin, chat, game, seat, room, table, worker and soak suites once more on a Redis
# Cluster, checks every frame and HTTP body they read against the contract, then the
# JavaScript client library's tests and the browser tests (tests/browser: Chromium
# driving the web client). Each end-to-end test starts its own Redis (with RedisJSON) or
# Redis Cluster on free ports.
set -euo pipefail
cd "$(dirname "$0")/.."
SETUP_BROWSER_TESTS=1 source scripts/setup.sh

# The suites that run unchanged on a Redis Cluster (three masters, three replicas).
CLUSTER_SUITES='binary(admin) | binary(chat) | binary(games) | binary(seats) | binary(rooms) | binary(table) | binary(workers) | binary(soak)'

# Formatting and lints first: cheap, and a failure says exactly where.
if cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1; then
  cargo fmt --all --check
  cargo clippy --workspace --all-targets --locked -- -D warnings
else
  echo "test: rustfmt or clippy is not installed with this toolchain; skipping the format and lint checks" >&2
fi

# Modules depend one way: no module of a crate imports one that imports it back.
python3 scripts/check-modules.py

# The contract (docs/): both documents parsed by their ecosystems' own parsers, and the
# checker of recorded traffic tested on good and bad records.
node docs/check/check-docs.mjs
(cd docs/check && node --test)

cargo build --workspace --bins --locked
# Every WebSocket frame and HTTP body the end-to-end suites read is recorded here and
# checked against docs/asyncapi.yaml and docs/openapi.yaml after them.
export E2E_TRAFFIC_DIR="$(realpath -m "${CARGO_TARGET_DIR:-target}")/e2e-traffic"
rm -rf "$E2E_TRAFFIC_DIR"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --profile ci
  E2E_REDIS=cluster cargo nextest run --workspace --locked --profile ci -E "$CLUSTER_SUITES"
else
  cargo test --workspace --locked
  E2E_REDIS=cluster cargo test --workspace --locked --test chat --test games --test seats --test rooms --test table --test admin --test workers --test soak
fi
node docs/check/check-traffic.mjs "$E2E_TRAFFIC_DIR"/*.jsonl
# A recording that reaches every message, error and close code of the contract (one node,
# one worker; about two minutes), checked the same way.
node docs/check/run-sample.mjs "${CARGO_TARGET_DIR:-target}/contract-traffic"

# The JavaScript client library: its type declarations, and its tests against real nodes.
(cd clients/js && npx tsc --noEmit -p tsconfig.json && node --test --test-concurrency=1 test/*.test.mjs)

# The browser client in Chromium, against the binaries built above.
node --test --test-concurrency=1 tests/browser/

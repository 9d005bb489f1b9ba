#!/usr/bin/env bash
# Benchmarks (not tests): starts Redis with RedisJSON, two release-built server nodes and
# one worker on loopback ports of its own, runs the load tool's scenarios and prints the
# figures. Everything it starts is stopped at the end.
#   SCENARIOS (default "bot idle moves fanout"), BOT_RATES (default "100 1000"),
#   BOT_SECS (default 10), IDLE_SOCKETS (default 19900), GAMES (default 1000),
#   FANOUT (default "--rooms 20 --members 50 --rate 2")
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

SCENARIOS="${SCENARIOS:-bot idle moves fanout}"
GAMES="${GAMES:-1000}"
FANOUT="${FANOUT:---rooms 20 --members 50 --rate 2}"
BOT_RATES="${BOT_RATES:-100 1000}"
BOT_SECS="${BOT_SECS:-10}"
IDLE_SOCKETS="${IDLE_SOCKETS:-19900}"
REDIS_PORT=6390
A=3100
B=3101
DIR="$(mktemp -d)"

cargo build --release --bins
# Each process may hold as many open files as the hard limit allows.
ulimit -n "$(ulimit -Hn)"

pids=()
stop() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap stop EXIT

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DIR" --save "" --appendonly no \
  --loadmodule "$REJSON_MODULE" --daemonize yes --logfile "$DIR/redis.log"
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT" RUST_LOG=warn
# The load tool's users send far more than people do: lift the per-token and per-IP limits.
export RATE_PER_5S=1000000 RATE_PER_MIN=1000000 TOKEN_RATE_PER_MIN=1000000

NODE_ID=bench-a BIND_ADDR="127.0.0.1:$A" ./target/release/server & pids+=($!); pid_a=$!
NODE_ID=bench-b BIND_ADDR="127.0.0.1:$B" ./target/release/server & pids+=($!)
./target/release/worker & pids+=($!)
for port in $A $B; do
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
done

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; open files per process: $(ulimit -n)"
for scenario in $SCENARIOS; do
  case "$scenario" in
    bot)
      for rate in $BOT_RATES; do
        ./target/release/load bot --send "http://127.0.0.1:$A" --receive "http://127.0.0.1:$B" \
          --rate "$rate" --secs "$BOT_SECS" --users 200
      done ;;
    idle)
      ./target/release/load idle --node "http://127.0.0.1:$A" --pid "$pid_a" --sockets "$IDLE_SOCKETS" ;;
    moves)
      ./target/release/load moves --a "http://127.0.0.1:$A" --b "http://127.0.0.1:$B" --games "$GAMES" ;;
    fanout)
      # shellcheck disable=SC2086
      ./target/release/load fanout --a "http://127.0.0.1:$A" --b "http://127.0.0.1:$B" $FANOUT ;;
    *) echo "unknown scenario $scenario" >&2; exit 2 ;;
  esac
done

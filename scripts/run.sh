#!/usr/bin/env bash
# Runs the whole thing locally: Redis with RedisJSON (AOF on, in .run/redis), two server
# nodes and one worker. Ctrl-C stops everything.
#   REDIS_PORT (default 6380), NODE_PORTS (default "3000 3001"), WORKERS (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

REDIS_PORT="${REDIS_PORT:-6380}"
NODE_PORTS="${NODE_PORTS:-3000 3001}"
WORKERS="${WORKERS:-1}"
RUN_DIR="$PWD/.run"
mkdir -p "$RUN_DIR/redis"

cargo build --release --bins

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping…"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  redis-cli -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
}
trap stop INT TERM EXIT

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RUN_DIR/redis" \
  --appendonly yes --appendfsync everysec --save "" \
  --loadmodule "$REJSON_MODULE" --daemonize yes --logfile "$RUN_DIR/redis.log"
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"

i=1
for port in $NODE_PORTS; do
  NODE_ID="node-$i" BIND_ADDR="127.0.0.1:$port" ./target/release/server &
  pids+=($!)
  i=$((i + 1))
done
for n in $(seq "$WORKERS"); do
  CONSUMER_NAME="worker-$n" ./target/release/worker &
  pids+=($!)
done

sleep 1
echo
echo "Redis:  $REDIS_URL (RedisJSON loaded, AOF in .run/redis)"
for port in $NODE_PORTS; do echo "Node:   http://127.0.0.1:$port/   (WebSocket: ws://127.0.0.1:$port/ws?token=…)"; done
echo "Press Ctrl-C to stop."
wait -n "${pids[@]}" || true

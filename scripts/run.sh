#!/usr/bin/env bash
# Runs the whole thing locally: Redis with RedisJSON (AOF on, in .run/redis) and its ACL
# users, two server nodes, one worker, and nginx in front of the nodes on one port (round
# robin, WebSocket upgrade, no sticky sessions). Ctrl-C stops everything. A node or worker
# that dies is reported and the rest go on (nginx skips the dead node); the run ends when
# nginx or the last node is gone.
#
#   LB_PORT      the one port to open (default 8080): nginx, configured from
#                deploy/nginx.local.conf.in into .run/nginx
#   NODE_PORTS   the nodes' own ports (default "3000 3001")
#   WORKERS      how many workers (default 1)
#   REDIS_PORT   default 6380
#   REDIS_ADMIN_PASSWORD, REDIS_SERVICE_PASSWORD
#                the passwords of the Redis users admin and service (deploy/redis/users.acl.in);
#                unset: the ones of the previous run, kept in .run/redis.env, or new random
#                ones on the first run
#   SKIP_BUILD=1 use target/release/server and worker as they are (no cargo build)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

LB_PORT="${LB_PORT:-8080}"
REDIS_PORT="${REDIS_PORT:-6380}"
NODE_PORTS="${NODE_PORTS:-3000 3001}"
WORKERS="${WORKERS:-1}"
RUN_DIR="$PWD/.run"
NGINX_PREFIX="$RUN_DIR/nginx"
REDIS_PID_FILE="$RUN_DIR/redis.pid"
mkdir -p "$RUN_DIR/redis" "$NGINX_PREFIX/logs" "$NGINX_PREFIX/tmp"

die() { echo "run: $*" >&2; exit 1; }

if [ "${SKIP_BUILD:-0}" = 1 ]; then
  for bin in server worker; do
    [ -x "target/release/$bin" ] || die "SKIP_BUILD=1 but target/release/$bin does not exist"
  done
else
  cargo build --release --bins
fi

# A Redis left running by an earlier run that was killed: it is ours (our pid file), stop it.
if [ -s "$REDIS_PID_FILE" ]; then
  old="$(cat "$REDIS_PID_FILE")"
  if grep -qs redis-server "/proc/$old/cmdline"; then
    echo "run: stopping the Redis left by an earlier run (pid $old)"
    kill -TERM "$old" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$REDIS_PID_FILE"
fi

in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$REDIS_PORT" $NODE_PORTS "$LB_PORT"; do
  if in_use "$port"; then die "port $port is in use (see LB_PORT, NODE_PORTS, REDIS_PORT at the top of $0)"; fi
done

# Redis users: passwords from the environment, else from the previous run, else new ones.
random_password() { od -An -tx1 -N18 /dev/urandom | tr -d ' \n'; }
if [ -z "${REDIS_ADMIN_PASSWORD:-}" ] || [ -z "${REDIS_SERVICE_PASSWORD:-}" ]; then
  saved_admin="${REDIS_ADMIN_PASSWORD:-}" saved_service="${REDIS_SERVICE_PASSWORD:-}"
  # shellcheck source=/dev/null
  if [ -f "$RUN_DIR/redis.env" ]; then source "$RUN_DIR/redis.env"; fi
  REDIS_ADMIN_PASSWORD="${saved_admin:-${REDIS_ADMIN_PASSWORD:-$(random_password)}}"
  REDIS_SERVICE_PASSWORD="${saved_service:-${REDIS_SERVICE_PASSWORD:-$(random_password)}}"
fi
export REDIS_ADMIN_PASSWORD REDIS_SERVICE_PASSWORD
# The service password goes into REDIS_URL as it is.
[[ "$REDIS_SERVICE_PASSWORD" =~ ^[A-Za-z0-9._~-]+$ ]] \
  || die "REDIS_SERVICE_PASSWORD may hold only letters, digits and . _ ~ - (it goes into REDIS_URL)"
(
  umask 077
  printf 'REDIS_ADMIN_PASSWORD=%q\nREDIS_SERVICE_PASSWORD=%q\n' \
    "$REDIS_ADMIN_PASSWORD" "$REDIS_SERVICE_PASSWORD" > "$RUN_DIR/redis.env"
)
scripts/render-acl.sh "$RUN_DIR/redis.acl"

pids=()
declare -A names=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping…"
  # SIGTERM to nginx, the nodes (they close their sockets with 1001) and the workers;
  # Redis once they are gone (it fsyncs what is left of the AOF).
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -s "$REDIS_PID_FILE" ]; then
    local rpid
    rpid="$(cat "$REDIS_PID_FILE")"
    kill -TERM "$rpid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$rpid" 2>/dev/null || break; sleep 0.1; done
  fi
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RUN_DIR/redis" \
  --aclfile "$RUN_DIR/redis.acl" \
  --appendonly yes --appendfsync everysec --save "" \
  --loadmodule "$REJSON_MODULE" --daemonize yes --pidfile "$REDIS_PID_FILE" \
  --logfile "$RUN_DIR/redis.log"
for _ in $(seq 50); do
  REDISCLI_AUTH="$REDIS_ADMIN_PASSWORD" redis-cli --user admin -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
  sleep 0.1
done
REDISCLI_AUTH="$REDIS_ADMIN_PASSWORD" redis-cli --user admin -p "$REDIS_PORT" ping >/dev/null 2>&1 \
  || die "Redis did not start; see .run/redis.log"
export REDIS_URL="redis://service:$REDIS_SERVICE_PASSWORD@127.0.0.1:$REDIS_PORT"

# The nodes trust X-Forwarded-For: nginx sets it to the client's address.
i=1
for port in $NODE_PORTS; do
  NODE_ID="node-$i" BIND_ADDR="127.0.0.1:$port" TRUST_FORWARDED_FOR=true ./target/release/server &
  pids+=($!)
  names[$!]="node-$i (port $port)"
  i=$((i + 1))
done
for n in $(seq "$WORKERS"); do
  CONSUMER_NAME="worker-$n" ./target/release/worker &
  pids+=($!)
  names[$!]="worker-$n"
done

# nginx from deploy/nginx.local.conf.in: one upstream server per node, everything under
# .run/nginx (config, pid file, logs, temporary files).
nodes=""
for port in $NODE_PORTS; do
  nodes+="    server 127.0.0.1:$port max_fails=1 fail_timeout=5s;"$'\n'
done
conf="$(<deploy/nginx.local.conf.in)"
conf="${conf//@PREFIX@/"$NGINX_PREFIX"}"
conf="${conf//@LISTEN@/"127.0.0.1:$LB_PORT"}"
conf="${conf//@NODES@/"${nodes%$'\n'}"}"
conf="${conf//@PROXY_CONF@/"$PWD/deploy/nginx-proxy.conf"}"
printf '%s\n' "$conf" > "$NGINX_PREFIX/nginx.conf"
nginx_args=(-p "$NGINX_PREFIX/" -c "$NGINX_PREFIX/nginx.conf" -e "$NGINX_PREFIX/logs/error.log")
"$NGINX_BIN" -t -q "${nginx_args[@]}" || die "nginx rejects $NGINX_PREFIX/nginx.conf"
"$NGINX_BIN" "${nginx_args[@]}" &
nginx_pid=$!
pids=("$nginx_pid" "${pids[@]}")
names[$nginx_pid]="nginx"

# Ready when every node and the balancer answer /health.
for port in $NODE_PORTS "$LB_PORT"; do
  for _ in $(seq 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && break
    sleep 0.1
  done
done

echo
echo "Open:   http://127.0.0.1:$LB_PORT/   (nginx, round robin over the nodes; WebSocket: ws://127.0.0.1:$LB_PORT/ws?token=…)"
for port in $NODE_PORTS; do echo "Node:   http://127.0.0.1:$port/   (direct)"; done
echo "Redis:  127.0.0.1:$REDIS_PORT, RedisJSON, AOF (everysec) in .run/redis; users admin and service,"
echo "        passwords in .run/redis.env (e.g. set -a; . .run/redis.env; REDISCLI_AUTH=\$REDIS_ADMIN_PASSWORD redis-cli --user admin -p $REDIS_PORT)"
echo "Logs:   nginx in .run/nginx/logs, Redis in .run/redis.log"
echo "Press Ctrl-C to stop."

# A node or worker that exits is reported and the rest carry on (nginx sends requests to
# the nodes left); the run ends when nginx or the last node is gone.
while :; do
  wait -n "${pids[@]}" || true
  alive=()
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then alive+=("$pid"); else echo "run: ${names[$pid]} exited"; fi
  done
  pids=("${alive[@]}")
  kill -0 "$nginx_pid" 2>/dev/null || exit 1
  nodes_left=0
  for pid in "${pids[@]}"; do [[ "${names[$pid]}" == node-* ]] && nodes_left=$((nodes_left + 1)); done
  [ "$nodes_left" -gt 0 ] || exit 1
done

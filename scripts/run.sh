#!/usr/bin/env bash
# Runs the whole thing locally: Redis with RedisJSON (AOF on, in .run/redis) and its ACL
# users (or, with REDIS_CLUSTER=1, a Redis Cluster of six such Redis), two server nodes,
# one worker, and nginx in front of the nodes on one port (round robin, WebSocket upgrade,
# no sticky sessions). Ctrl-C stops everything. A node or worker that dies is reported and
# the rest go on (nginx skips the dead node); the run ends when nginx or the last node is
# gone.
#
#   LB_PORT      the one port to open (default 8080): nginx, configured from
#                deploy/nginx.local.conf.in into .run/nginx
#   NODE_PORTS   the nodes' own ports (default "3000 3001")
#   WORKERS      how many workers (default 1)
#   REDIS_PORT   default 6380
#   REDIS_CLUSTER=1
#                a local Redis Cluster instead of the single Redis: three masters and three
#                replicas, each with RedisJSON, the same ACL users and AOF, in
#                .run/cluster/PORT; the nodes and workers get REDIS_URL=redis-cluster://…
#   CLUSTER_PORTS
#                the six ports of the cluster's Redis nodes (default "7001 7002 7003 7004
#                7005 7006"); each one's cluster bus port (port + 10000) must be free too
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
REDIS_CLUSTER="${REDIS_CLUSTER:-0}"
CLUSTER_PORTS="${CLUSTER_PORTS:-7001 7002 7003 7004 7005 7006}"
CLUSTER_DIR="$RUN_DIR/cluster"
CLUSTER_ACL_FILE="$RUN_DIR/redis.acl"
# How long a cluster node may be unreachable before it counts as failing (a failing master's
# replica then takes over).
CLUSTER_NODE_TIMEOUT_MS=5000
mkdir -p "$RUN_DIR/redis" "$NGINX_PREFIX/logs" "$NGINX_PREFIX/tmp"

# die, redis_cli, wait_for_redis, running and the cluster's start_cluster, stop_cluster,
# describe_cluster.
source scripts/cluster.sh

# Stops the redis-server whose pid file is PID_FILE, if it runs, and waits for it (10 s at
# most): SIGTERM, on which Redis fsyncs what is left of the AOF and exits.
stop_redis_server() {
  [ -s "$1" ] || return 0
  local pid
  pid="$(cat "$1")"
  grep -qs redis-server "/proc/$pid/cmdline" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do running "$pid" || break; sleep 0.1; done
}

if [ "$REDIS_CLUSTER" = 1 ]; then read_cluster_ports; fi

if [ "${SKIP_BUILD:-0}" = 1 ]; then
  for bin in server worker; do
    [ -x "target/release/$bin" ] || die "SKIP_BUILD=1 but target/release/$bin does not exist"
  done
else
  cargo build --release --bins
fi

# A Redis left running by an earlier run that was killed: it is ours (our pid files), stop it.
if [ "$REDIS_CLUSTER" = 1 ]; then
  for pid_file in "$CLUSTER_DIR"/*/redis.pid; do
    if [ -s "$pid_file" ] && grep -qs redis-server "/proc/$(cat "$pid_file")/cmdline"; then
      echo "run: stopping the Redis Cluster left by an earlier run"
      stop_cluster
      break
    fi
  done
  rm -f "$CLUSTER_DIR"/*/redis.pid
  redis_ports=()
  for port in "${cluster_ports[@]}"; do redis_ports+=("$port" "$((port + 10000))"); done
  port_vars="LB_PORT, NODE_PORTS, CLUSTER_PORTS"
else
  if [ -s "$REDIS_PID_FILE" ] && grep -qs redis-server "/proc/$(cat "$REDIS_PID_FILE")/cmdline"; then
    echo "run: stopping the Redis left by an earlier run (pid $(cat "$REDIS_PID_FILE"))"
    stop_redis_server "$REDIS_PID_FILE"
  fi
  rm -f "$REDIS_PID_FILE"
  redis_ports=("$REDIS_PORT")
  port_vars="LB_PORT, NODE_PORTS, REDIS_PORT"
fi

in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "${redis_ports[@]}" $NODE_PORTS "$LB_PORT"; do
  if in_use "$port"; then die "port $port is in use (see $port_vars at the top of $0)"; fi
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
  if [ "$REDIS_CLUSTER" = 1 ]; then stop_cluster; else stop_redis_server "$REDIS_PID_FILE"; fi
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

if [ "$REDIS_CLUSTER" = 1 ]; then
  start_cluster --appendonly yes --appendfsync everysec --save ""
  # Three seed nodes; the programs discover the rest of the cluster from them.
  seeds="127.0.0.1:${cluster_ports[0]},127.0.0.1:${cluster_ports[1]},127.0.0.1:${cluster_ports[2]}"
  export REDIS_URL="redis-cluster://service:$REDIS_SERVICE_PASSWORD@$seeds"
else
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RUN_DIR/redis" \
    --aclfile "$RUN_DIR/redis.acl" \
    --appendonly yes --appendfsync everysec --save "" \
    --loadmodule "$REJSON_MODULE" --daemonize yes --pidfile "$REDIS_PID_FILE" \
    --logfile "$RUN_DIR/redis.log"
  wait_for_redis "$REDIS_PORT" "$RUN_DIR/redis.log"
  export REDIS_URL="redis://service:$REDIS_SERVICE_PASSWORD@127.0.0.1:$REDIS_PORT"
fi

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
if [ "$REDIS_CLUSTER" = 1 ]; then
  echo "Redis:  Redis Cluster on 127.0.0.1 ports ${cluster_ports[*]} (cluster bus: port + 10000),"
  echo "        $(describe_cluster)"
  echo "        RedisJSON, AOF (everysec) and nodes.conf in .run/cluster/PORT; users admin and service; the programs use"
  echo "        REDIS_URL=redis-cluster://service:…@$seeds"
  echo "        passwords in .run/redis.env (e.g. set -a; . .run/redis.env; REDISCLI_AUTH=\$REDIS_ADMIN_PASSWORD redis-cli --user admin -c -p ${cluster_ports[0]})"
  echo "Logs:   nginx in .run/nginx/logs, Redis in .run/cluster/PORT/redis.log"
else
  echo "Redis:  127.0.0.1:$REDIS_PORT, RedisJSON, AOF (everysec) in .run/redis; users admin and service,"
  echo "        passwords in .run/redis.env (e.g. set -a; . .run/redis.env; REDISCLI_AUTH=\$REDIS_ADMIN_PASSWORD redis-cli --user admin -p $REDIS_PORT)"
  echo "Logs:   nginx in .run/nginx/logs, Redis in .run/redis.log"
fi
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

#!/usr/bin/env bash
# A local Redis Cluster of six redis-server processes (three masters, three replicas) with
# RedisJSON and the ACL users, and the small Redis helpers it needs. Sourced by run.sh
# (REDIS_CLUSTER=1) and bench.sh (BENCH_REDIS=cluster), after setup.sh (REJSON_MODULE).
#
# The sourcing script sets:
#   CLUSTER_PORTS            the six ports, e.g. "7001 7002 7003 7004 7005 7006" (each
#                            one's cluster bus, port + 10000, must be free too); call
#                            read_cluster_ports to check them into the array cluster_ports
#   CLUSTER_DIR              the folder of the nodes: one CLUSTER_DIR/PORT each (nodes.conf,
#                            data, log and pid file)
#   CLUSTER_ACL_FILE         the ACL file every node reads (scripts/render-acl.sh)
#   CLUSTER_NODE_TIMEOUT_MS  how long a node may be unreachable before it counts as failing
#                            (a failing master's replica then takes over)
#   REDIS_ADMIN_PASSWORD     the password of the ACL user admin, which redis-cli and the
#                            replicas (towards their masters) log in as
# Messages start with the name of the sourcing script ("run: …").

die() { echo "$(basename "$0" .sh): $*" >&2; exit 1; }

# redis-cli as the admin user on one local port: redis_cli PORT ARGS…
redis_cli() {
  local port="$1"
  shift
  REDISCLI_AUTH="$REDIS_ADMIN_PASSWORD" redis-cli --user admin -p "$port" "$@"
}

# Waits until the Redis on PORT answers (5 s at most): wait_for_redis PORT LOG
wait_for_redis() {
  for _ in $(seq 50); do
    redis_cli "$1" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  redis_cli "$1" ping >/dev/null 2>&1 || die "Redis did not start on port $1; see ${2#"$PWD/"}"
}

# Whether process PID still runs. A daemonized Redis that has exited may stay a zombie
# until PID 1 gets round to reaping it; it counts as gone.
running() {
  local state
  state="$(sed -e 's/.*) //' "/proc/$1/stat" 2>/dev/null)" || return 1
  [ -n "$state" ] && [ "${state%% *}" != Z ]
}

# CLUSTER_PORTS into the array cluster_ports: six different ports, each with room for its
# cluster bus port.
read_cluster_ports() {
  local port
  read -ra cluster_ports <<< "$CLUSTER_PORTS"
  [ "$(printf '%s\n' "${cluster_ports[@]}" | sort -u | wc -l)" = 6 ] && [ "${#cluster_ports[@]}" = 6 ] \
    || die "CLUSTER_PORTS must name six different ports (three masters, three replicas)"
  for port in "${cluster_ports[@]}"; do
    [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 55535 ] \
      || die "CLUSTER_PORTS: $port is not a port from 1 to 55535 (port + 10000 is its cluster bus)"
  done
}

# One redis-server per port of cluster_ports, each in CLUSTER_DIR/PORT, with RedisJSON and
# the ACL file; replicas log in to their masters as admin (the default user is off). The
# arguments are further redis-server options, the same for every node (persistence:
# start_cluster --appendonly yes --appendfsync everysec --save ""). The first start joins
# them with redis-cli --cluster create; a later one finds their nodes.conf files and they
# re-form the cluster by themselves. Returns once the cluster is ok on every node.
start_cluster() {
  local port dir info fresh=0 formed=0 shown_dir="${CLUSTER_DIR#"$PWD/"}"
  for port in "${cluster_ports[@]}"; do
    dir="$CLUSTER_DIR/$port"
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" \
      --aclfile "$CLUSTER_ACL_FILE" \
      "$@" \
      --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-node-timeout "$CLUSTER_NODE_TIMEOUT_MS" \
      --masteruser admin --masterauth "$REDIS_ADMIN_PASSWORD" \
      --loadmodule "$REJSON_MODULE" --daemonize yes --pidfile "$dir/redis.pid" \
      --logfile "$dir/redis.log"
  done
  for port in "${cluster_ports[@]}"; do wait_for_redis "$port" "$CLUSTER_DIR/$port/redis.log"; done

  # A node that knows only itself and holds no slots has not joined a cluster yet.
  for port in "${cluster_ports[@]}"; do
    info="$(redis_cli "$port" cluster info 2>/dev/null | tr -d '\r')" || die "CLUSTER INFO failed on port $port"
    if grep -qx cluster_known_nodes:1 <<< "$info" && grep -qx cluster_slots_assigned:0 <<< "$info"; then
      fresh=$((fresh + 1))
    else
      formed=$((formed + 1))
    fi
  done
  if [ "$formed" = 0 ]; then
    echo "$(basename "$0" .sh): creating the Redis Cluster on ports ${cluster_ports[*]}"
    local hosts=()
    for port in "${cluster_ports[@]}"; do hosts+=("127.0.0.1:$port"); done
    REDISCLI_AUTH="$REDIS_ADMIN_PASSWORD" redis-cli --user admin \
      --cluster create "${hosts[@]}" --cluster-replicas 1 --cluster-yes >"$CLUSTER_DIR/create.log" 2>&1 \
      || die "redis-cli --cluster create failed; see $shown_dir/create.log"
  elif [ "$fresh" != 0 ]; then
    die "of the Redis nodes on ports ${cluster_ports[*]}, $formed belong to a cluster and $fresh do not (were CLUSTER_PORTS changed?); use the ports of the earlier run, or remove $shown_dir (and its data) for a new cluster"
  else
    echo "$(basename "$0" .sh): the Redis Cluster of an earlier run re-forms from $shown_dir"
  fi

  # Ready when every node sees every slot served (cluster_state:ok) and every replica is
  # in touch with its master; 60 s at most.
  for port in "${cluster_ports[@]}"; do
    for _ in $(seq 300); do
      if [[ "$(redis_cli "$port" cluster info 2>/dev/null)" == *cluster_state:ok* ]]; then
        info="$(redis_cli "$port" info replication 2>/dev/null)"
        [[ "$info" == *role:master* || "$info" == *master_link_status:up* ]] && continue 2
      fi
      sleep 0.2
    done
    die "the Redis Cluster is not ok on port $port; see $shown_dir/$port/redis.log"
  done
}

# Stops every node of the cluster at once (their pid files in CLUSTER_DIR/*/), also those
# of an earlier run, and waits for them (10 s at most).
stop_cluster() {
  local pid_file pid pids=()
  for pid_file in "$CLUSTER_DIR"/*/redis.pid; do
    [ -s "$pid_file" ] || continue
    pid="$(cat "$pid_file")"
    grep -qs redis-server "/proc/$pid/cmdline" || continue
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do running "$pid" || break; sleep 0.1; done
  done
}

# The ports of the cluster's masters, as the nodes themselves report their roles (INFO
# replication): "7001 7002 7003".
cluster_masters() {
  local port masters=()
  for port in "${cluster_ports[@]}"; do
    [[ "$(redis_cli "$port" info replication 2>/dev/null)" == *role:master* ]] && masters+=("$port")
  done
  echo "${masters[*]}"
}

# The roles of the cluster's nodes, each as the node itself reports it (INFO replication):
# "masters 7001 7002 7003; replicas 7004 (of 7002) …". Which replica follows which master
# is redis-cli's choice, and a failover swaps the roles of a pair.
describe_cluster() {
  local port info masters="" replicas=""
  for port in "${cluster_ports[@]}"; do
    info="$(redis_cli "$port" info replication 2>/dev/null | tr -d '\r')"
    if grep -qx role:master <<< "$info"; then
      masters+=" $port"
    else
      replicas+=" $port (of $(sed -n 's/^master_port://p' <<< "$info"))"
    fi
  done
  echo "masters$masters; replicas$replicas"
}

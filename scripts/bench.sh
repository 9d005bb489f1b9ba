#!/usr/bin/env bash
# Benchmarks (not tests): starts Redis with RedisJSON (or a Redis Cluster), two
# release-built server nodes and one worker on loopback ports of its own, runs the load
# tool's scenarios and prints the figures, and for each scenario the CPU time each Redis
# master spent on it. Everything it starts is stopped at the end.
#   BENCH_REDIS  "single" (default): one Redis on port 6390; "cluster": a new Redis Cluster
#                of three masters and three replicas on ports 7401–7406 (cluster bus
#                17401–17406), started by scripts/cluster.sh as run.sh's
#   SCENARIOS (default "bot idle moves newgames fanout spread growth"), BOT_RATES (default "100 1000"),
#   BOT_SECS (default 10), IDLE_SOCKETS (default 19900), GAMES (default 1000),
#   THINK_MS (default "0 150 250": one moves run per value, players thinking that many ms
#   on average), NEW_GAMES (default "20 50 500": one newgames run per number of concurrent
#   games, each pair starting a new game when one ends, moving at once; NEW_GAME_THINK_MS
#   adds runs with that thinking time, default none),
#   FANOUT (default "--rooms 20 --members 50 --rate 2"),
#   SPREAD_SOCKETS (default 100000): the "spread" scenario's sockets, over six nodes (A, B
#                and C–F on ports 3102–3105, started for it) with a seventh, spare node (G,
#                3106) for those that come back after node F is killed
#   GROWTH_DELIVERIES (default 50000): the deliveries/s each run of the "growth" scenario
#                offers (fan-out at 10, 100 and 1,000 rooms of 10 members, at 10 rooms of
#                100 and 1,000 members, and one room of GROWTH_ROOM_MEMBERS, default 10000)
#   SERVER_BIN (default ./target/release/server): the server binary the nodes run, for
#                before/after runs of two builds in one sitting
#   SETTLE_SECS (default 35): after each moves and newgames run, how long to go on
#   measuring Redis while the seats of the games whose sockets closed are swept (the nodes'
#   ABANDON_SECS is 30), so that this work is counted with the run that caused it and not
#   in the next one; 0 skips it
#   SCRIPT_TIMES (default 0): 1 logs every Redis command of one second of each scenario
#   (its 7th) in the slow log and prints that second's scripts by file, calls and µs per
#   call (a diagnosis: the logging costs Redis CPU too)
# Redis runs without persistence (no AOF, no RDB) and with the ACL users of
# deploy/redis/users.acl.in, with random passwords for this run: the nodes and the worker
# log in as service, redis-cli as admin. Everything lives in a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

BENCH_REDIS="${BENCH_REDIS:-single}"
SCENARIOS="${SCENARIOS:-bot idle moves newgames fanout spread growth}"
GAMES="${GAMES:-1000}"
THINK_MS="${THINK_MS:-0 150 250}"
NEW_GAMES="${NEW_GAMES:-20 50 500}"
NEW_GAME_THINK_MS="${NEW_GAME_THINK_MS:-}"
FANOUT="${FANOUT:---rooms 20 --members 50 --rate 2}"
BOT_RATES="${BOT_RATES:-100 1000}"
BOT_SECS="${BOT_SECS:-10}"
SETTLE_SECS="${SETTLE_SECS:-35}"
SERVER_BIN="${SERVER_BIN:-./target/release/server}"
IDLE_SOCKETS="${IDLE_SOCKETS:-19900}"
SPREAD_SOCKETS="${SPREAD_SOCKETS:-100000}"
GROWTH_DELIVERIES="${GROWTH_DELIVERIES:-50000}"
GROWTH_ROOM_MEMBERS="${GROWTH_ROOM_MEMBERS:-10000}"
SCRIPT_TIMES="${SCRIPT_TIMES:-0}"
REDIS_PORT=6390
A=3100
B=3101
CLUSTER_PORTS="7401 7402 7403 7404 7405 7406"
CLUSTER_NODE_TIMEOUT_MS=5000

# die, redis_cli, wait_for_redis, running, read_cluster_ports, start_cluster, stop_cluster,
# cluster_masters, describe_cluster.
source scripts/cluster.sh

case "$BENCH_REDIS" in
  single) redis_ports=("$REDIS_PORT") ;;
  cluster)
    read_cluster_ports
    redis_ports=()
    for port in "${cluster_ports[@]}"; do redis_ports+=("$port" "$((port + 10000))"); done ;;
  *) die "BENCH_REDIS must be single or cluster, not $BENCH_REDIS" ;;
esac
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "${redis_ports[@]}" "$A" "$B"; do
  if in_use "$port"; then die "port $port is in use"; fi
done

cargo build --release --bins
# Each process may hold as many open files as the hard limit allows.
ulimit -n "$(ulimit -Hn)"

DIR="$(mktemp -d)"
CLUSTER_DIR="$DIR/cluster"
CLUSTER_ACL_FILE="$DIR/redis.acl"
REDIS_PID_FILE="$DIR/redis/redis.pid"

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$BENCH_REDIS" = cluster ]; then
    stop_cluster
  elif [ -s "$REDIS_PID_FILE" ]; then
    pid="$(cat "$REDIS_PID_FILE")"
    if grep -qs redis-server "/proc/$pid/cmdline"; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 100); do running "$pid" || break; sleep 0.1; done
    fi
  fi
  rm -rf "$DIR"
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

random_password() { od -An -tx1 -N18 /dev/urandom | tr -d ' \n'; }
REDIS_ADMIN_PASSWORD="$(random_password)" REDIS_SERVICE_PASSWORD="$(random_password)"
export REDIS_ADMIN_PASSWORD REDIS_SERVICE_PASSWORD
scripts/render-acl.sh "$CLUSTER_ACL_FILE"

if [ "$BENCH_REDIS" = cluster ]; then
  start_cluster --appendonly no --save ""
  read -ra masters <<< "$(cluster_masters)"
  replicas=()
  for port in "${cluster_ports[@]}"; do
    [[ " ${masters[*]} " == *" $port "* ]] || replicas+=("$port")
  done
  seeds="127.0.0.1:${cluster_ports[0]},127.0.0.1:${cluster_ports[1]},127.0.0.1:${cluster_ports[2]}"
  export REDIS_URL="redis-cluster://service:$REDIS_SERVICE_PASSWORD@$seeds"
  redis_desc="Redis Cluster on ports ${cluster_ports[*]}: $(describe_cluster)"
else
  mkdir -p "$DIR/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DIR/redis" \
    --aclfile "$CLUSTER_ACL_FILE" --save "" --appendonly no \
    --loadmodule "$REJSON_MODULE" --daemonize yes --pidfile "$REDIS_PID_FILE" \
    --logfile "$DIR/redis/redis.log"
  wait_for_redis "$REDIS_PORT" "$DIR/redis/redis.log"
  masters=("$REDIS_PORT")
  replicas=()
  export REDIS_URL="redis://service:$REDIS_SERVICE_PASSWORD@127.0.0.1:$REDIS_PORT"
  redis_desc="one Redis on port $REDIS_PORT"
fi
export RUST_LOG=warn
# The load tool's users send far more than people do: lift the per-token and per-IP limits.
export RATE_PER_5S=1000000 RATE_PER_MIN=1000000 TOKEN_RATE_PER_MIN=1000000
# Its thousands of sockets come from a few loopback addresses: no limit per address.
export MAX_CONNECTIONS_PER_IP=0
# The idle scenario puts about 200 sockets on each of its tokens: no limit per token.
export MAX_SOCKETS_PER_TOKEN=0

# Nodes by name (A, B, and those a scenario adds) and their process IDs, for `measure`.
node_names=() node_pids=()
# Starts node NAME on PORT and waits until it answers.
start_node() {
  if in_use "$2"; then die "port $2 is in use"; fi
  NODE_ID="bench-${1,,}" BIND_ADDR="127.0.0.1:$2" "$SERVER_BIN" & pids+=($!)
  node_names+=("$1") node_pids+=($!)
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$2/health" >/dev/null && return; sleep 0.1; done
  die "node $1 on port $2 did not start"
}
start_node A "$A"; pid_a="${node_pids[0]}"
start_node B "$B"
./target/release/worker & pids+=($!); pid_worker=$!

# CPU-seconds (user + system, all threads) the Redis on PORT has used since it started.
redis_cpu() {
  redis_cli "$1" info cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { printf "%.3f", s }'
}
# CPU-seconds (user + system) process PID has used so far.
proc_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f", ($12 + $13) / hz }' "/proc/$1/stat"
}
# CPU-seconds (user + system) of this script's finished children so far: bash's times, run
# in this shell (a subshell would count only its own children) into a file.
children_cpu() {
  times > "$DIR/times"
  tail -n 1 "$DIR/times" \
    | awk '{ for (i = 1; i <= 2; i++) { split($i, t, /m|s/); s += t[1] * 60 + t[2] } } END { printf "%.3f", s }'
}
# Busy and all CPU-seconds of the whole machine so far, from /proc/stat (idle and iowait
# are not busy; guest time is already in user): "BUSY ALL".
machine_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '/^cpu / { for (i = 2; i <= 9; i++) all += $i
    printf "%.2f %.2f", (all - $5 - $6) / hz, all / hz; exit }' /proc/stat
}
now() { date +%s.%N; }
# Calls and microseconds per command on the Redis on PORT so far: "COMMAND CALLS USEC" lines.
redis_commands() {
  redis_cli "$1" info commandstats | tr -d '\r' \
    | awk -F'[:,=]' '/^cmdstat_/ { sub(/^cmdstat_/, "", $1); print $1, $3, $5 }'
}
# Reads and writes of client connections the Redis on PORT has made so far (one system call
# each: a read takes whatever requests have arrived, a write sends what is queued for one
# client), and the bytes in and out: "READS WRITES IN OUT".
redis_io() {
  redis_cli "$1" info stats | tr -d '\r' | awk -F: '
    /^total_reads_processed:/ { r = $2 } /^total_writes_processed:/ { w = $2 }
    /^total_net_input_bytes:/ { i = $2 } /^total_net_output_bytes:/ { o = $2 }
    END { print r, w, i, o }'
}
# The commands Redis ran between two redis_commands snapshots, most time first:
# "COMMAND calls (µs each)", summed over the masters.
commands_between() {
  awk 'FNR == NR { calls[$1] -= $2; usec[$1] -= $3; next } { calls[$1] += $2; usec[$1] += $3 }
    END { for (c in calls) if (calls[c] > 0) printf "%d %s %d %.1f\n", usec[c], c, calls[c], usec[c] / calls[c] }' "$1" "$2" \
    | sort -rn | awk '{ printf "%s%s %d (%.1f µs)", (NR > 1 ? ", " : ""), $2, $3, $4 } END { print "" }'
}

# With SCRIPT_TIMES=1 Redis logs each command in its slow log for one second, the 7th of
# each scenario (neither its set-up nor its end, nor the moment tokens that started
# together begin a new 5-s rate-limit window; the log keeps the last
# 30,000, and the logging adds to each call: this shows where the time goes, not the
# figures), and after the scenario the scripts of that second are printed by file
# (game.lua and room_presence.lua by operation): calls, µs per call (the commands they
# run included) and share of all the logged commands' time.
slowlog_start() {
  [ "$SCRIPT_TIMES" = 1 ] || return 0
  (
    local port
    sleep 6
    for port in "${masters[@]}"; do
      redis_cli "$port" config set slowlog-max-len 30000 >/dev/null
      redis_cli "$port" slowlog reset >/dev/null
      redis_cli "$port" config set slowlog-log-slower-than 0 >/dev/null
    done
    sleep 1
    for port in "${masters[@]}"; do
      redis_cli "$port" config set slowlog-log-slower-than 10000 >/dev/null
    done
  ) &
  slowlog_pid=$!
}
slowlog_report() {
  [ "$SCRIPT_TIMES" = 1 ] || return 0
  local port
  wait "$slowlog_pid"
  for port in "${masters[@]}"; do
    redis_cli "$port" --json slowlog get 30000
    redis_cli "$port" slowlog reset >/dev/null
  done > "$DIR/slowlog"
  python3 - "$1" "$DIR/slowlog" server/src/scripts/*.lua common/src/scripts/*.lua common/src/game/*.lua <<'PY'
import hashlib, json, os, sys
name, log, files = sys.argv[1], sys.argv[2], sys.argv[3:]
scripts = {hashlib.sha1(open(f, 'rb').read()).hexdigest(): os.path.basename(f) for f in files}
calls, usec, total = {}, {}, 0
for line in open(log):
    for _, _, took, args, *_ in json.loads(line):
        total += took
        if args[0].lower() != 'evalsha':
            continue
        label = scripts.get(args[1], args[1][:8])
        if label in ('game.lua', 'room_presence.lua'):
            label += ' ' + args[3 + int(args[2])]
        calls[label] = calls.get(label, 0) + 1
        usec[label] = usec.get(label, 0) + took
rows = sorted(calls, key=lambda k: -usec[k])
print(f'{name}: scripts in its 7th second, {sum(calls.values())} calls (of all commands\' {total} µs): ' + ', '.join(
    f'{k} {calls[k]} ({usec[k] / calls[k]:.1f} µs, {100 * usec[k] / max(total, 1):.0f}%)' for k in rows))
PY
}

# Runs one load command (measure NAME COMMAND…) and prints, for the time it took (its set-up
# included), the CPU each Redis master spent, in CPU-seconds and as % of one core, and
# where the rest of the machine's CPU went (the processes' user + system time; the machine's
# busy time also holds the kernel's interrupt work and everything else running).
measure() {
  local name="$1" port t0 t1 secs load0 load1 w0 m0 m1 all0 all1 line i
  shift
  local -A before=() node0=()
  for port in "${masters[@]}" "${replicas[@]}"; do before[$port]="$(redis_cpu "$port")"; done
  for port in "${masters[@]}"; do redis_commands "$port"; done > "$DIR/commands0"
  for port in "${masters[@]}"; do redis_io "$port"; done > "$DIR/io0"
  for i in "${!node_pids[@]}"; do node0[$i]="$(proc_cpu "${node_pids[$i]}" 2>/dev/null || echo 0)"; done
  w0="$(proc_cpu "$pid_worker")"
  children_cpu > "$DIR/load0"
  read -r m0 all0 <<< "$(machine_cpu)"
  slowlog_start
  t0="$(now)"
  "$@"
  t1="$(now)"
  read -r m1 all1 <<< "$(machine_cpu)"
  children_cpu > "$DIR/load1"
  for port in "${masters[@]}"; do redis_commands "$port"; done > "$DIR/commands1"
  for port in "${masters[@]}"; do redis_io "$port"; done > "$DIR/io1"
  load0="$(cat "$DIR/load0")" load1="$(cat "$DIR/load1")"
  secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"
  local total=0 replica_cpu=0 cpu
  for port in "${masters[@]}"; do
    cpu="$(awk -v a="${before[$port]}" -v b="$(redis_cpu "$port")" 'BEGIN { printf "%.2f", b - a }')"
    total="$(awk -v t="$total" -v c="$cpu" 'BEGIN { print t + c }')"
    echo "$name: redis cpu, master $port: $cpu CPU-s in $secs s = $(awk -v c="$cpu" -v s="$secs" 'BEGIN { printf "%.0f", 100 * c / s }')% of one core"
  done
  for port in "${replicas[@]}"; do
    cpu="$(awk -v a="${before[$port]}" -v b="$(redis_cpu "$port")" 'BEGIN { printf "%.2f", b - a }')"
    replica_cpu="$(awk -v t="$replica_cpu" -v c="$cpu" 'BEGIN { print t + c }')"
  done
  line="$name: cpu in $secs s: load tool $(awk -v a="$load0" -v b="$load1" 'BEGIN { printf "%.1f", b - a }') s"
  for i in "${!node_pids[@]}"; do
    # A node killed during the scenario counts as having spent nothing after its start.
    cpu="$(proc_cpu "${node_pids[$i]}" 2>/dev/null || echo "${node0[$i]}")"
    line+=", node ${node_names[$i]} $(awk -v a="${node0[$i]}" -v b="$cpu" 'BEGIN { printf "%.1f", b - a }') s"
  done
  line+=", worker $(awk -v a="$w0" -v b="$(proc_cpu "$pid_worker")" 'BEGIN { printf "%.1f", b - a }') s"
  line+=", Redis masters $(awk -v t="$total" 'BEGIN { printf "%.1f", t }') s"
  if [ "${#replicas[@]}" -gt 0 ]; then
    line+=", replicas $(awk -v t="$replica_cpu" 'BEGIN { printf "%.1f", t }') s"
  fi
  line+="; the whole machine busy $(awk -v a="$m0" -v b="$m1" 'BEGIN { printf "%.1f", b - a }') s"
  line+=" = $(awk -v a="$m0" -v b="$m1" -v c="$all0" -v d="$all1" 'BEGIN { printf "%.0f", 100 * (b - a) / (d - c) }')%"
  echo "$line of $(nproc) cores × $secs s"
  echo "$name: redis commands (masters): $(commands_between "$DIR/commands0" "$DIR/commands1")"
  echo "$name: redis client i/o (masters): $(awk 'FNR == NR { for (i = 1; i <= 4; i++) t[i] -= $i; next }
    { for (i = 1; i <= 4; i++) t[i] += $i }
    END { printf "%d reads, %d writes, %.1f MB in, %.1f MB out", t[1], t[2], t[3] / 1e6, t[4] / 1e6 }' "$DIR/io0" "$DIR/io1")"
  slowlog_report "$name"
}

# After a game scenario: measures the SETTLE_SECS in which its closed sockets' seats are swept.
settle() {
  if [ "$SETTLE_SECS" -gt 0 ]; then
    measure "$1, then $SETTLE_SECS s while its seats are swept" sleep "$SETTLE_SECS"
    echo "$1: seats left in presence:seats after the $SETTLE_SECS s: $(seats_left)"
  fi
}
# Entries of the seat deadline index (-c follows a cluster to the master holding it): what
# the sweeps have not yet checked.
seats_left() { redis_cli "${masters[0]}" -c zcard presence:seats | tr -d '\r'; }

# Resident memory of process PID in KiB.
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# Sockets node on PORT holds (its ws_sockets_open gauge).
sockets_on() { curl -fs "http://127.0.0.1:$1/metrics" | awk '/^ws_sockets_open / { print $2 }'; }

# SPREAD_SOCKETS idle authenticated sockets over six nodes, from six load processes (each
# may hold 20,000 files), from loopback addresses 127.0.0.10 on: each node's memory per
# socket, Redis's work while they idle, then node F is killed and its sockets come back
# on the others (the spare G among them), each with the page's jittered backoff.
spread() {
  local ports=("$A" "$B" 3102 3103 3104 3105) spare=3106 names=(A B C D E F) i k
  for i in 2 3 4 5; do start_node "${names[$i]}" "${ports[$i]}"; done
  start_node G "$spare"
  # node_pids now holds A, B, C–F and G, in that order.
  local urls="" rss0=() rss1=() held=() loaders=() per
  for i in 0 1 2 3 4 5; do urls+="${urls:+,}http://127.0.0.1:${ports[$i]}"; done
  sleep 1
  for i in 0 1 2 3 4 5; do rss0[$i]="$(rss_kib "${node_pids[$i]}")"; done
  per=$(( (SPREAD_SOCKETS + 5) / 6 ))
  rm -f "$DIR"/ready* "$DIR"/hold*
  for k in 0 1 2 3 4 5; do
    ./target/release/load hold --nodes "$urls" --spare "http://127.0.0.1:$spare" \
      --sockets "$per" --first-source $((10 + 2 * k)) --sources 2 \
      --report "$DIR/hold$k" --ready "$DIR/ready$k" & loaders+=($!)
  done
  local t0 waited=0
  t0="$(now)"
  while [ "$(ls "$DIR"/ready* 2>/dev/null | wc -l)" -lt 6 ]; do
    sleep 1; waited=$((waited + 1))
    [ "$waited" -lt 900 ] || die "the load processes did not open their sockets in 900 s"
  done
  echo "spread: $(cat "$DIR"/ready* | awk '{ s += $1 } END { print s }') sockets open in $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s (tokens made first)"
  sleep 3
  local total_kib=0 total_sockets=0 fresh_sockets=0
  for i in 0 1 2 3 4 5; do
    rss1[$i]="$(rss_kib "${node_pids[$i]}")"
    held[$i]="$(sockets_on "${ports[$i]}")"
    echo "spread: node ${names[$i]}: ${held[$i]} sockets, RSS $((rss0[i] / 1024)) → $((rss1[i] / 1024)) MiB: $(awk -v a="${rss0[$i]}" -v b="${rss1[$i]}" -v n="${held[$i]}" 'BEGIN { printf "%.2f", (b - a) / n }') KiB per socket"
    # A and B may have served earlier scenarios, whose memory the sockets reuse.
    if [ "$i" -ge 2 ]; then
      total_kib=$((total_kib + rss1[i] - rss0[i])) fresh_sockets=$((fresh_sockets + held[i]))
    fi
    total_sockets=$((total_sockets + held[i]))
  done
  echo "spread: $total_sockets sockets on six nodes; on the four started for this scenario (C–F), $fresh_sockets sockets: $(awk -v k="$total_kib" -v n="$fresh_sockets" 'BEGIN { printf "%.2f", k / n }') KiB per socket"
  measure "spread, $total_sockets sockets idle for 30 s" sleep 30
  local kill_ms
  kill_ms="$(date +%s%3N)"
  kill -KILL "${node_pids[5]}"
  echo "spread: node F (${held[5]} sockets) killed at $kill_ms"
  measure "spread, the 30 s after node F was killed" sleep 30
  for i in 0 1 2 3 4; do echo -n "node ${names[$i]} $(sockets_on "${ports[$i]}"), "; done
  echo "node G (spare) $(sockets_on "$spare") sockets"
  kill -TERM "${loaders[@]}"
  wait "${loaders[@]}" || true
  ./target/release/load report --since-ms "$kill_ms" "$DIR"/hold?
  for i in 2 3 4 6; do kill -TERM "${node_pids[$i]}" 2>/dev/null || true; done
  node_names=("${node_names[@]:0:2}") node_pids=("${node_pids[@]:0:2}")
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; open files per process: $(ulimit -n)"
echo "redis: $redis_desc; ACL users, no persistence"
for scenario in $SCENARIOS; do
  case "$scenario" in
    bot)
      for rate in $BOT_RATES; do
        measure "bot $rate/s" ./target/release/load bot --send "http://127.0.0.1:$A" \
          --receive "http://127.0.0.1:$B" --rate "$rate" --secs "$BOT_SECS" --users 200
      done ;;
    idle)
      measure idle ./target/release/load idle --node "http://127.0.0.1:$A" --pid "$pid_a" \
        --sockets "$IDLE_SOCKETS" ;;
    moves)
      for think in $THINK_MS; do
        measure "moves, $think ms to think" ./target/release/load moves \
          --a "http://127.0.0.1:$A" --b "http://127.0.0.1:$B" --games "$GAMES" \
          --think-ms "$think"
        settle "moves, $think ms to think"
      done ;;
    newgames)
      for games in $NEW_GAMES; do
        for think in 0 $NEW_GAME_THINK_MS; do
          measure "new games, $games at once, $think ms to think" ./target/release/load moves \
            --a "http://127.0.0.1:$A" --b "http://127.0.0.1:$B" --games "$games" \
            --think-ms "$think" --new-game
          settle "new games, $games at once, $think ms to think"
        done
      done ;;
    fanout)
      # shellcheck disable=SC2086
      measure fanout ./target/release/load fanout --a "http://127.0.0.1:$A" \
        --b "http://127.0.0.1:$B" $FANOUT ;;
    spread) spread ;;
    growth)
      # The same deliveries/s offered by every shape: each member says
      # GROWTH_DELIVERIES / (rooms × members × members) messages/s.
      for shape in "10 10" "100 10" "1000 10" "10 100" "10 1000" "1 $GROWTH_ROOM_MEMBERS"; do
        read -r rooms members <<< "$shape"
        rate="$(awk -v r="$rooms" -v m="$members" -v d="$GROWTH_DELIVERIES" 'BEGIN { printf "%.7f", d / (r * m * m) }')"
        measure "growth, $rooms rooms × $members members" ./target/release/load fanout \
          --a "http://127.0.0.1:$A" --b "http://127.0.0.1:$B" --rooms "$rooms" \
          --members "$members" --rate "$rate"
      done ;;
    *) echo "unknown scenario $scenario" >&2; exit 2 ;;
  esac
done

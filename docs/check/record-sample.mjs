#!/usr/bin/env node
// Drives a running node (and its worker) through every route, message and error it can
// reach from outside, and records what the server answered as JSON lines for
// check-traffic.mjs: every frame received and sent on /ws and /chat, every close code the
// server sent, every HTTP response.
//
//   node docs/check/record-sample.mjs URL [OUT.jsonl] [--mode full|degraded|shutdown]
//
// URL is the node's (or the balancer's) base URL, e.g. http://127.0.0.1:3000; OUT
// defaults to sample-traffic.jsonl. Modes:
//   full      (default) everything below, in about 70 s (a socket that answers no ping
//             is closed after 60 s); the node should run with small limits so that
//             they can be reached quickly: HISTORY_MAX=6, MAX_ROOMS_PER_SOCKET=4,
//             MAX_SOCKETS_PER_TOKEN=3, MAX_OPEN_GAMES_PER_TOKEN=2, RATE_PER_5S=40,
//             RATE_PER_MIN=400, TOKEN_RATE_PER_MIN=25, MUTE_MAX=2, TURN_SECS=10 (a
//             request refused with `rate_limited` that was not meant to be is sent again
//             after the wait; a game left without a move ends `timeout` before the run
//             does with any TURN_SECS up to 60).
//   degraded  connects, prints READY, waits (up to 60 s) until /health answers 503 (stop
//             Redis then), and records what requests get while Redis is away: 503s,
//             `unavailable` errors, close 1011 for a new socket.
//   shutdown  connects a /ws and a /chat socket, prints READY and records the close code
//             they get when the node stops (1001).
// Exits 1 when an answer the script expected did not come (what came is recorded anyway).

import { createWriteStream } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

import WebSocket from 'ws';

const args = process.argv.slice(2);
const modeAt = args.indexOf('--mode');
const mode = modeAt >= 0 ? args.splice(modeAt, 2)[1] : 'full';
const [base, outFile = 'sample-traffic.jsonl'] = args;
if (!base || !['full', 'degraded', 'shutdown'].includes(mode)) {
  console.error('usage: record-sample.mjs URL [OUT.jsonl] [--mode full|degraded|shutdown]');
  process.exit(2);
}
const BASE = base.replace(/\/$/, '');
const WS_BASE = BASE.replace(/^http/, 'ws');
// How long an answer may take: while Redis is away a request waits for its timeouts.
const WAIT_MS = mode === 'degraded' ? 30000 : 5000;

const out = createWriteStream(outFile, { flags: 'w' });
let records = 0;
function record(r) {
  out.write(`${JSON.stringify(r)}\n`);
  records += 1;
}

let missed = 0;
function miss(what) {
  missed += 1;
  console.error(`MISSING: ${what}`);
}

// ---------------------------------------------------------------------------- HTTP

async function http(method, path, { body, headers = {}, raw = false } = {}) {
  const init = { method, headers: { ...headers }, redirect: 'manual' };
  if (body !== undefined) {
    init.body = raw ? body : JSON.stringify(body);
    if (!raw) init.headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${BASE}${path}`, init);
  const contentType = res.headers.get('content-type') ?? undefined;
  const text = await res.text();
  let parsed;
  if (text !== '') {
    parsed = contentType?.startsWith('application/json') ? JSON.parse(text) : text;
  }
  const pathOnly = path.split('?')[0];
  record({
    http: {
      method,
      path: pathOnly,
      status: res.status,
      ...(contentType ? { contentType } : {}),
      ...(parsed !== undefined ? { body: parsed } : {}),
    },
  });
  return { status: res.status, body: parsed, headers: res.headers };
}

async function expectStatus(method, path, status, options) {
  const res = await http(method, path, options);
  if (res.status !== status) miss(`${method} ${path}: ${status}, got ${res.status} ${JSON.stringify(res.body)}`);
  return res;
}

async function newToken(name) {
  const path = `/token?name=${encodeURIComponent(name)}`;
  let res = await http('POST', path);
  if (res.status === 429 && res.body.error.retry_after_ms <= 61000) {
    // An earlier run from this address used up the minute's tokens: wait for the next.
    await sleep(res.body.error.retry_after_ms + 100);
    res = await http('POST', path);
  }
  if (res.status !== 200) miss(`POST ${path}: 200, got ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

// ---------------------------------------------------------------------------- sockets

class Socket {
  /** Opens `channel` (`/ws` or `/chat`) with `token`; for /ws waits for `hello`. */
  static async open(channel, token, { label = token?.slice(0, 8), expectClose, autoPong = true } = {}) {
    const s = new Socket(channel, token, label, { autoPong });
    await s.opened;
    if (channel === '/ws' && !expectClose) {
      if (!(await s.waitFor((f) => f.type === 'hello', `hello on ${label}`))) throw new Error('no hello');
    }
    return s;
  }

  constructor(channel, token, label, options = {}) {
    this.channel = channel;
    this.label = label;
    this.inbox = [];
    this.waiters = [];
    this.closedByUs = false;
    this.refs = 0;
    const query = token === undefined ? '' : `?token=${encodeURIComponent(token)}`;
    this.ws = new WebSocket(`${WS_BASE}${channel}${query}`, options);
    this.ws.on('upgrade', (res) => {
      record({ http: { method: 'GET', path: channel, status: res.statusCode } });
    });
    this.ws.on('unexpected-response', (_req, res) => {
      record({ http: { method: 'GET', path: channel, status: res.statusCode } });
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        if (!this.closedByUs) {
          record({ ws: channel, close: { code, reason: reason.toString() } });
        }
        this.closeCode = code;
        resolve(code);
      });
    });
    this.ws.on('error', () => {});
    this.ws.on('message', (data, isBinary) => {
      const text = data.toString();
      let frame;
      try {
        frame = JSON.parse(text);
      } catch {
        frame = text;
      }
      record({ ws: channel, dir: 'in', frame });
      this.inbox.push(frame);
      this.waiters = this.waiters.filter((w) => !w.offer(frame));
      void isBinary;
    });
  }

  /** Waits for a frame (received earlier and not yet taken, or later) matching `pred`. */
  waitFor(pred, what, timeoutMs = WAIT_MS) {
    const i = this.inbox.findIndex((f) => pred(f));
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]);
    return new Promise((resolve) => {
      const waiter = {
        offer: (frame) => {
          if (!pred(frame)) return false;
          this.inbox.splice(this.inbox.indexOf(frame), 1);
          clearTimeout(timer);
          resolve(frame);
          return true;
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        miss(`${what} (on ${this.label} ${this.channel})`);
        resolve(null);
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Sends a JSON frame (recorded); `malformed` marks one the contract refuses on purpose. */
  send(frame, { malformed = false } = {}) {
    record({ ws: this.channel, dir: 'out', frame, ...(malformed ? { malformed: true } : {}) });
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /**
   * Sends a request with a fresh `ref`; resolves with the first answer carrying it (of one
   * of `types`, or an error). A request refused with `rate_limited` is sent again once the
   * wait it names is over.
   */
  async request(frame, { types, malformed, what } = {}) {
    for (let attempt = 0; ; attempt += 1) {
      const ref = `${this.label}-${(this.refs += 1)}`;
      this.send({ ...frame, ref }, { malformed });
      const answer = await this.waitFor(
        (f) => f && f.ref === ref && (!types || types.includes(f.type) || f.type === 'error'),
        what ?? `answer to ${frame.type} ${ref}`,
      );
      if (answer?.type === 'error' && answer.code === 'rate_limited' && attempt < 3) {
        await sleep(answer.retry_after_ms + 50);
        continue;
      }
      if (answer && types && !types.includes(answer.type)) {
        miss(`${what ?? frame.type}: ${types.join(' or ')}, got ${JSON.stringify(answer).slice(0, 200)}`);
      }
      return answer;
    }
  }

  /** A request that must be refused with `code`. */
  async refused(frame, code, { malformed } = {}) {
    const answer = await this.request(frame, { malformed, what: `${code} for ${JSON.stringify(frame).slice(0, 80)}` });
    if (answer && (answer.type !== 'error' || answer.code !== code)) {
      miss(`${code} for ${JSON.stringify(frame).slice(0, 80)}, got ${JSON.stringify(answer).slice(0, 200)}`);
    }
    return answer;
  }

  async close() {
    this.closedByUs = true;
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    await Promise.race([this.closed, sleep(2000)]);
  }
}

const gameOf = (s, id, pred = () => true, what = `game.state of ${id}`) =>
  s.waitFor((f) => f?.type === 'game.state' && f.game.id === id && pred(f.game), what);

// ---------------------------------------------------------------------------- full run

async function full() {
  // The web client and the routes that need no session.
  const page = await expectStatus('GET', '/', 200);
  const lastModified = page.headers.get('last-modified');
  if (lastModified) await expectStatus('GET', '/', 304, { headers: { 'if-modified-since': lastModified } });
  else miss('Last-Modified on /');
  await expectStatus('GET', '/style.css', 200);
  await expectStatus('GET', '/favicon.svg', 200);
  await expectStatus('GET', '/js/app.js', 200);
  await expectStatus('GET', '/nope.css', 404);
  await expectStatus('GET', '/js/nope.js', 404);
  await expectStatus('GET', '/health', 200);
  await expectStatus('GET', '/metrics', 200);
  await expectStatus('GET', '/kpi?day=20260101', 200);
  await expectStatus('GET', '/kpi?day=2026-01-01', 400);
  await expectStatus('GET', '/kpi?day=20260101&day=20260102', 400);
  await expectStatus('GET', '/leaderboard?x=%FF', 400);
  await expectStatus('GET', '/ws', 400);
  await expectStatus('GET', '/chat?token=x', 400);

  // Sessions, and a socket that answers no ping: closed with 4000 after 60 s of silence
  // (awaited at the end).
  const ida = await newToken('ida');
  const silent = await Socket.open('/ws', ida.token, { label: 'ida', autoPong: false });
  const alice = await newToken('alice');
  const bob = (await expectStatus('POST', '/token', 200, { body: { name: 'bob' } })).body;
  const carol = await newToken('  carol  ');
  const dave = await newToken('dave');
  const erin = await newToken('erin');
  const frank = await newToken('Zoë Ω');
  const gus = await newToken('gus');
  const hal = await newToken('hal');
  await expectStatus('POST', '/token?name=', 400);
  await expectStatus('POST', '/token', 400);
  await expectStatus('POST', '/token?name=BOT', 400);
  await expectStatus('POST', `/token?name=${'x'.repeat(33)}`, 400);
  await expectStatus('POST', '/token?name=%E2%80%8B', 400);
  await expectStatus('POST', '/token', 400, { body: '{bad', raw: true });
  await expectStatus('POST', '/token', 400, { body: { name: 5 } });
  await expectStatus('POST', '/token?name=%FF', 400);
  await expectStatus('POST', '/token?name=a&name=b', 400);
  // POST /token is limited per client address and minute: every session this run needs is
  // made by now, and the minute is over before the run ends (the silent socket's 60 s).
  let status = 0;
  for (let i = 0; i < 60 && status !== 429; i += 1) {
    status = (await http('POST', '/token?name=zed')).status;
  }
  if (status !== 429) miss('429 from POST /token past TOKEN_RATE_PER_MIN');
  await expectStatus('POST', '/token', 413, { body: ' '.repeat(3 * 1024 * 1024), raw: true });
  await expectStatus('GET', `/refresh_token?token=${alice.token}`, 200);
  await expectStatus('GET', '/refresh_token?token=00000000-0000-4000-8000-000000000000', 404);
  await expectStatus('GET', '/refresh_token', 404);
  await expectStatus('GET', '/refresh_token?token=%FF', 400);
  await expectStatus('GET', '/refresh_token?token=a&token=b', 400);

  // The turn clock, meanwhile: a game between people whose player to move does not move
  // ends `timeout` (awaited at the end).
  const onTime = (async () => {
    const g = await Socket.open('/ws', gus.token, { label: 'gus' });
    const h = await Socket.open('/ws', hal.token, { label: 'hal' });
    const id = (await g.request({ type: 'game.create' }, { types: ['game.state'] }))?.game.id;
    const joined = await h.request({ type: 'game.join', game: id, play: true }, { types: ['game.state'] });
    if (joined && typeof joined.game.turn_deadline !== 'number') miss('turn_deadline once a game between people is played');
    const moved = await g.request({ type: 'game.move', game: id, cell: 4 }, { types: ['game.state'] });
    if (moved && !(moved.game.turn_deadline > joined?.game.turn_deadline)) miss('a fresh turn_deadline after a move');
    const over = await h.waitFor((f) => f?.type === 'game.state' && f.game.id === id && f.game.status === 'timeout', 'the game lost on time', 75000);
    if (over && (over.game.winner !== 'X' || 'turn_deadline' in over.game)) miss(`timeout won by X, no clock: ${JSON.stringify(over.game)}`);
    await g.waitFor((f) => f?.type === 'game.state' && f.game.id === id && f.game.status === 'timeout', 'the timeout seen by gus', 5000);
    await g.refused({ type: 'game.move', game: id, cell: 0 }, 'game_over');
    return [g, h];
  })().catch((error) => {
    miss(`the game lost on time: ${error?.message ?? error}`);
    return [];
  });

  // Tokens the sockets refuse.
  for (const [channel, token] of [
    ['/ws', undefined],
    ['/ws', 'not-a-token'],
    ['/chat', '00000000-0000-4000-8000-000000000000'],
  ]) {
    const s = await Socket.open(channel, token, { label: 'bad', expectClose: true });
    const code = await Promise.race([s.closed, sleep(5000).then(() => null)]);
    if (code !== 1008) miss(`close 1008 for ${channel} with token ${token}, got ${code}`);
  }

  // Bot chat on /ws.
  const a = await Socket.open('/ws', alice.token, { label: 'alice' });
  for (const text of ['hello', 'help', 'what are the rules of the game?', 'what is my score?']) {
    const ack = await a.request({ type: 'bot.say', text }, { types: ['ack', 'error'] });
    if (ack?.type !== 'ack' || !ack.id) miss(`ack with id for bot.say ${text}`);
    else await a.waitFor((f) => f.type === 'bot.reply' && f.in_reply_to === ack.id, `bot.reply to ${text}`);
  }
  await a.refused({ type: 'bot.say', text: '' }, 'bad_request', { malformed: true });
  await a.refused({ type: 'bot.say', text: '   ' }, 'bad_request', { malformed: true });
  await a.refused({ type: 'bot.say', text: 'x'.repeat(4001) }, 'too_large', { malformed: true });
  a.send({ type: 'bot.say', text: 'y'.repeat(20000) }, { malformed: true });
  await a.waitFor((f) => f.type === 'error' && f.code === 'too_large' && f.ref === undefined, 'too_large for a big frame');
  a.send('{nope', { malformed: true });
  await a.waitFor((f) => f.type === 'error' && f.code === 'bad_request' && /invalid JSON/.test(f.message), 'bad_request for bad JSON');
  a.send([1], { malformed: true });
  await a.waitFor((f) => f.type === 'error' && /JSON object/.test(f.message), 'bad_request for an array');
  await a.refused({ type: 'fly' }, 'bad_request', { malformed: true });
  await a.refused({ type: 'bot.say', text: 5 }, 'bad_request', { malformed: true });
  await a.refused({ type: 'bot.say', text: 'hi', extra: 1 }, 'bad_request', { malformed: true });
  a.send({ type: 'bot.say', text: 'x', ref: 3 }, { malformed: true });
  await a.waitFor((f) => f.type === 'error' && /ref must be a string/.test(f.message), 'bad_request for a numeric ref');
  a.ws.send(Buffer.from('{"type":"game.quick"}'), { binary: true });
  await a.waitFor((f) => f.type === 'error' && /text frames/.test(f.message), 'bad_request for a binary frame');

  // /chat: plain text to the bot; the /ws socket of the same token gets the reply too.
  const ac = await Socket.open('/chat', alice.token, { label: 'alice-chat' });
  ac.send('hello from /chat');
  const chatReply = await ac.waitFor((f) => f?.source === 'bot', 'a reply on /chat');
  if (chatReply) await a.waitFor((f) => f.type === 'bot.reply' && f.id === chatReply.id, 'the /chat reply on /ws too');
  ac.ws.send(Buffer.from('a binary frame of UTF-8'), { binary: true });
  record({ ws: '/chat', dir: 'out', frame: 'a binary frame of UTF-8' });
  await ac.waitFor((f) => f?.source === 'bot', 'a reply to a binary frame on /chat');
  ac.send('', { malformed: true });
  await ac.waitFor((f) => f?.type === 'error' && f.code === 'bad_request', 'bad_request on /chat');
  ac.send('z'.repeat(4001), { malformed: true });
  await ac.waitFor((f) => f?.type === 'error' && f.code === 'too_large', 'too_large on /chat');
  await expectStatus('GET', `/refresh_token?token=${alice.token}`, 200);

  // Rooms.
  const b = await Socket.open('/ws', bob.token, { label: 'bob' });
  const c = await Socket.open('/ws', carol.token, { label: 'carol' });
  await a.request({ type: 'room.join', room: 'lobby' }, { types: ['room.joined'] });
  await b.request({ type: 'room.join', room: 'lobby', since: null }, { types: ['room.joined'] });
  await a.waitFor((f) => f.type === 'room.presence' && f.joined === 'bob', 'presence of bob');
  const said = await a.request({ type: 'room.say', room: 'lobby', text: 'hi all' }, { types: ['room.message'] });
  await b.waitFor((f) => f.type === 'room.message' && f.id === said?.id, 'bob gets hi all');
  await b.request({ type: 'room.say', room: 'lobby', text: 'hi alice' }, { types: ['room.message'] });
  await a.waitFor((f) => f.type === 'room.message' && f.from === 'bob', 'alice gets hi alice');
  await b.request({ type: 'room.leave', room: 'lobby' }, { types: ['ack'] });
  await a.waitFor((f) => f.type === 'room.presence' && f.left === 'bob', 'bob left');
  await a.request({ type: 'room.say', room: 'lobby', text: 'while bob was away' }, { types: ['room.message'] });
  const back = await b.request({ type: 'room.join', room: 'lobby', since: said?.id }, { types: ['room.joined'] });
  if (back && (!back.recovered || back.history.length !== 2)) miss(`recovered history of 2, got ${JSON.stringify(back)}`);
  const lost = await c.request({ type: 'room.join', room: 'lobby', since: '1-0' }, { types: ['room.joined'] });
  if (lost && lost.recovered) miss('recovered false for a message no longer kept');
  await c.request({ type: 'room.join', room: 'lobby', since: 'garbage' }, { types: ['room.joined'] });
  await c.refused({ type: 'room.say', room: 'elsewhere', text: 'hi' }, 'forbidden');
  await c.refused({ type: 'room.join', room: 'bad room!' }, 'bad_request', { malformed: true });
  await c.refused({ type: 'room.join', room: 'r'.repeat(65) }, 'bad_request', { malformed: true });
  await c.refused({ type: 'room.say', room: 'lobby', text: ' ' }, 'bad_request', { malformed: true });
  await c.refused({ type: 'room.say', room: 'lobby', text: 'w'.repeat(2001) }, 'too_large', { malformed: true });
  await c.request({ type: 'room.leave', room: 'never-joined' }, { types: ['ack'] });
  for (const room of ['r1', 'r2', 'r3']) await c.request({ type: 'room.join', room }, { types: ['room.joined'] });
  await c.refused({ type: 'room.join', room: 'r4' }, 'limit_reached');
  for (const room of ['r1', 'r2', 'r3', 'lobby']) await c.request({ type: 'room.leave', room }, { types: ['ack'] });

  // Muting: carol mutes bob; what bob says in the lobby then reaches alice, not carol.
  await c.request({ type: 'room.join', room: 'lobby' }, { types: ['room.joined'] });
  await c.request({ type: 'user.mute', name: 'bob' }, { types: ['ack'] });
  await c.request({ type: 'user.mute', name: ' bob ' }, { types: ['ack'] });
  await b.request({ type: 'room.say', room: 'lobby', text: 'not for carol' }, { types: ['room.message'] });
  await a.waitFor((f) => f.type === 'room.message' && f.text === 'not for carol', 'alice gets what bob said');
  await a.request({ type: 'room.say', room: 'lobby', text: 'for everyone' }, { types: ['room.message'] });
  await c.waitFor((f) => f.type === 'room.message' && f.text === 'for everyone', 'carol gets what alice said');
  if (c.inbox.some((f) => f?.type === 'room.message' && f.from === 'bob')) miss('no message from bob for carol, who muted him');
  const quiet = await c.request({ type: 'room.join', room: 'lobby' }, { types: ['room.joined'] });
  if (quiet?.history.some((m) => m.from === 'bob')) miss('a history without bob for carol');
  await c.refused({ type: 'user.mute', name: 'carol' }, 'bad_request');
  await c.refused({ type: 'user.mute', name: 'BOT' }, 'bad_request');
  await c.refused({ type: 'user.unmute', name: '\u200b' }, 'bad_request');
  await c.refused({ type: 'user.mute', name: '' }, 'bad_request', { malformed: true });
  await c.refused({ type: 'user.mute' }, 'bad_request', { malformed: true });
  await c.refused({ type: 'user.unmute', name: 'bob', all: true }, 'bad_request', { malformed: true });
  await c.request({ type: 'user.mute', name: 'mallory' }, { types: ['ack'] });
  await c.refused({ type: 'user.mute', name: 'trent' }, 'limit_reached');
  const muted = await expectStatus('GET', `/refresh_token?token=${carol.token}`, 200);
  if (muted.body && JSON.stringify(muted.body.muted) !== '["bob","mallory"]') miss(`muted ["bob","mallory"], got ${JSON.stringify(muted.body.muted)}`);
  for (const name of ['bob', 'mallory', 'nobody']) await c.request({ type: 'user.unmute', name }, { types: ['ack'] });
  await c.request({ type: 'room.leave', room: 'lobby' }, { types: ['ack'] });

  // A game between people, watched by carol: errors, a win, a rematch, leaving.
  const created = await a.request({ type: 'game.create', vs_bot: false }, { types: ['game.state'] });
  const g1 = created?.game.id;
  await a.waitFor((f) => f.type === 'room.joined' && f.room === `game:${g1}`, 'the game chat joined');
  await a.refused({ type: 'game.move', game: g1, cell: 0 }, 'not_your_turn');
  await b.request({ type: 'game.join', game: g1 }, { types: ['game.state'] });
  await gameOf(a, g1, (g) => g.status === 'playing');
  await c.request({ type: 'game.join', game: g1 }, { types: ['game.state'] });
  await c.refused({ type: 'game.join', game: g1, play: true }, 'game_full');
  await c.refused({ type: 'game.move', game: g1, cell: 4 }, 'forbidden');
  await c.refused({ type: 'game.rematch', game: g1 }, 'forbidden');
  await b.refused({ type: 'game.move', game: g1, cell: 4 }, 'not_your_turn');
  await a.refused({ type: 'game.move', game: g1, cell: 9 }, 'bad_request', { malformed: true });
  await a.refused({ type: 'game.rematch', game: g1 }, 'bad_request');
  await a.refused({ type: 'game.join', game: 'zzzzzzzz' }, 'not_found');
  await a.refused({ type: 'game.join', game: 'bad id!' }, 'bad_request', { malformed: true });
  const moves = [
    [a, 0],
    [b, 3],
    [a, 1],
    [b, 4],
    [a, 2],
  ];
  for (const [who, cell] of moves) {
    await who.request({ type: 'game.move', game: g1, cell }, { types: ['game.state'] });
  }
  await b.refused({ type: 'game.move', game: g1, cell: 0 }, 'game_over');
  await a.request({ type: 'room.say', room: `game:${g1}`, text: 'gg' }, { types: ['room.message'] });
  // The first to ask for a rematch gets an ack; everyone sees the request in the state.
  await a.request({ type: 'game.rematch', game: g1 }, { types: ['ack'] });
  await gameOf(b, g1, (g) => g.rematch === 'X', 'the rematch request seen by bob');
  await b.request({ type: 'game.rematch', game: g1 }, { types: ['game.state'] });
  await gameOf(c, g1, (g) => g.status === 'playing' && g.players.X === 'bob', 'the rematch seen by carol');
  await a.refused({ type: 'game.move', game: g1, cell: 4 }, 'not_your_turn');
  await b.request({ type: 'game.move', game: g1, cell: 4 }, { types: ['game.state'] });
  await a.request({ type: 'game.move', game: g1, cell: 0 }, { types: ['game.state'] });
  // cell_taken needs a cell that is taken and the mover's turn.
  await b.refused({ type: 'game.move', game: g1, cell: 0 }, 'cell_taken');
  const abandoned = await b.request({ type: 'game.leave', game: g1 }, { types: ['game.state'] });
  if (abandoned && (abandoned.game.status !== 'abandoned' || abandoned.game.left !== 'X')) miss('abandoned with left X');
  await a.refused({ type: 'game.rematch', game: g1 }, 'game_over');
  await a.request({ type: 'game.leave', game: g1 }, { types: ['ack'] });
  await c.request({ type: 'game.leave', game: g1 }, { types: ['ack'] });

  // A draw, the game's chat recovered through game.join with since, and leaving after it.
  const g2 = (await a.request({ type: 'game.create' }, { types: ['game.state'] }))?.game.id;
  await b.request({ type: 'game.join', game: g2, play: true }, { types: ['game.state'] });
  await b.waitFor((f) => f.type === 'room.joined' && f.room === `game:${g2}`, 'the game chat joined by bob');
  const first = await a.request({ type: 'room.say', room: `game:${g2}`, text: 'm1' }, { types: ['room.message'] });
  await a.request({ type: 'room.say', room: `game:${g2}`, text: 'm2' }, { types: ['room.message'] });
  const b2 = await Socket.open('/ws', bob.token, { label: 'bob2' });
  await b2.request({ type: 'game.join', game: g2, since: first?.id }, { types: ['game.state'] });
  const recovered = await b2.waitFor((f) => f.type === 'room.joined' && f.room === `game:${g2}`, 'the game chat with since');
  if (recovered && (!recovered.recovered || recovered.history.length !== 1)) miss('game.join since: exactly m2');
  for (const [who, cell] of [
    [a, 0],
    [b, 1],
    [a, 2],
    [b, 4],
    [a, 3],
    [b, 5],
    [a, 7],
    [b, 6],
    [a, 8],
  ]) {
    await who.request({ type: 'game.move', game: g2, cell }, { types: ['game.state'] });
  }
  await gameOf(b2, g2, (g) => g.status === 'draw', 'the draw on bob2');
  const gone = await b.request({ type: 'game.leave', game: g2 }, { types: ['game.state'] });
  if (gone && gone.game.left !== 'O') miss('left O after a draw');
  await b2.close();

  // Quick match; a waiting game left.
  const waiting = await a.request({ type: 'game.quick' }, { types: ['game.state'] });
  const g3 = waiting?.game.id;
  await b.request({ type: 'game.quick' }, { types: ['game.state'] });
  await gameOf(a, g3, (g) => g.status === 'playing', 'quick match paired');
  await a.request({ type: 'game.leave', game: g3 }, { types: ['game.state'] });
  const d = await Socket.open('/ws', dave.token, { label: 'dave' });
  const lone = await d.request({ type: 'game.create' }, { types: ['game.state'] });
  const left = await d.request({ type: 'game.leave', game: lone?.game.id }, { types: ['game.state'] });
  if (left && (left.game.status !== 'abandoned' || left.game.winner !== null)) miss('a waiting game left: abandoned, no winner');

  // Against the bot: a whole game, a rematch (the bot then has X and moves first), leaving.
  const vs = await a.request({ type: 'game.create', vs_bot: true }, { types: ['game.state'] });
  const g4 = vs?.game.id;
  let state = vs?.game;
  for (let turn = 0; state && state.status === 'playing' && turn < 6; turn += 1) {
    const cell = state.board.findIndex((x) => x === null);
    const mine = await a.request({ type: 'game.move', game: g4, cell }, { types: ['game.state'] });
    state = mine?.game;
    if (state?.status === 'playing') {
      state = (await gameOf(a, g4, (g) => g.version > mine.game.version, 'the bot moves'))?.game;
    }
  }
  await a.request({ type: 'game.rematch', game: g4 }, { types: ['game.state'] });
  const botFirst = await gameOf(a, g4, (g) => g.bot === 'X' && g.board.some((x) => x === 'X'), 'the bot moves first');
  if (botFirst) await a.request({ type: 'game.leave', game: g4 }, { types: ['game.state'] });
  await a.request({ type: 'game.leave', game: g4 }, { types: ['ack'] });

  // Limits: open games per token, sockets per token, rate of frames, frame sizes.
  const open1 = await d.request({ type: 'game.create' }, { types: ['game.state'] });
  const open2 = await d.request({ type: 'game.create' }, { types: ['game.state'] });
  await d.refused({ type: 'game.create' }, 'limit_reached');
  await d.refused({ type: 'game.quick' }, 'limit_reached');
  for (const g of [open1, open2]) await d.request({ type: 'game.leave', game: g?.game.id }, { types: ['game.state'] });

  const f = [];
  for (let i = 0; i < 3; i += 1) f.push(await Socket.open('/ws', frank.token, { label: `frank${i}` }));
  const extra = await Socket.open('/ws', frank.token, { label: 'frank3', expectClose: true });
  if ((await Promise.race([extra.closed, sleep(5000)])) !== 4029) miss('close 4029 past MAX_SOCKETS_PER_TOKEN');
  f[1].ws.send(Buffer.alloc(70 * 1024, 'a').toString());
  if ((await Promise.race([f[1].closed, sleep(5000)])) !== 1009) miss('close 1009 for a frame too large to read');
  f[2].ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
  if ((await Promise.race([f[2].closed, sleep(5000)])) !== 1007) miss('close 1007 for a text frame that is not UTF-8');
  // An unmasked client frame, written past the library: close 1002.
  f[0].ws._socket.write(Buffer.from([0x81, 0x02, 0x68, 0x69]));
  if ((await Promise.race([f[0].closed, sleep(5000)])) !== 1002) miss('close 1002 for an unmasked frame');

  const e = await Socket.open('/ws', erin.token, { label: 'erin' });
  for (let i = 0; i < 60; i += 1) e.send({ type: 'room.leave', room: 'lobby', ref: `erin-burst-${i}` });
  const limited = await e.waitFor((x) => x.type === 'error' && x.code === 'rate_limited', 'rate_limited in a burst');
  if (limited && !(limited.retry_after_ms > 0 && limited.ref)) miss('rate_limited with ref and retry_after_ms');
  await sleep(300);

  // Every socket's leaving shows as presence and moves on; the results and counters now.
  await sleep(1500);
  await expectStatus('GET', `/refresh_token?token=${alice.token}`, 200);
  await expectStatus('GET', '/leaderboard', 200);
  await expectStatus('GET', '/players/count', 200);
  await expectStatus('GET', '/stats', 200);
  await expectStatus('GET', '/kpi', 200);
  await expectStatus('GET', '/metrics', 200);
  await expectStatus('GET', '/health', 200);

  for (const s of [a, ac, b, c, d, e, ...(await onTime)]) await s.close();
  if ((await Promise.race([silent.closed, sleep(75000)])) !== 4000) miss('close 4000 for a silent socket');

}

// ---------------------------------------------------------------------------- degraded

async function degraded() {
  const me = await newToken('dora');
  const s = await Socket.open('/ws', me.token, { label: 'dora' });
  await s.request({ type: 'room.join', room: 'lobby' }, { types: ['room.joined'] });
  const g = (await s.request({ type: 'game.create' }, { types: ['game.state'] }))?.game;
  console.log('READY');
  let down = false;
  for (let i = 0; i < 300 && !down; i += 1) {
    const res = await fetch(`${BASE}/health`);
    down = res.status === 503;
    if (!down) await sleep(200);
  }
  if (!down) {
    miss('/health never answered 503');
    return;
  }
  await expectStatus('GET', '/health', 503);
  for (const [frame, code] of [
    [{ type: 'bot.say', text: 'are you there?' }, 'unavailable'],
    [{ type: 'room.say', room: 'lobby', text: 'anyone?' }, 'unavailable'],
    [{ type: 'room.join', room: 'other' }, 'unavailable'],
    [{ type: 'game.create' }, 'unavailable'],
    [{ type: 'game.move', game: g?.id ?? 'x', cell: 4 }, 'unavailable'],
    [{ type: 'user.mute', name: 'bob' }, 'unavailable'],
  ]) {
    const answer = await s.request(frame, { what: `${code} for ${frame.type}` });
    if (answer && answer.code !== code) miss(`${code} for ${frame.type}, got ${JSON.stringify(answer)}`);
  }
  await expectStatus('POST', '/token?name=dora', 503);
  await expectStatus('GET', `/refresh_token?token=${me.token}`, 503);
  await expectStatus('GET', '/leaderboard', 503);
  await expectStatus('GET', '/players/count', 503);
  await expectStatus('GET', '/kpi', 503);
  await expectStatus('GET', '/stats', 503);
  const late = await Socket.open('/ws', me.token, { label: 'late', expectClose: true });
  const code = await Promise.race([late.closed, sleep(10000).then(() => null)]);
  if (code !== 1011) miss(`close 1011 while Redis is away, got ${code}`);
  await s.close();
}

// ---------------------------------------------------------------------------- shutdown

async function shutdown() {
  const me = await newToken('sam');
  const s = await Socket.open('/ws', me.token, { label: 'sam' });
  const chat = await Socket.open('/chat', me.token, { label: 'sam-chat' });
  console.log('READY');
  const codes = await Promise.all([s.closed, chat.closed]);
  if (codes.some((c) => c !== 1001)) miss(`close 1001 on shutdown, got ${codes}`);
}

try {
  await { full, degraded, shutdown }[mode]();
} catch (e) {
  miss(`the run stopped: ${e?.stack ?? e}`);
}
await new Promise((resolve) => out.end(resolve));
console.error(`${records} records written to ${outFile}; ${missed} expected answers missing`);
process.exit(missed ? 1 : 0);

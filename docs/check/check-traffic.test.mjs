// The traffic checker itself: it must pass real-looking frames and bodies and fail on
// anything the contract does not describe. Run: node --test docs/check/
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { checkFiles, createChecker } from './check-traffic.mjs';

const check = await createChecker();

const TS = '2026-11-23T18:44:01.123Z';
const UUID = '0b7c3c2e-5d1e-4d6b-9a53-7c1f2f0e9a11';
const game = {
  id: 'g7Kx2pQa',
  board: [null, 'X', null, 'O', null, null, null, null, null],
  next: 'X',
  players: { X: 'alice', O: 'bob' },
  status: 'playing',
  winner: null,
  line: null,
  version: 3,
  vs_bot: false,
};
const ws = (frame, dir = 'in', channel = '/ws') => ({ ws: channel, dir, frame });
const http = (method, path, status, body, contentType) => ({
  http: { method, path, status, body, ...(contentType ? { contentType } : {}) },
});

const good = {
  hello: ws({ type: 'hello', node: 'node-a', name: 'alice', session_start: TS, server_time: 1795891441200 }),
  'ack with id': ws({ type: 'ack', ref: '1', id: UUID }),
  'bare ack': ws({ type: 'ack' }),
  'rate limited': ws({ type: 'error', code: 'rate_limited', message: 'm', retry_after_ms: 10 }),
  'game.state': ws({ type: 'game.state', ref: 'r', game }),
  'game.state with bot, rematch, left': ws({
    type: 'game.state',
    game: { ...game, status: 'won', next: null, winner: 'X', line: [0, 4, 8], bot: 'O', rematch: 'X', left: 'O' },
  }),
  'game.state with a turn clock': ws({ type: 'game.state', game: { ...game, turn_deadline: 1796197680123 } }),
  'game.state with its last move': ws({ type: 'game.state', game: { ...game, last_move: 1 } }),
  'game.state lost on time': ws({
    type: 'game.state',
    game: { ...game, status: 'timeout', next: null, winner: 'O', version: 4 },
  }),
  'room.presence left': ws({ type: 'room.presence', room: 'lobby', left: 'bob' }),
  'bot.reply': ws({ type: 'bot.reply', id: UUID, msg: 'hi', timestamp: TS, in_reply_to: UUID }),
  'chat reply': ws({ id: UUID, source: 'bot', msg: 'hi', timestamp: TS, in_reply_to: UUID }, 'in', '/chat'),
  'chat error': ws({ type: 'error', code: 'bad_request', message: 'text must not be empty' }, 'in', '/chat'),
  'client game.join': ws({ type: 'game.join', ref: null, game: 'abc', play: true, since: '1-0' }, 'out'),
  'client user.mute': ws({ type: 'user.mute', ref: '7', name: 'mallory' }, 'out'),
  'client user.unmute': ws({ type: 'user.unmute', name: 'mallory' }, 'out'),
  'malformed client frame': { ...ws({ type: 'bot.say', text: '' }, 'out'), malformed: true },
  'close 1008': { ws: '/ws', close: { code: 1008, reason: 'missing token' } },
  'POST /token': http('POST', '/token', 200, { token: UUID, name: 'alice', session_start: TS, messages: [], muted: [] }),
  'refresh with dropped': http('GET', '/refresh_token', 200, {
    token: UUID,
    name: 'alice',
    session_start: TS,
    messages: [{ id: UUID, source: 'bot', msg: 'x', timestamp: TS, in_reply_to: UUID }],
    dropped: 4,
    muted: ['mallory', 'bob'],
  }),
  'stats of muting': http('GET', '/stats', 200, {
    stats: {
      all: {
        current: { requests: 2, latency_ms: 1, startofminute_epoch: 60, rate: 2 },
        prev1: { requests: 0, latency_ms: 0, startofminute_epoch: 0 },
        prev2: { requests: 0, latency_ms: 0, startofminute_epoch: -60 },
      },
      'user.mute': {
        current: { requests: 1, latency_ms: 1, startofminute_epoch: 60, rate: 1 },
        prev1: { requests: 0, latency_ms: 0, startofminute_epoch: 0 },
        prev2: { requests: 0, latency_ms: 0, startofminute_epoch: -60 },
      },
    },
  }),
  '429': http('POST', '/token', 429, { error: { code: 'rate_limited', message: 'm', retry_after_ms: 1200 } }),
  'unreadable query 400': http('GET', '/refresh_token', 400, { error: { code: 'bad_request', message: 'Failed to deserialize query string: duplicate field `token`' } }),
  metrics: http('GET', '/metrics', 200, '# TYPE ws_sockets_open gauge\n', 'text/plain; version=0.0.4'),
  '404 file': http('GET', '/nope.css', 404, { error: { code: 'not_found', message: 'Not Found' } }),
  '413 body': http('POST', '/token', 413, { error: { code: 'too_large', message: 'Failed to buffer the request body: length limit exceeded' } }),
  'js module': http('GET', '/js/app.js', 200, 'export {}', 'text/javascript'),
};

const bad = {
  'unknown server type': ws({ type: 'game.update', game }),
  'frame without type on /ws': ws({ node: 'n', name: 'alice', session_start: TS }),
  'text frame on /ws': ws('hello'),
  'extra field': ws({ type: 'hello', node: 'n', name: 'alice', session_start: TS, server_time: 1, extra: 1 }),
  'missing field': ws({ type: 'room.joined', room: 'lobby', members: [], history: [] }),
  'retry_after_ms on another code': ws({ type: 'error', code: 'bad_request', message: 'm', retry_after_ms: 1 }),
  'rate_limited without retry_after_ms': ws({ type: 'error', code: 'rate_limited', message: 'm' }),
  'unknown error code': ws({ type: 'error', code: 'teapot', message: 'm' }),
  'unknown status': ws({ type: 'game.state', game: { ...game, status: 'expired' } }),
  'turn_deadline not an integer': ws({ type: 'game.state', game: { ...game, turn_deadline: '1796197680123' } }),
  'last_move off the board': ws({ type: 'game.state', game: { ...game, last_move: 9 } }),
  'board too short': ws({ type: 'game.state', game: { ...game, board: [null] } }),
  'bad timestamp': ws({ type: 'hello', node: 'n', name: 'alice', session_start: '2026-11-23 18:44', server_time: 1 }),
  'presence with both': ws({ type: 'room.presence', room: 'lobby', joined: 'a', left: 'b' }),
  'bot.reply without in_reply_to': ws({ type: 'bot.reply', id: UUID, msg: 'hi', timestamp: TS }),
  'human message on /chat': ws({ id: UUID, source: 'human', msg: 'hi', timestamp: TS }, 'in', '/chat'),
  'hello on /chat': ws({ type: 'hello', node: 'n', name: 'alice', session_start: TS, server_time: 1 }, 'in', '/chat'),
  'client unknown field': ws({ type: 'game.move', game: 'abc', cell: 4, extra: true }, 'out'),
  'client cell out of range': ws({ type: 'game.move', game: 'abc', cell: 9 }, 'out'),
  'client user.mute without a name': ws({ type: 'user.mute' }, 'out'),
  'client user.unmute with an unknown field': ws({ type: 'user.unmute', name: 'bob', all: true }, 'out'),
  'client user.mute of an empty name': ws({ type: 'user.mute', name: '' }, 'out'),
  'malformed frame the schema accepts': { ...ws({ type: 'game.quick' }, 'out'), malformed: true },
  'undocumented close code': { ws: '/ws', close: { code: 4999, reason: '?' } },
  'unknown channel': ws({ type: 'hello' }, 'in', '/nope'),
  'unknown route': http('GET', '/admin', 200, {}),
  'undocumented status': http('GET', '/leaderboard', 418, { error: { code: 'bad_request', message: 'm' } }),
  'undocumented method': http('DELETE', '/token', 200, {}),
  'wrong error code for status': http('GET', '/refresh_token', 404, { error: { code: 'bad_request', message: 'm' } }),
  'session with extra field': http('GET', '/refresh_token', 200, {
    token: UUID,
    name: 'alice',
    session_start: TS,
    messages: [],
    muted: [],
    publishing: null,
  }),
  'session without muted': http('GET', '/refresh_token', 200, { token: UUID, name: 'a', session_start: TS, messages: [] }),
  'muted not a list of names': http('GET', '/refresh_token', 200, { token: UUID, name: 'a', session_start: TS, messages: [], muted: [5] }),
  'a name muted twice': http('GET', '/refresh_token', 200, { token: UUID, name: 'a', session_start: TS, messages: [], muted: ['b', 'b'] }),
  'dropped 0': http('GET', '/refresh_token', 200, { token: UUID, name: 'a', session_start: TS, messages: [], muted: [], dropped: 0 }),
  'health degraded with 200': http('GET', '/health', 200, { status: 'degraded', node: 'n', redis: 'down' }),
  'text where JSON is described': http('GET', '/nope.css', 404, 'Not Found', 'text/plain'),
  'empty 404': http('GET', '/nope.css', 404),
  'text 400 for an unreadable query': http('GET', '/refresh_token', 400, 'Failed to deserialize query string', 'text/plain; charset=utf-8'),
  'missing body': http('GET', '/leaderboard', 200),
  'stats of an unknown kind': http('GET', '/stats', 200, {
    stats: {
      all: {
        current: { requests: 0, latency_ms: 0, startofminute_epoch: 60, rate: 0 },
        prev1: { requests: 0, latency_ms: 0, startofminute_epoch: 0 },
        prev2: { requests: 0, latency_ms: 0, startofminute_epoch: -60 },
      },
      'game.fly': {},
    },
  }),
  'not an object': 'hello',
};

for (const [name, record] of Object.entries(good)) {
  test(`accepts: ${name}`, () => {
    const result = check(record);
    assert.equal(result.ok, true, JSON.stringify(result.errors, null, 1));
  });
}

for (const [name, record] of Object.entries(bad)) {
  test(`refuses: ${name}`, () => {
    const result = check(record);
    assert.equal(result.ok, false, `${name} passed as ${result.key}`);
    assert.ok(result.errors.length > 0);
  });
}

test('files: counts per kind, every failure, invalid JSON lines fail', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'check-traffic-'));
  const file = join(dir, 'traffic.jsonl');
  const lines = [good.hello, good['ack with id'], good['ack with id'], bad['extra field']].map((r) => JSON.stringify(r));
  lines.push('{not json', '');
  await writeFile(file, lines.join('\n'));
  const { counts, failures, total } = await checkFiles([file]);
  assert.equal(total, 5);
  assert.deepEqual(counts.get('ws /ws in ack'), { ok: 2, failed: 0 });
  assert.deepEqual(counts.get('ws /ws in hello'), { ok: 1, failed: 1 });
  assert.equal(failures.length, 2);
  assert.equal(failures[1].key, 'invalid JSON');
});

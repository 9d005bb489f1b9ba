// Every error code of the protocol reaches the caller as `err.code` (with `retryAfterMs` for rate_limited),
// the HTTP ones too, and the library's own: a timeout, a closed client, an expired session (close code 1008).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ClientError, connect } from '../index.js';
import { record, refused, startStack, until, WebSocket } from './harness.mjs';

let stack;
const clients = [];

async function client(node, name, extra = {}) {
  const c = await connect({ url: stack.url(node), name, WebSocket, ...extra });
  clients.push(c);
  return c;
}

before(async () => {
  stack = await startStack('errors', {
    env: { RATE_PER_5S: '12', RATE_PER_MIN: '600', MAX_OPEN_GAMES_PER_TOKEN: '2', MAX_FRAME_BYTES: '4096', MAX_SOCKETS_PER_TOKEN: '1' },
  });
});

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await stack?.stop();
});

test('game errors: not_found, not_your_turn, cell_taken, bad_request, forbidden, game_full, game_over', async () => {
  const x = await client('a', 'ex');
  const o = await client('b', 'oh');
  await refused(x.joinGame('nosuchgame1'), 'not_found');
  await refused(x.joinGame('not a game id'), 'bad_request');

  const game = await x.createGame();
  await refused(game.move(0), 'not_your_turn'); // waiting for an opponent
  const theirs = await o.joinGame(game.id);
  await refused(theirs.move(0), 'not_your_turn'); // X moves first
  await game.move(4);
  await refused(theirs.move(4), 'cell_taken');
  await refused(theirs.move(9), 'bad_request');
  await refused(game.rematch(), 'bad_request'); // the game is not over

  const watcher = await client('a', 'watcher');
  await refused(watcher.joinGame(game.id, { play: true }), 'game_full');
  const watched = await watcher.joinGame(game.id);
  assert.equal(watched.seat, null);
  await refused(watched.move(0), 'forbidden');
  await refused(watched.rematch(), 'forbidden');

  for (const [who, cell] of [[theirs, 0], [game, 3], [theirs, 1], [game, 5]]) await who.move(cell);
  assert.equal(game.state.status, 'won');
  await refused(theirs.move(8), 'game_over');
  await refused(watcher.joinGame(game.id, { play: true }), 'game_over');
  // The loser leaves: no rematch with someone gone.
  await theirs.leave();
  await until('x sees o leave', () => game.state.left === 'O');
  await refused(game.rematch(), 'game_over');
});

test('room errors: bad_request, forbidden, too_large; bot errors: bad_request, too_large', async () => {
  const c = await client('a', 'roomy');
  await refused(c.joinRoom('no spaces allowed'), 'bad_request');
  await refused(c.joinRoom(''), 'bad_request');
  await refused(c.request('room.say', { room: 'not-joined', text: 'hi' }), 'forbidden');
  const room = await c.joinRoom('errors');
  await refused(room.say('   '), 'bad_request');
  const long = await refused(room.say('x'.repeat(2001)), 'too_large');
  assert.match(long.message, /2000/);
  await refused(c.bot.say(''), 'bad_request');
  await refused(c.bot.say('y'.repeat(4001)), 'too_large');
  await refused(c.request('no.such.type'), 'bad_request');
  // Still usable after all of that.
  const ok = await room.say('still here');
  assert.equal(ok.text, 'still here');
});

test('a frame over MAX_FRAME_BYTES: too_large, locally or from the server (which answers it without a ref)', async () => {
  const local = await client('a', 'framer', { maxFrameBytes: 4096 });
  await refused(local.bot.say('z'.repeat(5000)), 'too_large');
  // With the local check off the frame goes out; the server refuses it with an error that has no ref,
  // which the client still hands to the request.
  const remote = await client('b', 'framer2', { maxFrameBytes: 0 });
  const errors = record(remote, 'error');
  const error = await refused(remote.bot.say('z'.repeat(5000)), 'too_large');
  assert.equal(error.frame.ref, undefined);
  assert.deepEqual(errors, []);
  assert.equal(remote.state, 'open');
});

test('limit_reached past MAX_OPEN_GAMES_PER_TOKEN', async () => {
  const c = await client('b', 'hoarder');
  await c.createGame();
  await c.createGame();
  await refused(c.createGame(), 'limit_reached');
  await refused(c.quickMatch(), 'limit_reached');
});

test('rate_limited with retryAfterMs, and the client goes on after waiting that long', async () => {
  const c = await client('a', 'chatty');
  const room = await c.joinRoom('busy');
  // 40 at once against 12 per 5 s: at least 17 refused even if a window started over during the burst.
  const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => room.say(`m${i}`)));
  const limited = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
  assert.ok(limited.length >= 17, `at least 17 of 40 refused with a limit of 12 per 5 s, got ${limited.length}`);
  for (const error of limited) {
    assert.ok(error instanceof ClientError);
    assert.equal(error.code, 'rate_limited');
    assert.equal(typeof error.retryAfterMs, 'number');
    assert.ok(error.retryAfterMs > 0 && error.retryAfterMs <= 5000, `retryAfterMs ${error.retryAfterMs}`);
  }
  const stored = results.filter((r) => r.status === 'fulfilled').map((r) => r.value.text);
  assert.ok(stored.length >= 1);
  await new Promise((resolve) => setTimeout(resolve, Math.max(...limited.map((e) => e.retryAfterMs)) + 100));
  const later = await room.say('after the wait');
  assert.equal(later.text, 'after the wait');
});

test('HTTP errors: invalid_name, session_not_found; an unreachable node: network; no WebSocket: no_websocket', async () => {
  await refused(connect({ url: stack.url('a'), name: '   ', WebSocket }), 'invalid_name');
  const error = await refused(connect({ url: stack.url('a'), name: 'bot', WebSocket }), 'invalid_name');
  assert.equal(error.status, 400);
  const gone = await refused(connect({ url: stack.url('a'), token: '00000000-0000-4000-8000-000000000000', WebSocket }), 'session_not_found');
  assert.equal(gone.status, 404);
  await refused(connect({ url: 'http://127.0.0.1:9', name: 'nobody', WebSocket }), 'network');
  await refused(connect({ url: stack.url('a'), name: 'nows' }), 'no_websocket'); // Node 20 has no global WebSocket
  await refused(connect({ url: stack.url('a'), WebSocket }), 'bad_request'); // neither name nor token
});

test('the library\'s own codes: timeout, closed, session_expired (1008, not retried)', async () => {
  const slow = await client('a', 'slowpoke', { requestTimeoutMs: 1 });
  // Redis holds every command for a moment, so the node cannot answer within the 1 ms
  // (on a fast machine it could otherwise).
  await stack.redis('CLIENT', 'PAUSE', '200', 'ALL');
  await refused(slow.joinRoom('later'), 'timeout');
  assert.equal(slow.state, 'open');

  const c = await client('b', 'expiring');
  const states = record(c, 'connection', (state, info) => ({ state, code: info.code }));
  const expired = record(c, 'expired');
  const room = await c.joinRoom('short-lived');
  await stack.redis('DEL', `session:${c.token}`);
  // The next bot message finds no session: not_found, and the node closes the socket with 1008.
  await refused(c.bot.say('anyone?'), 'not_found');
  await until('closed for good', () => c.state === 'closed');
  assert.deepEqual(states, [{ state: 'closed', code: 1008 }]);
  assert.equal(expired.length, 1);
  assert.equal(expired[0].code, 'session_expired');
  await refused(room.say('hello?'), 'closed');

  const d = await client('a', 'closer');
  const pending = refused(d.joinRoom('closing'), 'closed');
  await d.close();
  await pending;
  await refused(d.bot.say('hi'), 'closed');
  assert.equal(d.state, 'closed');
});

test('close code 4029 (too many sockets of a token on a node): the next node, never the same one again and again', async () => {
  const first = await client('a', 'socketful');
  // One socket per token per node here: a second one on node A is refused with 4029.
  await refused(connect({ url: stack.url('a'), token: first.token, WebSocket }), 'too_many_sockets');
  // With both nodes listed, the refused one is left for the next.
  const second = await connect({ urls: [stack.url('a'), stack.url('b')], token: first.token, WebSocket });
  clients.push(second);
  assert.equal(second.node, stack.nodes.b.id);
  assert.equal(first.state, 'open');
});

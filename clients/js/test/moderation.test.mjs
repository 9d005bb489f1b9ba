// What operators do (ADMIN_KEY on both nodes, the /admin API), as the library shows it: a message from `system`
// arrives like any other; a deleted message leaves `room.history` with a `deleted` event, on both nodes; a
// disconnect (close code 4003) closes the client for good with `disconnected`, and while the ban lasts the token's
// new connections are refused the same way and a new session of the name is `banned` (403); after it, both work.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect } from '../index.js';
import { record, refused, sleep, startStack, until, WebSocket } from './harness.mjs';

const KEY = 'library-test-admin-key';
let stack;
const clients = [];

async function client(url, name) {
  const c = await connect({ url, name, WebSocket });
  clients.push(c);
  return c;
}

/** An /admin request with the key; resolves with `{status, body}`. */
async function admin(method, route, body) {
  const response = await fetch(`${stack.url('a')}${route}`, {
    method,
    headers: { authorization: `Bearer ${KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: await response.json() };
}

before(async () => {
  stack = await startStack('moderation', { env: { ADMIN_KEY: KEY } });
});

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await stack?.stop();
});

test('a system message arrives like any other; a deleted message leaves the history with a `deleted` event', async () => {
  const alice = await client(stack.url('a'), 'alice');
  const bob = await client(stack.url('b'), 'bob');
  const roomA = await alice.joinRoom('moderated');
  const roomB = await bob.joinRoom('moderated');
  const seenA = record(roomA, 'message');
  const deletedA = record(roomA, 'deleted');
  const deletedB = record(roomB, 'deleted');

  const posted = await admin('POST', '/admin/rooms/moderated/messages', { text: 'welcome' });
  assert.equal(posted.status, 201);
  await until('the system message on both nodes', () => [roomA, roomB].every((r) => r.history.some((m) => m.id === posted.body.message.id)));
  assert.deepEqual(seenA.at(-1), posted.body.message);
  assert.equal(posted.body.message.from, 'system');

  const rude = await roomB.say('rude');
  await until('bob\'s line at alice', () => roomA.history.some((m) => m.id === rude.id));
  const lastId = roomA.lastId;
  const deleted = await admin('DELETE', `/admin/rooms/moderated/messages/${rude.id}`);
  assert.deepEqual(deleted, { status: 200, body: { deleted: rude.id } });
  await until('the deletion on both nodes', () => deletedA.length === 1 && deletedB.length === 1);
  assert.deepEqual(deletedA, [{ room: 'moderated', id: rude.id }]);
  for (const room of [roomA, roomB]) assert.deepEqual(room.history.map((m) => m.text), ['welcome']);
  assert.equal(roomA.lastId, lastId, 'the last message seen stays (nothing is delivered again)');

  // A client that joins afterwards never sees it.
  const carol = await client(stack.url('b'), 'carol');
  const roomC = await carol.joinRoom('moderated');
  assert.deepEqual(roomC.history.map((m) => m.text), ['welcome']);
});

test('a disconnect with a ban closes the client with `disconnected` (4003); the ban refuses the token and the name until it ends', async () => {
  const dave = await client(stack.url('b'), 'dave');
  const connection = record(dave, 'connection', (state, info) => ({ state, code: info.code, error: info.error?.code }));
  const disconnected = record(dave, 'disconnected', (error) => error.code);

  const answer = await admin('POST', '/admin/disconnect', { name: 'dave', ban_secs: 2 });
  assert.equal(answer.status, 200);
  assert.ok(answer.body.banned_until);
  await until('dave closed', () => dave.state === 'closed');
  assert.deepEqual(disconnected, ['disconnected']);
  assert.deepEqual(connection, [{ state: 'closed', code: 4003, error: 'disconnected' }], 'closed at once, no reconnect');
  await sleep(500);
  assert.equal(dave.state, 'closed');
  await refused(dave.bot.say('still there?'), 'closed');

  // While banned: the token's socket and a new session of the name are refused.
  await refused(connect({ url: stack.url('a'), token: dave.token, WebSocket }), 'disconnected');
  const banned = await refused(connect({ url: stack.url('a'), name: 'dave', WebSocket }), 'banned');
  assert.equal(banned.status, 403);

  // After the ban: both again.
  await until('the ban over', async () => {
    const back = await connect({ url: stack.url('a'), token: dave.token, WebSocket }).catch(() => null);
    if (back) clients.push(back);
    return back;
  }, 10_000, 250);
  clients.push(await connect({ url: stack.url('b'), name: 'dave', WebSocket }));
});

// A large room (PRESENCE_MAX presence entries or more): the client counts its members from
// `member_count`, lists the part the server sends, hears of no arrival, and tells of no
// arrival or departure after a reconnect just because the part it gets is another one.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect } from '../index.js';
import { WebSocket, record, sleep, startStack, until } from './harness.mjs';

let stack;
const clients = [];

async function client(urls, name) {
  const c = await connect({ urls, name, WebSocket });
  clients.push(c);
  return c;
}

before(async () => {
  stack = await startStack('large-room', { env: { PRESENCE_MAX: '2' } });
});

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await stack?.stop();
});

test('a large room: a count, a part of its members, and no presence, also across a reconnect', async () => {
  // Alice starts on node A and knows node B; Bob and Carol are on node B.
  const alice = await client([stack.url('a'), stack.url('b')], 'alice');
  const bob = await client([stack.url('b')], 'bob');
  const carol = await client([stack.url('b')], 'carol');
  assert.equal(alice.node, stack.nodes.a.id);

  const hallA = await alice.joinRoom('hall');
  const presence = record(hallA, 'presence');
  await bob.joinRoom('hall');
  await until('alice sees bob arrive (the room is small)', () => presence.length === 1);
  assert.deepEqual(hallA.members, ['alice', 'bob']);
  assert.equal(hallA.memberCount, 2);

  // Two entries make it large: Carol's arrival is not announced, and she gets two names of three.
  const hallC = await carol.joinRoom('hall');
  assert.equal(hallC.memberCount, 3);
  assert.equal(hallC.members.length, 2);
  assert.ok(hallC.members.includes('carol'), `the joiner is listed: ${hallC.members}`);
  const said = await hallC.say('hello hall');
  await until('alice gets the message', () => hallA.history.some((m) => m.id === said.id));
  assert.equal(presence.length, 1, 'no presence for an arrival in a large room');

  // Alice's node dies: she rejoins through node B and gets another part of the members, which
  // is not told as arrivals and departures.
  const rejoined = record(hallA, 'rejoined');
  await stack.killNode('a');
  await until('alice rejoined the room', () => rejoined.length === 1, 20_000);
  await sleep(200);
  assert.equal(presence.length, 1, `no arrival or departure made up from a partial list: ${JSON.stringify(presence)}`);
  assert.ok(hallA.memberCount >= 3, `counted from member_count: ${hallA.memberCount}`);
  assert.ok(hallA.members.length <= 2, `a part of the members: ${hallA.members}`);
});

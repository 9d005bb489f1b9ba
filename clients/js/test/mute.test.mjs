// Muting (MUTE_MAX=3 on both nodes): `client.mute(name)` keeps that name's room messages and typing away from every
// socket of the token, on both nodes, also in room histories, in what `since` recovers and after a reconnect,
// while the others still get them and presence is not filtered; `client.unmute(name)` lets them through again.
// The list is the session's (`muted` in /refresh_token, in the order muted); its errors: bad_request, limit_reached.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect } from '../index.js';
import { gatedWebSocket, record, refused, sleep, startStack, until, WebSocket } from './harness.mjs';

let stack;
const clients = [];

async function client(urls, name, extra = {}) {
  const c = await connect({ urls: [urls].flat(), name, WebSocket, ...extra });
  clients.push(c);
  return c;
}

/** The session document as GET /refresh_token shows it. */
async function session(token, node = 'a') {
  const response = await fetch(`${stack.url(node)}/refresh_token?token=${encodeURIComponent(token)}`);
  assert.equal(response.status, 200);
  return response.json();
}

const texts = (list) => list.map((m) => `${m.from}: ${m.text}`);

before(async () => {
  stack = await startStack('mute', { env: { MUTE_MAX: '3', RATE_PER_5S: '60', RATE_PER_MIN: '600' } });
});

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await stack?.stop();
});

test('a muted name\'s messages and typing reach no socket of the muting token, on either node; the others get them', async () => {
  const alice = await client(stack.url('a'), 'alice');
  const aliceOnB = await connect({ url: stack.url('b'), token: alice.token, WebSocket }); // the same session, node B
  clients.push(aliceOnB);
  const bob = await client(stack.url('b'), 'bob');
  const carol = await client(stack.url('a'), 'carol');
  assert.deepEqual(alice.muted, []);
  assert.deepEqual((await session(alice.token)).muted, [], '/refresh_token always shows muted');

  const hallA = await alice.joinRoom('hall');
  const hallA2 = await aliceOnB.joinRoom('hall');
  const hallB = await bob.joinRoom('hall');
  const hallC = await carol.joinRoom('hall');
  await hallB.say('before the mute');
  await until('alice has it', () => hallA.history.some((m) => m.text === 'before the mute'));

  const changes = record(alice, 'muted');
  const muted = await alice.mute('bob');
  assert.deepEqual(muted, ['bob']);
  assert.deepEqual(alice.muted, ['bob']);
  assert.deepEqual(changes, [['bob']]);
  assert.deepEqual((await session(alice.token, 'b')).muted, ['bob']);

  const seenA = record(hallA, 'message');
  const seenA2 = record(hallA2, 'message');
  const seenC = record(hallC, 'message');
  const typingA = record(hallA, 'typing');
  const typingA2 = record(hallA2, 'typing');
  const typingC = record(hallC, 'typing');
  const presenceA = record(hallA, 'presence');

  // Bob types and speaks; then carol does. Room order is kept, so once alice has carol's line, bob's would have
  // come before it.
  hallB.typing();
  await until('carol sees bob typing', () => typingC.some((t) => t.name === 'bob'));
  await hallB.say('muted line');
  await sleep(1100); // the typing throttle: one a second per socket and room
  hallC.typing();
  await hallC.say('carol after bob');
  await until('alice (both sockets) has carol\'s line', () => seenA.length >= 1 && seenA2.length >= 1);
  await until('carol has both', () => seenC.length === 2);
  assert.deepEqual(texts(seenC), ['bob: muted line', 'carol: carol after bob']);
  assert.deepEqual(texts(seenA), ['carol: carol after bob'], 'node A socket: nothing from bob');
  assert.deepEqual(texts(seenA2), ['carol: carol after bob'], 'node B socket: nothing from bob');
  await until('alice sees carol typing', () => typingA.length >= 1 && typingA2.length >= 1);
  assert.ok(typingA.every((t) => t.name === 'carol') && typingA2.every((t) => t.name === 'carol'), 'no typing from bob');
  // Bob's own copy still comes to him with its ref (he notices nothing).
  assert.equal((await hallB.say('bob again')).text, 'bob again');

  // History: a room joined now leaves bob's messages out, those from before the mute too; with `since`, so
  // does what it recovers. A session that did not mute him gets them all.
  const third = await connect({ url: stack.url('a'), token: alice.token, WebSocket });
  clients.push(third);
  assert.deepEqual(third.muted, ['bob'], 'a new client of the token starts with the list');
  const fresh = await third.joinRoom('hall');
  assert.deepEqual(fresh.history.map((m) => m.from).filter((f) => f === 'bob'), []);
  assert.ok(fresh.members.includes('bob'), 'members are not filtered');
  assert.ok(fresh.history.some((m) => m.text === 'carol after bob'));
  const firstId = hallC.history.find((m) => m.text === 'before the mute').id;
  const since = await third.request('room.join', { room: 'hall', since: firstId });
  assert.equal(since.type, 'room.joined');
  assert.equal(since.recovered, true);
  assert.deepEqual(texts(since.history), ['carol: carol after bob']);
  const dave = await client(stack.url('b'), 'dave');
  const all = await dave.joinRoom('hall');
  assert.deepEqual(texts(all.history).filter((t) => t.startsWith('bob')), ['bob: before the mute', 'bob: muted line', 'bob: bob again']);

  // Presence is not filtered: bob leaving still shows.
  await hallB.leave();
  await until('alice sees bob leave', () => presenceA.some((p) => p.left === 'bob'));

  // Unmuted: what bob says from now on arrives again.
  const again = await bob.joinRoom('hall');
  await until('alice sees bob back', () => presenceA.some((p) => p.joined === 'bob'));
  assert.deepEqual(await alice.unmute('bob'), []);
  assert.deepEqual(alice.muted, []);
  assert.deepEqual(changes, [['bob'], []]);
  assert.deepEqual((await session(alice.token)).muted, []);
  await again.say('heard again');
  await until('alice hears bob again', () => seenA.some((m) => m.text === 'heard again') && seenA2.some((m) => m.text === 'heard again'));
  assert.deepEqual(texts(seenA), ['carol: carol after bob', 'bob: heard again']);
});

test('the list: kept in order, each once, in the session (a new client of the token has it); MUTE_MAX; errors', async () => {
  const erin = await client(stack.url('b'), 'erin');
  assert.deepEqual(await erin.mute('zed'), ['zed']);
  assert.deepEqual(await erin.mute('yan'), ['zed', 'yan']);
  // Muting again, unmuting a name not muted: acknowledged, nothing changes.
  assert.deepEqual(await erin.mute('zed'), ['zed', 'yan']);
  assert.deepEqual(await erin.unmute('nobody'), ['zed', 'yan']);
  assert.deepEqual((await session(erin.token)).muted, ['zed', 'yan']);
  assert.deepEqual(await erin.mute('xu'), ['zed', 'yan', 'xu']);

  // Past MUTE_MAX (3): limit_reached, nothing changed; a name already muted is still acknowledged.
  await refused(erin.mute('wim'), 'limit_reached');
  assert.deepEqual(erin.muted, ['zed', 'yan', 'xu']);
  assert.deepEqual(await erin.mute('yan'), ['zed', 'yan', 'xu']);
  assert.deepEqual((await session(erin.token)).muted, ['zed', 'yan', 'xu']);

  // Unmuting makes room; a name muted again goes to the end.
  assert.deepEqual(await erin.unmute('zed'), ['yan', 'xu']);
  assert.deepEqual(await erin.mute('zed'), ['yan', 'xu', 'zed']);

  // The session keeps it: another client of the token, on the other node, starts with it.
  const later = await connect({ url: stack.url('a'), token: erin.token, WebSocket });
  clients.push(later);
  assert.deepEqual(later.muted, ['yan', 'xu', 'zed']);

  // bad_request: oneself, names that are not valid names, unknown or missing fields.
  await refused(erin.mute('erin'), 'bad_request');
  for (const name of ['', '   ', 'x'.repeat(33), 'bot', 'System', '\u200b', 'a\u202eb']) {
    await refused(erin.mute(name), 'bad_request');
    await refused(erin.unmute(name), 'bad_request');
  }
  await refused(erin.request('user.mute', { name: 'zoe', everywhere: true }), 'bad_request');
  await refused(erin.request('user.unmute', {}), 'bad_request');
  await refused(erin.request('user.mute', { name: 5 }), 'bad_request');
  assert.deepEqual((await session(erin.token)).muted, ['yan', 'xu', 'zed'], 'nothing changed by what was refused');
  // The ack has the request's ref and nothing else.
  const ack = await erin.request('user.unmute', { name: 'xu' });
  assert.deepEqual(Object.keys(ack).sort(), ['ref', 'type']);
  assert.equal(ack.type, 'ack');
});

test('after a reconnect the mute still holds: what the room recovers leaves the muted name out', async () => {
  const { WebSocket: Gated, gate } = gatedWebSocket();
  const fay = await client([stack.url('a'), stack.url('b')], 'fay', { WebSocket: Gated });
  assert.equal(fay.node, stack.nodes.a.id);
  const gil = await client(stack.url('b'), 'gil');
  const hana = await client(stack.url('b'), 'hana');
  const [roomF, roomG, roomH] = await Promise.all([fay, gil, hana].map((c) => c.joinRoom('den')));
  await fay.mute('gil');
  const seen = record(roomF, 'message');
  const rejoined = record(roomF, 'rejoined');
  await roomH.say('before the drop');
  await until('fay has it', () => seen.length === 1);

  // Fay's node dies; while she is away gil and hana speak.
  gate.hold();
  const port = stack.nodes.a.port;
  await stack.killNode('a');
  try {
    await until('fay reconnecting', () => fay.state === 'reconnecting');
    await roomG.say('gil while fay was away');
    await roomH.say('hana while fay was away');
    gate.release();
    await until('fay back', () => fay.state === 'open' && rejoined.length === 1, 30_000);
    assert.equal(fay.node, stack.nodes.b.id);
    assert.equal(rejoined[0].recovered, true);
    assert.deepEqual(texts(seen), ['hana: before the drop', 'hana: hana while fay was away']);
    assert.deepEqual(fay.muted, ['gil']);
    // Live again, on the new node: still muted.
    await roomG.say('gil after');
    await roomH.say('hana after');
    await until('fay has hana\'s', () => seen.length === 3);
    assert.deepEqual(texts(seen).slice(2), ['hana: hana after']);
  } finally {
    gate.release();
    await stack.startNode('a', port);
  }
});

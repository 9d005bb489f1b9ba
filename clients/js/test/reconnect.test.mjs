// The node under a client is killed (SIGKILL): the client reconnects through the next URL of its list and
// carries on, with every room message, game state and bot reply it missed delivered once and in order;
// requests made meanwhile wait and go out once it is back. A room whose missed messages are gone is
// reported (`unrecovered`). A node that shuts down (1001) is left for another at once.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { compareIds, connect } from '../index.js';
import { WebSocket, freePort, gatedWebSocket, record, sleep, startStack, until } from './harness.mjs';

let stack;
const clients = [];

async function client(urls, name, extra = {}) {
  const c = await connect({ urls, name, WebSocket, ...extra });
  clients.push(c);
  return c;
}

before(async () => {
  stack = await startStack('reconnect', { env: { RATE_PER_5S: '60', RATE_PER_MIN: '600' } });
});

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await stack?.stop();
});

/** Node A again (a test before killed it), on a new port. */
async function restartA() {
  if (stack.nodes.a.proc.running) return;
  await stack.startNode('a', await freePort());
}

/** Every message of a room as one client has it: the history at join, then each delivered. */
function transcript(room, delivered) {
  return [...room.history.slice(0, room.history.length - delivered.length), ...delivered];
}

test('the node under a client is killed: it carries on through the other node, nothing missed or twice', async () => {
  const { WebSocket: Gated, gate } = gatedWebSocket();
  // Alice starts on node A and knows node B; Bob is on node B.
  const alice = await client([stack.url('a'), stack.url('b')], 'alice', { WebSocket: Gated });
  const bob = await client([stack.url('b')], 'bob');
  assert.equal(alice.node, stack.nodes.a.id);
  const connection = record(alice, 'connection', (state, info) => ({ state, ...info }));

  const plazaA = await alice.joinRoom('plaza');
  const plazaB = await bob.joinRoom('plaza');
  const aliceSees = record(plazaA, 'message');
  const bobSees = record(plazaB, 'message');
  const presence = record(plazaA, 'presence');
  const rejoined = record(plazaA, 'rejoined');
  await plazaA.say('before the drop');
  await plazaB.say('seen it');
  await until('alice has both', () => aliceSees.length === 2);

  const game = await alice.createGame();
  const theirs = await bob.joinGame(game.id);
  const states = record(game, 'state');
  const chatA = record(game.room, 'message');
  const chatB = record(theirs.room, 'message');
  await game.move(4);
  await theirs.move(0);
  await game.move(8);
  await theirs.say('your move was fine');
  await until('alice has the game so far', () => game.state.version === theirs.state.version && chatA.length === 1);

  const replies = record(alice.bot, 'reply');
  const twin = await connect({ url: stack.url('b'), token: alice.token, WebSocket }); // another socket of alice's token
  clients.push(twin);

  // Alice's node dies; her way back is held until Bob has moved on.
  gate.hold();
  await stack.killNode('a');
  await until('alice reconnecting', () => alice.state === 'reconnecting');
  assert.equal(connection[0].state, 'reconnecting');
  assert.equal(connection[0].code, 1006);

  // Asked while reconnecting: waits, and goes out once the client is back in the room.
  const queued = plazaA.say('said while away');

  for (const text of ['missed 1', 'missed 2', 'missed 3']) await plazaB.say(text);
  await theirs.move(1); // O threatens 0-1-2
  await theirs.say('missed in the game chat');
  const twinReply = await twin.bot.say('a question from the other tab');
  const carol = await client([stack.url('b')], 'carol');
  await carol.joinRoom('plaza'); // arrives while alice is away
  await sleep(100);
  assert.equal(alice.state, 'reconnecting');

  gate.release();
  await until('alice open again', () => alice.state === 'open', 20_000);
  assert.equal(alice.node, stack.nodes.b.id, 'through the other node');
  assert.equal(alice.url, stack.url('b'));
  const mine = await queued;
  assert.equal(mine.text, 'said while away');
  await until('bob sees it', () => bobSees.some((m) => m.id === mine.id));

  // The room: the same transcript on both sides, each message once, in order.
  const aliceAll = transcript(plazaA, aliceSees);
  const bobAll = [...plazaB.history.slice(0, plazaB.history.length - bobSees.length), ...bobSees];
  assert.deepEqual(aliceSees.map((m) => m.text), ['before the drop', 'seen it', 'missed 1', 'missed 2', 'missed 3', 'said while away']);
  assert.deepEqual(aliceAll.map((m) => m.id), bobAll.map((m) => m.id));
  const ids = aliceSees.map((m) => m.id);
  assert.deepEqual(ids, [...new Set(ids)].sort(compareIds));
  assert.equal(rejoined.length, 1);
  assert.equal(rejoined[0].recovered, true);
  assert.equal(rejoined[0].missed, 3);
  assert.ok(presence.some((p) => p.joined === 'carol'), 'carol\'s arrival meanwhile is reported');

  // The game: the state with Bob's move once; the game chat line once.
  await until('alice has bob\'s move', () => game.state.board[1] === 'O');
  const versions = states.map((s) => s.version);
  assert.deepEqual(versions, [...new Set(versions)].sort((a, b) => a - b));
  assert.equal(states.filter((s) => s.board[1] === 'O' && s.board.filter(Boolean).length === 4).length, 1);
  assert.deepEqual(chatA.map((m) => m.text), ['your move was fine', 'missed in the game chat']);
  assert.deepEqual(chatA.map((m) => m.id), chatB.map((m) => m.id));
  assert.equal(game.seat, 'X');
  assert.ok(game.myTurn);

  // The bot reply to the other tab, sent while alice was away, delivered once.
  await until('the missed reply', () => replies.some((r) => r.id === twinReply.id));
  assert.equal(replies.filter((r) => r.id === twinReply.id).length, 1);

  // And on to a result: X blocks and forks, O blocks one, X wins.
  await game.move(2);
  await theirs.move(5);
  const end = await game.move(6);
  assert.equal(end.status, 'won');
  assert.equal(end.winner, 'X');
  assert.deepEqual(end.line, [2, 4, 6]);
  await until('bob sees the result', () => theirs.state.status === 'won');
  const all = states.map((s) => s.version);
  assert.deepEqual(all, [...new Set(all)].sort((a, b) => a - b));
  assert.equal(states.at(-1).version, end.version);
  assert.deepEqual(connection.map((c) => c.state), ['reconnecting', 'open']);

  // The next chat goes both ways through node B.
  const back = await plazaA.say('back to normal');
  await until('bob has it', () => bobSees.some((m) => m.id === back.id));
});

test('a room whose missed messages are gone is reported as unrecovered; what is kept is delivered', async () => {
  await restartA();
  const { WebSocket: Gated, gate } = gatedWebSocket();
  const ann = await client([stack.url('a'), stack.url('b')], 'ann', { WebSocket: Gated });
  const ben = await client([stack.url('b')], 'ben');
  assert.equal(ann.node, stack.nodes.a.id);
  const archiveA = await ann.joinRoom('archive');
  const archiveB = await ben.joinRoom('archive');
  const seen = record(archiveA, 'message');
  const unrecovered = record(archiveA, 'unrecovered');
  const clientWide = record(ann, 'unrecovered');
  await archiveB.say('one');
  await until('ann has one', () => seen.length === 1);

  gate.hold();
  await stack.killNode('a');
  await until('ann reconnecting', () => ann.state === 'reconnecting');
  await archiveB.say('two (lost)');
  // The room's log is gone (as if trimmed or expired): `since` can no longer be honoured.
  await stack.redis('DEL', 'room:{archive}:log', 'room:{archive}:last');
  await sleep(5);
  await archiveB.say('three');
  gate.release();
  await until('ann open', () => ann.state === 'open', 20_000);
  assert.equal(unrecovered.length, 1);
  assert.equal(unrecovered[0].recovered, false);
  assert.equal(unrecovered[0].room, 'archive');
  assert.equal(clientWide.length, 1);
  assert.equal(clientWide[0].target, archiveA);
  assert.deepEqual(seen.map((m) => m.text), ['one', 'three']);
});

test('requests wait while reconnecting, bounded: not_connected past queueTimeoutMs', async () => {
  await restartA();
  const { WebSocket: Gated, gate } = gatedWebSocket();
  const dan = await client([stack.url('a'), stack.url('b')], 'dan', { WebSocket: Gated, queueTimeoutMs: 300 });
  assert.equal(dan.node, stack.nodes.a.id);
  const room = await dan.joinRoom('waiting-room');
  gate.hold();
  await stack.killNode('a');
  await until('dan reconnecting', () => dan.state === 'reconnecting');
  const started = Date.now();
  await assert.rejects(room.say('too late'), (error) => error.code === 'not_connected');
  assert.ok(Date.now() - started >= 250);
  gate.release();
  await until('dan open', () => dan.state === 'open', 20_000);
  const ok = await room.say('in time');
  assert.equal(ok.text, 'in time');
});

test('a node that shuts down (1001) is left for the next URL; the game goes on', async () => {
  await restartA();
  const eve = await client([stack.url('a'), stack.url('b')], 'eve');
  const fay = await client([stack.url('b')], 'fay');
  assert.equal(eve.node, stack.nodes.a.id);
  const states = record(eve, 'connection', (state, info) => ({ state, code: info.code }));
  const game = await eve.createGame();
  const theirs = await fay.joinGame(game.id);
  await game.move(0);
  await stack.killNode('a', 'SIGTERM');
  await until('eve open again', () => states.length >= 2 && eve.state === 'open', 20_000);
  assert.deepEqual(states, [{ state: 'reconnecting', code: 1001 }, { state: 'open', code: undefined }]);
  assert.equal(eve.node, stack.nodes.b.id);
  await theirs.move(3);
  await until('eve sees it', () => game.state.board[3] === 'O');
  const next = await game.move(1);
  assert.equal(next.board[1], 'X');
});

test('reconnect attempts back off exponentially with full jitter and go round the URL list', async () => {
  await restartA();
  const dead = `http://127.0.0.1:${await freePort()}`;
  const portA = stack.nodes.a.port;
  const gus = await client([stack.url('a'), dead], 'gus', { reconnectBaseMs: 40, reconnectMaxMs: 320 });
  assert.equal(gus.node, stack.nodes.a.id);
  const room = await gus.joinRoom('backoff');
  const attempts = record(gus, 'connection', (state, info) => ({ state, ...info }));
  await stack.killNode('a');
  await until('eight failed attempts', () => attempts.filter((a) => a.state === 'reconnecting').length >= 8, 20_000);
  await stack.startNode('a', portA); // the same address again
  await until('gus open again', () => gus.state === 'open', 20_000);
  const failed = attempts.filter((a) => a.state === 'reconnecting');
  failed.forEach((a, i) => {
    assert.equal(a.attempt, i + 1);
    const ceiling = Math.min(320, 40 * 2 ** i);
    assert.ok(a.delayMs >= 0 && a.delayMs <= ceiling, `attempt ${a.attempt}: ${a.delayMs} ms within [0, ${ceiling}]`);
    // After node A, the next URL; then round the list.
    assert.equal(a.url, i % 2 === 0 ? dead : stack.url('a'));
  });
  assert.equal(new Set(failed.map((a) => a.delayMs)).size > 1, true, 'jittered');
  assert.equal(gus.node, stack.nodes.a.id);
  const ok = await room.say('back');
  assert.equal(ok.text, 'back');
});

test('a request in flight when its node dies fails with connection_lost; a node gone silent is given up', async () => {
  await restartA();
  const hal = await client([stack.url('a'), stack.url('b')], 'hal', { requestTimeoutMs: 1500 });
  assert.equal(hal.node, stack.nodes.a.id);
  const room = await hal.joinRoom('frozen');
  const node = stack.nodes.a.proc.child;

  // A node that is frozen (SIGSTOP) keeps the connection open but answers nothing: the request times
  // out, nothing else came either, so the client gives that node up and goes to the next.
  node.kill('SIGSTOP');
  try {
    await assert.rejects(room.say('into the void'), (error) => error.code === 'timeout');
    await until('hal on node B', () => hal.state === 'open' && hal.node === stack.nodes.b.id, 20_000);
  } finally {
    await stack.killNode('a');
  }
  const ok = await room.say('on node B');
  assert.equal(ok.text, 'on node B');

  // A request sent just before its node dies: connection_lost (it may or may not have been applied).
  await restartA();
  // The premise: ivy's socket is on node A (a first attempt that fell through to node B is tried again).
  let ivy = await client([stack.url('a'), stack.url('b')], 'ivy');
  for (let tries = 1; ivy.node !== stack.nodes.a.id && tries < 5; tries += 1) {
    await ivy.close();
    ivy = await client([stack.url('a'), stack.url('b')], 'ivy');
  }
  assert.equal(ivy.node, stack.nodes.a.id, 'ivy is on node A');
  const ivyRoom = await ivy.joinRoom('frozen');
  stack.nodes.a.proc.child.kill('SIGSTOP');
  const lost = assert.rejects(ivyRoom.say('cut off'), (error) => error.code === 'connection_lost');
  await sleep(50);
  await stack.killNode('a');
  await lost;
  await until('ivy back', () => ivy.state === 'open', 20_000);
});

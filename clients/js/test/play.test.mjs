// Two clients on two nodes: room chat and presence, a whole game to a result with its chat and a rematch,
// the bot's answers, a game against the bot, quick match, watching a game, and a session resumed by token.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { compareIds, connect } from '../index.js';
import { WebSocket, record, startStack, until } from './harness.mjs';

let stack;
const clients = [];

async function client(node, name, extra = {}) {
  const c = await connect({ url: stack.url(node), name, WebSocket, ...extra });
  clients.push(c);
  return c;
}

before(async () => {
  stack = await startStack('play', { env: { RATE_PER_5S: '60', RATE_PER_MIN: '600' } });
});

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await stack?.stop();
});

test('two clients on two nodes chat in a room: messages once, in order, with presence', async () => {
  const alice = await client('a', 'alice');
  const bob = await client('b', 'bob');
  assert.equal(alice.name, 'alice');
  assert.match(alice.token, /^[0-9a-f-]{36}$/);
  assert.equal(alice.state, 'open');
  assert.equal(alice.node, stack.nodes.a.id);
  assert.equal(bob.node, stack.nodes.b.id);

  const roomA = await alice.joinRoom('plaza');
  assert.deepEqual(roomA.history, []);
  assert.deepEqual(roomA.members, ['alice']);
  assert.equal(roomA.memberCount, 1);
  const presence = record(roomA, 'presence');
  const seenByAlice = record(roomA, 'message');

  const roomB = await bob.joinRoom('plaza');
  assert.deepEqual([...roomB.members].sort(), ['alice', 'bob']);
  const seenByBob = record(roomB, 'message');
  await until('alice sees bob arrive', () => presence.some((p) => p.joined === 'bob'));
  assert.deepEqual(presence[0].members, ['alice', 'bob']);
  assert.equal(roomB.memberCount, 2);
  assert.equal(roomA.memberCount, 2, 'an arrival counts');

  // Typing: bob's indicator reaches alice across nodes, a burst of them once (the server
  // passes one a second on); bob hears nothing of his own.
  const typingA = record(roomA, 'typing');
  const typingB = record(roomB, 'typing');
  for (let i = 0; i < 5; i += 1) roomB.typing();
  await until('alice sees bob typing', () => typingA.length === 1);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(typingA, [{ room: 'plaza', name: 'bob' }]);
  assert.deepEqual(typingB, []);

  const sent = [];
  for (let i = 0; i < 5; i += 1) {
    sent.push(await roomA.say(`a${i}`));
    sent.push(await roomB.say(`b${i}`));
  }
  for (const message of sent) {
    assert.equal(message.room, 'plaza');
    assert.match(message.id, /^\d+-\d+$/);
    assert.ok(message.timestamp);
  }
  assert.deepEqual(sent.map((m) => m.from), Array.from({ length: 10 }, (_, i) => (i % 2 ? 'bob' : 'alice')));
  await until('both have all ten', () => seenByAlice.length === 10 && seenByBob.length === 10);
  const ids = sent.map((m) => m.id);
  assert.deepEqual(seenByAlice.map((m) => m.id), ids, 'alice: each once, in order');
  assert.deepEqual(seenByBob.map((m) => m.id), ids, 'bob: each once, in order');
  assert.deepEqual([...ids].sort(compareIds), ids);
  assert.deepEqual(seenByAlice.map((m) => m.text), ['a0', 'b0', 'a1', 'b1', 'a2', 'b2', 'a3', 'b3', 'a4', 'b4']);
  assert.equal(roomA.lastId, ids.at(-1));

  // A later joiner gets the history.
  const carol = await client('a', 'carol');
  const roomC = await carol.joinRoom('plaza');
  assert.deepEqual(roomC.history.map((m) => m.id), ids);

  await roomB.leave();
  await until('alice sees bob leave', () => presence.some((p) => p.left === 'bob'));
  assert.ok(!bob.rooms.has('plaza'));
  await assert.rejects(roomB.say('gone'), (error) => error.code === 'forbidden');
});

test('two clients on two nodes play a whole game to a result, chat in it, rematch and leave', async () => {
  const xena = await client('a', 'xena');
  const olga = await client('b', 'olga');
  const game = await xena.createGame();
  assert.equal(game.seat, 'X');
  assert.equal(game.role, 'player');
  assert.equal(game.state.status, 'waiting');
  assert.equal(game.state.players.X, 'xena');
  const xStates = record(game, 'state');

  const theirs = await olga.joinGame(game.id);
  assert.equal(theirs.id, game.id);
  assert.equal(theirs.seat, 'O');
  assert.equal(theirs.state.status, 'playing');
  const oStates = record(theirs, 'state');
  // The game's chat is joined with the game: its members come just after, with `joined`.
  const roomJoined = theirs.room.joined
    ? { members: theirs.room.members }
    : await new Promise((resolve) => theirs.room.once('joined', resolve));
  assert.deepEqual([...roomJoined.members].sort(), ['olga', 'xena']);
  assert.ok(theirs.room.joined);
  await until('xena sees olga join', () => game.state.status === 'playing');
  assert.equal(game.state.players.O, 'olga');
  assert.ok(game.myTurn);

  // The game's chat.
  const chat = record(game.room, 'message');
  const said = await theirs.say('good luck');
  await until('xena gets the line', () => chat.length === 1);
  assert.equal(chat[0].id, said.id);
  assert.equal(chat[0].from, 'olga');

  const moves = [[game, 0], [theirs, 3], [game, 1], [theirs, 4]];
  for (const [who, cell] of moves) {
    const state = await who.move(cell);
    assert.equal(state.board[cell], who.seat);
  }
  const last = await game.move(2);
  assert.equal(last.status, 'won');
  assert.equal(last.winner, 'X');
  assert.deepEqual(last.line, [0, 1, 2]);
  assert.equal(last.next, null);
  await until('olga sees the end', () => theirs.state.status === 'won');
  assert.deepEqual(theirs.state, game.state);

  // Every version once, in order, on both sides.
  const versions = (list) => list.map((s) => s.version);
  for (const list of [xStates, oStates]) {
    const v = versions(list);
    assert.deepEqual(v, [...new Set(v)].sort((a, b) => a - b), `versions once, in order: ${v}`);
  }
  assert.equal(xStates.at(-1).version, last.version);
  assert.equal(oStates.at(-1).version, last.version);

  // Rematch: the first ask is acknowledged (null) and shown to the other; the second starts it, seats swapped.
  assert.equal(await game.rematch(), null);
  await until('olga sees the request', () => theirs.state.rematch === 'X');
  const fresh = await theirs.rematch();
  assert.equal(fresh.status, 'playing');
  assert.deepEqual(fresh.board, Array(9).fill(null));
  assert.equal(theirs.seat, 'X');
  await until('xena sees the rematch', () => game.state.version === fresh.version);
  assert.equal(game.seat, 'O');
  assert.equal(game.state.players.X, 'olga');

  // Leaving a game in play loses it.
  await theirs.move(4);
  const left = await game.leave();
  assert.equal(left.status, 'abandoned');
  assert.equal(left.winner, 'X');
  assert.equal(left.left, 'O');
  assert.ok(!xena.games.has(game.id));
  assert.ok(!xena.rooms.has(`game:${game.id}`));
  await until('olga sees xena leave', () => theirs.state.status === 'abandoned');
  assert.equal(theirs.state.winner, 'X');

  const board = await (await fetch(`${stack.url('a')}/leaderboard`)).json();
  const olgaRow = board.top.find((row) => row.name === 'olga');
  assert.equal(olgaRow.wins, 1);
});

test('a spectator watches a game; quick match pairs two players across nodes', async () => {
  const p1 = await client('a', 'quick1');
  const p2 = await client('b', 'quick2');
  const [g1, g2] = await Promise.all([p1.quickMatch(), p2.quickMatch()]);
  // Whoever asked second took the waiting one's game.
  await until('both playing', () => g1.state.status === 'playing' && g2.state.status === 'playing');
  assert.equal(g1.id, g2.id);
  assert.deepEqual([g1.seat, g2.seat].sort(), ['O', 'X']);

  const watcher = await client('b', 'watcher');
  const watched = await watcher.joinGame(g1.id);
  assert.equal(watched.role, 'spectator');
  assert.equal(watched.seat, null);
  // Watching under a player's name: still a spectator (seats belong to tokens, not names).
  const namesake = await client('a', 'quick1');
  const alsoWatched = await namesake.joinGame(g1.id);
  assert.equal(alsoWatched.role, 'spectator');
  assert.equal(alsoWatched.seat, null);
  const seen = record(watched, 'state');
  const mover = g1.seat === 'X' ? g1 : g2;
  const moved = await mover.move(8);
  await until('the spectator sees the move', () => seen.some((s) => s.version === moved.version));
  assert.equal(watched.state.board[8], 'X');
});

test('the bot answers bot.say, once, in order; a game against the bot', async () => {
  const dora = await client('a', 'dora');
  const replies = record(dora.bot, 'reply');
  let acked = null;
  const first = await dora.bot.say('hello', { onAck: (message) => { acked = { message, replied: replies.length }; } });
  // The ack came first, with the message's ID: the one the reply answers.
  assert.equal(acked.message.id, first.in_reply_to);
  assert.equal(acked.message.msg, 'hello');
  assert.equal(acked.replied, 0);
  assert.equal(typeof first.msg, 'string');
  assert.ok(first.msg.length > 0);
  assert.ok(first.in_reply_to);
  const second = await dora.bot.say('how are you?');
  assert.notEqual(second.id, first.id);
  await until('two replies', () => replies.length === 2);
  assert.deepEqual(replies.map((r) => r.id), [first.id, second.id]);
  // The session's history has both exchanges, in order.
  const again = await connect({ url: stack.url('b'), token: dora.token, WebSocket });
  clients.push(again);
  assert.equal(again.name, 'dora');
  const history = again.bot.history.map((m) => m.source);
  assert.deepEqual(history, ['human', 'bot', 'human', 'bot']);
  // A reply goes to every socket of the token, on any node.
  const onB = record(again.bot, 'reply');
  const third = await dora.bot.say('third');
  await until('the other socket of the token gets it too', () => onB.some((r) => r.id === third.id));
  assert.equal(onB.length, 1);

  const game = await dora.createGame({ vsBot: true });
  assert.equal(game.state.vs_bot, true);
  assert.equal(game.seat, 'X');
  assert.equal(game.state.status, 'playing');
  const states = record(game, 'state');
  const mine = await game.move(4);
  assert.equal(mine.board[4], 'X');
  await until('the bot answers the move', () => states.some((s) => s.board.filter(Boolean).length === 2));
  assert.equal(game.state.next, 'X');
  assert.equal(game.state.board.filter((c) => c === 'O').length, 1);
});

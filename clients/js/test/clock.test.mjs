// The turn clock (TURN_SECS=2 on both nodes): `turn_deadline` while a game between people is played, a fresh one
// with each move and rematch, none while waiting, once over or against the bot; a player who does not move
// loses by `timeout` (ended by the nodes' sweepers, whichever node the players are on), counted once on the
// leaderboard; a move after the deadline ends the game the same way; with TURN_SECS=0 there is no clock; and
// `serverNow()` (the deadline's clock) is the server's whatever this machine's clock says.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect } from '../index.js';
import { WebSocket, record, sleep, startStack, until } from './harness.mjs';

const TURN_MS = 2000;

let stack;
const clients = [];

async function client(node, name, extra = {}, on = stack) {
  const c = await connect({ url: on.url(node), name, WebSocket, ...extra });
  clients.push(c);
  return c;
}

/** Asserts that `deadline` is TURN_MS after a moment between `from` and `to` (epoch ms; one clock here). */
function freshDeadline(deadline, from, to, what) {
  assert.equal(typeof deadline, 'number', `${what}: turn_deadline is a number`);
  assert.ok(Number.isInteger(deadline), `${what}: turn_deadline is an integer`);
  assert.ok(deadline >= from + TURN_MS - 50 && deadline <= to + TURN_MS + 50,
    `${what}: turn_deadline ${deadline} is ${TURN_MS} ms after the change (${from + TURN_MS}..${to + TURN_MS})`);
}

/** A game between `x` (creates it) and `o` (joins it); resolves with both sides' Game once both see it played. */
async function pair(x, o) {
  const mine = await x.createGame();
  assert.equal(mine.state.status, 'waiting');
  assert.equal('turn_deadline' in mine.state, false, 'no clock while waiting');
  const from = Date.now();
  const theirs = await o.joinGame(mine.id);
  freshDeadline(theirs.state.turn_deadline, from, Date.now(), 'the second player seated');
  await until('x sees the game start', () => mine.state.status === 'playing');
  assert.equal(mine.state.turn_deadline, theirs.state.turn_deadline);
  return [mine, theirs];
}

/** A name's results: its row of /leaderboard, else (not in the top 10) its hash in Redis. */
async function standing(name) {
  const board = await (await fetch(`${stack.url('b')}/leaderboard`)).json();
  const row = board.top.find((r) => r.name === name);
  if (row) return row;
  const [wins, losses, draws] = await stack.redis('HMGET', `leaderboard:{lb}:player:${name}`, 'wins', 'losses', 'draws');
  return { name, wins: Number(wins ?? 0), losses: Number(losses ?? 0), draws: Number(draws ?? 0) };
}

before(async () => {
  stack = await startStack('clock', { env: { TURN_SECS: String(TURN_MS / 1000), RATE_PER_5S: '60', RATE_PER_MIN: '600' } });
});

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await stack?.stop();
});

test('turn_deadline: set when play starts, fresh after each move and rematch, gone once the game is over', async () => {
  const xavi = await client('a', 'xavi');
  const olaf = await client('b', 'olaf');
  const [game, theirs] = await pair(xavi, olaf);
  assert.equal(game.state.next, 'X');

  // Each move gives the other player a fresh clock, seen the same on both nodes.
  let previous = game.state.turn_deadline;
  for (const [who, cell] of [[game, 0], [theirs, 3], [game, 1], [theirs, 4]]) {
    await sleep(150);
    const from = Date.now();
    const state = await who.move(cell);
    freshDeadline(state.turn_deadline, from, Date.now(), `after the move to ${cell}`);
    assert.ok(state.turn_deadline > previous, 'a later deadline than the one before');
    previous = state.turn_deadline;
    const other = who === game ? theirs : game;
    await until('the other player sees the move', () => other.state.version === state.version);
    assert.equal(other.state.turn_deadline, state.turn_deadline);
  }
  const won = await game.move(2);
  assert.equal(won.status, 'won');
  assert.equal('turn_deadline' in won, false, 'no clock once the game is won');

  // The rematch starts a fresh clock for the new X (olaf).
  assert.equal(await game.rematch(), null);
  await until('olaf sees the request', () => theirs.state.rematch === 'X');
  assert.equal('turn_deadline' in theirs.state, false);
  const from = Date.now();
  const fresh = await theirs.rematch();
  assert.equal(fresh.status, 'playing');
  freshDeadline(fresh.turn_deadline, from, Date.now(), 'the rematch');
  assert.equal(theirs.seat, 'X');

  // Leaving in play ends it as abandoned: no clock either.
  const left = await game.leave();
  assert.equal(left.status, 'abandoned');
  assert.equal('turn_deadline' in left, false);
});

test('serverNow() is the server\'s clock, whatever this machine\'s clock says', async () => {
  // This machine's clock ten minutes ahead while the client connects: the node's hello corrects it.
  const realNow = Date.now;
  Date.now = () => realNow() + 600_000;
  try {
    const c = await client('a', 'skewed');
    assert.ok(Math.abs(c.clockOffsetMs + 600_000) < 1000, `the offset is about -10 minutes: ${c.clockOffsetMs}`);
    assert.ok(Math.abs(c.serverNow() - realNow()) < 1000, 'serverNow() is the server\'s time');
  } finally {
    Date.now = realNow;
  }
});

test('a player who does not move loses by timeout, ended by the sweepers, and it counts once', async () => {
  const xena = await client('a', 'slowxena');
  const omar = await client('b', 'quickomar');
  const [game, theirs] = await pair(xena, omar);
  const xStates = record(game, 'state');
  const oStates = record(theirs, 'state');
  const before = [await standing('slowxena'), await standing('quickomar')];

  // X moves; O then lets its clock run out.
  const moved = await game.move(4);
  const deadline = moved.turn_deadline;
  assert.equal(moved.next, 'O');
  await until('both see the timeout', () => game.state.status === 'timeout' && theirs.state.status === 'timeout', TURN_MS + 5000);
  const ended = Date.now();
  assert.ok(ended >= deadline - 50, 'not before the deadline');
  assert.ok(ended <= deadline + 1500, `within about a second of the deadline (${ended - deadline} ms after)`);
  const over = game.state;
  assert.equal(over.winner, 'X', 'the seat that was not to move wins');
  assert.equal(over.next, null);
  assert.equal(over.line, null);
  assert.equal('turn_deadline' in over, false);
  assert.deepEqual(over.board, moved.board, 'the board as it was');
  assert.equal(over.version, moved.version + 1);
  assert.deepEqual(theirs.state, over);
  assert.ok(game.over && theirs.over);
  assert.deepEqual(xStates.map((s) => s.status), ['playing', 'timeout']);
  assert.deepEqual(oStates.map((s) => s.status), ['playing', 'timeout']);

  // A move after that is refused as for any game that is over.
  await assert.rejects(theirs.move(0), (error) => error.code === 'game_over');

  // Counted once: a win for X, a loss for O (the sweepers of both nodes saw the game).
  await sleep(1500);
  const [x, o] = [await standing('slowxena'), await standing('quickomar')];
  assert.deepEqual([x.wins - before[0].wins, x.losses - before[0].losses], [1, 0]);
  assert.deepEqual([o.wins - before[1].wins, o.losses - before[1].losses], [0, 1]);

  // A game lost on time can be rematched; the new game has a fresh clock.
  assert.equal(await theirs.rematch(), null);
  const from = Date.now();
  const fresh = await game.rematch();
  assert.equal(fresh.status, 'playing');
  freshDeadline(fresh.turn_deadline, from, Date.now(), 'the rematch after a timeout');
  await game.leave();
});

test('it ends on time also when the nodes of both players are gone', async () => {
  const one = await client('a', 'gone1');
  const two = await client('a', 'gone2');
  const [game] = await pair(one, two);
  const id = game.id;
  const deadline = game.state.turn_deadline;
  // Both players' node dies at once; the other node's sweeper ends the game.
  const port = stack.nodes.a.port;
  await stack.killNode('a');
  try {
    const watcher = await client('b', 'clockwatcher');
    const watched = await watcher.joinGame(id, { play: false });
    assert.equal(watched.role, 'spectator');
    await until('the game ends on time without its players\' node', () => watched.state.status === 'timeout', TURN_MS + 5000);
    assert.ok(Date.now() <= deadline + 1500, `within about a second of the deadline (${Date.now() - deadline} ms after)`);
    assert.equal(watched.state.winner, 'O', 'X was to move');
    assert.equal(watched.state.next, null);
  } finally {
    await stack.startNode('a', port);
  }
});

test('a move that comes after the deadline, before any node ended the game, ends it as timeout', async () => {
  const xia = await client('a', 'latexia');
  const oto = await client('b', 'lateoto');
  const [game, theirs] = await pair(xia, oto);
  // Take the game out of the sweepers' index (games:turn_deadlines), so that only the late move can end it.
  // (Removed again until past the deadline, in case a sweep that read it early puts it back.)
  await until('the game is in the index', async () => (await stack.redis('ZSCORE', 'games:turn_deadlines', game.id)) !== null);
  const deadline = game.state.turn_deadline;
  while (Date.now() < deadline + 300) {
    await stack.redis('ZREM', 'games:turn_deadlines', game.id);
    await sleep(50);
  }
  assert.equal(game.state.status, 'playing', 'nothing ended it meanwhile');
  const frames = record(xia, 'frame');
  const state = await game.move(4);
  assert.equal(state.status, 'timeout', 'the late move ended the game');
  assert.equal(state.winner, 'O');
  assert.equal(state.board[4], null, 'the late move was not made');
  assert.equal(state.next, null);
  assert.equal(state.line, null);
  // The mover's copy carried the move's ref (the library matched it to the request); the other player sees it too.
  const answer = frames.find((f) => f.type === 'game.state' && f.game.status === 'timeout');
  assert.equal(typeof answer.ref, 'string');
  await until('the other player sees the timeout', () => theirs.state.status === 'timeout');
  assert.equal(theirs.state.winner, 'O');
});

test('no clock against the bot, nor with TURN_SECS=0', async () => {
  const solo = await client('a', 'botfan');
  const vsBot = await solo.createGame({ vsBot: true });
  assert.equal(vsBot.state.status, 'playing');
  assert.equal('turn_deadline' in vsBot.state, false);
  const mine = await vsBot.move(4);
  assert.equal('turn_deadline' in mine, false);
  await until('the bot answers', () => vsBot.state.board.filter(Boolean).length === 2);
  assert.equal('turn_deadline' in vsBot.state, false);

  const off = await startStack('noclock', { env: { TURN_SECS: '0' } });
  try {
    const x = await client('a', 'noclockx', {}, off);
    const o = await client('b', 'noclocko', {}, off);
    const game = await x.createGame();
    const theirs = await o.joinGame(game.id);
    assert.equal(theirs.state.status, 'playing');
    assert.equal('turn_deadline' in theirs.state, false);
    const moved = await game.move(0);
    assert.equal('turn_deadline' in moved, false);
    await sleep(2500);
    assert.equal(theirs.state.status, 'playing', 'no timeout without a clock');
    await Promise.all([x.close(), o.close()]);
  } finally {
    await off.stop();
  }
});

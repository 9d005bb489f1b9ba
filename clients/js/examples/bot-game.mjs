#!/usr/bin/env node
// Plays one game against the bot (taking the first free cell each turn) and prints the board as it goes.
//
//   node examples/bot-game.mjs --url http://127.0.0.1:8080 --name alice

import { parseArgs } from 'node:util';
import { connect } from '../index.js';

const { values: args } = parseArgs({
  options: { url: { type: 'string', default: 'http://127.0.0.1:8080' }, name: { type: 'string', default: 'player' } },
});
const WebSocket = globalThis.WebSocket ?? (await import('ws')).default;

const client = await connect({ url: args.url.split(','), name: args.name, WebSocket });
const game = await client.createGame({ vsBot: true });
const show = (state) => {
  const cell = (i) => state.board[i] ?? '·';
  console.log([0, 3, 6].map((r) => `${cell(r)} ${cell(r + 1)} ${cell(r + 2)}`).join('\n'), `\n(v${state.version}, ${state.status})\n`);
};

const done = new Promise((resolve) => {
  const turn = async (state) => {
    show(state);
    if (game.over) return resolve(state);
    if (game.myTurn) await game.move(state.board.indexOf(null));
  };
  game.on('state', (state) => { turn(state).catch((error) => { console.error(error.code, error.message); resolve(state); }); });
  turn(game.state);
});
const end = await done;
console.log(end.status === 'draw' ? 'a draw' : end.winner === game.seat ? 'you won' : 'the bot won');
await client.close();

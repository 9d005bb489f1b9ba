#!/usr/bin/env node
// A terminal chat on tictac-chat-client: joins a room, prints what is said there (and who comes and goes),
// sends each line you type; a line starting with /bot goes to the bot instead. Survives a node going away
// when given several URLs.
//
//   node examples/chat.mjs --url http://127.0.0.1:8080 --name alice --room lobby
//   node examples/chat.mjs --url http://127.0.0.1:3000,http://127.0.0.1:3001 --token TOKEN --room lobby
//
// Lines: text → the room; /bot TEXT → the bot; /who → the members; /quit (or Ctrl-D) → leave.

import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { connect } from '../index.js';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    name: { type: 'string' },
    token: { type: 'string' },
    room: { type: 'string', default: 'lobby' },
  },
});
if (!args.name && !args.token) {
  console.error('usage: chat.mjs --url URL[,URL…] (--name NAME | --token TOKEN) [--room ROOM]');
  process.exit(2);
}

// Node 22 has a global WebSocket; Node 20 needs the ws package (npm install ws).
const WebSocket = globalThis.WebSocket ?? (await import('ws')).default;

const time = (iso) => new Date(iso).toLocaleTimeString();
const tty = process.stdin.isTTY && process.stdout.isTTY;
const print = (line) => {
  if (tty) {
    readline.clearLine(process.stdout, 0);
    readline.cursorTo(process.stdout, 0);
  }
  console.log(line);
  if (tty) rl?.prompt(true);
};

let rl;
let quitting = false;
let client;
try {
  client = await connect({ url: args.url.split(','), name: args.name, token: args.token, WebSocket });
} catch (error) {
  console.error(`cannot connect: ${error.code}: ${error.message}`);
  process.exit(1);
}
console.log(`connected as ${client.name} to node ${client.node} (token ${client.token})`);

client.on('connection', (state, info) => {
  if (state === 'reconnecting') print(`… connection lost (${info.code}), retrying in ${info.delayMs} ms`);
  if (state === 'open') print(`… back, on node ${info.node}`);
  if (state === 'closed' && !quitting) {
    print(`… closed: ${info.error?.message ?? info.reason ?? ''}`);
    process.exit(1);
  }
});
client.on('unrecovered', ({ room }) => print(`… some messages of ${room} may be missing (too old to recover)`));
client.bot.on('reply', (reply) => print(`[${time(reply.timestamp)}] bot: ${reply.msg}`));

const room = await client.joinRoom(args.room);
for (const message of room.history) print(`[${time(message.timestamp)}] ${message.from}: ${message.text}`);
print(`joined ${room.name}; here: ${room.members.join(', ')}`);
room.on('message', (message) => print(`[${time(message.timestamp)}] ${message.from}: ${message.text}`));
room.on('presence', (event) => print(event.joined ? `→ ${event.joined} joined` : `← ${event.left} left`));

rl = readline.createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, prompt: '> ' });
if (tty) rl.prompt();
rl.on('line', async (line) => {
  const text = line.trim();
  try {
    if (text === '/quit') {
      rl.close();
      return;
    }
    if (text === '/who') print(`here: ${room.members.join(', ')}`);
    else if (text.startsWith('/bot ')) await client.bot.say(text.slice(5)); // the reply is printed by the listener
    else if (text) await room.say(text); // printed when it comes back, in order
  } catch (error) {
    print(`! ${error.code}${error.retryAfterMs ? ` (retry in ${error.retryAfterMs} ms)` : ''}: ${error.message}`);
  }
  if (tty) rl.prompt();
});
rl.on('close', async () => {
  quitting = true;
  await room.leave().catch(() => {});
  await client.close();
  process.exit(0);
});

// tictac-chat-client: a client library for the tictac-chat server (bot chat, rooms, tic-tac-toe) over /ws.
// Plain ES modules for browsers and Node 20+; see README.md.

export { connect, Client } from './src/client.js';
export { Room } from './src/room.js';
export { Game, gameRoom } from './src/game.js';
export { Bot } from './src/bot.js';
export { ClientError } from './src/errors.js';
export { compareIds } from './src/ids.js';

// Typed usage of the library, compiled by `tsc --noEmit` (never run): the declarations in index.d.ts must
// allow the documented API and reject misuse (the @ts-expect-error lines must be errors).

import {
  ClientError, compareIds, connect, gameRoom,
  type BotReply, type Client, type ConnectionState, type Game, type GameState, type GameStatus, type Mark, type Room, type RoomMessage,
  type WebSocketConstructor,
} from 'tictac-chat-client';

declare const WebSocketImpl: WebSocketConstructor;

async function quickStart(): Promise<void> {
  const client: Client = await connect({ url: 'http://127.0.0.1:8080', name: 'alice', WebSocket: WebSocketImpl });
  const again = await connect({ urls: ['http://127.0.0.1:3000', 'http://127.0.0.1:3001'], token: client.token, requestTimeoutMs: 5000 });
  const name: string = client.name;
  const token: string = client.token;
  void name; void token; void again;

  client.on('connection', (state: ConnectionState, info) => {
    if (state === 'reconnecting') console.log(info.delayMs, info.code);
    if (state === 'open') console.log(info.node);
  });
  client.on('unrecovered', (event) => console.log(event.room, event.target.name));
  client.on('error', (error) => console.log(error.code));

  const reply: BotReply = await client.bot.say('hello');
  console.log(reply.msg, reply.in_reply_to);
  const acked: BotReply = await client.bot.say('again', { onAck: (message) => console.log(message.id, message.msg) });
  console.log(acked.in_reply_to);
  const offReply = client.bot.on('reply', (message) => console.log(message.id));
  offReply();

  const room: Room = await client.joinRoom('lobby');
  console.log(room.history.length, room.members.join(', '), room.lastId);
  room.on('message', (message: RoomMessage) => console.log(message.from, message.text));
  room.on('presence', (event) => console.log(event.joined ?? event.left, event.members));
  room.on('typing', (event) => console.log(`${event.name} is typing in ${event.room}`));
  room.on('deleted', ({ id }) => console.log(`${id} was deleted`));
  client.on('disconnected', (error) => console.log(error.code === 'disconnected'));
  room.typing();
  room.on('rejoined', ({ recovered, missed }) => console.log(recovered, missed));
  room.on('joined', ({ members, history }) => console.log(members.length, history.length));
  const sent: RoomMessage = await room.say('hi');
  console.log(sent.id, compareIds(sent.id, room.lastId ?? sent.id));
  await room.leave();

  const game: Game = await client.createGame({ vsBot: false });
  const joined = await client.joinGame(game.id, { play: true });
  const matched = await client.quickMatch();
  void joined; void matched;
  const seat: Mark | null = game.seat;
  console.log(game.id, game.state.status, seat, game.room.name === gameRoom(game.id));
  game.on('state', (state: GameState) => console.log(state.version, state.board));
  const after: GameState = await game.move(4);
  console.log(after.next);
  const rematch: GameState | null = await game.rematch();
  console.log(rematch?.status);
  await game.say('gg');
  await game.leave();

  const muted: string[] = await client.mute('mallory');
  console.log(muted.includes('mallory'), client.muted.length);
  const stillMuted: string[] = await client.unmute('mallory');
  void stillMuted;
  const offMuted = client.on('muted', (names: string[]) => console.log(names.join(', ')));
  offMuted();
  await client.request('user.mute', { name: 'mallory' });
  const deadline: number | undefined = game.state.turn_deadline;
  if (game.state.status === 'timeout' && deadline === undefined) console.log(`${game.state.winner} wins on time`);
  if (deadline !== undefined) console.log(`${Math.ceil((deadline - client.serverNow()) / 1000)} s left`, client.clockOffsetMs);

  const frame = await client.request('room.join', { room: 'raw', since: '1-0' });
  if (frame.type === 'room.joined') console.log(frame.recovered);

  try {
    await game.move(4);
  } catch (error) {
    if (error instanceof ClientError && error.code === 'rate_limited') console.log(error.retryAfterMs);
  }

  await client.close();
}

async function misuse(client: Client, game: Game): Promise<void> {
  // @ts-expect-error a cell is a number
  await game.move('4');
  // @ts-expect-error no such event
  game.on('moved', () => {});
  // @ts-expect-error the listener of 'state' takes a GameState
  game.on('state', (state: string) => console.log(state));
  // @ts-expect-error room.say needs its fields
  await client.request('room.say', { room: 'x' });
  // @ts-expect-error vsBot is a boolean
  await client.createGame({ vsBot: 'yes' });
  // @ts-expect-error url must be a string or a list
  await connect({ url: 8080, name: 'x' });
  // @ts-expect-error mute takes a name
  await client.mute();
  // @ts-expect-error user.unmute needs its name
  await client.request('user.unmute', {});
  // @ts-expect-error no such status
  const status: GameStatus = 'expired';
  void status;
}

void quickStart;
void misuse;

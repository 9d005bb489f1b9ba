// Type declarations of tictac-chat-client (index.js). Checked with `tsc --noEmit` (see tsconfig.json and types-check.ts).

/** Error codes the server sends in `error` frames. */
export type ProtocolErrorCode =
  | 'bad_request'
  | 'not_found'
  | 'forbidden'
  | 'rate_limited'
  | 'not_your_turn'
  | 'cell_taken'
  | 'game_over'
  | 'game_full'
  | 'too_large'
  | 'unavailable'
  | 'limit_reached';

/** Error codes of the HTTP routes (`POST /token`, `GET /refresh_token`). */
export type HttpErrorCode = 'invalid_name' | 'session_not_found' | 'rate_limited' | 'bad_request';

/** The library's own error codes. */
export type LibraryErrorCode =
  /** No answer within `requestTimeoutMs` (or the request's `timeoutMs`); the bot's reply within `replyTimeoutMs`. */
  | 'timeout'
  /** The request waited for the connection longer than `queueTimeoutMs` (or too many were waiting); it was not sent. */
  | 'not_connected'
  /** The connection dropped after the request was sent and before its answer: it may or may not have been applied. */
  | 'connection_lost'
  /** The client was closed (`close()`). */
  | 'closed'
  /** The server no longer knows the token (close code 1008); the client is closed. */
  | 'session_expired'
  /** Every node refused another socket for this token (close code 4029); the client is closed. */
  | 'too_many_sockets'
  /** An operator disconnected this session (close code 4003, also while a ban lasts); the client is closed. */
  | 'disconnected'
  /** No connection could be made within `connectTimeoutMs` (connect only). */
  | 'connect_failed'
  /** A node could not be reached over HTTP. */
  | 'network'
  /** An answer of an unexpected type. */
  | 'bad_answer'
  | 'bad_url'
  | 'no_websocket'
  | 'no_fetch';

export type ErrorCode = ProtocolErrorCode | HttpErrorCode | LibraryErrorCode | (string & {});

/** Every failure the library reports: a refused request, a failed HTTP call, a lost connection, a timeout. */
export class ClientError extends Error {
  constructor(code: string, message: string, extra?: { retryAfterMs?: number; status?: number; frame?: object; cause?: unknown });
  readonly name: 'ClientError';
  /** The protocol's error code (`bad_request`, `not_your_turn`, …), an HTTP route's, or the library's own. */
  code: ErrorCode;
  /** With `rate_limited`: how long to wait before sending again, in ms. */
  retryAfterMs?: number;
  /** For an HTTP failure: the status. */
  status?: number;
  /** For a server's `error` frame: the frame. */
  frame?: ErrorFrame;
  static fromFrame(frame: ErrorFrame): ClientError;
}

export type Mark = 'X' | 'O';
/** `timeout`: the player to move let the turn clock run out; `winner` is the other seat. */
export type GameStatus = 'waiting' | 'playing' | 'won' | 'draw' | 'abandoned' | 'timeout';

/** The game object of `game.state`. */
export interface GameState {
  id: string;
  /** Nine cells, row by row: `X`, `O` or null. */
  board: (Mark | null)[];
  /** Whose turn it is; null unless `playing`. */
  next: Mark | null;
  players: { X: string | null; O: string | null };
  status: GameStatus;
  winner: Mark | null;
  /** The three winning cells. */
  line: [number, number, number] | null;
  /** Grows by one with each change. */
  version: number;
  vs_bot: boolean;
  /** In a game against the bot: the bot's seat. */
  bot?: Mark;
  /** The player who asked for a rematch, while the other has not yet. */
  rematch?: Mark;
  /** In a game between people: the player who left (or was gone longer than ABANDON_SECS). */
  left?: Mark;
  /**
   * In a game between people while `playing` with the turn clock on (the server's TURN_SECS, not 0): when the
   * player to move (`next`) must have moved, in ms since the Unix epoch (the server's clock); past it the game
   * ends `timeout`. Absent otherwise (waiting, over, against the bot, no clock).
   */
  turn_deadline?: number;
  /** The cell (0..8) of the latest move, once a move has been made since the board was last cleared (start, rematch). */
  last_move?: number;
}

/** A message of a room. */
export interface RoomMessage {
  room: string;
  /** A stream ID (`ms-seq`): IDs grow with time within a room (see {@link compareIds}). */
  id: string;
  from: string;
  text: string;
  /** RFC 3339 UTC. */
  timestamp: string;
}

/** The session document of `POST /token` and `GET /refresh_token`. */
export interface SessionDocument {
  token: string;
  name: string;
  session_start: string;
  messages: ChatMessage[];
  /** How many older messages were dropped (absent while none were). */
  dropped?: number;
  /** The names this session mutes, in the order they were muted. */
  muted: string[];
}

/** A message of the session's bot chat (`/refresh_token`'s `messages`). */
export interface ChatMessage {
  id: string;
  source: 'human' | 'bot';
  msg: string;
  timestamp: string;
  in_reply_to?: string | null;
}

/** A bot reply. */
export interface BotReply {
  id: string;
  msg: string;
  timestamp: string;
  /** The ID of the message it answers. */
  in_reply_to: string | null;
}

export interface PresenceEvent {
  room: string;
  joined?: string;
  left?: string;
  /** Names present after the change. */
  members: string[];
}

export interface RejoinedEvent {
  room: string;
  /** False when the server no longer had every message since the last one seen: some may be missing. */
  recovered: boolean;
  /** How many missed messages were delivered as `message` events. */
  missed: number;
}

export interface UnrecoveredEvent extends RejoinedEvent {
  recovered: false;
  /** The room. */
  target: Room;
}

export type ConnectionState = 'open' | 'reconnecting' | 'closed';

export interface ConnectionInfo {
  /** With `open`: the node's NODE_ID and the base URL it was reached through; with `reconnecting`, `url` is the one tried next. */
  node?: string;
  url?: string;
  /** With `reconnecting` and `closed`: the close code and reason (1006: the connection broke or could not be made). */
  code?: number;
  reason?: string;
  /** With `reconnecting`: the wait before the next attempt, and how many attempts failed in a row. */
  delayMs?: number;
  attempt?: number;
  /** With `closed`: why. */
  error?: ClientError;
}

// ---------------------------------------------------------------------------------------------- frames

export interface HelloFrame { type: 'hello'; node: string; name: string; session_start: string; server_time: number }
export interface AckFrame { type: 'ack'; ref?: string; id?: string }
export interface ErrorFrame { type: 'error'; ref?: string; code: ProtocolErrorCode; message: string; retry_after_ms?: number }
export interface GameStateFrame { type: 'game.state'; ref?: string; game: GameState }
export interface RoomJoinedFrame { type: 'room.joined'; ref?: string; room: string; members: string[]; member_count: number; history: RoomMessage[]; recovered: boolean }
export interface RoomMessageFrame extends RoomMessage { type: 'room.message'; ref?: string }
export interface RoomPresenceFrame { type: 'room.presence'; room: string; joined?: string; left?: string }
export interface RoomTypingFrame { type: 'room.typing'; room: string; name: string }
export interface RoomDeletedFrame { type: 'room.deleted'; room: string; id: string }
export interface BotReplyFrame { type: 'bot.reply'; id: string; msg: string; timestamp: string; in_reply_to: string | null }

/** Every frame the server sends on /ws. */
export type ServerFrame =
  | HelloFrame
  | AckFrame
  | ErrorFrame
  | GameStateFrame
  | RoomJoinedFrame
  | RoomMessageFrame
  | RoomPresenceFrame
  | RoomTypingFrame
  | RoomDeletedFrame
  | BotReplyFrame;

/** The requests of /ws and their fields (without `type` and `ref`). */
export interface RequestFields {
  'bot.say': { text: string };
  'room.join': { room: string; since?: string };
  'room.say': { room: string; text: string };
  'room.leave': { room: string };
  'game.create': { vs_bot?: boolean };
  'game.join': { game: string; play?: boolean; since?: string };
  'game.quick': Record<string, never>;
  'game.move': { game: string; cell: number };
  'game.rematch': { game: string };
  'game.leave': { game: string };
  'user.mute': { name: string };
  'user.unmute': { name: string };
}

// ---------------------------------------------------------------------------------------------- events

/** A minimal event emitter: `on` returns a function that removes the listener. */
export class Emitter<Events extends { [K in keyof Events]: (...args: any[]) => void }> {
  on<E extends keyof Events & string>(event: E, listener: Events[E]): () => void;
  once<E extends keyof Events & string>(event: E, listener: Events[E]): () => void;
  off<E extends keyof Events & string>(event: E, listener: Events[E]): void;
  listening(event: keyof Events & string): boolean;
}

export interface ClientEvents {
  /** `open` (also after a reconnect, once every room and game is back), `reconnecting` (once per attempt), `closed`. */
  connection: (state: ConnectionState, info: ConnectionInfo) => void;
  /** A room could not be recovered exactly after a reconnect. */
  unrecovered: (event: UnrecoveredEvent) => void;
  /** The server no longer knows the token (1008): the client is closed. */
  expired: (error: ClientError) => void;
  /** An operator disconnected this session (4003): the client is closed. */
  disconnected: (error: ClientError) => void;
  /** An error not tied to a request of the caller. */
  error: (error: ClientError) => void;
  /** Every frame received. */
  frame: (frame: ServerFrame) => void;
  /** The muted names changed (after `mute`, `unmute`, or a reconnect that found them changed elsewhere). */
  muted: (names: string[]) => void;
}

export interface JoinedEvent {
  room: string;
  /** Names present (in a large room, more than the server's `PRESENCE_MAX`, a part of them). */
  members: string[];
  /** How many are present. */
  memberCount: number;
  /** The room's recent messages, oldest first (also in `room.history`). */
  history: RoomMessage[];
}

export interface RoomEvents {
  /** The first `room.joined` arrived: `history` and `members` are set (a game's chat: after the game's promise resolved). */
  joined: (event: JoinedEvent) => void;
  /** Each message once, in order, across reconnects (this client's own included). */
  message: (message: RoomMessage) => void;
  presence: (event: PresenceEvent) => void;
  /** Another member is typing (show it for a few seconds). */
  typing: (event: { room: string; name: string }) => void;
  /** An operator deleted message `id`: it has left `history` (take it out of the view). */
  deleted: (event: { room: string; id: string }) => void;
  rejoined: (event: RejoinedEvent) => void;
  unrecovered: (event: RejoinedEvent) => void;
}

export interface GameEvents {
  /** Each newer version once, in order (after a reconnect, the newest only: a state supersedes the earlier ones). */
  state: (state: GameState) => void;
  /** The game no longer exists on the server (found after a reconnect). */
  gone: (error: ClientError) => void;
}

export interface BotEvents {
  /** Each reply to this session once, in order, including those that came while reconnecting. */
  reply: (reply: BotReply) => void;
}

// ---------------------------------------------------------------------------------------------- API

/** A WebSocket constructor: the browser's, Node 22's, or the `ws` package's. */
export interface WebSocketConstructor {
  new (url: string, protocols?: string | string[]): WebSocketLike;
}

export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: { data: any }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type FetchLike = (input: string, init?: any) => Promise<{ ok: boolean; status: number; json(): Promise<any> }>;

export interface ConnectOptions {
  /** A node's or balancer's base URL (`http(s)://` or `ws(s)://`, with an optional path), or a list tried in turn. In a browser it defaults to the page's origin. */
  url?: string | string[];
  /** The same as `url`, as a list. */
  urls?: string[];
  /** A new session with this name (1 to 32 characters) … */
  name?: string;
  /** … or the existing session of this token. */
  token?: string;
  /** Where there is no global WebSocket (Node 20): e.g. `import WebSocket from 'ws'`. */
  WebSocket?: WebSocketConstructor;
  /** Default: the global fetch. */
  fetch?: FetchLike;
  /** Time for the answer to a sent request (default 10,000 ms). */
  requestTimeoutMs?: number;
  /** How long a request made while reconnecting waits for the connection before `not_connected` (default 15,000 ms). */
  queueTimeoutMs?: number;
  /** Time for the bot's reply after the server's ack (default 30,000 ms). */
  replyTimeoutMs?: number;
  /** Time for connect() to get a connection, and for each attempt to get the node's hello (default 15,000 ms). */
  connectTimeoutMs?: number;
  /** Backoff between attempts: a random delay up to min(reconnectMaxMs, reconnectBaseMs × 2^attempt) (defaults 300 and 10,000 ms). */
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
  /** Requests that may wait for the connection at once (default 1,000). */
  maxQueued?: number;
  /** Messages kept in each room's `history` (default 1,000; 0: all). */
  historyLimit?: number;
  /** Frames larger than this many bytes are refused with `too_large` before they are sent (default 16,384, the server's default MAX_FRAME_BYTES; 0: no check). */
  maxFrameBytes?: number;
  /** How often a rejoin after a reconnect is retried after `rate_limited` (default 5). */
  resyncRetries?: number;
}

/** Connects: a new session (`name`) or an existing one (`token`), then the WebSocket; resolves once the node's hello has arrived. */
export function connect(options: ConnectOptions): Promise<Client>;

export class Client extends Emitter<ClientEvents> {
  constructor(options: ConnectOptions);
  /** This session's name. */
  readonly name: string;
  /** This session's token: `connect({url, token})` resumes the session (its games' seats, its bot history). */
  readonly token: string;
  /** When the session started (RFC 3339). */
  readonly sessionStart: string;
  readonly state: 'connecting' | ConnectionState;
  /** The NODE_ID of the node the socket is on. */
  readonly node: string | null;
  /** How far the server's clock is ahead of this machine's, in ms (from the node's `hello`; 0 before one). */
  readonly clockOffsetMs: number;
  /** The time now on the server's clock (ms since the Unix epoch): what a game's `turn_deadline` is compared with. */
  serverNow(): number;
  /** The base URL of the node the socket is on. */
  readonly url: string | null;
  readonly bot: Bot;
  /** Rooms joined, by name (games' chats included). */
  readonly rooms: Map<string, Room>;
  /** Games played or watched, by ID. */
  readonly games: Map<string, Game>;
  /** The names this session mutes, in the order they were muted (the session document's `muted`). */
  readonly muted: string[];

  /** Joins a room (1 to 64 letters, digits and `:_-.`); resolves after `room.joined`. */
  joinRoom(name: string): Promise<Room>;
  /** Creates a game; this client is X. */
  createGame(options?: { vsBot?: boolean }): Promise<Game>;
  /**
   * Opens a game: its free seat or this player's own seat, else watching. `play: true`: a seat only
   * (`game_full`/`game_over` otherwise); `play: false`: watching (a player still gets its seat back).
   */
  joinGame(id: string, options?: { play?: boolean }): Promise<Game>;
  /** Quick match: paired with a waiting player, or waits (as X) for the next. */
  quickMatch(): Promise<Game>;
  /**
   * Mutes `name` for this session (every socket of the token, every node, after reconnects too): its room
   * messages and typing no longer arrive, and room histories leave its messages out. Resolves with the muted
   * names once acknowledged; `bad_request` (not a valid name, or this session's own), `limit_reached` (MUTE_MAX).
   */
  mute(name: string): Promise<string[]>;
  /** Unmutes `name`; resolves with the muted names once acknowledged. */
  unmute(name: string): Promise<string[]>;
  /** Any request; resolves with the frame that answers it. */
  request<T extends keyof RequestFields>(type: T, fields?: RequestFields[T], options?: { timeoutMs?: number }): Promise<ServerFrame>;
  /** Closes the connection for good. */
  close(): Promise<void>;
}

export class Bot extends Emitter<BotEvents> {
  /** The session's messages, as of the last fetch (at connect, after each reconnect), then those seen since. */
  readonly history: ChatMessage[];
  /**
   * Sends a message to the bot; resolves with its reply. `onAck` is called once the server has stored the
   * message (before its reply is delivered), with the message's ID.
   */
  say(text: string, options?: { onAck?: (message: { id: string; msg: string; timestamp: string }) => void }): Promise<BotReply>;
}

export class Room extends Emitter<RoomEvents> {
  readonly name: string;
  /** The game whose chat this is, or null. */
  readonly game: Game | null;
  /** Names present, as of the last `room.joined` and `room.presence` (in a large room, a part of them). */
  readonly members: string[];
  /** How many are present (in a large room, as of the last join: its arrivals and departures are not announced). */
  readonly memberCount: number;
  /** The messages seen, oldest first (the history at join, then each delivered; at most `historyLimit`). */
  readonly history: RoomMessage[];
  /** The ID of the last message seen. */
  readonly lastId: string | null;
  readonly joined: boolean;
  readonly left: boolean;
  /** Says `text`; resolves with the stored message. */
  say(text: string): Promise<RoomMessage>;
  /** Tells the other members this user is typing (not answered; throttled by the server). */
  typing(): void;
  leave(): Promise<void>;
}

export class Game extends Emitter<GameEvents> {
  readonly id: string;
  readonly role: 'player' | 'spectator';
  /** The last state seen. */
  readonly state: GameState;
  /** This client's seat, or null for a spectator. */
  readonly seat: Mark | null;
  /** The game's chat (`game:ID`). */
  readonly room: Room;
  readonly left: boolean;
  readonly version: number;
  readonly over: boolean;
  readonly myTurn: boolean;
  /** Plays a cell (0..8); resolves with the new state. */
  move(cell: number): Promise<GameState>;
  /** Resolves with the fresh game once the rematch starts, or null while the other player has yet to ask. */
  rematch(): Promise<GameState | null>;
  /** Leaves the game and its chat; resolves with the new state, or null when leaving changed nothing. */
  leave(): Promise<GameState | null>;
  /** Says `text` in the game's chat. */
  say(text: string): Promise<RoomMessage>;
}

/** The room of a game's chat: `game:ID`. */
export function gameRoom(id: string): string;

/** Orders room message IDs: negative when `a` comes first. */
export function compareIds(a: string, b: string): number;

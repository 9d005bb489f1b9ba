// The client: a session (POST /token or an existing token), one /ws connection that survives drops (reconnects with
// exponential backoff and full jitter, through the next URL of the list), requests matched to answers by `ref`, and
// after each reconnect every room and game joined again with `since` so that what was missed arrives once, in order.

import { Bot } from './bot.js';
import { Emitter } from './emitter.js';
import { ClientError } from './errors.js';
import { FINISHED, Game, gameRoom } from './game.js';
import { createSession, nodeUrl, refreshSession, retryElsewhere } from './http.js';
import { Room, roomMessage } from './room.js';

const DEFAULTS = {
  requestTimeoutMs: 10_000,
  queueTimeoutMs: 15_000,
  replyTimeoutMs: 30_000,
  connectTimeoutMs: 15_000,
  reconnectBaseMs: 300,
  reconnectMaxMs: 10_000,
  maxQueued: 1000,
  historyLimit: 1000,
  maxFrameBytes: 16 * 1024,
  resyncRetries: 5,
};

/** WebSocket close codes with a meaning of their own (see the server's README). */
const CLOSE = {
  POLICY: 1008, // missing, unknown or expired token: never retried
  TOO_BIG: 1009, // a frame too large to read
  TOO_MANY_SOCKETS: 4029, // the token's sockets on that node are at the limit
  DISCONNECTED: 4003, // an operator disconnected this token or its name (and may have banned it): never retried
};

/** A connection open this long counts as stable: the backoff starts over when it drops. */
const STABLE_MS = 5_000;
const encoder = new TextEncoder();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Connects: a new session for `name` (or the existing session of `token`), then the /ws connection.
 * Resolves with the {@link Client} once the server's `hello` has arrived; rejects with a {@link ClientError}.
 */
export async function connect(options = {}) {
  const client = new Client(options);
  await client._start();
  return client;
}

/**
 * Events:
 * - `connection` (state, info): `open` (info: `{node, url}`), `reconnecting` (`{code, reason, delayMs, attempt, url}`,
 *   once per attempt; `url`: the node tried next)
 *   or `closed` (`{code, reason, error?}`); `open` comes after a reconnect only once every room and game has been
 *   joined again and the missed messages delivered;
 * - `unrecovered` ({room, recovered: false, missed, target}): a room could not be recovered exactly after a reconnect;
 * - `expired` (error): the server no longer knows the token (close code 1008); the client is closed;
 * - `disconnected` (error): an operator disconnected this session (close code 4003, also while a ban lasts);
 *   the client is closed;
 * - `error` (error): an error not tied to a request of the caller (an `error` frame without a known `ref`, a
 *   failed rejoin);
 * - `muted` (names): the names this session mutes changed (`mute`, `unmute`, or the session document fetched
 *   again after a reconnect says so);
 * - `frame` (frame): every frame received, parsed (for logs and debugging).
 */
export class Client extends Emitter {
  constructor(options = {}) {
    super();
    const urls = [options.urls ?? options.url ?? globalThis.location?.origin].flat().filter(Boolean);
    if (urls.length === 0) throw new ClientError('bad_url', 'connect needs url (a node or balancer URL, or a list of them)');
    this._nodes = urls.map(nodeUrl);
    this._options = { ...DEFAULTS };
    for (const key of Object.keys(DEFAULTS)) if (options[key] !== undefined) this._options[key] = options[key];
    this._WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this._WebSocket !== 'function') {
      throw new ClientError('no_websocket', 'no global WebSocket here: pass one, e.g. connect({url, name, WebSocket}) with the ws package');
    }
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') throw new ClientError('no_fetch', 'no global fetch here: pass one as the fetch option');
    this._fetch = (...args) => fetchImpl(...args);
    if (options.token === undefined && options.name === undefined) throw new ClientError('bad_request', 'connect needs a name (new session) or a token (existing session)');
    this._wanted = { name: options.name, token: options.token };

    /** This session's name. */
    this.name = options.name ?? null;
    /** This session's token: pass it as `token` to connect again as the same player. */
    this.token = options.token ?? null;
    /** When the session started (RFC 3339). */
    this.sessionStart = null;
    /** `connecting`, `open`, `reconnecting` or `closed`. */
    this.state = 'connecting';
    /** The NODE_ID of the node the socket is on (from its `hello`). */
    this.node = null;
    /**
     * How far the server's clock is ahead of this machine's, in ms (from the last `hello`'s `server_time`; 0
     * before one, or from a node that does not send it): see {@link Client#serverNow}.
     */
    this.clockOffsetMs = 0;
    /** The base URL of the node the socket is on. */
    this.url = null;
    /** The bot chat. */
    this.bot = new Bot(this);
    /** @type {Map<string, Room>} rooms joined, by name (games' chats included) */
    this.rooms = new Map();
    /** @type {Map<string, Game>} games played or watched, by ID */
    this.games = new Map();
    /** @type {string[]} the names this session mutes, in the order they were muted (the session's `muted`) */
    this.muted = [];

    this._socket = null;
    this._hello = false;
    this._nodeIndex = 0;
    this._attempt = 0;
    this._helloAt = 0;
    this._refusedSockets = 0;
    this._retryTimer = null;
    this._helloTimer = null;
    this._nextRef = 1;
    this._pending = new Map();
    this._queue = [];
    this._received = 0; // frames (and pings) received, to tell a silent node
    this._lastSent = null;
    this._opened = null; // {resolve, reject} of the first connection
  }

  // ---------------------------------------------------------------- public API

  /** Joins `name` (1–64 letters, digits and `:_-.`); resolves with the {@link Room} after `room.joined`. */
  async joinRoom(name) {
    let room = this.rooms.get(name);
    const known = !!room && !room.left;
    if (!known) room = new Room(this, name);
    const fields = { room: name };
    if (room.lastId) fields.since = room.lastId;
    room._since = room.lastId;
    return this._send('room.join', fields, {
      onFrame: (frame) => {
        this._expect(frame, 'room.joined');
        if (!this.rooms.has(name) || this.rooms.get(name).left) this.rooms.set(name, room);
        room = this.rooms.get(name);
        room._joined(frame);
        return room;
      },
    });
  }

  /** Creates a game (`vsBot`: against the bot); this client is X. Resolves with the {@link Game}. */
  createGame({ vsBot = false } = {}) {
    return this._send('game.create', { vs_bot: !!vsBot }, {
      onFrame: (frame) => this._adopt(this._expect(frame, 'game.state').game, 'player', 'X'),
    });
  }

  /**
   * Opens game `id`: its free seat or this player's own seat, else watching it. `play: true` takes a seat
   * only (`game_full` or `game_over` otherwise); `play: false` watches (a player still gets its seat back).
   */
  async joinGame(id, { play } = {}) {
    if (play === false) return this._joinGame(id, false, null);
    try {
      return await this._joinGame(id, true, 'player');
    } catch (error) {
      if (play === true || (error.code !== 'game_full' && error.code !== 'game_over')) throw error;
      // No seat for this token there: watching (whatever the names of the players).
      return this._joinGame(id, false, 'spectator');
    }
  }

  /** Quick match: paired with a waiting player (any node), or waits as X for the next one. Resolves with the {@link Game}. */
  quickMatch() {
    return this._send('game.quick', {}, {
      onFrame: (frame) => {
        const state = this._expect(frame, 'game.state').game;
        return this._adopt(state, 'player', state.status === 'waiting' ? 'X' : 'O');
      },
    });
  }

  /**
   * Mutes `name` for this session (every socket of its token, on every node, also after reconnects): the
   * server no longer sends its room messages and typing indicators, and leaves its messages out of room
   * histories. Resolves with the muted names once the server has acknowledged (muting a name already muted
   * changes nothing); rejects with `bad_request` (not a valid name, or this session's own), `limit_reached`
   * (MUTE_MAX names muted already), …
   */
  mute(name) {
    // The server trims a name, as it does a session's.
    const kept = typeof name === 'string' ? name.trim() : name;
    return this._send('user.mute', { name }, {
      onFrame: (frame) => {
        this._expect(frame, 'ack');
        if (!this.muted.includes(kept)) this._setMuted([...this.muted, kept]);
        return [...this.muted];
      },
    });
  }

  /** Unmutes `name`: what it says arrives again from now on. Resolves with the muted names once acknowledged. */
  unmute(name) {
    const kept = typeof name === 'string' ? name.trim() : name;
    return this._send('user.unmute', { name }, {
      onFrame: (frame) => {
        this._expect(frame, 'ack');
        if (this.muted.includes(kept)) this._setMuted(this.muted.filter((n) => n !== kept));
        return [...this.muted];
      },
    });
  }

  /**
   * Sends any request (`type` and its fields, without `ref`); resolves with the frame that answers it,
   * rejects with a {@link ClientError}. Frames it brings are applied to rooms and games as usual.
   */
  request(type, fields = {}, { timeoutMs } = {}) {
    return this._send(type, fields, { timeoutMs });
  }

  /** Closes the connection for good: pending requests fail with `closed`. */
  async close() {
    if (this.state === 'closed') return;
    const socket = this._socket;
    this._terminate(new ClientError('closed', 'the client was closed'), { code: 1000, reason: 'closed by the client' });
    if (socket && socket.readyState !== 3) {
      const closed = new Promise((resolve) => {
        socket.onclose = resolve;
        setTimeout(resolve, 1000);
      });
      try { socket.close(1000, 'bye'); } catch { /* already closing */ }
      await closed;
    }
  }

  // ---------------------------------------------------------------- session and connection

  async _start() {
    let doc = null;
    if (this._wanted.token === undefined) {
      doc = await this._http((base) => createSession(this._fetch, base, this._wanted.name));
    } else {
      doc = await this._http((base) => refreshSession(this._fetch, base, this._wanted.token));
    }
    this.token = doc.token ?? this._wanted.token;
    this.name = doc.name;
    this.sessionStart = doc.session_start;
    this.muted = Array.isArray(doc.muted) ? [...doc.muted] : [];
    this.bot._start(doc.messages ?? []);
    const opened = new Promise((resolve, reject) => { this._opened = { resolve, reject }; });
    const deadline = setTimeout(() => {
      const error = new ClientError('connect_failed', `no connection within ${this._options.connectTimeoutMs} ms${this._lastClose ? ` (last close: ${this._lastClose})` : ''}`);
      this._terminate(error, { code: 1006, reason: error.message });
    }, this._options.connectTimeoutMs);
    this._open();
    try {
      await opened;
    } finally {
      clearTimeout(deadline);
    }
  }

  /** Runs an HTTP call on each node in turn until one answers (an unreachable node or its 5xx: the next). */
  async _http(call) {
    let last;
    for (let i = 0; i < this._nodes.length; i += 1) {
      const index = (this._nodeIndex + i) % this._nodes.length;
      try {
        const result = await call(this._nodes[index].http);
        return result;
      } catch (error) {
        last = error;
        if (!retryElsewhere(error)) throw error;
      }
    }
    throw last;
  }

  /** The session document again (the bot history, the muted names), from the node the socket is on first. */
  async _refresh() {
    const doc = await this._http((base) => refreshSession(this._fetch, base, this.token));
    if (Array.isArray(doc?.muted)) this._setMuted(doc.muted);
    return doc;
  }

  /** The muted names are now `names`: kept, and told (`muted`) when they changed. */
  _setMuted(names) {
    const same = names.length === this.muted.length && names.every((n, i) => n === this.muted[i]);
    if (same) return;
    this.muted = [...names];
    this.emit('muted', [...this.muted]);
  }

  _open() {
    this._retryTimer = null;
    if (this.state === 'closed') return;
    const node = this._nodes[this._nodeIndex % this._nodes.length];
    const url = `${node.ws}/ws?token=${encodeURIComponent(this.token)}`;
    let socket;
    try {
      socket = new this._WebSocket(url);
    } catch (error) {
      this._lost(null, 1006, String(error?.message ?? error));
      return;
    }
    this._socket = socket;
    this._hello = false;
    this.url = node.http;
    socket.onmessage = (event) => this._data(socket, event.data);
    socket.onclose = (event) => this._closed(socket, event.code, event.reason);
    socket.onerror = () => {};
    // The ws package shows the server's pings; a browser's WebSocket does not (nor need to).
    if (typeof socket.on === 'function') socket.on('ping', () => { if (socket === this._socket) this._received += 1; });
    // A node that accepts the connection but never says hello is as good as down.
    this._helloTimer = setTimeout(() => {
      if (socket === this._socket && !this._hello) this._drop(socket, 'no hello from the node');
    }, this._options.connectTimeoutMs);
  }

  /** Gives up on `socket` now (a node that went silent): as if it had closed. */
  _drop(socket, reason) {
    socket.onmessage = null;
    socket.onclose = null;
    try {
      if (typeof socket.terminate === 'function') socket.terminate();
      else socket.close(4000, reason);
    } catch { /* gone already */ }
    this._closed(socket, 1006, reason);
  }

  _closed(socket, code, reason) {
    if (socket !== this._socket) return;
    this._lost(socket, code, reason);
  }

  /** The socket is gone (or could not be made): fail what was in flight, then reconnect unless that is pointless. */
  _lost(socket, code, reason) {
    // A connection that lasted is followed by a quick retry; one that dies right after its hello (a node
    // failing over and over) keeps backing off.
    if (socket && this._hello && Date.now() - this._helloAt >= STABLE_MS) this._attempt = 0;
    this._socket = null;
    this._hello = false;
    clearTimeout(this._helloTimer);
    this._lastClose = `${code}${reason ? ` ${reason}` : ''}`;
    if (this.state === 'closed') return;
    for (const request of [...this._pending.values()]) {
      if (request.socket !== socket) continue;
      let error;
      if (code === CLOSE.TOO_BIG && request === this._lastSent) {
        error = new ClientError('too_large', `the node closed the connection (1009): the ${request.type} frame was too large to read`);
      } else {
        error = new ClientError('connection_lost', `the connection was lost before ${request.type} was answered; it may or may not have been applied`);
      }
      this._settle(request, error);
    }
    if (code === CLOSE.POLICY) {
      const error = new ClientError('session_expired', `the server does not know this token (1008${reason ? `: ${reason}` : ''}); connect with a name for a new session`);
      this._terminate(error, { code, reason });
      this.emit('expired', error);
      return;
    }
    if (code === CLOSE.DISCONNECTED) {
      // An operator's decision: a reconnect would be refused the same way while a ban lasts, and undo the
      // disconnect otherwise.
      const error = new ClientError('disconnected', `an operator disconnected this session (4003${reason ? `: ${reason}` : ''})`);
      this._terminate(error, { code, reason });
      this.emit('disconnected', error);
      return;
    }
    if (code === CLOSE.TOO_MANY_SOCKETS) {
      // That node holds as many sockets of this token as it allows: try the others, but do not hammer them.
      this._refusedSockets += 1;
      if (this._refusedSockets >= this._nodes.length) {
        const error = new ClientError('too_many_sockets', `every node refused another socket for this token (4029${reason ? `: ${reason}` : ''}); close other clients of the token first`);
        this._terminate(error, { code, reason });
        return;
      }
    }
    this._nodeIndex = (this._nodeIndex + 1) % this._nodes.length;
    const ceiling = Math.min(this._options.reconnectMaxMs, this._options.reconnectBaseMs * 2 ** Math.min(this._attempt, 30));
    const delayMs = Math.round(Math.random() * ceiling); // full jitter
    this._attempt += 1;
    const next = this._nodes[this._nodeIndex].http;
    if (this.state !== 'connecting') this._setState('reconnecting', { code, reason, delayMs, attempt: this._attempt, url: next });
    this._retryTimer = setTimeout(() => this._open(), delayMs);
  }

  _data(socket, data) {
    if (socket !== this._socket) return;
    this._received += 1;
    let frame;
    try {
      frame = JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data));
    } catch {
      return;
    }
    if (!frame || typeof frame !== 'object') return;
    this.emit('frame', frame);
    if (frame.type === 'hello') {
      this._helloFrom(socket, frame);
      return;
    }
    const request = typeof frame.ref === 'string' ? this._pending.get(frame.ref) : undefined;
    if (frame.type === 'error') {
      const error = ClientError.fromFrame(frame);
      const owner = request ?? (frame.ref === undefined ? this._ownerOfUnreferenced(frame) : undefined);
      if (owner) this._settle(owner, error);
      else this.emit('error', error);
      return;
    }
    if (request) {
      this._pending.delete(request.ref);
      clearTimeout(request.timer);
      let result;
      try {
        result = request.onFrame ? request.onFrame(frame) : this._route(frame) ?? frame;
      } catch (error) {
        request.reject(error);
        return;
      }
      request.resolve(result);
      return;
    }
    this._route(frame);
  }

  /**
   * An `error` without `ref`: the server sends `too_large` without one for a frame over MAX_FRAME_BYTES (it
   * does not read such a frame). It answers the largest frame in flight on this socket.
   */
  _ownerOfUnreferenced(frame) {
    if (frame.code !== 'too_large') return undefined;
    let owner;
    for (const request of this._pending.values()) {
      if (request.socket === this._socket && (!owner || request.bytes > owner.bytes)) owner = request;
    }
    return owner;
  }

  /**
   * The time now on the server's clock (ms since the Unix epoch), as this machine's clock corrected by the
   * node's `hello`: what a game's `turn_deadline` is compared with. Off by the time the `hello` took to arrive.
   */
  serverNow() {
    return Date.now() + this.clockOffsetMs;
  }

  async _helloFrom(socket, frame) {
    clearTimeout(this._helloTimer);
    this._hello = true;
    this._helloAt = Date.now();
    this._refusedSockets = 0;
    this.node = frame.node;
    if (Number.isFinite(frame.server_time)) this.clockOffsetMs = frame.server_time - this._helloAt;
    if (frame.name) this.name = frame.name;
    const first = this.state === 'connecting';
    if (!first) {
      await this._resync(socket);
    } else if (this._wanted.token !== undefined) {
      // Replies that came between the session fetch and this hello.
      await this.bot._catchUp().catch((error) => this.emit('error', error));
    }
    if (socket !== this._socket || this.state === 'closed') return;
    this._setState('open', { node: this.node, url: this.url });
    if (first) this._opened?.resolve();
    this._flush();
  }

  /** After a reconnect: every game and room again (with `since`), the bot's missed replies; then queued requests. */
  async _resync(socket) {
    const tasks = [];
    for (const game of [...this.games.values()]) if (!game._leaving) tasks.push(this._rejoinGame(game, socket));
    for (const room of [...this.rooms.values()]) if (!room.game && !room._leaving) tasks.push(this._rejoinRoom(room, socket));
    tasks.push(this.bot._catchUp().catch((error) => {
      if (socket === this._socket) this.emit('error', error);
    }));
    await Promise.all(tasks);
  }

  /** A resync request: sent at once (not queued), retried after `rate_limited`. */
  async _resyncRequest(socket, type, fields, onFrame) {
    for (let tries = 0; ; tries += 1) {
      if (socket !== this._socket) throw new ClientError('connection_lost', 'the connection was lost again');
      try {
        return await this._send(type, fields, { onFrame, internal: true });
      } catch (error) {
        if (error.code !== 'rate_limited' || tries >= this._options.resyncRetries) throw error;
        await sleep(error.retryAfterMs ?? 1000);
      }
    }
  }

  async _rejoinGame(game, socket) {
    const fields = { game: game.id };
    const room = game.room;
    if (room?.lastId) fields.since = room.lastId;
    if (room) room._since = room.lastId;
    try {
      await this._resyncRequest(socket, 'game.join', fields, (frame) => {
        game._apply(this._expect(frame, 'game.state').game);
        return frame;
      });
    } catch (error) {
      if (error.code === 'not_found') {
        this._forgetGame(game);
        game.emit('gone', error);
      } else if (socket === this._socket && error.code !== 'connection_lost') {
        this.emit('error', error);
      }
    }
  }

  async _rejoinRoom(room, socket) {
    const fields = { room: room.name };
    if (room.lastId) fields.since = room.lastId;
    room._since = room.lastId;
    try {
      await this._resyncRequest(socket, 'room.join', fields, (frame) => {
        room._joined(this._expect(frame, 'room.joined'));
        return frame;
      });
    } catch (error) {
      if (socket === this._socket && error.code !== 'connection_lost') this.emit('error', error);
    }
  }

  _setState(state, info = {}) {
    if (this.state === state && state !== 'reconnecting') return;
    this.state = state;
    this.emit('connection', state, info);
  }

  /** The end: no more reconnects; everything waiting fails with `error`. */
  _terminate(error, info) {
    if (this.state === 'closed') return;
    const wasConnecting = this.state === 'connecting';
    clearTimeout(this._retryTimer);
    clearTimeout(this._helloTimer);
    const socket = this._socket;
    this._socket = null;
    if (socket) {
      socket.onmessage = null;
      if (info.code !== 1000) {
        socket.onclose = null;
        try { socket.close(1000); } catch { /* gone */ }
      }
    }
    this.state = 'closed';
    for (const request of [...this._pending.values()]) this._settle(request, error);
    for (const request of this._queue.splice(0)) {
      clearTimeout(request.timer);
      request.reject(error);
    }
    this.bot._close(error);
    this.emit('connection', 'closed', { ...info, error });
    if (wasConnecting) this._opened?.reject(error);
  }

  // ---------------------------------------------------------------- requests

  /**
   * Sends a request when the connection is open; while it is reconnecting the request waits (up to
   * `queueTimeoutMs`, then `not_connected`). `onFrame(frame)` turns the answer into the result (it runs
   * before any later frame is handled); `internal` requests (the resync) go out before the client is open.
   */
  _send(type, fields = {}, { onFrame, internal = false, timeoutMs } = {}) {
    if (this.state === 'closed') return Promise.reject(new ClientError('closed', 'the client is closed'));
    return new Promise((resolve, reject) => {
      const request = { type, fields, onFrame, internal, resolve, reject, timeoutMs: timeoutMs ?? this._options.requestTimeoutMs };
      if (this._socket && this._hello && (internal || this.state === 'open')) {
        this._transmit(request);
        return;
      }
      if (internal) {
        reject(new ClientError('connection_lost', 'not connected'));
        return;
      }
      if (this._queue.length >= this._options.maxQueued) {
        reject(new ClientError('not_connected', `not connected, and ${this._queue.length} requests already wait`));
        return;
      }
      request.timer = setTimeout(() => {
        const index = this._queue.indexOf(request);
        if (index >= 0) this._queue.splice(index, 1);
        reject(new ClientError('not_connected', `not connected for ${this._options.queueTimeoutMs} ms; ${type} was not sent`));
      }, this._options.queueTimeoutMs);
      this._queue.push(request);
    });
  }

  _flush() {
    for (const request of this._queue.splice(0)) {
      clearTimeout(request.timer);
      if (this._socket && this._hello && this.state === 'open') this._transmit(request);
      else this._queue.push(request);
    }
  }

  _transmit(request) {
    const ref = String(this._nextRef++);
    const text = JSON.stringify({ ...request.fields, type: request.type, ref });
    const bytes = encoder.encode(text).length;
    const most = this._options.maxFrameBytes;
    if (most > 0 && bytes > most) {
      request.reject(new ClientError('too_large', `the ${request.type} frame has ${bytes} bytes; the server takes at most ${most}`));
      return;
    }
    request.ref = ref;
    request.bytes = bytes;
    request.socket = this._socket;
    request.receivedBefore = this._received;
    this._pending.set(ref, request);
    request.timer = setTimeout(() => this._timedOut(request), request.timeoutMs);
    try {
      this._socket.send(text);
      this._lastSent = request;
    } catch (error) {
      this._settle(request, new ClientError('connection_lost', `sending ${request.type} failed: ${error?.message ?? error}`));
    }
  }

  _timedOut(request) {
    if (this._pending.get(request.ref) !== request) return;
    this._settle(request, new ClientError('timeout', `no answer to ${request.type} within ${request.timeoutMs} ms`));
    // Nothing at all from the node since the request went out, for a second or more (not even a ping the
    // socket could show): the node or the path to it is gone without closing the connection.
    const socket = this._socket;
    if (socket && socket === request.socket && request.timeoutMs >= 1000 && this._received === request.receivedBefore) {
      this._drop(socket, 'the node went silent');
    }
  }

  _settle(request, error) {
    this._pending.delete(request.ref);
    clearTimeout(request.timer);
    request.reject(error);
  }

  _expect(frame, type) {
    if (frame.type !== type) throw new ClientError('bad_answer', `expected ${type}, got ${frame.type}`, { frame });
    return frame;
  }

  // ---------------------------------------------------------------- frames without a request

  /** Applies a frame to its room, game or the bot. */
  _route(frame) {
    switch (frame.type) {
      case 'game.state': {
        const game = this.games.get(frame.game?.id);
        if (game) game._apply(frame.game);
        return frame;
      }
      case 'room.joined': {
        const room = this.rooms.get(frame.room);
        if (room && !room.left) room._joined(frame);
        return frame;
      }
      case 'room.message':
        this.rooms.get(frame.room)?._deliver(frame);
        return frame;
      case 'room.presence':
        this.rooms.get(frame.room)?._presence(frame);
        return frame;
      case 'room.typing':
        this.rooms.get(frame.room)?._typing(frame);
        return frame;
      case 'room.deleted':
        this.rooms.get(frame.room)?._deleted(frame);
        return frame;
      case 'bot.reply':
        this.bot._reply(frame);
        return frame;
      default:
        return frame;
    }
  }

  // ---------------------------------------------------------------- rooms and games

  _sendTyping(room) {
    if (room.left || this.state !== 'open' || !this._socket) return;
    try {
      this._socket.send(JSON.stringify({ type: 'room.typing', room: room.name }));
    } catch {
      // A typing indicator is not worth a retry.
    }
  }

  _roomSay(room, text) {
    if (!room) return Promise.reject(new ClientError('forbidden', 'not in that room'));
    return this._send('room.say', { room: room.name, text }, {
      onFrame: (frame) => {
        this._expect(frame, 'room.message');
        room._deliver(frame);
        return roomMessage(frame);
      },
    });
  }

  async _roomLeave(room) {
    room._leaving = true;
    try {
      await this._send('room.leave', { room: room.name });
    } catch (error) {
      room._leaving = false;
      throw error;
    }
    room.left = true;
    if (this.rooms.get(room.name) === room) this.rooms.delete(room.name);
  }

  /** `game.join`; `role` when known, else found by name (a player watching gets its seat back). */
  _joinGame(id, play, role) {
    const known = this.games.get(id);
    const fields = { game: id };
    if (play) fields.play = true;
    const room = known?.room;
    if (room?.lastId) fields.since = room.lastId;
    if (room) room._since = room.lastId;
    return this._send('game.join', fields, {
      onFrame: (frame) => {
        const state = this._expect(frame, 'game.state').game;
        const before = known?.state;
        // A seat taken now is O (X created the game); a seat given back is found by name.
        const took = play && (!before || before.version < state.version) && state.status === 'playing' && state.version === 2;
        return this._adopt(state, role ?? this._roleByName(state, known), took ? 'O' : null);
      },
    });
  }

  _roleByName(state, known) {
    if (known?.role === 'player') return 'player';
    const mine = ['X', 'O'].some((m) => state.players?.[m] === this.name && !(state.vs_bot && state.bot === m));
    return mine ? 'player' : 'spectator';
  }

  /** A game this client is now in (created, joined, matched): tracked, with its chat room. */
  _adopt(state, role, hint) {
    let game = this.games.get(state.id);
    if (!game || game.left) {
      game = new Game(this, state.id, role);
      this.games.set(state.id, game);
    }
    game.role = role;
    const name = gameRoom(state.id);
    let room = this.rooms.get(name);
    if (!room || room.left) {
      room = new Room(this, name, game);
      this.rooms.set(name, room);
    }
    room.game = game;
    game.room = room;
    if (!game._apply(state, hint)) game._seatFrom(game.state, hint);
    if (role === 'player') this._moveOn(game);
    return game;
  }

  /**
   * As the server does: a socket that takes a seat stops following the finished games it sat in (and
   * their chats), so they are not joined again after a reconnect either.
   */
  _moveOn(current) {
    for (const game of [...this.games.values()]) {
      if (game !== current && game.role === 'player' && game.state && FINISHED.has(game.state.status)) this._forgetGame(game);
    }
  }

  _forgetGame(game) {
    game.left = true;
    if (this.games.get(game.id) === game) this.games.delete(game.id);
    const room = game.room;
    if (room && this.rooms.get(room.name) === room) {
      room.left = true;
      this.rooms.delete(room.name);
    }
  }

  _gameRequest(game, type, fields) {
    return this._send(type, { game: game.id, ...fields }, {
      onFrame: (frame) => {
        if (frame.type === 'ack') return null;
        const state = this._expect(frame, 'game.state').game;
        game._apply(state);
        return state;
      },
    });
  }

  async _gameLeave(game) {
    game._leaving = true;
    let result;
    try {
      result = await this._gameRequest(game, 'game.leave', {});
    } catch (error) {
      game._leaving = false;
      throw error;
    }
    this._forgetGame(game);
    if (game.room) {
      try {
        await this._send('room.leave', { room: game.room.name });
      } catch {
        // The game is left; its chat goes when the socket does.
      }
    }
    return result;
  }
}

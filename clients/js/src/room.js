// A chat room between people (also a game's chat, `game:ID`): members, history, messages in order and once each.

import { Emitter } from './emitter.js';
import { compareIds } from './ids.js';

/** How many messages `room.joined` carries without `since` (the server's last 50). */
export const RECENT_HISTORY = 50;

/** The message object of a `room.message` frame or of a history: `{room, id, from, text, timestamp}`. */
export function roomMessage(frame) {
  const { room, id, from, text, timestamp } = frame;
  return { room, id, from, text, timestamp };
}

/**
 * Events:
 * - `message` (message): each message once, in stream order, across reconnects (its own included);
 * - `joined` ({room, members, memberCount, history}): the first `room.joined` arrived (`history`, `members` and
 *   `memberCount` are set). In a large room (more than the server's `PRESENCE_MAX`) `members` is a part of
 *   them and nobody's arrivals or departures are announced: `memberCount` is as of the last join.
 *   A game's chat is joined by the server with the game, after the game's state: its history and members
 *   come after `createGame`, `joinGame` or `quickMatch` has resolved, with this event;
 * - `deleted` ({room, id}): an operator deleted message `id` (it has left `history`; later histories leave it out);
 * - `presence` ({room, joined} | {room, left}, with `members` after the change): someone arrived or left,
 *   including arrivals and departures that happened while the client was reconnecting;
 * - `rejoined` ({room, recovered, missed}): the room was joined again after a reconnect; `missed` messages
 *   were delivered as `message` events;
 * - `unrecovered` ({room, recovered: false, missed}): after a reconnect the server no longer had every
 *   message since the last one seen; some may be missing (the ones it had were delivered).
 */
export class Room extends Emitter {
  constructor(client, name, game = null) {
    super();
    this._client = client;
    /** The room's name (`game:ID` for a game's chat). */
    this.name = name;
    /** The game this room is the chat of, or null. */
    this.game = game;
    /** Names present, as of the last `room.joined` and `room.presence` (in a large room, a part of them). */
    this.members = [];
    /** How many are present, as of the last `room.joined` and `room.presence`. */
    this.memberCount = 0;
    /** The messages seen, oldest first: the history of the first `room.joined`, then each one delivered. */
    this.history = [];
    /** The ID of the last message seen (sent as `since` when the room is joined again). */
    this.lastId = null;
    /** Whether a `room.joined` has arrived for it. */
    this.joined = false;
    /** Whether it was left (`leave()`); a left room gets nothing any more. */
    this.left = false;
    /** The `since` of the join in flight (undefined: none). */
    this._since = undefined;
  }

  /** Says `text` in the room; resolves with the stored message (its `id`) once the server has it. */
  say(text) {
    return this._client._roomSay(this, text);
  }

  /**
   * Tells the room's other members that this user is typing (`room.typing`): call it as the
   * user types; the server passes one a second on and drops the rest. Not answered; while
   * the connection is down it is dropped (it would be stale).
   */
  typing() {
    this._client._sendTyping(this);
  }

  /** Leaves the room (`room.leave`); no more events come. */
  leave() {
    return this._client._roomLeave(this);
  }

  /** A `room.joined`: the first one sets history and members; a later one (a reconnect) delivers what was missed. */
  _joined(frame) {
    const since = this._since;
    this._since = undefined;
    const wasJoined = this.joined;
    const before = this.members;
    const complete = (list, count) => list.length >= count;
    // Arrivals and departures are told only between two complete lists (a large room lists a part).
    const comparable = complete(before, this.memberCount) && complete(frame.members, frame.member_count ?? 0);
    this.joined = true;
    this.left = false;
    this.members = [...frame.members];
    this.memberCount = frame.member_count ?? frame.members.length;
    if (!wasJoined) {
      this.history = frame.history.map(roomMessage);
      this._trim();
      const last = frame.history.at(-1);
      if (last) this.lastId = last.id;
      this.emit('joined', { room: this.name, members: [...this.members], memberCount: this.memberCount, history: [...this.history] });
      return;
    }
    // Without `since` (nothing seen yet) a history shorter than the server's recent window is the whole log.
    const recovered = frame.recovered === true || (since == null && frame.history.length < RECENT_HISTORY);
    const me = this._client.name;
    if (comparable) {
      const now = new Set(this.members);
      const then = new Set(before);
      for (const name of this.members) {
        if (!then.has(name) && name !== me) this.emit('presence', { room: this.name, joined: name, members: [...this.members] });
      }
      for (const name of before) {
        if (!now.has(name) && name !== me) this.emit('presence', { room: this.name, left: name, members: [...this.members] });
      }
    }
    let missed = 0;
    for (const message of frame.history) if (this._deliver(message)) missed += 1;
    const info = { room: this.name, recovered, missed };
    this.emit('rejoined', info);
    if (!recovered) {
      this.emit('unrecovered', info);
      this._client.emit('unrecovered', { ...info, target: this });
    }
  }

  /** A message (live or recovered): delivered when it is newer than the last one seen. True when delivered. */
  _deliver(frame) {
    if (this.left) return false;
    if (this.lastId !== null && compareIds(frame.id, this.lastId) <= 0) return false;
    const message = roomMessage(frame);
    this.lastId = message.id;
    this.history.push(message);
    this._trim();
    this.emit('message', message);
    return true;
  }

  /** A `room.presence`. */
  _presence(frame) {
    if (this.left) return;
    const members = new Set(this.members);
    const event = { room: this.name };
    if (frame.joined !== undefined) {
      members.add(frame.joined);
      event.joined = frame.joined;
    }
    if (frame.left !== undefined) {
      members.delete(frame.left);
      event.left = frame.left;
    }
    this.memberCount += members.size - this.members.length;
    this.members = [...members].sort();
    event.members = [...this.members];
    this.emit('presence', event);
  }

  /** A `room.deleted`: an operator deleted message `id`; it leaves the history (the last ID seen stays). */
  _deleted(frame) {
    if (this.left) return;
    const index = this.history.findIndex((message) => message.id === frame.id);
    if (index >= 0) this.history.splice(index, 1);
    this.emit('deleted', { room: this.name, id: frame.id });
  }

  /** A `room.typing`: another member is typing. */
  _typing(frame) {
    if (this.left) return;
    this.emit('typing', { room: this.name, name: frame.name });
  }

  _trim() {
    const most = this._client._options.historyLimit;
    if (most > 0 && this.history.length > most) this.history.splice(0, this.history.length - most);
  }
}

// One tic-tac-toe game this client plays or watches: its state (newest version only), this client's seat, its chat.

import { Emitter } from './emitter.js';

/** Statuses of a game that is over (`timeout`: the player to move let the turn clock run out). */
export const FINISHED = new Set(['won', 'draw', 'abandoned', 'timeout']);

const other = (mark) => (mark === 'X' ? 'O' : 'X');

/** The room of a game's chat. */
export const gameRoom = (id) => `game:${id}`;

/**
 * Events:
 * - `state` (state): each newer version of the game once, in order of versions (a state supersedes the
 *   earlier ones, so after a reconnect only the newest is delivered);
 * - `gone` (error): the game no longer exists on the server (after a reconnect), so nothing more comes.
 */
export class Game extends Emitter {
  constructor(client, id, role) {
    super();
    this._client = client;
    /** The game's ID (also its link: `/?game=ID` on the web page). */
    this.id = id;
    /** `player` or `spectator`. */
    this.role = role;
    /** The last game object seen. */
    this.state = null;
    /** This client's seat: `X`, `O`, or null for a spectator. */
    this.seat = null;
    /** The game's chat room (`game:ID`), joined with the game. */
    this.room = null;
    /** Whether it was left (`leave()`) or dropped; a left game gets nothing any more. */
    this.left = false;
  }

  /** The version of the last state seen (0 before any). */
  get version() {
    return this.state?.version ?? 0;
  }

  /** Whether the game is over (`won`, `draw`, `abandoned` or `timeout`). */
  get over() {
    return !!this.state && FINISHED.has(this.state.status);
  }

  /** Whether it is this client's turn. */
  get myTurn() {
    return !!this.state && this.seat !== null && this.state.status === 'playing' && this.state.next === this.seat;
  }

  /** Plays `cell` (0..8); resolves with the new state. */
  move(cell) {
    return this._client._gameRequest(this, 'game.move', { cell });
  }

  /**
   * Asks for a rematch. Resolves with the fresh game's state once it starts (the other player had asked
   * already, or the game was against the bot), or with null when the other player has yet to ask (a
   * `state` event brings the fresh board when they do).
   */
  rematch() {
    return this._client._gameRequest(this, 'game.rematch', {});
  }

  /**
   * Leaves the game and its chat: a player in play loses, a waiting game ends, a spectator stops watching.
   * Resolves with the game's new state, or null when leaving changed nothing (a spectator, a game over).
   */
  leave() {
    return this._client._gameLeave(this);
  }

  /** Says `text` in the game's chat; resolves with the stored message. */
  say(text) {
    return this._client._roomSay(this.room, text);
  }

  /** A state for this game: applied (and emitted) when newer than the last one. True when applied. */
  _apply(state, hint = null) {
    if (this.left) return false;
    const before = this.state;
    if (before && state.version <= before.version) return false;
    this.state = state;
    this._seatFrom(before, hint);
    this.emit('state', state);
    return true;
  }

  /**
   * The seat is the one holding this client's name (not the bot's). The game object names players,
   * not sockets, so where both seats hold this name (two people of the same name) it is the seat this
   * client took, swapped at each rematch.
   */
  _seatFrom(before, hint) {
    if (this.role !== 'player') {
      this.seat = null;
      return;
    }
    const state = this.state;
    const me = this._client.name;
    const mine = ['X', 'O'].filter((m) => state.players?.[m] === me && !(state.vs_bot && state.bot === m));
    if (mine.length === 1) {
      this.seat = mine[0];
    } else if (mine.length === 2) {
      if (hint) this.seat = hint;
      else if (before && this.seat && FINISHED.has(before.status) && state.status === 'playing') this.seat = other(this.seat);
      else if (!this.seat) this.seat = 'X';
    } else if (hint) {
      this.seat = hint;
    }
  }
}

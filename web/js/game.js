// The game view: board, players, whose turn and the time left to move, result, rematch and leave, for a game of the
// client library (its state, and this page's seat as the library tracks it).

import { $, copyText, describeError, notify } from './ui.js';

const FINISHED = new Set(['won', 'draw', 'abandoned', 'timeout']);
const other = (mark) => (mark === 'X' ? 'O' : 'X');

/** Below this many seconds left the turn clock shows as urgent. */
const URGENT_SECS = 10;

/** `m:ss` for a number of whole seconds. */
const minutes = (secs) => `${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, '0')}`;

/** The link that opens a game (after the name step). */
export const gameLink = (id) => `${location.origin}/?game=${encodeURIComponent(id)}`;

export class GameView {
  /**
   * `actions`: `move(cell)`, `rematch()`, `leave()`, `lobby()` called by the controls;
   * `onEnd(game)` once a game is seen finishing; `serverNow()` the time on the server's clock.
   */
  constructor({ myName, serverNow, actions, onEnd }) {
    this.myName = myName;
    /** The time now on the server's clock (ms since the Unix epoch). */
    this.serverNow = serverNow;
    this.actions = actions;
    this.onEnd = onEnd;
    /** The library's Game shown (its `seat`, `role`), or null. */
    this.current = null;
    /** The state shown. */
    this.game = null;
    this.watchers = [];
    this.moving = false;
    this.rematchAsked = false;
    this.leaveArmed = null;
    /** The timer that redraws the turn clock each second, or null. */
    this.ticking = null;
    this.cells = [...document.querySelectorAll('#board .cell')];
    this.bind();
  }

  bind() {
    this.cells.forEach((cell, index) => {
      cell.addEventListener('click', () => this.tryMove(index));
    });
    $('board').addEventListener('keydown', (event) => this.arrowKeys(event));
    $('rematch').addEventListener('click', () => this.actions.rematch());
    $('back-to-lobby').addEventListener('click', () => this.actions.lobby());
    $('leave').addEventListener('click', () => this.leaveClicked());
    $('copy-link').addEventListener('click', () => copyText(gameLink(this.game.id), $('share-link')));
    $('share-copy').addEventListener('click', () => copyText(gameLink(this.game.id), $('share-link')));
  }

  get id() {
    return this.game?.id ?? null;
  }

  /** `player` or `spectator`. */
  get role() {
    return this.current?.role ?? 'player';
  }

  /** This page's seat (`X`, `O`) or null when watching: the library's, which follows rematches. */
  get seat() {
    return this.current?.seat ?? null;
  }

  get finished() {
    return !!this.game && FINISHED.has(this.game.status);
  }

  /** Starts showing `game` (a library Game). */
  open(game) {
    this.current = game;
    this.game = null;
    this.moving = false;
    this.rematchAsked = false;
    this.watchers = [];
    this.update(game.state);
    this.cells[4].focus({ preventScroll: true });
  }

  close() {
    this.current = null;
    this.game = null;
    this.renderClock();
  }

  /** A newer state of the shown game (the library's `state` event). */
  update(game) {
    const before = this.game;
    if (before && (game.id !== before.id || game.version < before.version)) return;
    if (before && FINISHED.has(before.status) && game.status === 'playing' && game.version > before.version) {
      // A rematch started (the library has swapped the seats).
      this.rematchAsked = false;
    }
    this.game = game;
    this.moving = false;
    this.render();
    if (FINISHED.has(game.status) && (!before || !FINISHED.has(before.status))) this.onEnd(game);
  }

  setWatchers(names) {
    if (!this.game) return;
    const players = new Set([this.game.players.X, this.game.players.O]);
    this.watchers = names.filter((n) => !players.has(n) && !(this.role === 'spectator' && n === this.myName));
    this.renderWatchers();
  }

  nameOf(mark) {
    const name = this.game.players[mark];
    if (!name) return null;
    if (this.game.vs_bot && this.game.bot === mark) return 'the bot';
    return name;
  }

  render() {
    const game = this.game;
    const seat = this.seat;
    $('game-id').textContent = game.id;
    $('share-link').textContent = gameLink(game.id);
    document.title = `Game ${game.id} · Tic-tac-toe & chat`;

    for (const mark of ['X', 'O']) {
      const slot = document.querySelector(`.player[data-mark="${mark}"]`);
      const name = this.nameOf(mark);
      const label = $(mark === 'X' ? 'player-x' : 'player-o');
      const isBot = game.vs_bot && game.bot === mark;
      label.textContent = isBot ? 'The bot' : name ?? 'waiting…';
      label.classList.toggle('empty', !name);
      slot.classList.toggle('you', seat === mark);
      slot.classList.toggle('turn', game.status === 'playing' && game.next === mark);
      slot.classList.toggle('winner', game.winner === mark);
      let role = '';
      if (!name) role = 'open seat';
      else if (seat === mark) role = 'you';
      else if (isBot) role = 'unbeatable';
      else if (seat !== null) role = 'opponent';
      if (game.status === 'playing' && game.next === mark) role = role ? `${role} · to move` : 'to move';
      $(mark === 'X' ? 'role-x' : 'role-o').textContent = role;
    }

    const line = new Set(game.line ?? []);
    const myTurn = game.status === 'playing' && seat !== null && game.next === seat;
    this.cells.forEach((cell, index) => {
      const mark = game.board[index];
      cell.textContent = mark ?? '';
      const last = index === game.last_move;
      cell.className = `cell${mark ? ` ${mark.toLowerCase()}` : ''}${line.has(index) ? ' win' : ''}${last ? ' last' : ''}`;
      const playable = myTurn && !mark;
      cell.setAttribute('aria-disabled', playable ? 'false' : 'true');
      cell.dataset.ghost = playable ? seat : '';
      const row = Math.floor(index / 3) + 1;
      const col = (index % 3) + 1;
      cell.setAttribute('aria-label', `Row ${row}, column ${col}: ${mark ?? 'empty'}${last ? ', the latest move' : ''}`);
    });
    $('board').classList.toggle('my-turn', myTurn);
    $('board').classList.toggle('over', FINISHED.has(game.status));

    this.renderStatus();
    this.renderClock();

    const waiting = game.status === 'waiting';
    $('share').hidden = !(waiting && seat !== null && !game.vs_bot);
    const rematch = $('rematch');
    rematch.hidden = !(FINISHED.has(game.status) && seat !== null && game.status !== 'abandoned' && !game.left);
    const asked = this.rematchAsked || (seat !== null && game.rematch === seat);
    const offered = seat !== null && game.rematch === other(seat);
    rematch.disabled = asked;
    rematch.textContent = asked ? 'Waiting for the other player…' : offered ? 'Accept rematch' : 'Rematch';
    $('back-to-lobby').hidden = !FINISHED.has(game.status);
    $('leave').hidden = FINISHED.has(game.status);
    $('leave').textContent = seat === null ? 'Stop watching' : 'Leave';
    this.disarmLeave();
    this.renderWatchers();
  }

  renderStatus() {
    const game = this.game;
    const seat = this.seat;
    const status = $('status');
    const mine = (mark) => seat !== null && mark === seat;
    const who = (mark) => `${this.nameOf(mark) ?? mark} (${mark})`;
    let text;
    let tone = '';
    switch (game.status) {
      case 'waiting':
        text = seat !== null ? 'Waiting for an opponent to join…' : 'Waiting for a second player…';
        break;
      case 'playing':
        if (mine(game.next)) {
          text = `Your turn (${game.next})`;
          tone = 'go';
        } else {
          text = `${who(game.next)}'s turn`;
        }
        break;
      case 'won':
        text = `${who(game.winner)} wins${mine(game.winner) ? ' — well played!' : seat !== null ? ' — better luck next time' : ''}`;
        tone = mine(game.winner) ? 'good' : seat !== null ? 'bad' : '';
        break;
      case 'draw':
        text = "It's a draw";
        break;
      case 'abandoned':
        if (game.winner) {
          text = `${this.nameOf(other(game.winner)) ?? other(game.winner)} left — ${who(game.winner)} wins`;
          tone = mine(game.winner) ? 'good' : seat !== null ? 'bad' : '';
        } else {
          text = 'This game ended before anyone joined';
        }
        break;
      case 'timeout': {
        const late = other(game.winner);
        text = `${mine(late) ? 'You' : this.nameOf(late) ?? late} ran out of time — ${who(game.winner)} wins`;
        tone = mine(game.winner) ? 'good' : seat !== null ? 'bad' : '';
        break;
      }
      default:
        text = game.status;
    }
    if (FINISHED.has(game.status) && game.rematch && !mine(game.rematch)) {
      text = `${text} · ${this.nameOf(game.rematch) ?? game.rematch} wants a rematch`;
    }
    if (game.left && game.status !== 'abandoned' && !mine(game.left)) {
      text = `${text} · ${this.nameOf(game.left) ?? game.left} left`;
    }
    text = text.replace(/^the bot/, 'The bot');
    if (seat === null) text = `Watching · ${text}`;
    status.textContent = text;
    status.dataset.tone = tone;
  }

  /**
   * The turn clock: in a game between people, while it is played, the time the player to move has left (from
   * the game's `turn_deadline`, a time on the server's clock, against `serverNow()`: this browser's clock
   * corrected by the node's `hello`), redrawn each second; hidden when there is none. At 0:00 it waits for the
   * server, which ends the game (`timeout`) within about a second.
   */
  renderClock() {
    clearTimeout(this.ticking);
    this.ticking = null;
    const line = $('turn-clock');
    const game = this.game;
    const deadline = game?.status === 'playing' ? game.turn_deadline : undefined;
    if (typeof deadline !== 'number') {
      line.hidden = true;
      line.textContent = '';
      delete line.dataset.urgent;
      return;
    }
    const left = Math.max(0, deadline - this.serverNow());
    const secs = Math.ceil(left / 1000);
    const mark = game.next;
    const mover = this.seat !== null && mark === this.seat ? `Your move (${mark})` : `${this.nameOf(mark) ?? mark} (${mark}) to move`;
    line.textContent = `${mover} · ${minutes(secs)}`;
    line.dataset.urgent = String(secs <= URGENT_SECS);
    line.hidden = false;
    // Next when the shown second changes.
    if (left > 0) this.ticking = setTimeout(() => this.renderClock(), left - (secs - 1) * 1000 + 5);
  }

  renderWatchers() {
    const line = $('watchers');
    const parts = [];
    if (this.role === 'spectator') parts.push('You are watching this game.');
    if (this.watchers.length) parts.push(`Watching: ${this.watchers.join(', ')}`);
    line.textContent = parts.join(' ');
    line.hidden = parts.length === 0;
  }

  tryMove(index) {
    const game = this.game;
    if (!game || this.moving) return;
    const seat = this.seat;
    if (seat === null) return notify('You are watching this game; only the players can move.', 'info');
    if (game.status === 'waiting') return notify('Wait for an opponent to join first.', 'info');
    if (FINISHED.has(game.status)) return;
    if (game.next !== seat) return notify(`It is ${this.nameOf(game.next)}'s turn.`, 'info');
    if (game.board[index]) return;
    this.moving = true;
    this.cells[index].classList.add('pending');
    this.actions.move(index).catch((error) => {
      this.moving = false;
      this.cells[index].classList.remove('pending');
      notify(describeError(error));
    });
  }

  /** Arrow keys move the focus over the board; Enter and Space press the cell (it is a button). */
  arrowKeys(event) {
    const index = this.cells.indexOf(document.activeElement);
    if (index < 0) return;
    const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -3, ArrowDown: 3 };
    const step = moves[event.key];
    if (step === undefined) return;
    event.preventDefault();
    let next = index + step;
    if (step === -1 && index % 3 === 0) next = index + 2;
    if (step === 1 && index % 3 === 2) next = index - 2;
    next = (next + 9) % 9;
    this.cells[next].focus();
  }

  markRematchAsked() {
    this.rematchAsked = true;
    if (this.game) this.render();
  }

  leaveClicked() {
    const game = this.game;
    if (!game) return;
    if (this.seat !== null && game.status === 'playing' && !this.leaveArmed) {
      const button = $('leave');
      button.textContent = 'Leave and lose?';
      button.classList.add('danger');
      this.leaveArmed = setTimeout(() => this.disarmLeave(), 4000);
      return;
    }
    this.disarmLeave();
    this.actions.leave();
  }

  disarmLeave() {
    clearTimeout(this.leaveArmed);
    this.leaveArmed = null;
    const button = $('leave');
    button.classList.remove('danger');
    button.textContent = this.seat === null ? 'Stop watching' : 'Leave';
  }
}

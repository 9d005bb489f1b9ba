// The page's entry point: the name step, then the lobby or a game beside the bot panel, and the connection's life (resync after each reconnect).

import { createSession, refreshSession } from './api.js';
import { BotChat, RoomChat } from './chat.js';
import { GameView, gameRoom } from './game.js';
import { Lobby } from './lobby.js';
import { Connection } from './socket.js';
import { $, describeError, notify } from './ui.js';

const TOKEN_KEY = 'token';
const GAME_KEY = 'game';
const EXPIRED_FLAG = 'session-expired';

const storedGame = () => {
  try { return JSON.parse(localStorage.getItem(GAME_KEY)) ?? null; } catch { return null; }
};
const urlGame = () => new URLSearchParams(location.search).get('game');

function showConnection(state) {
  const pill = $('connection');
  const words = {
    connecting: 'connecting…',
    online: 'online',
    reconnecting: 'reconnecting…',
    expired: 'session expired',
    offline: 'offline',
  };
  pill.textContent = words[state] ?? state;
  pill.dataset.state = state;
  document.body.dataset.connection = state;
}

/** Everything that exists once the player has a session. */
class App {
  constructor(session) {
    this.session = session;
    this.current = null; // { id, role, quick }
    this.connection = new Connection(session.token);
    this.firstReady = true;

    this.bot = new BotChat({ log: $('bot-log'), input: $('bot-input') });
    this.rooms = new RoomChat({ log: $('chat-log'), members: $('room-members'), myName: session.name });
    this.game = new GameView({
      myName: session.name,
      actions: {
        move: (cell) => this.connection.request('game.move', { game: this.current.id, cell }),
        rematch: () => this.rematch(),
        leave: () => this.leave(),
        lobby: () => this.leave(),
      },
      onEnd: () => this.remember(),
    });
    this.lobby = new Lobby({
      myName: session.name,
      actions: {
        quick: () => this.quick(),
        create: () => this.create(false),
        bot: () => this.create(true),
        join: (id) => this.join(id),
        resume: (id) => this.join(id),
      },
    });
    this.rooms.onMembers = (room) => {
      if (this.current && room === gameRoom(this.current.id)) this.game.setWatchers(this.rooms.members(room));
    };
    this.bindForms();
    this.bindConnection();
  }

  start() {
    $('name-view').hidden = true;
    $('app-view').hidden = false;
    $('connection').hidden = false;
    $('who').hidden = false;
    $('who').textContent = this.session.name;
    this.bot.merge(this.session.messages);
    if (urlGame()) {
      $('joining-id').textContent = urlGame();
      $('joining').hidden = false;
    } else {
      this.showLobby();
    }
    this.connection.start();
  }

  bindForms() {
    $('bot-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const text = $('bot-input').value;
      if (!text.trim()) return;
      $('bot-input').value = '';
      this.bot.send(this.connection, text);
    });
    $('chat-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      const input = $('chat-input');
      const text = input.value;
      if (!text.trim() || !this.current) return;
      input.value = '';
      try {
        if (this.rejoined) await this.rejoined;
        if (!this.current) throw new Error('the game was closed');
        await this.connection.request('room.say', { room: gameRoom(this.current.id), text });
      } catch (error) {
        if (!input.value) input.value = text;
        notify(describeError(error));
      }
    });
  }

  bindConnection() {
    const c = this.connection;
    c.addEventListener('state', (event) => {
      showConnection(event.detail.state);
      if (event.detail.node) $('connection').title = `connected to node ${event.detail.node}`;
    });
    c.addEventListener('ready', () => this.resync());
    c.addEventListener('frame', (event) => this.frame(event.detail));
    c.addEventListener('expired', () => {
      c.stop();
      localStorage.removeItem(TOKEN_KEY);
      sessionStorage.setItem(EXPIRED_FLAG, '1');
      location.reload();
    });
  }

  frame(frame) {
    switch (frame.type) {
      case 'game.state':
        if (this.current && frame.game.id === this.current.id) {
          this.game.update(frame.game);
          this.remember();
          this.requeueIfEnded(frame.game);
        }
        break;
      case 'room.joined':
        this.rooms.joined(frame);
        break;
      case 'room.message':
        this.rooms.add(frame);
        break;
      case 'room.presence':
        this.rooms.presence(frame);
        break;
      case 'bot.reply':
        this.bot.reply(frame);
        break;
      case 'error':
        notify(describeError(frame));
        break;
      default:
        break;
    }
  }

  /** After every (re)connect: the game and its chat, and the bot history again (replies that came meanwhile). */
  async resync() {
    const first = this.firstReady;
    this.firstReady = false;
    if (first) {
      const id = urlGame();
      if (id) await this.join(id);
      return;
    }
    // Back into the game first: a chat line sent meanwhile waits for it (see the chat form).
    this.rejoined = this.current ? this.rejoin() : null;
    try {
      const doc = await refreshSession(this.session.token);
      this.bot.merge(doc.messages);
    } catch (error) {
      if (error.status !== 404) notify(describeError(error));
    }
    await this.rejoined;
  }

  /** Back into the current game after a reconnect: the seat (or the view), and the game's chat since the last message seen. */
  async rejoin() {
    const { id } = this.current;
    const since = this.rooms.lastId(gameRoom(id));
    let frame;
    try {
      frame = await this.connection.request('game.join', since ? { game: id, since } : { game: id });
    } catch (error) {
      if (error.code === 'connection_lost') return;
      notify(describeError(error));
      if (error.code === 'not_found') this.showLobby();
      return;
    }
    if (!this.current || this.current.id !== id) return;
    this.game.update(frame.game);
    await this.requeueIfEnded(frame.game);
  }

  /**
   * A quick-match game that was still waiting ends when its socket goes (the server takes it
   * out of the queue): the page looks for an opponent again. True when it did.
   */
  async requeueIfEnded(game) {
    const current = this.current;
    if (!current?.quick || current.requeued || game.id !== current.id) return false;
    if (game.status !== 'abandoned' || game.winner) return false;
    current.requeued = true;
    this.connection.request('room.leave', { room: gameRoom(game.id) }).catch(() => {});
    this.dropGame();
    await this.quick();
    if (!this.current) this.showLobby();
    return true;
  }

  async create(vsBot) {
    try {
      const frame = await this.connection.request('game.create', { vs_bot: vsBot });
      this.enter(frame.game, 'player', vsBot ? null : 'X');
    } catch (error) {
      notify(describeError(error));
    }
  }

  async quick() {
    try {
      const frame = await this.connection.request('game.quick');
      this.enter(frame.game, 'player', frame.game.status === 'waiting' ? 'X' : 'O', true);
    } catch (error) {
      notify(describeError(error));
    }
  }

  /** Opens a game by ID: a seat if one is free (or already ours), else as a spectator. */
  async join(id) {
    let frame;
    let role = 'player';
    try {
      try {
        frame = await this.connection.request('game.join', { game: id, play: true });
      } catch (error) {
        if (error.code !== 'game_full' && error.code !== 'game_over') throw error;
        frame = await this.connection.request('game.join', { game: id });
        role = 'spectator';
      }
    } catch (error) {
      if (error.code === 'not_found') notify(`There is no game ${id}: it may have ended long ago.`);
      else if (error.code === 'bad_request') notify('That does not look like a game link.');
      else notify(describeError(error));
      if (!this.current) this.showLobby();
      return;
    }
    const stored = storedGame();
    let hint = stored?.id === id ? stored.hint : null;
    if (!hint && role === 'player' && frame.game.players.X === frame.game.players.O) hint = 'O';
    this.enter(frame.game, role, hint);
  }

  enter(game, role, hint, quick = false) {
    if (this.current && this.current.id !== game.id) this.dropGame();
    this.current = { id: game.id, role, quick };
    $('joining').hidden = true;
    this.lobby.hide();
    $('game').hidden = false;
    this.rooms.show(gameRoom(game.id));
    this.game.open(game, role, hint);
    this.game.setWatchers(this.rooms.members(gameRoom(game.id)));
    this.remember();
    if (urlGame() !== game.id) history.replaceState(null, '', `/?game=${encodeURIComponent(game.id)}`);
  }

  /** Keeps the current game in storage, for a reload or a later visit. */
  remember() {
    if (!this.current) return;
    localStorage.setItem(GAME_KEY, JSON.stringify({
      id: this.current.id,
      role: this.current.role,
      hint: this.game.hint,
      over: this.game.finished,
    }));
  }

  async rematch() {
    try {
      const frame = await this.connection.request('game.rematch', { game: this.current.id });
      if (frame.type === 'ack') this.game.markRematchAsked();
    } catch (error) {
      notify(describeError(error));
    }
  }

  /** Leaves the game (a player in play loses) and its chat, back to the lobby. */
  async leave() {
    if (!this.current) return;
    const { id } = this.current;
    const requests = [
      this.connection.request('game.leave', { game: id }),
      this.connection.request('room.leave', { room: gameRoom(id) }),
    ];
    this.dropGame();
    localStorage.removeItem(GAME_KEY);
    this.showLobby();
    const results = await Promise.allSettled(requests);
    const failed = results.find((r) => r.status === 'rejected' && r.reason.code !== 'offline');
    if (failed) notify(describeError(failed.reason));
  }

  dropGame() {
    if (!this.current) return;
    this.rooms.forget(gameRoom(this.current.id));
    this.game.close();
    this.current = null;
  }

  showLobby() {
    this.dropGame();
    $('joining').hidden = true;
    $('game').hidden = true;
    if (location.search) history.replaceState(null, '', '/');
    const stored = storedGame();
    this.lobby.show(stored && !stored.over ? stored.id : null);
  }
}

function askName() {
  $('app-view').hidden = true;
  $('name-view').hidden = false;
  showConnection('offline');
  $('connection').hidden = true;
  if (sessionStorage.getItem(EXPIRED_FLAG)) {
    sessionStorage.removeItem(EXPIRED_FLAG);
    $('name-error').textContent = 'Your session has expired. Choose a name to carry on.';
  }
  const input = $('name-input');
  input.focus();
  $('name-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = input.value.trim();
    if (!name) {
      $('name-error').textContent = 'Type a name first (up to 32 characters).';
      return;
    }
    $('name-submit').disabled = true;
    try {
      const session = await createSession(name);
      localStorage.setItem(TOKEN_KEY, session.token);
      localStorage.removeItem(GAME_KEY);
      $('name-error').textContent = '';
      new App(session).start();
    } catch (error) {
      $('name-error').textContent = describeError(error);
    } finally {
      $('name-submit').disabled = false;
    }
  });
}

/** A return visit reuses the stored token while the server still knows it; otherwise the name step. */
async function boot(delayMs = 1000) {
  const token = localStorage.getItem(TOKEN_KEY);
  if (!token) return askName();
  try {
    const session = await refreshSession(token);
    new App(session).start();
  } catch (error) {
    if (error.status === 404) {
      localStorage.removeItem(TOKEN_KEY);
      localStorage.removeItem(GAME_KEY);
      return askName();
    }
    showConnection('offline');
    notify(`${describeError(error)} Retrying…`);
    setTimeout(() => boot(Math.min(delayMs * 2, 10_000)), delayMs);
  }
}

boot();

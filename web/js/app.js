// The page's entry point: the name step, then the lobby or a game beside the bot panel. The session, the socket,
// its reconnects and the recovery after them (the game, its chat, the bot's replies, nothing missed or twice) are
// the client library's: clients/js, served as /js/client/ (web/js/client is a link to it).

import { connect } from './client/index.js';
import { BotChat, RoomChat } from './chat.js';
import { GameView } from './game.js';
import { Lobby } from './lobby.js';
import { $, describeError, notify } from './ui.js';

const TOKEN_KEY = 'token';
const GAME_KEY = 'game';
const EXPIRED_FLAG = 'session-expired';

const storedGame = () => {
  try { return JSON.parse(localStorage.getItem(GAME_KEY)) ?? null; } catch { return null; }
};
const urlGame = () => new URLSearchParams(location.search).get('game');

function showConnection(state, node) {
  const pill = $('connection');
  const words = {
    connecting: 'connecting…',
    online: 'online',
    reconnecting: 'reconnecting…',
    expired: 'session expired',
    disconnected: 'disconnected by a moderator',
    offline: 'offline',
  };
  pill.textContent = words[state] ?? state;
  pill.dataset.state = state;
  if (node) pill.title = `connected to node ${node}`;
  document.body.dataset.connection = state;
}

/** Everything that exists once the player has a connected client. */
class App {
  constructor(client) {
    this.client = client;
    this.name = client.name;
    /** The game shown: `{game, quick, requeued, off}` (`game`: the library's Game). */
    this.current = null;

    this.bot = new BotChat({ log: $('bot-log'), input: $('bot-input'), bot: client.bot });
    this.chat = new RoomChat({
      log: $('chat-log'),
      members: $('room-members'),
      typing: $('chat-typing'),
      mutedList: $('muted-list'),
      myName: client.name,
      muted: client.muted,
      onMembers: (names) => this.game.setWatchers(names),
      onMute: (name) => this.mute(name),
      onUnmute: (name) => this.unmute(name),
    });
    this.game = new GameView({
      myName: client.name,
      serverNow: () => client.serverNow(),
      actions: {
        move: (cell) => (this.current ? this.current.game.move(cell) : Promise.resolve(null)),
        rematch: () => this.rematch(),
        leave: () => this.leave(),
        lobby: () => this.leave(),
      },
      onEnd: () => this.remember(),
    });
    this.lobby = new Lobby({
      myName: client.name,
      actions: {
        quick: () => this.quick(),
        create: () => this.create(false),
        bot: () => this.create(true),
        join: (id) => this.join(id),
        resume: (id) => this.join(id),
      },
    });
    this.bindForms();
    this.bindClient();
  }

  start() {
    $('name-view').hidden = true;
    $('app-view').hidden = false;
    $('connection').hidden = false;
    $('who').hidden = false;
    $('who').textContent = this.name;
    showConnection('online', this.client.node);
    this.bot.merge();
    const id = urlGame();
    if (id) {
      $('joining-id').textContent = id;
      $('joining').hidden = false;
      this.join(id);
    } else {
      this.showLobby();
    }
  }

  bindForms() {
    $('bot-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const text = $('bot-input').value;
      if (!text.trim()) return;
      $('bot-input').value = '';
      this.bot.send(text);
    });
    // While the user types in the game chat, the others are told, at most once a second.
    let typedAt = 0;
    $('chat-input').addEventListener('input', () => {
      const room = this.current?.game.room;
      if (!room || !$('chat-input').value.trim() || Date.now() - typedAt < 1_000) return;
      typedAt = Date.now();
      room.typing();
    });
    $('chat-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      const input = $('chat-input');
      const text = input.value;
      if (!text.trim() || !this.current) return;
      input.value = '';
      try {
        // While reconnecting the library holds the line until the game and its chat are joined again.
        await this.current.game.say(text);
      } catch (error) {
        if (!input.value) input.value = text;
        notify(describeError(error));
      }
    });
  }

  bindClient() {
    const c = this.client;
    c.on('connection', (state, info) => {
      if (state === 'open') {
        // Back, and the library has joined the game again and delivered what was missed: the bot
        // history it fetched again settles the bot messages cut off by the drop.
        showConnection('online', info.node);
        this.bot.merge();
      } else if (state === 'reconnecting') {
        showConnection('reconnecting');
      } else if (state === 'closed' && info.error?.code === 'disconnected') {
        // An operator's (close code 4003): the library does not reconnect.
        showConnection('disconnected');
        $('connection').title = `closed by the server: ${info.code}${info.reason ? ` ${info.reason}` : ''}`;
        notify(describeError(info.error));
      } else if (state === 'closed' && info.error?.code !== 'session_expired') {
        showConnection('offline');
        notify(describeError(info.error));
      }
    });
    c.on('expired', () => {
      showConnection('expired');
      localStorage.removeItem(TOKEN_KEY);
      sessionStorage.setItem(EXPIRED_FLAG, '1');
      location.reload();
    });
    c.on('error', (error) => notify(describeError(error)));
    // The session's muted names: changed here, or found changed (another tab) after a reconnect.
    c.on('muted', (names) => this.chat.setMuted(names));
  }

  /** Mutes `name` for this session: the server sends none of its messages any more, on any tab or node. */
  async mute(name) {
    try {
      // The muted list under the chat's title shows it (the `muted` event).
      await this.client.mute(name);
    } catch (error) {
      if (error.code === 'limit_reached') notify('You have muted as many people as you can. Unmute someone first.');
      else notify(describeError(error));
    }
  }

  async unmute(name) {
    try {
      await this.client.unmute(name);
    } catch (error) {
      notify(describeError(error));
    }
  }

  async create(vsBot) {
    try {
      this.enter(await this.client.createGame({ vsBot }));
    } catch (error) {
      notify(describeError(error));
    }
  }

  async quick() {
    try {
      this.enter(await this.client.quickMatch(), true);
    } catch (error) {
      notify(describeError(error));
    }
  }

  /** Opens a game by ID: a seat if one is free (or already ours), else as a spectator. */
  async join(id) {
    let game;
    try {
      game = await this.client.joinGame(id);
    } catch (error) {
      if (error.code === 'not_found') notify(`There is no game ${id}: it may have ended long ago.`);
      else if (error.code === 'bad_request') notify('That does not look like a game link.');
      else notify(describeError(error));
      if (!this.current) this.showLobby();
      return;
    }
    // Two people of the same name in one game: the seat this page had, from before a reload.
    const stored = storedGame();
    const { players } = game.state;
    if (stored?.id === id && (stored.hint === 'X' || stored.hint === 'O') && game.role === 'player'
        && players.X === this.name && players.O === this.name && !game.state.vs_bot) {
      game.seat = stored.hint;
    }
    this.enter(game);
  }

  /** Shows `game` (a library Game) and follows its states. */
  enter(game, quick = false) {
    this.dropGame();
    const current = { game, quick, requeued: false, off: [] };
    this.current = current;
    current.off.push(game.on('state', (state) => {
      if (this.current !== current) return;
      this.game.update(state);
      this.remember();
      this.requeueIfEnded(current, state);
    }));
    current.off.push(game.on('gone', (error) => {
      if (this.current !== current) return;
      notify(describeError(error));
      localStorage.removeItem(GAME_KEY);
      this.showLobby();
    }));
    $('joining').hidden = true;
    this.lobby.hide();
    $('game').hidden = false;
    this.game.open(game);
    this.chat.show(game.room);
    this.remember();
    if (urlGame() !== game.id) history.replaceState(null, '', `/?game=${encodeURIComponent(game.id)}`);
  }

  /**
   * A quick-match game that was still waiting ends when its socket goes (the server takes it out of the
   * queue): after the reconnect the library brings that state, and the page looks for an opponent again.
   */
  async requeueIfEnded(current, state) {
    if (!current.quick || current.requeued || this.current !== current) return;
    if (state.status !== 'abandoned' || state.winner) return;
    current.requeued = true;
    current.game.leave().catch(() => {});
    this.dropGame();
    await this.quick();
    if (!this.current) this.showLobby();
  }

  /** Keeps the current game in storage, for a reload or a later visit. */
  remember() {
    if (!this.current) return;
    localStorage.setItem(GAME_KEY, JSON.stringify({
      id: this.current.game.id,
      role: this.current.game.role,
      hint: this.game.seat,
      over: this.game.finished,
    }));
  }

  async rematch() {
    if (!this.current) return;
    try {
      // null: asked, the other player has yet to accept; else the fresh game (also a `state` event).
      if ((await this.current.game.rematch()) === null) this.game.markRematchAsked();
    } catch (error) {
      notify(describeError(error));
    }
  }

  /** Leaves the game (a player in play loses) and its chat, back to the lobby. */
  async leave() {
    if (!this.current) return;
    const { game } = this.current;
    this.dropGame();
    localStorage.removeItem(GAME_KEY);
    this.showLobby();
    try {
      await game.leave();
    } catch (error) {
      if (error.code !== 'not_connected' && error.code !== 'closed') notify(describeError(error));
    }
  }

  /** Stops showing the current game (the library may still follow it). */
  dropGame() {
    if (!this.current) return;
    for (const off of this.current.off) off();
    this.chat.clear();
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
      // A new session (POST /token), then the socket: resolves once the node has said hello.
      const client = await connect({ name });
      localStorage.setItem(TOKEN_KEY, client.token);
      localStorage.removeItem(GAME_KEY);
      $('name-error').textContent = '';
      new App(client).start();
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
  showConnection('connecting');
  let client;
  try {
    client = await connect({ token });
  } catch (error) {
    if (error.code === 'session_not_found' || error.code === 'session_expired' || error.status === 404) {
      localStorage.removeItem(TOKEN_KEY);
      localStorage.removeItem(GAME_KEY);
      return askName();
    }
    if (error.code === 'disconnected') {
      // Refused by an operator's ban: retrying would be refused the same way.
      showConnection('disconnected');
      notify(describeError(error));
      return;
    }
    showConnection('offline');
    notify(`${describeError(error)} Retrying…`);
    setTimeout(() => boot(Math.min(delayMs * 2, 10_000)), delayMs);
    return;
  }
  // At once (no await in between): the App's listeners must be there before the next frame.
  new App(client).start();
}

boot();

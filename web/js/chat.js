// Chat logs: the game's chat (a library `Room`, `game:ID`) and the bot chat panel (the library's `client.bot`).
// The library delivers each room message and each bot reply once, in order, across reconnects; these views
// only draw them. The game's chat also mutes names (the session's list, kept by the server): their lines
// leave the view, and the server sends no more of them. Operators may speak in it (as `system`) and delete a
// line (`room.deleted`: it leaves the view).

import { atEnd, clock, describeError, el, notify, scrollToEnd } from './ui.js';

/** The sender of operators' messages: a name no user can take, never muted. */
const SYSTEM = 'system';

/** How long "NAME is typing…" stays without another indicator from NAME. */
const TYPING_SHOWN_MS = 4_000;

/** The chat of one room at a time: its messages, who is present, who is typing, and the names muted. */
export class RoomChat {
  /**
   * `onMembers(names)` is called when the room's members change; `onMute(name)` and `onUnmute(name)` when a
   * mute or unmute button is pressed (the list shown changes with `setMuted`, once the server has it).
   */
  constructor({ log, members, typing, mutedList, myName, muted = [], onMembers = () => {}, onMute = () => {}, onUnmute = () => {} }) {
    this.log = log;
    this.membersLine = members;
    this.typingLine = typing;
    this.mutedList = mutedList;
    /** Who is typing: name → the timer that forgets it. */
    this.typing = new Map();
    this.myName = myName;
    /** The names muted (the session's, in the order muted): their lines are not shown. */
    this.muted = [...muted];
    this.onMembers = onMembers;
    this.onMute = onMute;
    this.onUnmute = onUnmute;
    this.room = null;
    this.off = [];
    this.log.addEventListener('click', (event) => {
      const button = event.target.closest('button.mute');
      if (button) this.onMute(button.dataset.name);
    });
    this.mutedList.addEventListener('click', (event) => {
      const button = event.target.closest('button.unmute');
      if (button) this.onUnmute(button.dataset.name);
    });
    this.renderMuted();
  }

  isMuted(name) {
    return this.muted.includes(name);
  }

  /** The muted names changed: muted lines leave the log, unmuted ones come back from the room's history. */
  setMuted(names) {
    this.muted = [...names];
    for (const name of [...this.typing.keys()]) if (this.isMuted(name)) this.typingDone(name);
    this.renderMuted();
    if (this.room) this.render();
  }

  renderMuted() {
    const chips = this.muted.map((name) => el('span', { className: 'muted-name', dataset: { name } },
      el('span', { className: 'muted-who', textContent: name }),
      el('button', {
        className: 'unmute ghost small', type: 'button', textContent: 'unmute', dataset: { name }, 'aria-label': `Unmute ${name}`,
      })));
    this.mutedList.replaceChildren(...(chips.length ? [el('span', { className: 'muted-label', textContent: 'Muted:' }), ...chips] : []));
    this.mutedList.hidden = chips.length === 0;
  }

  /** The names present in the shown room. */
  members() {
    return [...(this.room?.members ?? [])];
  }

  /** Shows `room` (a library Room): what it has seen so far, then each message and presence change. */
  show(room) {
    this.clear();
    this.room = room;
    if (!room) return;
    this.off = [
      // A game's chat is joined by the server just after the game: its history comes a moment later.
      room.on('joined', () => this.render()),
      room.on('message', (message) => this.add(message)),
      room.on('presence', () => this.membersChanged()),
      room.on('typing', ({ name }) => this.typingSeen(name)),
      room.on('deleted', ({ id }) => this.remove(id)),
      room.on('rejoined', () => this.membersChanged()),
      room.on('unrecovered', () => notify('Some of this chat from while you were away could not be recovered.', 'info')),
    ];
    this.render();
  }

  clear() {
    for (const off of this.off) off();
    this.off = [];
    this.room = null;
    for (const timer of this.typing.values()) clearTimeout(timer);
    this.typing.clear();
    this.typingChanged();
    this.log.replaceChildren();
    this.membersLine.textContent = '';
  }

  render() {
    const shown = this.room.history.filter((message) => !this.isMuted(message.from));
    this.log.replaceChildren(...shown.map((message) => this.line(message)));
    this.membersChanged();
    scrollToEnd(this.log);
  }

  /** `name` is typing: shown for a few seconds, or until its message comes. */
  typingSeen(name) {
    if (this.isMuted(name)) return;
    clearTimeout(this.typing.get(name));
    this.typing.set(name, setTimeout(() => this.typingDone(name), TYPING_SHOWN_MS));
    this.typingChanged();
  }

  typingDone(name) {
    clearTimeout(this.typing.get(name));
    if (this.typing.delete(name)) this.typingChanged();
  }

  typingChanged() {
    const names = [...this.typing.keys()];
    this.typingLine.textContent = names.length === 0 ? ''
      : `${names.join(' and ')} ${names.length === 1 ? 'is' : 'are'} typing…`;
  }

  /** A new message (the library delivers each once, in order). */
  add(message) {
    this.typingDone(message.from);
    // One said just before the server had the mute: not shown either.
    if (this.isMuted(message.from)) return;
    const stick = atEnd(this.log) || message.from === this.myName;
    this.log.append(this.line(message));
    if (stick) scrollToEnd(this.log);
  }

  /** An operator deleted message `id`: its line leaves the log (the library has dropped it from the history). */
  remove(id) {
    for (const line of this.log.querySelectorAll('li')) if (line.dataset.id === id) line.remove();
  }

  line(message) {
    const mine = message.from === this.myName;
    if (message.from === SYSTEM) {
      return el('li', { className: 'msg system', dataset: { id: message.id, from: message.from } },
        el('div', { className: 'meta' },
          el('span', { className: 'from', textContent: 'Moderator' }),
          el('time', { dateTime: message.timestamp, textContent: clock(message.timestamp) })),
        el('div', { className: 'text', textContent: message.text }));
    }
    const mute = mine ? null : el('button', {
      className: 'mute ghost small', type: 'button', textContent: 'mute', dataset: { name: message.from },
      title: `Mute ${message.from}: hide their messages`, 'aria-label': `Mute ${message.from}`,
    });
    return el('li', { className: mine ? 'msg mine' : 'msg', dataset: { id: message.id, from: message.from } },
      el('div', { className: 'meta' },
        el('span', { className: 'from', textContent: mine ? 'You' : message.from }),
        mute,
        el('time', { dateTime: message.timestamp, textContent: clock(message.timestamp) })),
      el('div', { className: 'text', textContent: message.text }));
  }

  membersChanged() {
    const names = this.members().sort((a, b) => a.localeCompare(b));
    // A large room lists a part of its members.
    const more = (this.room?.memberCount ?? 0) - names.length;
    const others = more > 0 ? ` and ${more} more` : '';
    this.membersLine.textContent = names.length ? `Here: ${names.join(', ')}${others}` : '';
    this.onMembers(this.members());
  }
}

const TYPING_MS = 20_000;

/**
 * The bot chat over the library's `client.bot`: its history at connecting, each reply as it comes (the
 * library delivers each once, also those that came while reconnecting), and after a reconnect the
 * session history again for the messages of this page that were cut off.
 */
export class BotChat {
  constructor({ log, input, bot }) {
    this.log = log;
    this.input = input;
    this.bot = bot;
    this.shown = new Map();
    this.lost = [];
    bot.on('reply', (reply) => this.reply(reply));
  }

  line(message, extraClass = '') {
    const who = message.source === 'human' ? 'You' : 'Bot';
    const li = el('li', { className: `msg ${message.source === 'human' ? 'mine' : 'bot'} ${extraClass}`.trim() },
      el('div', { className: 'meta' },
        el('span', { className: 'from', textContent: who }),
        el('time', { dateTime: message.timestamp ?? '', textContent: message.timestamp ? clock(message.timestamp) : '' })),
      el('div', { className: 'text', textContent: message.msg }));
    if (message.id) {
      li.dataset.id = message.id;
      this.shown.set(message.id, li);
    }
    if (message.in_reply_to) li.dataset.replyTo = message.in_reply_to;
    return li;
  }

  /**
   * Merges the library's session history (`client.bot.history`, oldest first): missing messages are
   * inserted in history order. At the start, and after each reconnect (for messages cut off meanwhile).
   */
  merge(history = this.bot.history) {
    const stick = atEnd(this.log);
    const added = [];
    let previous = null;
    for (const message of history) {
      let li = this.shown.get(message.id);
      if (!li) {
        li = this.line(message);
        if (previous) previous.after(li);
        else this.log.prepend(li);
        added.push(message);
      }
      previous = li;
      if (message.source === 'bot' && message.in_reply_to) this.stopTyping(message.in_reply_to);
    }
    this.settleLost(added);
    if (stick || added.length) scrollToEnd(this.log);
  }

  /** Messages cut off by a lost connection: kept if the history has them, else given back to the input. */
  settleLost(added) {
    for (const { li, text } of this.lost) {
      li.remove();
      const index = added.findIndex((m) => m.source === 'human' && m.msg === text);
      if (index >= 0) {
        added.splice(index, 1);
      } else {
        if (!this.input.value) this.input.value = text;
        notify('Your last message to the bot was not sent. It is back in the box: send it again.');
      }
    }
    this.lost = [];
  }

  /** A reply from the library, placed under the message it answers. */
  reply(reply) {
    if (this.shown.has(reply.id)) return;
    const stick = atEnd(this.log);
    const li = this.line({ ...reply, source: 'bot' });
    const asked = reply.in_reply_to ? this.shown.get(reply.in_reply_to) : null;
    if (asked) {
      let after = asked;
      while (after.nextElementSibling?.classList.contains('typing')) after = after.nextElementSibling;
      after.after(li);
    } else {
      this.log.append(li);
    }
    if (reply.in_reply_to) this.stopTyping(reply.in_reply_to);
    if (stick || asked) scrollToEnd(this.log);
  }

  stopTyping(id) {
    this.log.querySelector(`.typing[data-for="${CSS.escape(id)}"]`)?.remove();
  }

  /** Sends `text` to the bot: shown at once, confirmed when the server has stored it, then "typing" until the reply. */
  async send(text) {
    const pending = this.line({ source: 'human', msg: text, timestamp: new Date().toISOString() }, 'pending');
    this.log.append(pending);
    scrollToEnd(this.log);
    let acked = false;
    try {
      await this.bot.say(text, {
        onAck: ({ id }) => {
          acked = true;
          this.stored(pending, id);
        },
      });
    } catch (error) {
      // Stored, but the reply is late (or the page closed): the reply still shows when it comes.
      if (acked) return;
      if (error.code === 'connection_lost') {
        // It may or may not have reached the server: the history after the reconnect tells.
        pending.classList.add('unsent');
        this.lost.push({ li: pending, text });
        return;
      }
      pending.remove();
      if (!this.input.value) this.input.value = text;
      notify(describeError(error));
    }
  }

  /** The server stored the message as `id` (its ack; the reply comes after). */
  stored(pending, id) {
    pending.classList.remove('pending');
    if (this.shown.has(id)) {
      pending.remove();
      return;
    }
    pending.dataset.id = id;
    this.shown.set(id, pending);
    const reply = this.log.querySelector(`[data-reply-to="${CSS.escape(id)}"]`);
    if (reply) {
      reply.before(pending);
      return;
    }
    const typing = el('li', { className: 'msg bot typing', dataset: { for: id }, 'aria-label': 'The bot is typing' },
      el('span', { className: 'dots' }, el('i'), el('i'), el('i')));
    pending.after(typing);
    scrollToEnd(this.log);
    setTimeout(() => typing.remove(), TYPING_MS);
  }
}

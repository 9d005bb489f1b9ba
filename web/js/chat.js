// Chat logs: the rooms between people (a game's room `game:ID`, recovered by message ID) and the bot chat panel.

import { atEnd, clock, describeError, el, notify, scrollToEnd } from './ui.js';

/** Orders room message IDs (Redis stream IDs `ms-seq`); negative when `a` comes first. */
export function compareIds(a, b) {
  const [am, as = 0] = a.split('-').map(Number);
  const [bm, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

/**
 * Rooms this page follows, each with the messages it has seen (by ID, so a message recovered twice is
 * shown once), the last ID seen (for `room.join` with `since`) and who is present. One room is shown.
 */
export class RoomChat {
  constructor({ log, members, myName }) {
    this.log = log;
    this.membersLine = members;
    this.myName = myName;
    this.rooms = new Map();
    this.active = null;
    this.onMembers = () => {};
  }

  room(name) {
    let room = this.rooms.get(name);
    if (!room) {
      room = { messages: new Map(), lastId: null, members: new Set() };
      this.rooms.set(name, room);
    }
    return room;
  }

  /** The last message ID seen in `name`, for `since` after a reconnect. */
  lastId(name) {
    return this.rooms.get(name)?.lastId ?? null;
  }

  members(name) {
    return [...(this.rooms.get(name)?.members ?? [])];
  }

  show(name) {
    this.active = name;
    this.log.replaceChildren();
    const room = this.room(name);
    const ids = [...room.messages.keys()].sort(compareIds);
    for (const id of ids) this.log.append(this.line(room.messages.get(id)));
    this.renderMembers();
    scrollToEnd(this.log);
  }

  forget(name) {
    this.rooms.delete(name);
    if (this.active === name) {
      this.active = null;
      this.log.replaceChildren();
      this.membersLine.textContent = '';
    }
  }

  /** `room.joined`: the history (recent, or exactly what came after `since`) and the members. */
  joined(frame) {
    const room = this.room(frame.room);
    room.members = new Set(frame.members);
    for (const message of frame.history) this.add(message);
    if (frame.room === this.active) this.renderMembers();
    this.onMembers(frame.room);
  }

  /** `room.presence`: someone arrived or left. */
  presence(frame) {
    const room = this.room(frame.room);
    if (frame.joined) room.members.add(frame.joined);
    if (frame.left) room.members.delete(frame.left);
    if (frame.room === this.active) this.renderMembers();
    this.onMembers(frame.room);
  }

  /** A message (`room.message` or from a history); ignored when already shown. */
  add(message) {
    const room = this.room(message.room);
    if (room.messages.has(message.id)) return;
    room.messages.set(message.id, message);
    if (!room.lastId || compareIds(message.id, room.lastId) > 0) room.lastId = message.id;
    if (message.room !== this.active) return;
    const stick = atEnd(this.log) || message.from === this.myName;
    const line = this.line(message);
    const later = [...this.log.children].find((li) => compareIds(li.dataset.id, message.id) > 0);
    this.log.insertBefore(line, later ?? null);
    if (stick) scrollToEnd(this.log);
  }

  line(message) {
    const mine = message.from === this.myName;
    return el('li', { className: mine ? 'msg mine' : 'msg', dataset: { id: message.id } },
      el('div', { className: 'meta' },
        el('span', { className: 'from', textContent: mine ? 'You' : message.from }),
        el('time', { dateTime: message.timestamp, textContent: clock(message.timestamp) })),
      el('div', { className: 'text', textContent: message.text }));
  }

  renderMembers() {
    const names = this.members(this.active).sort((a, b) => a.localeCompare(b));
    this.membersLine.textContent = names.length ? `Here: ${names.join(', ')}` : '';
  }
}

const TYPING_MS = 20_000;

/**
 * The bot chat: the session history from `/refresh_token` merged with live replies by message ID, so
 * a history fetched again after a reconnect adds what was missed and nothing twice.
 */
export class BotChat {
  constructor({ log, input }) {
    this.log = log;
    this.input = input;
    this.shown = new Map();
    this.lost = [];
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

  /** Merges a session history (oldest first): missing messages are inserted in history order. */
  merge(history) {
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

  /** `bot.reply`. */
  reply(frame) {
    if (this.shown.has(frame.id)) return;
    const stick = atEnd(this.log);
    const li = this.line({ ...frame, source: 'bot' });
    const asked = frame.in_reply_to ? this.shown.get(frame.in_reply_to) : null;
    if (asked) {
      let after = asked;
      while (after.nextElementSibling?.classList.contains('typing')) after = after.nextElementSibling;
      after.after(li);
    } else {
      this.log.append(li);
    }
    if (frame.in_reply_to) this.stopTyping(frame.in_reply_to);
    if (stick || asked) scrollToEnd(this.log);
  }

  stopTyping(id) {
    this.log.querySelector(`.typing[data-for="${CSS.escape(id)}"]`)?.remove();
  }

  /** Sends `text` over `connection`: shown at once, confirmed by the server's `ack`. */
  async send(connection, text) {
    const pending = this.line({ source: 'human', msg: text, timestamp: new Date().toISOString() }, 'pending');
    this.log.append(pending);
    scrollToEnd(this.log);
    let ack;
    try {
      ack = await connection.request('bot.say', { text });
    } catch (error) {
      if (error.code === 'connection_lost') {
        pending.classList.add('unsent');
        this.lost.push({ li: pending, text });
        return;
      }
      pending.remove();
      if (!this.input.value) this.input.value = text;
      notify(describeError(error));
      return;
    }
    pending.classList.remove('pending');
    if (this.shown.has(ack.id)) {
      pending.remove();
      return;
    }
    pending.dataset.id = ack.id;
    this.shown.set(ack.id, pending);
    const reply = this.log.querySelector(`[data-reply-to="${CSS.escape(ack.id)}"]`);
    if (reply) {
      reply.before(pending);
      return;
    }
    const typing = el('li', { className: 'msg bot typing', dataset: { for: ack.id }, 'aria-label': 'The bot is typing' },
      el('span', { className: 'dots' }, el('i'), el('i'), el('i')));
    pending.after(typing);
    scrollToEnd(this.log);
    setTimeout(() => typing.remove(), TYPING_MS);
  }
}

// The bot chat of this session: `bot.say` → `ack` → `bot.reply`, replies once each and in order, also those that
// came while the client was reconnecting (found in the session history).

import { Emitter } from './emitter.js';
import { ClientError } from './errors.js';

const MAX_REMEMBERED = 1000;

/** The reply object of a `bot.reply` frame: `{id, msg, timestamp, in_reply_to}`. */
export function botReply(frame) {
  const { id, msg, timestamp } = frame;
  return { id, msg, timestamp, in_reply_to: frame.in_reply_to ?? null };
}

/**
 * Events:
 * - `reply` (reply): each bot reply to this session once, in order, whichever socket of the token asked,
 *   including replies that came while the client was reconnecting.
 */
export class Bot extends Emitter {
  constructor(client) {
    super();
    this._client = client;
    /** The session's messages (`{id, source, msg, timestamp, in_reply_to?}`), as of the last fetch, then the replies seen. */
    this.history = [];
    /** IDs of the bot messages already delivered (or in the history when the client connected). */
    this._seen = new Set();
    /** Replies by the ID of the message they answer, for a `say` whose reply came first. */
    this._byQuestion = new Map();
    /** `say`s waiting for their reply, by the ID of their message. */
    this._waiting = new Map();
    /** Live replies held back while the history is fetched after a reconnect (null: not fetching). */
    this._held = null;
  }

  /**
   * Sends `text` to the bot; resolves with its reply (`{id, msg, timestamp, in_reply_to}`), also when the
   * reply comes while the client is reconnecting. Rejects with a {@link ClientError}. `onAck(message)` is
   * called with `{id, msg, timestamp}` once the server has stored the message (its `ack`), before the reply
   * is delivered: a rejection after that means the reply did not come in time, not that the message was lost.
   */
  async say(text, { onAck } = {}) {
    let resolveReply;
    let rejectReply;
    const reply = new Promise((resolve, reject) => {
      resolveReply = resolve;
      rejectReply = reject;
    });
    const ack = await this._client._send('bot.say', { text }, {
      onFrame: (frame) => {
        if (frame.type !== 'ack' || typeof frame.id !== 'string') {
          throw new ClientError('bad_answer', `unexpected answer to bot.say: ${frame.type}`, { frame });
        }
        const message = { id: frame.id, source: 'human', msg: text, timestamp: new Date().toISOString() };
        this.history.push(message);
        if (onAck) {
          try {
            onAck({ id: message.id, msg: message.msg, timestamp: message.timestamp });
          } catch (error) {
            queueMicrotask(() => { throw error; });
          }
        }
        const early = this._byQuestion.get(frame.id);
        if (early) {
          resolveReply(early);
        } else {
          const timer = setTimeout(() => {
            this._waiting.delete(frame.id);
            rejectReply(new ClientError('timeout', `no bot reply within ${this._client._options.replyTimeoutMs} ms`));
          }, this._client._options.replyTimeoutMs);
          this._waiting.set(frame.id, { resolve: resolveReply, reject: rejectReply, timer });
        }
        return frame;
      },
    });
    void ack;
    return reply;
  }

  /** The history at connect time: known replies are not delivered again. */
  _start(messages) {
    this.history = [...messages];
    for (const message of messages) if (message.source === 'bot') this._seen.add(message.id);
  }

  /** A live `bot.reply`. */
  _reply(frame) {
    if (this._held) {
      this._held.push(frame);
      return;
    }
    this._deliver(frame);
  }

  _deliver(frame) {
    if (this._seen.has(frame.id)) return false;
    this._seen.add(frame.id);
    const reply = botReply(frame);
    if (!this.history.some((m) => m.id === reply.id)) this.history.push({ ...reply, source: 'bot' });
    if (reply.in_reply_to) {
      this._byQuestion.set(reply.in_reply_to, reply);
      if (this._byQuestion.size > MAX_REMEMBERED) this._byQuestion.delete(this._byQuestion.keys().next().value);
      const waiter = this._waiting.get(reply.in_reply_to);
      if (waiter) {
        this._waiting.delete(reply.in_reply_to);
        clearTimeout(waiter.timer);
        waiter.resolve(reply);
      }
    }
    this.emit('reply', reply);
    return true;
  }

  /**
   * After a (re)connect: the session history from `/refresh_token`, and every bot reply in it not
   * delivered yet, in history order; live replies that arrive meanwhile wait and follow.
   */
  async _catchUp() {
    this._held = [];
    try {
      const doc = await this._client._refresh();
      this.history = [...doc.messages];
      for (const message of doc.messages) {
        if (message.source === 'bot') this._deliver(message);
      }
    } finally {
      const held = this._held ?? [];
      this._held = null;
      for (const frame of held) this._deliver(frame);
    }
  }

  /** The client is closed: `say`s waiting for replies fail. */
  _close(error) {
    for (const waiter of this._waiting.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this._waiting.clear();
  }
}

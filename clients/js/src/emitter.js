// A small event emitter (no dependency on Node's `events` or the DOM's EventTarget), shared by the client, rooms, games and the bot.

export class Emitter {
  constructor() {
    /** @type {Map<string, Set<Function>>} */
    this._listeners = new Map();
  }

  /** Calls `listener` for each `event`; returns a function that removes it. */
  on(event, listener) {
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    let set = this._listeners.get(event);
    if (!set) {
      set = new Set();
      this._listeners.set(event, set);
    }
    set.add(listener);
    return () => this.off(event, listener);
  }

  /** Calls `listener` for the next `event` only; returns a function that removes it. */
  once(event, listener) {
    const off = this.on(event, (...args) => {
      off();
      listener(...args);
    });
    return off;
  }

  off(event, listener) {
    this._listeners.get(event)?.delete(listener);
  }

  /** Whether anyone listens to `event`. */
  listening(event) {
    return (this._listeners.get(event)?.size ?? 0) > 0;
  }

  /**
   * Calls the listeners of `event` in turn. A listener that throws does not stop the others, nor
   * leave the client half-updated: its exception is thrown again from a microtask (an uncaught
   * exception, as with any event handler), after the client has finished with the frame.
   */
  emit(event, ...args) {
    const set = this._listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (error) {
        queueMicrotask(() => { throw error; });
      }
    }
  }
}

// The /ws connection: opens it on this origin, reconnects with backoff, and matches answers to requests by `ref`.

const FIRST_DELAY_MS = 400;
const MAX_DELAY_MS = 10_000;
const REQUEST_TIMEOUT_MS = 15_000;

/** An `error` frame answering a request (`code`, `message`), or a request cut off by a lost connection. */
export class ServerError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/**
 * One logical connection that survives socket drops. Events:
 * - `state`: `{state}` is `connecting`, `online`, `reconnecting` (with `delayMs`) or `expired`;
 * - `ready`: the server's `hello` arrived (after every (re)connect): time to resync;
 * - `frame`: every frame except `hello` and errors that answered a request;
 * - `expired`: the server closed with 1008, the token is no longer known.
 */
export class Connection extends EventTarget {
  constructor(token) {
    super();
    this.token = token;
    this.socket = null;
    this.state = 'connecting';
    this.attempt = 0;
    this.retryTimer = null;
    this.nextRef = 1;
    this.waiting = new Map();
    this.stopped = false;
    this.node = null;
    this.onBrowserOnline = () => { if (this.retryTimer) this.open(); };
  }

  start() {
    this.stopped = false;
    window.addEventListener('online', this.onBrowserOnline);
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    window.removeEventListener('online', this.onBrowserOnline);
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000);
    this.failWaiting();
  }

  get online() {
    return this.state === 'online';
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  setState(state, extra = {}) {
    this.state = state;
    this.emit('state', { state, ...extra });
  }

  open() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting', { delayMs: 0 });
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(this.token)}`);
    this.socket = socket;
    socket.addEventListener('message', (event) => this.receive(socket, event.data));
    socket.addEventListener('close', (event) => this.closed(socket, event));
  }

  receive(socket, data) {
    if (socket !== this.socket) return;
    let frame;
    try { frame = JSON.parse(data); } catch { return; }
    if (frame.type === 'hello') {
      this.attempt = 0;
      this.node = frame.node;
      this.setState('online', { node: frame.node });
      this.emit('ready', frame);
      return;
    }
    const waiter = frame.ref ? this.waiting.get(frame.ref) : undefined;
    if (waiter) {
      this.waiting.delete(frame.ref);
      clearTimeout(waiter.timer);
      if (frame.type === 'error') {
        waiter.reject(new ServerError(frame.code, frame.message));
        return;
      }
      waiter.resolve(frame);
    }
    this.emit('frame', frame);
  }

  closed(socket, event) {
    if (socket !== this.socket) return;
    this.socket = null;
    this.failWaiting();
    if (this.stopped) return;
    if (event.code === 1008) {
      this.setState('expired');
      this.emit('expired', { reason: event.reason });
      return;
    }
    this.attempt += 1;
    const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (this.attempt - 1));
    const delayMs = Math.round(base * (0.75 + Math.random() * 0.5));
    this.setState('reconnecting', { delayMs });
    this.retryTimer = setTimeout(() => this.open(), delayMs);
  }

  failWaiting() {
    for (const waiter of this.waiting.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(new ServerError('connection_lost', 'the connection was lost'));
    }
    this.waiting.clear();
  }

  /** Sends a request; resolves with the first frame carrying its `ref`, rejects with a {@link ServerError}. */
  request(type, fields = {}) {
    return new Promise((resolve, reject) => {
      if (!this.online || this.socket?.readyState !== WebSocket.OPEN) {
        reject(new ServerError('offline', 'Not connected right now. Reconnecting…'));
        return;
      }
      const ref = String(this.nextRef++);
      const timer = setTimeout(() => {
        this.waiting.delete(ref);
        reject(new ServerError('timeout', 'The server did not answer in time. Try again.'));
      }, REQUEST_TIMEOUT_MS);
      this.waiting.set(ref, { resolve, reject, timer });
      this.socket.send(JSON.stringify({ type, ...fields, ref }));
    });
  }
}

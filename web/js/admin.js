// The operators' dashboard, served at /admin when the node has an ADMIN_KEY. The key is asked for once and kept in
// this tab's sessionStorage; every /admin/... request carries it as `Authorization: Bearer KEY`, and a refusal
// (401) brings the key form back with the reason. Every 3 s it reads /admin/overview, /stats, /kpi and
// /admin/audit: the tiles and tables show the latest figures, the charts (uPlot) keep the last ten minutes.
// The moderation forms post a system message to a room, delete a message, and disconnect (and ban) a token or
// a name.

import { bytes, Chart, count } from './admin-charts.js';
import { HttpError } from './api.js';
import { $, el } from './ui.js';

const KEY = 'admin-key';
const REFRESH_MS = 3_000;
/** Ten minutes of samples, one per refresh. */
const KEEP = 200;
/** A node whose last heartbeat is older than this is shown as late (the sweepers count a node dead at 30 s). */
const LATE_HEARTBEAT_MS = 15_000;

const storedKey = () => sessionStorage.getItem(KEY);

/**
 * An HTTP call; `auth` adds the key. Resolves with the JSON body; rejects with an HttpError (`status`, the
 * server's `code`, `retryAfterMs` when rate limited; status 0: the server could not be reached).
 */
async function call(path, { method = 'GET', body, auth = true, key = storedKey() } = {}) {
  const headers = {};
  if (auth) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method, headers, cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new HttpError(0, 'network', 'The server cannot be reached.');
  }
  let json = null;
  try { json = await response.json(); } catch { /* not JSON */ }
  if (!response.ok) {
    const error = json?.error ?? {};
    const failure = new HttpError(response.status, error.code ?? 'http', error.message ?? `HTTP ${response.status}`);
    if (typeof error.retry_after_ms === 'number') failure.retryAfterMs = error.retry_after_ms;
    throw failure;
  }
  return json;
}

/** Plain words for a refused or failed call. */
function describe(error) {
  if (error.status === 401) return 'That key was refused.';
  if (error.status === 429) {
    const secs = Math.ceil((error.retryAfterMs ?? 1000) / 1000);
    return `Too many refused keys from this address: try again in ${secs} s.`;
  }
  if (error.status === 0) return 'The server cannot be reached. Check your connection.';
  if (error.status === 503) return 'Redis is unavailable right now. Try again in a moment.';
  const text = error.message || 'Something went wrong';
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A duration in seconds as `3d 4h`, `2h 05m`, `4m 09s` or `12s`. */
function duration(secs) {
  const s = Math.max(0, Math.floor(secs));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, '0');
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${pad(m)}m`;
  if (m) return `${m}m ${pad(s % 60)}s`;
  return `${s}s`;
}

const time = (iso) => {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso ?? '') : date.toLocaleTimeString();
};

/** A table body's rows, or one line saying there are none. */
function fill(body, rows, columns, emptyText) {
  if (rows.length) body.replaceChildren(...rows);
  else body.replaceChildren(el('tr', {}, el('td', { className: 'empty', colSpan: columns, textContent: emptyText })));
}

/** Shows what a form's action did (`tone`: `good` or `bad`). */
function result(id, text, tone) {
  const line = $(id);
  line.textContent = text;
  line.dataset.tone = tone;
}

function setFeed(state, text) {
  const pill = $('feed');
  pill.dataset.state = state;
  pill.textContent = text;
}

/** The dashboard once the key is accepted: the refresh loop, the charts, the tables and the forms. */
class Dashboard {
  constructor() {
    this.timer = null;
    this.running = false;
    /** Counts starts and stops: a round still in flight from before a sign-out does not go on. */
    this.generation = 0;
    this.charts = null;
  }

  start() {
    $('key-view').hidden = true;
    $('dashboard').hidden = false;
    $('sign-out').hidden = false;
    $('updated').hidden = false;
    // Made once the dashboard is shown, so that they know their width.
    this.charts ??= {
      frames: new Chart($('chart-frames'), { keep: KEEP, colors: { all: '#5b667a' } }),
      sockets: new Chart($('chart-sockets'), { keep: KEEP, colors: { 'all nodes': '#5b667a' } }),
      sessions: new Chart($('chart-sessions'), { bars: true, utc: true }),
      queue: new Chart($('chart-queue'), { keep: KEEP }),
      redis: new Chart($('chart-redis'), { keep: KEEP, format: bytes }),
    };
    this.running = true;
    this.generation += 1;
    this.refresh();
  }

  stop() {
    this.running = false;
    this.generation += 1;
    clearTimeout(this.timer);
    this.timer = null;
  }

  /** Reads everything once, shows it, and plans the next round. */
  async refresh() {
    clearTimeout(this.timer);
    const generation = this.generation;
    const t = Date.now() / 1000;
    const [overview, stats, kpi, audit] = await Promise.allSettled([
      call('/admin/overview'),
      call('/stats', { auth: false }),
      call('/kpi', { auth: false }),
      call('/admin/audit'),
    ]);
    if (!this.running || generation !== this.generation) return;
    const failed = [overview, stats, kpi, audit].filter((r) => r.status === 'rejected').map((r) => r.reason);
    if (failed.some((e) => e.status === 401)) {
      signOut('The key was refused: it may have been changed. Enter it again.');
      return;
    }
    try {
      if (overview.status === 'fulfilled') this.showOverview(overview.value, t);
      if (stats.status === 'fulfilled') this.showStats(stats.value, t);
      if (kpi.status === 'fulfilled') this.showSessions(kpi.value);
      if (audit.status === 'fulfilled') this.showAudit(audit.value);
      if (failed.length) {
        setFeed('stale', `behind: ${describe(failed[0])}`);
      } else {
        setFeed('online', 'live');
        $('updated').textContent = `updated ${new Date(t * 1000).toLocaleTimeString()}`;
      }
    } finally {
      // Also after an answer that could not be shown (it is reported as an uncaught error).
      if (this.running) this.timer = setTimeout(() => this.refresh(), REFRESH_MS);
    }
  }

  showOverview(o, t) {
    const nodes = o.nodes ?? [];
    $('tile-nodes').textContent = count(nodes.length);
    $('tile-sockets').textContent = count(o.sockets);
    $('tile-games').textContent = count(o.games_in_play);
    $('tile-rooms').textContent = count(o.active_rooms);
    $('tile-queue').textContent = `${count(o.bot_queue?.length)} · lag ${count(o.bot_queue?.lag)}`;
    $('tile-redis').textContent = o.redis?.maxmemory
      ? `${bytes(o.redis.used_memory)} of ${bytes(o.redis.maxmemory)}`
      : bytes(o.redis?.used_memory);

    const sockets = { 'all nodes': o.sockets };
    for (const node of nodes) sockets[node.id] = node.sockets;
    this.charts.sockets.push(t, sockets);
    const queue = o.bot_queue ?? {};
    this.charts.queue.push(t, { length: queue.length, lag: queue.lag, pending: queue.pending });
    const memory = { used: o.redis?.used_memory };
    if (o.redis?.maxmemory) memory.maxmemory = o.redis.maxmemory;
    this.charts.redis.push(t, memory);

    const now = Date.now();
    fill($('nodes-rows'), nodes.map((node) => {
      const age = now - new Date(node.last_heartbeat).getTime();
      return el('tr', { dataset: { node: node.id } },
        el('td', { className: 'name mono', textContent: node.id }),
        el('td', { className: 'num', textContent: count(node.sockets) }),
        el('td', { className: 'num', textContent: duration(node.uptime_secs) }),
        el('td', {
          className: `num${age > LATE_HEARTBEAT_MS ? ' stale-heartbeat' : ''}`,
          title: node.last_heartbeat,
          textContent: Number.isFinite(age) ? `${duration(Math.max(age, 0) / 1000)} ago` : '–',
        }));
    }), 4, 'No node is alive.');

    fill($('rooms-rows'), (o.busiest_rooms ?? []).map((room) => el('tr', { dataset: { room: room.room } },
      el('td', { className: 'name mono', textContent: room.room }),
      el('td', { className: 'num', textContent: count(room.members) }),
      el('td', { className: 'row-actions' }, el('button', {
        className: 'ghost small moderate', type: 'button', textContent: 'moderate', dataset: { room: room.room },
        title: `Fill in ${room.room} in the moderation forms`,
      })))), 3, 'No room has members.');

    fill($('games-rows'), (o.games ?? []).map((game) => el('tr', { dataset: { game: game.id } },
      el('td', { className: 'mono' }, el('a', { href: `/?game=${encodeURIComponent(game.id)}`, target: '_blank', rel: 'noopener', textContent: game.id, title: 'Watch it' })),
      el('td', { className: 'name', textContent: game.players?.X ?? '–' }),
      el('td', { className: 'name', textContent: game.players?.O ?? '–' }),
      el('td', { textContent: game.status }),
      el('td', { textContent: game.vs_bot ? 'the bot' : 'people' }))), 5, 'No game in play.');
  }

  /** /stats: each kind's sliding-window rate of the last 60 s (frames per minute, all nodes). */
  showStats(body, t) {
    const values = {};
    for (const [kind, windows] of Object.entries(body.stats ?? {})) values[kind] = windows.current?.rate ?? 0;
    this.charts.frames.push(t, values);
  }

  /** /kpi: today's sessions per UTC hour, by app (every node added up). */
  showSessions(body) {
    const day = String(body.day ?? '');
    const start = Date.UTC(+day.slice(0, 4), +day.slice(4, 6) - 1, +day.slice(6, 8)) / 1000;
    if (!Number.isFinite(start)) return;
    const xs = Array.from({ length: 24 }, (_, h) => start + h * 3600);
    const columns = {};
    for (const [app, nodes] of Object.entries(body.apps ?? {})) {
      columns[app] = xs.map((_, h) => Object.values(nodes).reduce((sum, n) => sum + (n.hours?.[String(h)] ?? 0), 0));
    }
    if (Object.keys(columns).length === 0) columns.sessions = xs.map(() => 0);
    this.charts.sessions.replace(xs, columns);
  }

  showAudit(body) {
    const entries = body.entries ?? [];
    fill($('audit-rows'), entries.map((entry) => el('tr', { dataset: { id: entry.id, action: entry.action } },
      el('td', { className: 'num', title: entry.at, textContent: time(entry.at) }),
      el('td', { className: 'mono', textContent: entry.who }),
      el('td', {}, el('span', { className: 'badge', dataset: { action: entry.action }, textContent: entry.action })),
      el('td', { className: 'detail', textContent: detail(entry.detail) }))), 4, 'No action yet.');
  }

  async refreshAudit() {
    if (!this.running) return;
    try {
      this.showAudit(await call('/admin/audit'));
    } catch (error) {
      if (error.status === 401 && this.running) signOut('The key was refused: it may have been changed. Enter it again.');
    }
  }
}

/** An audit entry's detail as `key: value` pairs. */
function detail(value) {
  if (value == null) return '';
  if (typeof value !== 'object') return String(value);
  return Object.entries(value)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join(' · ');
}

const dashboard = new Dashboard();

/** Back to the key form (`why`: the refusal, shown under it). */
function signOut(why = '') {
  dashboard.stop();
  sessionStorage.removeItem(KEY);
  $('dashboard').hidden = true;
  $('sign-out').hidden = true;
  $('updated').hidden = true;
  $('key-view').hidden = false;
  $('key-error').textContent = why;
  setFeed(why ? 'refused' : 'offline', why ? 'key refused' : 'signed out');
  $('key-input').value = '';
  $('key-input').focus();
}

/** Tries `key` on /admin/overview: kept and the dashboard shown when accepted, else the reason under the form. */
async function open(key) {
  // A header value is Latin-1; no such key could be right.
  if (!key || /[^\x20-\x7e\xa0-\xff]/.test(key)) {
    signOut('That key was refused.');
    return;
  }
  const submit = $('key-submit');
  submit.disabled = true;
  try {
    // The key is tried once; the dashboard then reads everything again, every 3 s.
    await call('/admin/overview', { key });
    sessionStorage.setItem(KEY, key);
    $('key-error').textContent = '';
    setFeed('online', 'live');
    dashboard.start();
  } catch (error) {
    signOut(describe(error));
  } finally {
    submit.disabled = false;
  }
}

/** Runs a form's action with its button disabled; a refused key ends the session, other errors show in `resultId`. */
async function act(form, resultId, action) {
  const button = form.querySelector('button[type="submit"], button:not([type])');
  button.disabled = true;
  result(resultId, '…', '');
  try {
    const [text, tone = 'good'] = await action();
    result(resultId, text, tone);
  } catch (error) {
    if (error.status === 401) {
      signOut('The key was refused: it may have been changed. Enter it again.');
      return;
    }
    result(resultId, describe(error), 'bad');
  } finally {
    button.disabled = false;
    dashboard.refreshAudit();
  }
}

function bindForms() {
  $('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    open($('key-input').value.trim());
  });
  $('sign-out').addEventListener('click', () => signOut());

  $('rooms-rows').addEventListener('click', (event) => {
    const button = event.target.closest('button.moderate');
    if (!button) return;
    $('say-room').value = button.dataset.room;
    $('delete-room').value = button.dataset.room;
    $('say-text').focus();
  });

  const say = $('say-form');
  say.addEventListener('submit', (event) => {
    event.preventDefault();
    const room = $('say-room').value.trim();
    const text = $('say-text').value;
    if (!room || !text.trim()) {
      result('say-result', 'A room and a message, please.', 'bad');
      return;
    }
    act(say, 'say-result', async () => {
      const { message } = await call(`/admin/rooms/${encodeURIComponent(room)}/messages`, { method: 'POST', body: { text } });
      $('say-text').value = '';
      return [`Posted to ${message.room} as ${message.from} (ID ${message.id}).`];
    });
  });

  const remove = $('delete-form');
  remove.addEventListener('submit', (event) => {
    event.preventDefault();
    const room = $('delete-room').value.trim();
    const id = $('delete-id').value.trim();
    if (!room || !id) {
      result('delete-result', 'A room and a message ID, please.', 'bad');
      return;
    }
    act(remove, 'delete-result', async () => {
      try {
        const { deleted } = await call(`/admin/rooms/${encodeURIComponent(room)}/messages/${encodeURIComponent(id)}`, { method: 'DELETE' });
        $('delete-id').value = '';
        return [`Deleted message ${deleted} from ${room}.`];
      } catch (error) {
        if (error.code === 'not_found') return [`${room} has no message ${id}.`, 'bad'];
        throw error;
      }
    });
  });

  const disconnect = $('disconnect-form');
  disconnect.addEventListener('submit', (event) => {
    event.preventDefault();
    const by = $('disconnect-by').value;
    const value = $('disconnect-value').value.trim();
    const ban = $('disconnect-ban').value.trim();
    if (!value) {
      result('disconnect-result', `Which ${by}?`, 'bad');
      return;
    }
    const body = { [by]: value };
    if (ban) {
      const secs = Number(ban);
      if (!Number.isInteger(secs) || secs < 1) {
        result('disconnect-result', 'A ban is a whole number of seconds, 1 or more.', 'bad');
        return;
      }
      body.ban_secs = secs;
    }
    act(disconnect, 'disconnect-result', async () => {
      const answer = await call('/admin/disconnect', { method: 'POST', body });
      const n = answer.disconnected;
      const closed = typeof n === 'number' ? `${n} socket${n === 1 ? '' : 's'} of ${by} ${value} closed` : `${by} ${value} disconnected on every node`;
      const banned = answer.banned_until ? `; banned until ${new Date(answer.banned_until).toLocaleString()}` : '';
      return [`${closed}${banned}.`];
    });
  });
}

bindForms();
if (storedKey()) {
  open(storedKey());
} else {
  signOut();
}
